// `cairn orb pack|publish|list|info`: pack an orb source tree; publish it to the server's registry
// (admins; versions are immutable); list orbs and show one. `serverOrbs` lets `cairn config` resolve
// the orbs a config declares through the server the CLI is logged in to.
import { readFile } from "node:fs/promises";
import { type OrbTexts, parseOrbRef, pickVersion, type ResolvedOrb } from "../circleci/index.ts";
import { OrbPackError, packOrb } from "../orbs/pack.ts";
import { Api, CliError, loadConfig } from "./client.ts";
import { args } from "./commands.ts";
import { makeOut } from "./output.ts";

const USAGE = `usage: cairn orb pack SRC_DIR
       cairn orb publish NAMESPACE/NAME@X.Y.Z FILE
       cairn orb list
       cairn orb info NAMESPACE/NAME[@X.Y.Z]`;

type Version = { version: string; digest: string; created_at: string };
type OrbVersion = Version & { name: string; body: string };

export async function orb(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = args(rest, {});
  const out = makeOut(Boolean(values.json));
  if (sub === "pack" && positionals.length === 1) {
    try {
      process.stdout.write(packOrb(positionals[0]));
    } catch (err) {
      if (err instanceof OrbPackError || (err as { code?: string }).code === "ENOENT")
        throw new CliError((err as Error).message, 1);
      throw err;
    }
    return 0;
  }
  if (sub === "publish" && positionals.length === 2) {
    const m = /^([^/@]+)\/([^/@]+)@(\d+\.\d+\.\d+)$/.exec(positionals[0]);
    if (!m) throw new CliError(`publish needs NAMESPACE/NAME@X.Y.Z, not ${positionals[0]}\n${USAGE}`, 2);
    let body: string;
    try {
      body = await readFile(positionals[1], "utf8");
    } catch (err) {
      throw new CliError(`${positionals[1]}: cannot read: ${(err as Error).message}`, 2);
    }
    const api = new Api(await loadConfig());
    const v = await api.request<OrbVersion>("POST", `/api/v1/orbs/${m[1]}/${m[2]}/versions`, {
      version: m[3],
      body,
    });
    if (out.json) out.data({ name: v.name, version: v.version, digest: v.digest });
    else out.print(`Published ${v.name}@${v.version} (sha256 ${v.digest})`);
    return 0;
  }
  if (sub === "list" && positionals.length === 0) {
    const api = new Api(await loadConfig());
    const { items } = await api.request<{ items: { name: string; versions: Version[] }[] }>(
      "GET",
      "/api/v1/orbs",
    );
    if (out.json) out.data(items);
    else if (items.length === 0) out.print("No orbs published.");
    else for (const o of items) out.print(`${o.name}  ${o.versions.map((v) => v.version).join(", ")}`);
    return 0;
  }
  if (sub === "info" && positionals.length === 1) {
    const [name, version] = positionals[0].split("@");
    const api = new Api(await loadConfig());
    if (version) {
      const v = await api.request<OrbVersion>("GET", `/api/v1/orbs/${name}/versions/${version}`);
      if (out.json) out.data(v);
      else out.print(`${v.name}@${v.version}  published ${v.created_at}  sha256 ${v.digest}\n\n${v.body}`);
    } else {
      const o = await api.request<{ name: string; versions: Version[] }>("GET", `/api/v1/orbs/${name}`);
      if (out.json) out.data(o);
      else
        for (const v of o.versions) out.print(`${o.name}@${v.version}  ${v.created_at}  sha256 ${v.digest}`);
    }
    return 0;
  }
  throw new CliError(USAGE, 2);
}

/** The orbs a config declares, from the server the CLI is logged in to; none when it is not logged in. */
export async function serverOrbs(refs: string[]): Promise<OrbTexts> {
  const out = new Map<string, ResolvedOrb>();
  let api: Api;
  try {
    api = new Api(await loadConfig());
  } catch {
    return out;
  }
  for (const ref of refs) {
    const p = parseOrbRef(ref);
    if (!p) continue;
    let versions: Version[];
    try {
      versions = (await api.request<{ versions: Version[] }>("GET", `/api/v1/orbs/${p.name}`)).versions;
    } catch {
      continue; // not published: the config's error says how to publish it
    }
    const version = pickVersion(
      p.version,
      versions.map((v) => v.version),
    );
    if (!version) continue;
    const v = await api.request<OrbVersion>("GET", `/api/v1/orbs/${p.name}/versions/${version}`);
    out.set(ref, { resolved: `${p.name}@${version}`, text: v.body });
  }
  return out;
}
