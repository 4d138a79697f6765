// The organisation's contexts: named groups of write-only variables a workflow selects in its config
// (`context: [name]`). Anyone signed in sees their names; their restrictions and variables are shown
// to org administrators and members of the projects a context is restricted to; admins change them.
import { api } from "../api.ts";
import { confirmButton, errorBox, onSubmit, section } from "../components.ts";
import { append, h } from "../dom.ts";
import { ago } from "../format.ts";
import type { Context, Page } from "../types.ts";
import { contextRestrictions } from "./context-restrictions.ts";
import { secretVars } from "./secret-vars.ts";

export function contextsSection(orgAdmin: boolean): HTMLElement {
  const list = h("div.context-list", { "aria-live": "polite" });
  const open = new Set<string>();

  const item = (ctx: Context) => {
    const details = h(
      "details.context",
      { "data-context": ctx.name, open: open.has(ctx.id) },
      h(
        "summary",
        null,
        h("span.context-name", null, ctx.name),
        h("span.muted", null, ` created ${ago(ctx.created_at)}`),
      ),
    );
    // The variables load when the context is opened.
    let filled = false;
    const fill = () => {
      if (filled) return;
      filled = true;
      const del = confirmButton({
        label: `Delete context ${ctx.name}`,
        confirm: `Confirm: delete context ${ctx.name} and its variables`,
        warning: "Workflows naming it stop starting.",
        small: true,
        run: async () => {
          await api(`/contexts/${ctx.id}`, { method: "DELETE" });
          open.delete(ctx.id);
          await refresh();
        },
      });
      append(details, [
        contextRestrictions(ctx, orgAdmin),
        secretVars({
          base: `/contexts/${ctx.id}/envvars`,
          idPrefix: `ctx-${ctx.id}`,
          owner: `context ${ctx.name}`,
          canEdit: orgAdmin,
        }),
        orgAdmin && h("div.actions-row", null, del),
      ]);
    };
    details.addEventListener("toggle", () => {
      if (details.open) {
        open.add(ctx.id);
        fill();
      } else open.delete(ctx.id);
    });
    if (details.open) fill();
    return h("li", null, details);
  };

  const refresh = async () => {
    try {
      const { items } = await api<Page<Context>>("/contexts");
      list.replaceChildren(
        items.length === 0 ? h("p.muted", null, "No contexts yet.") : h("ul.contexts", null, items.map(item)),
      );
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  };

  let create: HTMLElement | null = null;
  if (orgAdmin) {
    const name = h("input#context-name", {
      name: "name",
      required: true,
      autocomplete: "off",
      spellcheck: "false",
      pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*",
      placeholder: "deploy-aws",
    });
    const status = h("div.form-status", { "aria-live": "polite" });
    const form = h(
      "form.inline-form.context-form",
      { "aria-label": "Create a context" },
      h("label", { for: "context-name" }, "New context"),
      name,
      h("button.primary", { type: "submit" }, "Create context"),
      status,
    );
    onSubmit(form, status, async () => {
      const ctx = await api<Context>("/contexts", { method: "POST", json: { name: name.value.trim() } });
      name.value = "";
      open.add(ctx.id);
      await refresh();
    });
    create = form;
  }

  void refresh();
  return section(
    "contexts",
    "Contexts",
    h(
      "p.muted",
      null,
      "Shared by the projects of this server, or only those a context is restricted to. A workflow job uses one by naming it in its config: ",
      h("code", null, "context: [deploy-aws]"),
      ". ",
      orgAdmin ? "" : "Only org administrators can create or change contexts.",
    ),
    list,
    create,
  );
}
