// /orbs: the private orb registry — every published orb and its versions (immutable), newest last,
// with how to publish one (`cairn orb pack` + `cairn orb publish`, admins).
import { api } from "../api.ts";
import { load, loading, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { ago } from "../format.ts";
import type { Page } from "../types.ts";

interface Orb {
  name: string;
  versions: { version: string; digest: string; created_at: string }[];
}

export function orbsPage(root: HTMLElement): void {
  setTitle("Orbs");
  root.replaceChildren(loading("Loading orbs"));
  load(root, async () => {
    const { items } = await api<Page<Orb>>("/orbs");
    root.replaceChildren(
      h("div.page-head", null, h("h1", null, "Orbs")),
      h(
        "p.muted",
        null,
        "Publish one with ",
        h("code", null, "cairn orb pack SRC_DIR > orb.yml && cairn orb publish NS/NAME@X.Y.Z orb.yml"),
        " (administrators). A published version never changes.",
      ),
      items.length === 0
        ? h("p", null, "No orbs published yet.")
        : h(
            "table.orbs",
            null,
            h("thead", null, h("tr", null, h("th", null, "Orb"), h("th", null, "Versions"))),
            h(
              "tbody",
              null,
              items.map((o) =>
                h(
                  "tr",
                  { "data-orb": o.name },
                  h("td", null, h("code", null, o.name)),
                  h(
                    "td",
                    null,
                    o.versions.map((v) =>
                      h(
                        "span.orb-version",
                        { title: `sha256 ${v.digest}, published ${ago(v.created_at)}` },
                        h("code", null, v.version),
                        " ",
                      ),
                    ),
                  ),
                ),
              ),
            ),
          ),
    );
  });
}
