// Client-side routing over real URLs: the server answers every page's path with index.html
// (server/routes/ui.ts, UI_PAGES — keep the two lists in step), and links navigate without reloads.
export type Params = Record<string, string>;
/** A page draws itself into `root` and returns its cleanup (close streams, stop timers). */
export type Page = (root: HTMLElement, params: Params) => unknown;

interface Route {
  pattern: RegExp;
  keys: string[];
  page: Page;
  public?: boolean;
}

const routes: Route[] = [];

export function route(path: string, page: Page, opts: { public?: boolean } = {}): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/:(\w+)/g, (_, k: string) => {
      keys.push(k);
      return "([\\w-]+)";
    })}$`,
  );
  routes.push({ pattern, keys, page, public: opts.public });
}

export function match(pathname: string): { route: Route; params: Params } | null {
  for (const r of routes) {
    const m = r.pattern.exec(pathname);
    if (m)
      return {
        route: r,
        params: Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1])])),
      };
  }
  return null;
}

let onNavigate: () => void = () => {};
export function startRouter(render: () => void): void {
  onNavigate = render;
  window.addEventListener("popstate", render);
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest?.("a");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return; // in-page anchor
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  render();
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  onNavigate();
  window.scrollTo(0, 0);
}
