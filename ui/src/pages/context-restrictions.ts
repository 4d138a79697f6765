// Who may use a context (CircleCI's restrictions): the projects it is limited to and the expressions
// a pipeline must satisfy. Shown to org admins and members of those projects; admins change them.
import { ApiError, api } from "../api.ts";
import { confirmButton, errorBox, onSubmit } from "../components.ts";
import { h } from "../dom.ts";
import type { Context, ContextRestriction, Page, Project } from "../types.ts";

export function contextRestrictions(ctx: Context, orgAdmin: boolean): HTMLElement {
  const list = h("div.restriction-list", { "aria-live": "polite" });
  const idPrefix = `ctx-${ctx.id}-restriction`;

  const describe = (r: ContextRestriction) =>
    r.restriction_type === "project"
      ? h("span", null, "project ", h("strong", null, r.name ?? r.restriction_value))
      : h("span", null, "expression ", h("code", null, r.restriction_value));

  const refresh = async () => {
    try {
      const { items } = await api<Page<ContextRestriction>>(`/contexts/${ctx.id}/restrictions`);
      list.replaceChildren(
        items.length === 0
          ? h("p.muted", null, "Unrestricted: every project's jobs may use it.")
          : h(
              "ul.restrictions",
              null,
              items.map((r) =>
                h(
                  "li",
                  { "data-restriction": r.id },
                  describe(r),
                  orgAdmin &&
                    confirmButton({
                      label: "Remove",
                      name: `Remove restriction ${r.restriction_value}`,
                      confirm: "Confirm: remove",
                      warning: "Jobs it kept out may use the context again.",
                      small: true,
                      run: async () => {
                        await api(`/contexts/${ctx.id}/restrictions/${r.id}`, { method: "DELETE" });
                        await refresh();
                      },
                    }),
                ),
              ),
            ),
      );
    } catch (err) {
      list.replaceChildren(
        err instanceof ApiError && err.status === 403
          ? h(
              "p.muted",
              null,
              "Its restrictions and variables are shown to org administrators and members of the projects it is restricted to.",
            )
          : errorBox(err),
      );
    }
  };

  let form: HTMLElement | null = null;
  if (orgAdmin) {
    const type = h(
      "select",
      { id: `${idPrefix}-type`, name: "restriction_type" },
      h("option", { value: "project" }, "Project"),
      h("option", { value: "expression" }, "Expression"),
    );
    const project = h("select", { id: `${idPrefix}-project`, name: "project", "aria-label": "Project" });
    const expression = h("input", {
      id: `${idPrefix}-expression`,
      name: "expression",
      "aria-label": "Expression",
      placeholder: 'pipeline.git.branch == "main"',
      autocomplete: "off",
      spellcheck: "false",
      hidden: true,
    });
    type.addEventListener("change", () => {
      project.hidden = type.value !== "project";
      expression.hidden = type.value !== "expression";
    });
    void api<Page<Project>>("/projects?limit=200")
      .then(({ items }) => project.replaceChildren(...items.map((p) => h("option", { value: p.id }, p.name))))
      .catch(() => {});
    const status = h("div.form-status", { "aria-live": "polite" });
    form = h(
      "form.inline-form.restriction-form",
      { "aria-label": `Restrict context ${ctx.name}` },
      h("label", { for: `${idPrefix}-type` }, "Restrict to"),
      type,
      project,
      expression,
      h("button", { type: "submit" }, "Add restriction"),
      status,
    );
    onSubmit(form as HTMLFormElement, status, async () => {
      const value = type.value === "project" ? project.value : expression.value.trim();
      await api(`/contexts/${ctx.id}/restrictions`, {
        method: "POST",
        json: { restriction_type: type.value, restriction_value: value },
      });
      expression.value = "";
      await refresh();
    });
  }

  void refresh();
  return h("div.context-restrictions", null, h("h3", null, "Who may use it"), list, form);
}
