// The web UI: the bundle in ui/dist (built by ui/build.ts) under /assets/*, and index.html for every
// page's URL, so links can be bookmarked and shared while the browser routes on its own (ui/src/router.ts).
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";

export const UI_DIST = fileURLToPath(new URL("../../ui/dist/", import.meta.url));

/** The UI's pages; anything else outside /api is a 404. Keep in step with ui/src/router.ts. */
export const UI_PAGES = [
  /^\/$/,
  /^\/(login|builders|orbs|audit|settings)$/,
  /^\/(projects|pipelines|jobs)\/[\w-]{1,64}$/,
  /^\/projects\/[\w-]{1,64}\/settings$/,
];

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

export interface UiRoutesOptions {
  /** Where the built UI lives (default ui/dist beside the server). */
  dir?: string;
}

let embeddedUi: Readonly<Record<string, string>> | undefined;

/** In the compiled binary: ui/dist's files by name, embedded by scripts/build.ts (name → embedded path). */
export function useEmbeddedUi(files: Readonly<Record<string, string>>): void {
  embeddedUi = files;
}

export const uiRoutes = (options: UiRoutesOptions = {}) => {
  const { dir } = { dir: UI_DIST, ...options } satisfies UiRoutesOptions;
  const app = new Hono();
  const cache = new Map<string, Uint8Array | null>();

  const load = async (name: string): Promise<Uint8Array | null> => {
    if (cache.has(name)) return cache.get(name)!;
    const path = embeddedUi
      ? Object.hasOwn(embeddedUi, name)
        ? embeddedUi[name]
        : undefined
      : join(dir, name);
    if (!path) return null;
    const bytes = await readFile(path).then(
      (b) => new Uint8Array(b),
      () => null,
    );
    // index.html changes with every build; hashed assets never do.
    if (bytes && name !== "index.html") cache.set(name, bytes);
    return bytes;
  };

  app.get("/assets/:name", async (c) => {
    const name = normalize(c.req.param("name"));
    const type = TYPES[extname(name)];
    if (!type || !/^[\w.-]+$/.test(name)) return c.notFound();
    const bytes = await load(name);
    if (!bytes) return c.notFound();
    // Names carry a content hash (ui/build.ts), so a browser may keep them for good.
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": type,
      "cache-control": "public, max-age=31536000, immutable",
    });
  });

  app.get("*", async (c, next) => {
    if (!UI_PAGES.some((re) => re.test(c.req.path))) return next();
    const html = await load("index.html");
    if (!html) {
      return c.text(
        "The web UI is not built: run `node scripts/ensure-install.mjs` (or `bun ui/build.ts`).",
        503,
      );
    }
    return c.body(html as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
    });
  });

  return app;
};
