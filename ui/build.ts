// Builds the web UI into ui/dist with Bun's bundler: app-<hash>.js, app-<hash>.css (styles plus the
// generated 256-colour classes) and index.html naming them. Only external script and style files,
// as the server's Content-Security-Policy requires. `--if-stale` skips the build when no source is
// newer than dist/index.html (scripts/ensure-install.mjs runs it so before `npm start`/`npm test`).
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { paletteCss } from "./src/log/palette.ts";

const here = import.meta.dir;
const src = join(here, "src");
export const UI_DIST = join(here, "dist");
const INDEX = join(UI_DIST, "index.html");

function newestSource(dir = src): number {
  let newest = statSync(import.meta.path).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export function isStale(): boolean {
  try {
    return statSync(INDEX).mtimeMs < newestSource();
  } catch {
    return true;
  }
}

const hash = (text: string | Uint8Array) => createHash("sha256").update(text).digest("hex").slice(0, 12);

export async function buildUi(opts: { ifStale?: boolean; minify?: boolean } = {}): Promise<string> {
  if (opts.ifStale && !isStale()) return UI_DIST;
  const out = join(here, ".dist-tmp");
  rmSync(out, { recursive: true, force: true });
  const bundle = async (entry: string, name: string, define: Record<string, string> = {}) => {
    const result = await Bun.build({
      entrypoints: [join(src, entry)],
      outdir: out,
      target: "browser",
      format: "esm",
      minify: opts.minify ?? true,
      sourcemap: "linked",
      naming: `${name}-[hash].[ext]`,
      define,
    });
    if (!result.success) {
      for (const log of result.logs) console.error(log);
      throw new Error(`ui build of ${entry} failed`);
    }
    const js = result.outputs.find((o) => o.kind === "entry-point");
    if (!js) throw new Error(`ui build of ${entry} produced no entry point`);
    return js.path.split("/").pop()!;
  };
  // The log worker first: the app needs its hashed name.
  const workerName = await bundle("log/worker.ts", "log-worker");
  const jsName = await bundle("main.ts", "app", {
    __LOG_WORKER_URL__: JSON.stringify(`/assets/${workerName}`),
  });
  const css = `${readFileSync(join(src, "styles.css"), "utf8")}\n${paletteCss()}`;
  const cssName = `app-${hash(css)}.css`;
  writeFileSync(join(out, cssName), css);
  writeFileSync(
    join(out, "index.html"),
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Cairn CI</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/${cssName}">
<script type="module" src="/assets/${jsName}"></script>
</head>
<body>
<noscript>Cairn's web UI needs JavaScript. The REST API is at /api/v1.</noscript>
</body>
</html>
`,
  );
  writeFileSync(join(out, "favicon.svg"), readFileSync(join(src, "favicon.svg")));
  // Swap the new build in whole, so a running server never sees half of one.
  rmSync(UI_DIST, { recursive: true, force: true });
  mkdirSync(UI_DIST, { recursive: true });
  for (const name of readdirSync(out)) writeFileSync(join(UI_DIST, name), readFileSync(join(out, name)));
  rmSync(out, { recursive: true, force: true });
  return UI_DIST;
}

if (import.meta.main) {
  const ifStale = process.argv.includes("--if-stale");
  if (!ifStale || isStale()) {
    await buildUi();
    console.error(`cairn: built the web UI into ${UI_DIST}`);
  }
}
