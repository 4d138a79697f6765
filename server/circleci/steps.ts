// Built-in steps (run, checkout, caches, artifacts, test results, workspaces, ssh keys), each
// checked and normalised to the `Step` union. Commands and `when` steps are expanded in expand-steps.ts.
import type { Diagnostics } from "./diagnostics.ts";
import { didYouMean } from "./suggest.ts";
import { describe, type Pos, type YMap, type YNode } from "./tree.ts";
import type { Step } from "./types.ts";

export const BUILTIN_STEPS = new Set([
  "run",
  "checkout",
  "save_cache",
  "restore_cache",
  "store_artifacts",
  "store_test_results",
  "persist_to_workspace",
  "attach_workspace",
  "add_ssh_keys",
]);

/** Steps CircleCI has that cannot work in Cairn's sandbox: a job using one ends not_run, saying why. */
export const UNSUPPORTED_STEPS: Record<string, string> = {
  setup_remote_docker: "Cairn jobs run in LXC containers with no remote Docker engine to attach to",
};

type When = "on_success" | "on_fail" | "always";
const WHEN = ["on_success", "on_fail", "always"];

/** Reads a step's arguments with one error per problem, all of them. */
class Args {
  constructor(
    readonly step: string,
    readonly node: YMap,
    private readonly diag: Diagnostics,
    allowed: string[],
  ) {
    for (const e of node.entries) {
      if (!allowed.includes(e.key))
        diag.error(
          e.keyPos,
          `\`${step}\`: unknown key \`${e.key}\`${didYouMean(e.key, allowed) || ` (allowed: ${allowed.join(", ")})`}`,
        );
    }
  }

  private find(key: string) {
    return this.node.entries.find((e) => e.key === key)?.value;
  }

  string(key: string, required: true): string;
  string(key: string, required?: boolean): string | undefined;
  string(key: string, required = false): string | undefined {
    const v = this.find(key);
    if (!v || (v.kind === "scalar" && v.value === null)) {
      if (required) this.diag.error(this.node.pos, `\`${this.step}\` needs \`${key}\``);
      return required ? "" : undefined;
    }
    if (v.kind !== "scalar") {
      this.diag.error(v.pos, `\`${this.step}\`: \`${key}\` must be a string, not ${describe(v)}`);
      return required ? "" : undefined;
    }
    return String(v.value);
  }

  list(key: string, required = false): string[] {
    const v = this.find(key);
    if (!v) {
      if (required) this.diag.error(this.node.pos, `\`${this.step}\` needs \`${key}\` (a list)`);
      return [];
    }
    if (v.kind === "scalar" && v.value !== null) return [String(v.value)];
    if (v.kind !== "seq" || v.items.some((i) => i.kind !== "scalar")) {
      this.diag.error(v.pos, `\`${this.step}\`: \`${key}\` must be a list of strings, not ${describe(v)}`);
      return [];
    }
    return v.items.map((i) => String((i as { value: unknown }).value));
  }

  boolean(key: string): boolean {
    const v = this.find(key);
    if (!v) return false;
    if (v.kind === "scalar" && typeof v.value === "boolean") return v.value;
    this.diag.error(v.pos, `\`${this.step}\`: \`${key}\` must be true or false, not ${describe(v)}`);
    return false;
  }

  when(): When {
    const w = this.string("when");
    if (w === undefined) return "on_success";
    if (WHEN.includes(w)) return w as When;
    this.diag.error(
      this.find("when")?.pos ?? this.node.pos,
      `\`${this.step}\`: \`when\` must be on_success, on_fail or always, not ${JSON.stringify(w)}`,
    );
    return "on_success";
  }

  /** `when` on steps other than run/save_cache: present only when set, so it renders only then. */
  whenIfSet(): { when?: When } {
    return this.find("when") ? { when: this.when() } : {};
  }

  environment(key = "environment"): Record<string, string> {
    const v = this.find(key);
    return v ? readEnvironment(v, `\`${this.step}\``, this.diag) : {};
  }

  duration(key: string): number | undefined {
    const v = this.find(key);
    if (!v) return undefined;
    const seconds = v.kind === "scalar" ? parseDuration(String(v.value)) : undefined;
    if (seconds === undefined)
      this.diag.error(
        v.pos,
        `\`${this.step}\`: \`${key}\` must be a duration like 10m, 20s, 1h or 1h30m, not ${describe(v)}`,
      );
    return seconds;
  }
}

const UNIT: Record<string, number> = { h: 3600, m: 60, s: 1 };

export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+[hms])+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+)([hms])/g)) total += Number(m[1]) * UNIT[m[2]];
  return total;
}

/** `environment:` as a mapping of names to scalar values, or a list of `NAME=value` strings and mappings. */
export function readEnvironment(v: YNode, where: string, diag: Diagnostics): Record<string, string> {
  const env: Record<string, string> = {};
  if (v.kind === "seq") {
    for (const i of v.items) {
      if (i.kind === "map") {
        Object.assign(env, readEnvironment(i, where, diag));
        continue;
      }
      const m = i.kind === "scalar" ? /^([^=]+)=(.*)$/s.exec(String(i.value)) : null;
      if (m) env[m[1]] = m[2];
      else
        diag.error(
          i.pos,
          `${where}: environment list items are NAME=value strings or mappings of names to values`,
        );
    }
    return env;
  }
  if (v.kind !== "map") {
    if (!(v.kind === "scalar" && v.value === null))
      diag.error(v.pos, `${where}: \`environment\` must be a mapping of names to values, not ${describe(v)}`);
    return env;
  }
  for (const e of v.entries) {
    if (e.value.kind !== "scalar")
      diag.error(
        e.value.pos,
        `${where}: environment variable \`${e.key}\` must be a string, number or boolean, not ${describe(e.value)}`,
      );
    else env[e.key] = e.value.value === null ? "" : String(e.value.value);
  }
  return env;
}

/** Normalises one built-in step; `arg` is its value (null for `- checkout`). */
export function builtinStep(name: string, arg: YNode, pos: Pos, diag: Diagnostics): Step | undefined {
  if (name === "run" && arg.kind === "scalar" && arg.value !== null) {
    const command = String(arg.value);
    return {
      type: "run",
      name: runName(command),
      command,
      environment: {},
      background: false,
      when: "on_success",
    };
  }
  const empty: YMap = { kind: "map", pos, entries: [] };
  const node = arg.kind === "map" ? arg : arg.kind === "scalar" && arg.value === null ? empty : undefined;
  if (!node) {
    diag.error(arg.pos, `\`${name}\` takes a mapping of arguments, not ${describe(arg)}`);
    return undefined;
  }
  switch (name) {
    case "run": {
      const a = new Args(name, node, diag, [
        "name",
        "command",
        "shell",
        "environment",
        "background",
        "working_directory",
        "no_output_timeout",
        "when",
        "max_auto_reruns",
        "auto_rerun_delay",
      ]);
      const command = a.string("command", true);
      return {
        type: "run",
        name: a.string("name") ?? runName(command),
        command,
        ...opt("shell", a.string("shell")),
        environment: a.environment(),
        background: a.boolean("background"),
        ...opt("workingDirectory", a.string("working_directory")),
        ...opt("noOutputTimeout", a.duration("no_output_timeout")),
        when: a.when(),
      };
    }
    case "checkout": {
      const a = new Args(name, node, diag, ["path", "method", "name", "when"]);
      const method = a.string("method");
      if (method !== undefined && method !== "full" && method !== "blobless")
        diag.error(
          node.pos,
          `\`checkout\`: \`method\` must be full or blobless, not ${JSON.stringify(method)}`,
        );
      return {
        type: "checkout",
        ...opt("path", a.string("path")),
        ...opt("method", method as "full" | "blobless" | undefined),
        ...a.whenIfSet(),
      };
    }
    case "save_cache": {
      const a = new Args(name, node, diag, ["key", "paths", "name", "when"]);
      return {
        type: "save_cache",
        key: a.string("key", true),
        paths: a.list("paths", true),
        ...opt("name", a.string("name")),
        when: a.when(),
      };
    }
    case "restore_cache": {
      const a = new Args(name, node, diag, ["key", "keys", "name", "when"]);
      const keys = [...a.list("keys"), ...(a.string("key") !== undefined ? [a.string("key") as string] : [])];
      if (keys.length === 0) diag.error(node.pos, "`restore_cache` needs `key` or `keys`");
      return { type: "restore_cache", keys, ...opt("name", a.string("name")), ...a.whenIfSet() };
    }
    case "store_artifacts": {
      const a = new Args(name, node, diag, ["path", "destination", "name", "when"]);
      return {
        type: "store_artifacts",
        path: a.string("path", true),
        ...opt("destination", a.string("destination")),
        ...a.whenIfSet(),
      };
    }
    case "store_test_results": {
      const a = new Args(name, node, diag, ["path", "name", "when"]);
      return { type: "store_test_results", path: a.string("path", true), ...a.whenIfSet() };
    }
    case "persist_to_workspace": {
      const a = new Args(name, node, diag, ["root", "paths", "name", "when"]);
      return {
        type: "persist_to_workspace",
        root: a.string("root", true),
        paths: a.list("paths", true),
        ...a.whenIfSet(),
      };
    }
    case "attach_workspace": {
      const a = new Args(name, node, diag, ["at", "name", "when"]);
      return { type: "attach_workspace", at: a.string("at", true), ...a.whenIfSet() };
    }
    case "add_ssh_keys": {
      const a = new Args(name, node, diag, ["fingerprints", "name", "when"]);
      return { type: "add_ssh_keys", fingerprints: a.list("fingerprints"), ...a.whenIfSet() };
    }
  }
  return undefined;
}

/** A run step without `name` is named after its command, as CircleCI shows it. */
function runName(command: string): string {
  const first = command.trim().split("\n")[0] ?? "";
  return first.length > 120 ? `${first.slice(0, 117)}...` : first;
}

/** `{key: value}` when value is defined, `{}` otherwise (keeps optional fields absent, not undefined). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
