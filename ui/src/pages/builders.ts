// /builders: the fleet (administrators only, as the API is).
import { api } from "../api.ts";
import { load, loading, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { ago } from "../format.ts";
import type { Builder, Page } from "../types.ts";

export function buildersPage(root: HTMLElement): void {
  setTitle("Builders");
  root.replaceChildren(loading("Loading builders"));
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
                ["Name", "State", "Driver", "Slots", "Last seen", "Registered"].map((t) =>
                  h("th", { scope: "col" }, t),
                ),
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
                  h("td", { "data-label": "Slots" }, String(b.slots)),
                  h("td", { "data-label": "Last seen" }, ago(b.last_seen_at) || "never"),
                  h("td", { "data-label": "Registered" }, ago(b.created_at)),
                ),
              ),
            ),
          ),
    );
  });
}
