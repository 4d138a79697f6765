// /audit: the security audit log (org administrators), newest first. The filters the API takes
// (action, actor type, actor id, since) live in the URL so a filtered view can be shared; "Load more"
// follows the API's cursor; the same filters export as NDJSON.

import { AUDIT_ACTIONS as ACTIONS } from "../../../protocol/audit-actions.ts";
import { ApiError, api } from "../api.ts";
import { errorBox, load, loading, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { ago, localTime } from "../format.ts";
import { navigate } from "../router.ts";
import type { AuditEvent, Page, User } from "../types.ts";

const FILTERS = ["action", "actor_type", "actor", "since"] as const;

export function auditPage(root: HTMLElement): void {
  setTitle("Audit log");
  root.replaceChildren(loading("Loading the audit log"));
  const params = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const k of [...FILTERS, "limit"]) {
    const v = params.get(k);
    if (v) query.set(k, v);
  }
  const logins = new Map<string, string>();
  const rows = h("tbody");
  const more = h("button", { type: "button" }, "Load more");
  const moreStatus = h("span.form-status", { "aria-live": "polite" });
  const count = h("p.muted.audit-count", { "aria-live": "polite" });
  let shown = 0;
  let cursor: string | null = null;

  const actorCell = (e: AuditEvent) => {
    if (!e.actor.id) return h("span.muted", null, e.actor.type);
    const login = e.actor.type === "user" ? logins.get(e.actor.id) : undefined;
    // A link to everything this actor did.
    const q = new URLSearchParams({ actor_type: e.actor.type, actor: e.actor.id });
    return h(
      "a.actor",
      { href: `/audit?${q}`, title: `${e.actor.type} ${e.actor.id}: show only their events` },
      login ?? `${e.actor.type} ${e.actor.id.slice(0, 8)}`,
    );
  };
  const details = (d: Record<string, unknown>) => {
    const entries = Object.entries(d);
    if (entries.length === 0) return "";
    return h(
      "dl.audit-details",
      null,
      entries.map(([k, v]) => [
        h("dt", null, k),
        h("dd", null, typeof v === "string" ? v : JSON.stringify(v)),
      ]),
    );
  };
  const append = (items: AuditEvent[]) => {
    for (const e of items) {
      rows.append(
        h(
          "tr",
          { "data-action": e.action, "data-id": String(e.id) },
          h(
            "td",
            { "data-label": "When" },
            h("time", { datetime: e.at, title: localTime(e.at), "data-ago": "" }, ago(e.at)),
          ),
          h("td", { "data-label": "Actor" }, actorCell(e)),
          h("td", { "data-label": "Action" }, h("code.action", null, e.action)),
          h(
            "td",
            { "data-label": "Target" },
            e.target ? `${e.target.type} ${e.target.id ?? ""}` : h("span.muted", null, "—"),
          ),
          h("td", { "data-label": "IP" }, e.ip ?? h("span.muted", null, "—")),
          h("td", { "data-label": "Details" }, details(e.details)),
        ),
      );
    }
    shown += items.length;
    count.textContent = `${shown} event${shown === 1 ? "" : "s"} shown${cursor ? "; more are older" : ""}.`;
    more.hidden = !cursor;
  };
  const fetchPage = async () => {
    const q = new URLSearchParams(query);
    if (cursor) q.set("cursor", cursor);
    const page = await api<Page<AuditEvent>>(`/audit?${q}`);
    cursor = page.next_cursor;
    append(page.items);
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    moreStatus.replaceChildren();
    try {
      await fetchPage();
      // Keep the keyboard where it was: on the button, or on the table once nothing is left.
      if (more.hidden) rows.closest("table")?.focus();
    } catch (err) {
      moreStatus.replaceChildren(errorBox(err));
    } finally {
      more.disabled = false;
    }
  });

  load(root, async () => {
    try {
      const users = await api<Page<User>>("/users?limit=200");
      for (const u of users.items) logins.set(u.id, u.login);
    } catch {}
    try {
      await fetchPage();
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        root.replaceChildren(
          h("h1", null, "Audit log"),
          h("p.notice", { role: "note" }, "Only org administrators can read the audit log."),
        );
        return;
      }
      throw err;
    }
    const exportQ = new URLSearchParams(query);
    exportQ.delete("limit");
    exportQ.set("format", "ndjson");
    root.replaceChildren(
      h(
        "div.page-head",
        null,
        h("h1", null, "Audit log"),
        h(
          "div.actions",
          null,
          h(
            "a.button",
            { href: `/api/v1/audit?${exportQ}`, download: "cairn-audit.ndjson" },
            "Export NDJSON",
          ),
        ),
      ),
      filterForm(params),
      count,
      h(
        "table.audit",
        { tabindex: "-1" },
        h("caption.visually-hidden", null, "Audit events, newest first"),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            ["When", "Actor", "Action", "Target", "IP", "Details"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        rows,
      ),
      h("div.actions-row", null, more, moreStatus),
    );
  });
}

function filterForm(params: URLSearchParams): HTMLFormElement {
  const action = h("input#audit-action", {
    name: "action",
    list: "audit-actions",
    value: params.get("action") ?? "",
    autocomplete: "off",
    spellcheck: "false",
  });
  const actorType = h(
    "select#audit-actor-type",
    { name: "actor_type" },
    ["", "user", "builder", "system"].map((t) =>
      h("option", { value: t, selected: (params.get("actor_type") ?? "") === t }, t || "any"),
    ),
  );
  const actor = h("input#audit-actor", {
    name: "actor",
    value: params.get("actor") ?? "",
    autocomplete: "off",
    spellcheck: "false",
  });
  const since = h("input#audit-since", {
    name: "since",
    type: "datetime-local",
    value: params.get("since") ? toLocalInput(params.get("since")!) : "",
  });
  const form = h(
    "form.audit-filters.filters",
    { "aria-label": "Filter the audit log" },
    h("div.field", null, h("label", { for: "audit-action" }, "Action"), action),
    h(
      "datalist#audit-actions",
      null,
      ACTIONS.map((a) => h("option", { value: a })),
    ),
    h("div.field", null, h("label", { for: "audit-actor-type" }, "Actor type"), actorType),
    h("div.field", null, h("label", { for: "audit-actor" }, "Actor id"), actor),
    h("div.field", null, h("label", { for: "audit-since" }, "Since"), since),
    h(
      "div.field.buttons",
      null,
      h("button.primary", { type: "submit" }, "Filter"),
      h("a.button", { href: "/audit" }, "Clear"),
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (action.value.trim()) q.set("action", action.value.trim());
    if (actorType.value) q.set("actor_type", actorType.value);
    if (actor.value.trim()) q.set("actor", actor.value.trim());
    if (since.value) q.set("since", new Date(since.value).toISOString());
    const limit = params.get("limit");
    if (limit) q.set("limit", limit);
    navigate(`/audit${q.size ? `?${q}` : ""}`);
  });
  return form;
}

/** An ISO time as a datetime-local input's value, in the browser's zone. */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
