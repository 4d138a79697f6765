// CircleCI cache key templates, expanded on the builder: {{ checksum "file" }} (base64 SHA-256 of
// the file, computed inside the sandbox), {{ .Branch }}, {{ .Revision }}, {{ .BuildNum }},
// {{ .Environment.NAME }}, {{ epoch }}, {{ arch }}.

import type { StepContext } from "./context.ts";
import { readSpool, sandboxPath } from "./context.ts";

export class CacheKeyError extends Error {}

const TEMPLATE = /\{\{\s*(.*?)\s*\}\}/g;

/** The sandbox's `{{ arch }}`: `arch1-linux-amd64` style, from `uname -sm` inside it. */
export function archName(unameSm: string): string {
  const [os = "linux", machine = "unknown"] = unameSm.trim().toLowerCase().split(/\s+/);
  const arch: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", armv7l: "arm", i686: "386" };
  return `arch1-${os}-${arch[machine] ?? machine}`;
}

export async function expandCacheKey(
  ctx: Pick<StepContext, "sandbox" | "payload" | "workdir"> & Partial<Pick<StepContext, "note">>,
  template: string,
): Promise<string> {
  const parts: string[] = [];
  let last = 0;
  for (const m of template.matchAll(TEMPLATE)) {
    parts.push(template.slice(last, m.index), await value(m[1]));
    last = m.index + m[0].length;
  }
  parts.push(template.slice(last));
  return parts.join("");

  async function value(expr: string): Promise<string> {
    const { payload } = ctx;
    const checksum = /^checksum\s+"([^"]+)"$/.exec(expr);
    if (checksum) return checksumOf(checksum[1]);
    if (expr === ".Branch") return payload.checkout.branch ?? "";
    if (expr === ".Revision") return payload.checkout.sha;
    if (expr === ".BuildNum") return String(payload.pipeline.number);
    if (expr === "epoch") return String(Math.floor(Date.now() / 1000));
    if (expr === "arch") return archName(await inSandbox("uname -sm", []));
    const env = /^\.Environment\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
    if (env) return payload.environment[env[1]] ?? "";
    throw new CacheKeyError(`unknown template {{ ${expr} }} in cache key ${JSON.stringify(template)}`);
  }

  async function checksumOf(file: string): Promise<string> {
    const path = sandboxPath(file, ctx.workdir, ctx.sandbox.home);
    // As on CircleCI, a file that is not there checksums to nothing (a warning, not a failed step).
    if ((await inSandbox('if [ -f "$1" ]; then echo yes; fi', [path])).trim() !== "yes") {
      ctx.note?.(`Warning: {{ checksum "${file}" }}: ${path} does not exist; using an empty checksum.`);
      return "";
    }
    let out: string;
    try {
      out = await inSandbox('sha256sum -- "$1"', [path]);
    } catch (err) {
      throw new CacheKeyError(`{{ checksum "${file}" }}: cannot read ${path}: ${(err as Error).message}`);
    }
    const hex = /^[0-9a-f]{64}/.exec(out)?.[0];
    if (!hex) throw new CacheKeyError(`{{ checksum "${file}" }}: unexpected sha256sum output`);
    return Buffer.from(hex, "hex").toString("base64");
  }

  async function inSandbox(script: string, args: string[]): Promise<string> {
    return new TextDecoder().decode(await readSpool(await ctx.sandbox.capture(script, args), 64 * 1024));
  }
}
