// /builders: the fleet (administrators only, as the API is): each builder's capacity, the jobs it
// runs now, and revoking a builder: its token stops working at once and its jobs go back to the queue.
import { api } from "../api.ts";
import { confirmButton, load, loading, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { ago } from "../format.ts";
import type { Builder, Page } from "../types.ts";

/** Revoke, asked twice: the first press says what it does, the second does it. */
function revokeButton(b: Builder, done: () => void): HTMLElement {
  return confirmButton({
    label: "Revoke",
    name: `Revoke ${b.name}`,
    confirm: `Confirm: revoke ${b.name}`,
    warning: "Its token stops working now; jobs it runs are re-queued.",
    small: true,
    run: async () => {
      await api(`/builders/${b.id}/revoke`, { method: "POST" });
      done();
    },
  });
}

/** Links to the jobs a builder runs now, each with its slice and how long it has run. */
function runningJobs(b: Builder): HTMLElement | string {
  if (b.running_jobs.length === 0) return "—";
  return h(
    "ul.running-jobs",
    null,
    b.running_jobs.map((j) =>
      h(
        "li",
        { "data-job": j.id },
        h(
          "a",
          { href: `/jobs/${j.id}` },
          j.slice.total > 1 ? `${j.name} ${j.slice.index + 1}/${j.slice.total}` : j.name,
        ),
        j.started_at ? h("span.muted", null, `, started ${ago(j.started_at)}`) : "",
      ),
    ),
  );
}

export function buildersPage(root: HTMLElement): void {
  setTitle("Builders");
  root.replaceChildren(loading("Loading builders"));
  const again = () => buildersPage(root);
  load(root, async () => {
    const { items } = await api<Page<Builder>>("/builders");
    const state = (b: Builder) => {
      if (b.revoked_at) return h("span.status.status-canceled", null, "revoked");
      const seen = b.last_seen_at ? Date.now() - Date.parse(b.last_seen_at) : Number.POSITIVE_INFINITY;
      return seen < 60_000
        ? h("span.status.status-success", null, "online")
        : h("span.status.status-lost", null, "offline");
    };
    root.replaceChildren(
      h("div.page-head", null, h("h1", null, "Builders")),
      items.length === 0
        ? h(
            "p.muted",
            null,
            "No builders yet. Register one with a registration token (POST /api/v1/builders/registration-tokens, then `cairn-builder register`).",
          )
        : h(
            "table.builders",
            null,
            h("caption.visually-hidden", null, "Registered builders"),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                [
                  "Name",
                  "State",
                  "Driver",
                  "Slots in use",
                  "Running",
                  "Last seen",
                  "Registered",
                  "Actions",
                ].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h(
              "tbody",
              null,
              items.map((b) =>
                h(
                  "tr",
                  { "data-builder": b.id },
                  h("td", { "data-label": "Name" }, b.name),
                  h("td", { "data-label": "State" }, state(b)),
                  h(
                    "td",
                    { "data-label": "Driver" },
                    b.driver === "process"
                      ? h("span", { title: "no container isolates its jobs" }, "process (unsandboxed)")
                      : (b.driver ?? "—"),
                  ),
                  h(
                    "td",
                    { "data-label": "Slots in use", "data-used": String(b.running_jobs.length) },
                    `${b.running_jobs.length} / ${b.slots}`,
                  ),
                  h("td", { "data-label": "Running" }, runningJobs(b)),
                  h("td", { "data-label": "Last seen" }, ago(b.last_seen_at) || "never"),
                  h("td", { "data-label": "Registered" }, ago(b.created_at)),
                  h("td", { "data-label": "Actions" }, b.revoked_at ? "" : revokeButton(b, again)),
                ),
              ),
            ),
          ),
    );
  });
}
