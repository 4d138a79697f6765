// A list of write-only environment variables (a project's, or a context's): names and the API's
// masked hint, add or replace, delete. A value goes to the server once and is never read back.
import { api } from "../api.ts";
import { confirmButton, errorBox, onSubmit } from "../components.ts";
import { h } from "../dom.ts";
import { ago } from "../format.ts";
import type { Page, SecretVar } from "../types.ts";

export interface SecretVarsOptions {
  /** The API collection, e.g. `/projects/:id/envvars` or `/contexts/:id/envvars`. */
  base: string;
  /** Unique on the page: prefixes the inputs' ids. */
  idPrefix: string;
  /** Whom the list belongs to, for captions ("project acme/web", "context deploy"). */
  owner: string;
  canEdit: boolean;
}

export function secretVars(opts: SecretVarsOptions): HTMLElement {
  const { base, idPrefix: p, owner, canEdit } = opts;
  const listEl = h("div.secret-list", { "aria-live": "polite" });
  const root = h("div.secret-vars", { "data-owner": owner }, listEl);

  const draw = (items: SecretVar[]) => {
    if (items.length === 0) {
      listEl.replaceChildren(h("p.muted", null, "No environment variables yet."));
      return;
    }
    listEl.replaceChildren(
      h(
        "table.secrets",
        null,
        h("caption.visually-hidden", null, `Environment variables of ${owner}`),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            ["Name", "Value", "Updated", canEdit ? "Actions" : null]
              .filter(Boolean)
              .map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          null,
          items.map((v) => {
            const del = confirmButton({
              label: "Delete",
              name: `Delete ${v.name}`,
              confirm: `Confirm: delete ${v.name}`,
              warning: "Jobs stop getting it; the value cannot be brought back.",
              small: true,
              run: async () => {
                await api(`${base}/${encodeURIComponent(v.name)}`, { method: "DELETE" });
                await refresh();
              },
            });
            return h(
              "tr",
              { "data-var": v.name },
              h("td", { "data-label": "Name" }, h("code.var-name", null, v.name)),
              h(
                "td",
                { "data-label": "Value" },
                h("code.hint", { title: "write-only: only this masked hint is ever shown" }, v.hint),
              ),
              h("td", { "data-label": "Updated" }, h("time", { datetime: v.updated_at }, ago(v.updated_at))),
              canEdit && h("td", { "data-label": "Actions" }, del),
            );
          }),
        ),
      ),
    );
  };

  const refresh = async () => {
    try {
      draw((await api<Page<SecretVar>>(base)).items);
    } catch (err) {
      listEl.replaceChildren(errorBox(err));
    }
  };

  if (canEdit) {
    const name = h("input", {
      id: `${p}-name`,
      name: "name",
      required: true,
      autocomplete: "off",
      spellcheck: "false",
      pattern: "[A-Za-z_][A-Za-z0-9_]*",
      placeholder: "AWS_ACCESS_KEY_ID",
      "aria-describedby": `${p}-name-help`,
    });
    const value = h("textarea", {
      id: `${p}-value`,
      name: "value",
      required: true,
      rows: 2,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": `${p}-value-help`,
    });
    const status = h("div.form-status", { "aria-live": "polite" });
    const form = h(
      "form.secret-form.stack",
      { "aria-label": `Add or replace an environment variable of ${owner}` },
      h("label", { for: `${p}-name` }, "Name"),
      name,
      h(
        "p.muted.help",
        { id: `${p}-name-help` },
        "Letters, digits and _; an existing name is replaced. CAIRN_ and CIRCLE_ are reserved.",
      ),
      h("label", { for: `${p}-value` }, "Value"),
      value,
      h(
        "p.muted.help",
        { id: `${p}-value-help` },
        "Write-only: encrypted at rest, masked in build logs, and never shown again — not even to administrators.",
      ),
      h("div", null, h("button.primary", { type: "submit" }, "Save variable")),
      status,
    );
    onSubmit(form, status, async () => {
      const r = await api<SecretVar & { created: boolean; warnings: { message: string }[] }>(base, {
        method: "POST",
        json: { name: name.value.trim(), value: value.value },
      });
      // Drop the value from the page as soon as the server has it.
      value.value = "";
      name.value = "";
      status.replaceChildren(
        h("p.ok", null, `${r.created ? "Added" : "Replaced"} ${r.name}.`),
        ...r.warnings.map((w) => h("p.warning", null, w.message)),
      );
      await refresh();
      name.focus();
    });
    root.append(form);
  }
  void refresh();
  return root;
}
