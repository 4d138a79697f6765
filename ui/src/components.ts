// Small pieces every page uses: status badges, errors, headings, empty states.
import { ApiError } from "./api.ts";
import { h } from "./dom.ts";
import { statusIcon } from "./icons.ts";

/** How a status reads: `not_run` as "not run". */
export const statusLabel = (status: string): string => status.replace(/_/g, " ");

export function statusBadge(status: string): HTMLSpanElement {
  return h(
    "span.status",
    { class: `status-${status}`, "data-status": status },
    statusIcon(status),
    ` ${statusLabel(status)}`,
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

/** A button that copies `text` to the clipboard and says so (for commands, keys, URLs). */
export function copyButton(text: string, label = "Copy"): HTMLButtonElement {
  const btn = h(
    "button.copy",
    {
      type: "button",
      title: `${label}: copy to the clipboard`,
      "aria-live": "polite",
      "data-key": `copy ${label}`,
    },
    "Copy",
  );
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      btn.textContent = "Copied";
    } catch {
      btn.textContent = "Copy failed: select the text";
    }
    setTimeout(() => {
      btn.textContent = "Copy";
    }, 2000);
  });
  return btn;
}

/** A value with its copy button, e.g. a command or a public key. */
export function copyable(value: string, label: string, cls = ""): HTMLElement {
  return h("div.copyable", { class: cls }, h("code", null, value), copyButton(value, label));
}

/** A secret the API shows this once (a token, a webhook secret): copy it now, it is not kept. */
export function shownOnce(title: string, value: string): HTMLElement {
  return h(
    "div.shown-once",
    { role: "status" },
    h("p", null, h("strong", null, title), " — copy it now: it is shown only this once."),
    copyable(value, title, "secret-value"),
  );
}

/** A section with a heading (h2) whose id labels it. */
export function section(
  id: string,
  title: string,
  ...children: (Node | string | null | false)[]
): HTMLElement {
  return h(
    "section.card.settings-section",
    { "aria-labelledby": `${id}-title`, id },
    h("h2", { id: `${id}-title` }, title),
    ...children,
  );
}

/** Runs a form's submit through `send` with the button disabled and any error shown in `status`. */
export function onSubmit(form: HTMLFormElement, status: HTMLElement, send: () => Promise<void>): void {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    for (const b of buttons) b.disabled = true;
    status.replaceChildren();
    try {
      await send();
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
}

export interface Tab {
  id: string;
  label: string;
  /** Draws the panel's content the first time the tab is shown (and again on `refresh`). */
  panel: () => Node;
}

/**
 * WAI-ARIA tabs: a tablist with roving tabindex (arrows, Home, End) and one panel per tab, drawn on
 * first show. `onSelect` hears the chosen id (e.g. to keep it in the URL).
 */
export function tabs(
  label: string,
  list: Tab[],
  selected: string,
  onSelect?: (id: string) => void,
): { el: HTMLElement; select(id: string): void; refresh(id: string): void } {
  const tablist = h("div.tabs", { role: "tablist", "aria-label": label });
  const panels = h("div.tab-panels");
  const drawn = new Set<string>();
  const buttons = list.map((t) =>
    h(
      "button.tab",
      {
        type: "button",
        role: "tab",
        id: `tab-${t.id}`,
        "aria-controls": `panel-${t.id}`,
        "data-tab": t.id,
      },
      t.label,
    ),
  );
  const panelEls = list.map((t) =>
    h("div.tab-panel", { role: "tabpanel", id: `panel-${t.id}`, "aria-labelledby": `tab-${t.id}` }),
  );
  const draw = (i: number) => {
    panelEls[i].replaceChildren(list[i].panel());
    drawn.add(list[i].id);
  };
  const select = (id: string, focus = false) => {
    const at = Math.max(
      0,
      list.findIndex((t) => t.id === id),
    );
    buttons.forEach((b, i) => {
      const on = i === at;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      panelEls[i].hidden = !on;
    });
    if (!drawn.has(list[at].id)) draw(at);
    if (focus) buttons[at].focus();
    onSelect?.(list[at].id);
  };
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => select(list[i].id));
    b.addEventListener("keydown", (e) => {
      const to =
        e.key === "ArrowRight"
          ? (i + 1) % list.length
          : e.key === "ArrowLeft"
            ? (i - 1 + list.length) % list.length
            : e.key === "Home"
              ? 0
              : e.key === "End"
                ? list.length - 1
                : -1;
      if (to < 0) return;
      e.preventDefault();
      select(list[to].id, true);
    });
  });
  tablist.append(...buttons);
  panels.append(...panelEls);
  select(selected);
  return {
    el: h("div.tabbed", null, tablist, panels),
    select: (id) => select(id),
    refresh: (id) => {
      const i = list.findIndex((t) => t.id === id);
      if (i >= 0 && drawn.has(id)) draw(i);
    },
  };
}

export interface ConfirmButtonOptions {
  /** The button's text, e.g. "Delete". */
  label: string;
  /** Its accessible name when the text alone is ambiguous in a list, e.g. "Delete DEPLOY_TOKEN". */
  name?: string;
  /** The armed button's text, e.g. "Confirm: delete DEPLOY_TOKEN". */
  confirm: string;
  /** What it will do, said when armed. */
  warning: string;
  small?: boolean;
  run: () => Promise<void>;
}

/**
 * A destructive action asked twice: the first press arms it and says what will happen, the second
 * does it; leaving the button (or Escape) disarms it. Errors show beside it.
 */
export function confirmButton(o: ConfirmButtonOptions): HTMLElement {
  const btn = h("button.danger", { type: "button", class: o.small ? "small" : "" }, o.label);
  const note = h("span.form-status", { "aria-live": "polite" });
  let armed = false;
  const arm = (on: boolean) => {
    armed = on;
    btn.textContent = on ? o.confirm : o.label;
    if (on) btn.setAttribute("aria-label", o.confirm);
    else if (o.name) btn.setAttribute("aria-label", o.name);
    else btn.removeAttribute("aria-label");
    btn.dataset.armed = String(on);
    note.textContent = on ? o.warning : "";
  };
  arm(false);
  btn.addEventListener("click", async () => {
    if (!armed) {
      arm(true);
      return;
    }
    btn.disabled = true;
    try {
      await o.run();
    } catch (err) {
      btn.disabled = false;
      arm(false);
      note.replaceChildren(errorBox(err));
    }
  });
  btn.addEventListener("blur", () => {
    if (armed && !btn.disabled) arm(false);
  });
  btn.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && armed) arm(false);
  });
  return h("span.confirm", null, btn, note);
}

/** `name [i/n]` for a slice of a parallel job (counted from 1), the name alone otherwise. */
export function jobLabel(j: { name: string; slice?: { index: number; total: number } }): string {
  return j.slice && j.slice.total > 1 ? `${j.name} [${j.slice.index + 1}/${j.slice.total}]` : j.name;
}
