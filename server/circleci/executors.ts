// Where a job runs: `docker:` (first image; the rest are service containers beside it),
// `machine:`, `macos:`, or a 2.1 `executor:` reference with parameters. Cairn runs every job in a
// Linux LXC container, so macOS and Windows executors are errors, said plainly.
import type { Diagnostics } from "./diagnostics.ts";
import { type Ctx, orbUse } from "./model.ts";
import { lookup } from "./orbs.ts";
import { bindParams } from "./params.ts";
import { readEnvironment } from "./steps.ts";
import { substitute } from "./template.ts";
import { describe, get, type YMap, type YNode } from "./tree.ts";
import type { DockerService, Executor } from "./types.ts";

export interface ExecutorParts {
  executor: Executor;
  environment: Record<string, string>;
  workingDirectory?: string;
  resourceClass?: string;
  shell?: string;
}

export const EXECUTOR_KEYS = [
  "docker",
  "machine",
  "macos",
  "resource_class",
  "working_directory",
  "shell",
  "environment",
];
const LINUX_ONLY =
  "Cairn runs jobs in Linux LXC containers, so this job ends not_run (the rest of the pipeline runs)";

/** Reads the executor keys of `node` (a job or an executor definition, already substituted). */
export function readExecutor(node: YMap, owner: string, diag: Diagnostics): ExecutorParts {
  const kinds = node.entries.filter((e) => e.key === "docker" || e.key === "machine" || e.key === "macos");
  if (kinds.length > 1)
    diag.error(
      kinds[1].keyPos,
      `${owner}: use one of docker, machine or macos, not ${kinds.map((k) => k.key).join(" and ")}`,
    );
  const parts: ExecutorParts = { executor: { kind: "none" }, environment: {} };
  const str = (key: string) => {
    const v = get(node, key);
    if (!v) return undefined;
    if (v.kind === "scalar" && v.value !== null && typeof v.value !== "boolean") return String(v.value);
    diag.error(v.pos, `${owner}: \`${key}\` must be a string, not ${describe(v)}`);
    return undefined;
  };
  const rc = str("resource_class");
  if (rc !== undefined) parts.resourceClass = rc;
  const wd = str("working_directory");
  if (wd !== undefined) parts.workingDirectory = wd;
  const shell = str("shell");
  if (shell !== undefined) parts.shell = shell;
  const env = get(node, "environment");
  if (env) parts.environment = readEnvironment(env, owner, diag);
  const machine = get(node, "machine");
  const windowsImage =
    machine?.kind === "map" &&
    String((get(machine, "image") as { value?: unknown } | undefined)?.value ?? "").startsWith("windows-");
  const windowsClass = rc?.startsWith("windows.") && !windowsImage;
  if (windowsClass)
    diag.warn(
      get(node, "resource_class")?.pos ?? node.pos,
      `${owner}: Windows resource class \`${rc}\`: ${LINUX_ONLY}`,
    );

  const kind = kinds[0];
  if (!kind) return parts;
  const v = kind.value;
  if (kind.key === "docker") {
    if (v.kind !== "seq" || v.items.length === 0) {
      diag.error(
        v.pos,
        `${owner}: \`docker\` must be a list of images (\`- image: cimg/base:current\`), not ${describe(v)}`,
      );
      return parts;
    }
    const images: string[] = [];
    const services: DockerService[] = [];
    let primaryAuth: Executor["auth"];
    for (const [i, item] of v.items.entries()) {
      if (item.kind !== "map") {
        diag.error(
          item.pos,
          `${owner}: each docker entry is a mapping with \`image\`, not ${describe(item)}`,
        );
        continue;
      }
      for (const e of item.entries) {
        if (
          !["image", "name", "entrypoint", "command", "user", "environment", "auth", "aws_auth"].includes(
            e.key,
          )
        ) {
          diag.error(e.keyPos, `${owner}: docker image: unknown key \`${e.key}\``);
        }
      }
      const image = get(item, "image");
      if (image?.kind !== "scalar" || typeof image.value !== "string") {
        diag.error((image ?? item).pos, `${owner}: each docker entry needs \`image\` (a string)`);
        continue;
      }
      images.push(image.value);
      if (i === 0) {
        const auth = get(item, "auth");
        if (auth) primaryAuth = readAuth(auth, owner, diag);
        const primaryEnv = get(item, "environment");
        if (primaryEnv)
          parts.environment = { ...readEnvironment(primaryEnv, owner, diag), ...parts.environment };
      } else {
        services.push(readService(item, image.value, owner, diag));
      }
    }
    parts.executor = {
      kind: "docker",
      ...(images[0] ? { image: images[0] } : {}),
      ...(primaryAuth ? { auth: primaryAuth } : {}),
      ...(services.length ? { services } : {}),
    };
  } else if (kind.key === "machine") {
    let image: string | undefined;
    if (v.kind === "map") {
      for (const e of v.entries)
        if (!["image", "docker_layer_caching", "resource_class"].includes(e.key))
          diag.error(e.keyPos, `${owner}: machine: unknown key \`${e.key}\``);
      const img = get(v, "image");
      if (img && img.kind === "scalar" && typeof img.value === "string") image = img.value;
      else if (img) diag.error(img.pos, `${owner}: machine \`image\` must be a string`);
    } else if (!(v.kind === "scalar" && v.value === true)) {
      diag.error(v.pos, `${owner}: \`machine\` is true or \`{image: …}\`, not ${describe(v)}`);
    }
    if (image?.startsWith("windows-")) {
      diag.warn(
        get(v as YMap, "image")?.pos ?? v.pos,
        `${owner}: Windows machine image \`${image}\`: ${LINUX_ONLY}`,
      );
      parts.executor = { kind: "windows", image };
    } else {
      parts.executor = { kind: "machine", ...(image ? { image } : {}) };
    }
  } else {
    const xcode = v.kind === "map" ? get(v, "xcode") : undefined;
    const version = xcode?.kind === "scalar" ? String(xcode.value) : undefined;
    diag.warn(kind.keyPos, `${owner}: macos executor${version ? ` (Xcode ${version})` : ""}: ${LINUX_ONLY}`);
    parts.executor = { kind: "macos", ...(version ? { image: `xcode:${version}` } : {}) };
  }
  if (windowsClass) parts.executor = { ...parts.executor, kind: "windows" };
  if (parts.shell) parts.executor.shell = parts.shell;
  return parts;
}

/** Resolves `executor: name` or `executor: {name, …parameters}` against `executors:`. */
export function resolveExecutorRef(ref: YNode, ctx: Ctx, owner: string): ExecutorParts | undefined {
  const { diag } = ctx;
  if (ref.kind === "scalar" && ref.placeholder) return undefined;
  let name: string | undefined;
  let args = ref.kind === "map" ? ref.entries.filter((e) => e.key !== "name") : [];
  if (ref.kind === "scalar" && typeof ref.value === "string") name = ref.value;
  else if (ref.kind === "map") {
    const n = get(ref, "name");
    if (n?.kind === "scalar" && typeof n.value === "string") name = n.value;
  }
  if (!name) {
    diag.error(
      ref.pos,
      `${owner}: \`executor\` is an executor name or \`{name: …, <parameters>}\`, not ${describe(ref)}`,
    );
    return undefined;
  }
  const def = lookup(ctx.executors, name, ctx);
  if (!def) {
    diag.error(
      ref.pos,
      orbUse(ctx, "executor", name) ??
        `${owner}: unknown executor \`${name}\`${ctx.executors.size ? ` (defined: ${[...ctx.executors.keys()].join(", ")})` : ""}`,
    );
    return undefined;
  }
  ctx.used.add(`executor:${name}`);
  const execOwner = `executor \`${name}\``;
  if (ref.kind !== "map") args = [];
  const params = bindParams(def.specs, args, execOwner, ref.pos, diag);
  const body: YMap = {
    ...def.node,
    entries: def.node.entries.filter((e) => e.key !== "parameters" && e.key !== "description"),
  };
  const node = substitute(
    body,
    { templated: true, params, owner: execOwner, pipeline: ctx.pipeline, work: ctx.work },
    diag,
  ) as YMap;
  const parts = readExecutor(node, execOwner, diag);
  if (parts.executor.kind === "none")
    diag.error(def.pos, `${execOwner} needs one of docker, machine or macos`);
  return parts;
}

/** Checks the keys of an `executors:` definition. */
export function checkExecutorKeys(def: YMap, owner: string, diag: Diagnostics): void {
  for (const e of def.entries) {
    if (![...EXECUTOR_KEYS, "parameters", "description"].includes(e.key))
      diag.error(
        e.keyPos,
        `${owner}: unknown key \`${e.key}\` (allowed: ${[...EXECUTOR_KEYS, "parameters", "description"].join(", ")})`,
      );
  }
}

/** A service container's entry: `name`, `entrypoint`/`command` (a list, or a string split into words), `user`, `environment`, `auth`. */
function readService(item: YMap, image: string, owner: string, diag: Diagnostics): DockerService {
  const service: DockerService = { image };
  const str = (key: string) => {
    const v = get(item, key);
    if (!v) return undefined;
    if (v.kind === "scalar" && (typeof v.value === "string" || typeof v.value === "number"))
      return String(v.value);
    diag.error(v.pos, `${owner}: docker \`${key}\` of ${image} is a string, not ${describe(v)}`);
    return undefined;
  };
  const words = (key: string) => {
    const v = get(item, key);
    if (!v) return undefined;
    if (v.kind === "seq" && v.items.every((i) => i.kind === "scalar" && i.value !== null))
      return v.items.map((i) => String((i as { value: unknown }).value));
    const text = str(key);
    if (text === undefined) return undefined;
    const split = splitWords(text);
    if (split === undefined)
      diag.error(v.pos, `${owner}: docker \`${key}\` of ${image} has an unclosed quote`);
    return split;
  };
  const name = str("name");
  if (name !== undefined) {
    if (/^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/.test(name)) service.name = name;
    else
      diag.error(
        get(item, "name")!.pos,
        `${owner}: docker \`name\` ${JSON.stringify(name)} is not a host name`,
      );
  }
  const entrypoint = words("entrypoint");
  if (entrypoint) service.entrypoint = entrypoint;
  const command = words("command");
  if (command) service.command = command;
  const user = str("user");
  if (user) service.user = user;
  const env = get(item, "environment");
  if (env) service.environment = readEnvironment(env, owner, diag);
  const auth = get(item, "auth");
  if (auth) service.auth = readAuth(auth, owner, diag);
  return service;
}

/** Words split as a shell would, without expansion: quotes group (no escapes inside them), `\\` escapes outside; undefined on an unclosed quote. */
export function splitWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return undefined;
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The primary image's `auth: {username, password}`; values may name project variables (`$DOCKER_PASS`). */
function readAuth(node: YNode, owner: string, diag: Diagnostics): Executor["auth"] {
  const field = (key: string) => {
    const v = node.kind === "map" ? get(node, key) : undefined;
    return v?.kind === "scalar" && typeof v.value === "string" && v.value ? v.value : undefined;
  };
  const [username, password] = [field("username"), field("password")];
  if (!username || !password) {
    diag.error(node.pos, `${owner}: docker \`auth\` needs \`username\` and \`password\` (strings)`);
    return undefined;
  }
  return { username, password };
}
