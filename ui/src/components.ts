// Small pieces every page uses: status badges, errors, headings, empty states.
import { ApiError } from "./api.ts";
import { h } from "./dom.ts";

const ICONS: Record<string, string> = {
  queued: "○",
  running: "◐",
  success: "✓",
  failed: "✕",
  canceled: "⊘",
  lost: "?",
  skipped: "–",
};

export function statusBadge(status: string): HTMLSpanElement {
  return h(
    "span.status",
    { class: `status-${status}`, "data-status": status },
    h("span.status-icon", { "aria-hidden": "true" }, ICONS[status] ?? "•"),
    ` ${status}`,
  );
}

export function errorBox(err: unknown): HTMLElement {
  const msg =
    err instanceof ApiError
      ? `${err.message} (${err.code})`
      : err instanceof Error
        ? err.message
        : String(err);
  return h("p.error", { role: "alert" }, msg);
}

export function loading(what = "Loading"): HTMLElement {
  return h("p.muted", { role: "status" }, `${what}…`);
}

export function shortSha(sha: string): string {
  return sha.slice(0, 8);
}

/** Renders `fn`'s result into `root`, or its error. */
export async function load(root: HTMLElement, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    root.replaceChildren(errorBox(err));
  }
}

export function setTitle(...parts: string[]): void {
  document.title = [...parts, "Cairn CI"].filter(Boolean).join(" · ");
}
