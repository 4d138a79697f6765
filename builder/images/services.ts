// Service containers: a config's `docker` entries after the first, each run from its own image
// beside the job's container as Docker and CircleCI run it — the image's Entrypoint and Cmd (or the
// config's `entrypoint`/`command`), its Env under the entry's `environment`, its User (or `user:`).
import type { ServiceContainer } from "../../protocol/index.ts";
import type { ServiceSpec } from "../driver/types.ts";
import type { PreparedImage } from "./store.ts";

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/;

/** What to start for `service` (the `index`th, from 1) from its prepared `image`; throws what is wrong with it. */
export function serviceSpec(service: ServiceContainer, image: PreparedImage, index: number): ServiceSpec {
  const what = `service container ${service.image.name}`;
  // Docker's rule: an `entrypoint` replaces the image's and drops its Cmd; a `command` replaces Cmd.
  const entrypoint = service.entrypoint ?? image.entrypoint;
  const cmd = service.command ?? (service.entrypoint ? [] : image.cmd);
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0)
    throw new Error(`${what}: its image has no Entrypoint or Cmd and the config gives no command`);
  if (service.name !== undefined && !HOST_NAME.test(service.name))
    throw new Error(`${what}: name ${JSON.stringify(service.name)} is not a host name`);
  const user = service.user ? resolveUser(service.user, image, what) : image.user;
  return {
    index,
    template: image.template,
    argv,
    env: { HOME: user.home, ...image.env, ...service.environment },
    uid: user.uid,
    gid: user.gid,
    workdir: image.workdir,
    ...(service.name ? { hostname: service.name } : {}),
  };
}

/** `name`, `uid`, `name:gid` or `uid:gid`, looked up in the image's /etc/passwd as Docker does (a uid it lacks: gid 0). */
function resolveUser(
  text: string,
  image: PreparedImage,
  what: string,
): { uid: number; gid: number; home: string } {
  const [who = "", group] = text.split(":", 2);
  const entry = /^\d+$/.test(who)
    ? (image.passwd.find((u) => u.uid === Number(who)) ?? { uid: Number(who), gid: 0, home: "/" })
    : image.passwd.find((u) => u.name === who);
  if (!entry) throw new Error(`${what}: user ${JSON.stringify(who)} is not in the image's /etc/passwd`);
  if (group !== undefined && !/^\d+$/.test(group))
    throw new Error(`${what}: group ${JSON.stringify(group)} must be a number (gid)`);
  return { uid: entry.uid, gid: group === undefined ? entry.gid : Number(group), home: entry.home || "/" };
}
