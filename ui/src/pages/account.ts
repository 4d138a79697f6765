// /settings: the signed-in user's own SSH public keys (for SSH into builds of projects they may write
// to) and personal API tokens (scopes, optional expiry, shown once, revocable).
import { api, currentSession } from "../api.ts";
import { confirmButton, errorBox, onSubmit, section, setTitle, shownOnce } from "../components.ts";
import { h, replace } from "../dom.ts";
import { ago, localTime } from "../format.ts";
import type { ApiToken, Page, SshKey } from "../types.ts";

export function accountPage(root: HTMLElement): void {
  setTitle("Your settings");
  const me = currentSession()?.user;
  replace(
    root,
    h("div.page-head", null, h("h1", null, "Your settings")),
    me &&
      h(
        "p.muted",
        null,
        "Signed in as ",
        h("strong", null, me.login),
        me.role === "admin" ? " (org administrator)." : ".",
      ),
    h("div.settings", null, sshKeysSection(), tokensSection()),
  );
}

function sshKeysSection(): HTMLElement {
  const list = h("div.key-list", { "aria-live": "polite" });
  const refresh = async () => {
    try {
      const { items } = await api<Page<SshKey>>("/users/me/ssh-keys");
      list.replaceChildren(
        items.length === 0
          ? h("p.muted", null, "No SSH keys yet.")
          : h(
              "ul.keys",
              null,
              items.map((k) => {
                const del = confirmButton({
                  label: "Delete",
                  name: `Delete key ${k.name}`,
                  confirm: `Confirm: delete key ${k.name}`,
                  warning: "It stops opening SSH sessions into builds.",
                  small: true,
                  run: async () => {
                    await api(`/users/me/ssh-keys/${k.id}`, { method: "DELETE" });
                    await refresh();
                  },
                });
                return h(
                  "li.key",
                  { "data-key": k.id },
                  h(
                    "div",
                    null,
                    h("strong.key-name", null, k.name),
                    " ",
                    h("span.muted", null, `added ${ago(k.created_at)}`),
                  ),
                  h("code.fingerprint", null, k.fingerprint),
                  h("div.actions-row", null, del),
                );
              }),
            ),
      );
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  };
  const name = h("input#ssh-key-name", { name: "name", autocomplete: "off", placeholder: "laptop" });
  const key = h("textarea#ssh-key", {
    name: "public_key",
    required: true,
    rows: 3,
    spellcheck: "false",
    placeholder: "ssh-ed25519 AAAA… you@laptop",
    "aria-describedby": "ssh-key-help",
  });
  const status = h("div.form-status", { "aria-live": "polite" });
  const form = h(
    "form.stack.ssh-key-form",
    { "aria-label": "Add an SSH key" },
    h("label", { for: "ssh-key" }, "Public key"),
    key,
    h(
      "p#ssh-key-help.muted.help",
      null,
      "One OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa), e.g. the contents of ",
      h("code", null, "~/.ssh/id_ed25519.pub"),
      ".",
    ),
    h("label", { for: "ssh-key-name" }, "Name (optional)"),
    name,
    h("div", null, h("button.primary", { type: "submit" }, "Add SSH key")),
    status,
  );
  onSubmit(form, status, async () => {
    const k = await api<SshKey>("/users/me/ssh-keys", {
      method: "POST",
      json: { public_key: key.value.trim(), ...(name.value.trim() ? { name: name.value.trim() } : {}) },
    });
    key.value = "";
    name.value = "";
    status.replaceChildren(h("p.ok", null, `Added ${k.name} (${k.fingerprint}).`));
    await refresh();
  });
  void refresh();
  return section(
    "ssh-keys",
    "SSH keys",
    h("p.muted", null, "Used for “Re-run with SSH” on jobs of projects where you have the write role."),
    list,
    form,
  );
}

function tokensSection(): HTMLElement {
  const list = h("div.token-list", { "aria-live": "polite" });
  const created = h("div.token-created");
  const refresh = async () => {
    try {
      const { items } = await api<Page<ApiToken>>("/tokens?limit=200");
      list.replaceChildren(
        items.length === 0
          ? h("p.muted", null, "No tokens yet.")
          : h(
              "table.tokens",
              null,
              h("caption.visually-hidden", null, "Your API tokens"),
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  ["Name", "Scopes", "Created", "Expires", "State", "Actions"].map((t) =>
                    h("th", { scope: "col" }, t),
                  ),
                ),
              ),
              h("tbody", null, items.map(tokenRow)),
            ),
      );
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  };
  const tokenRow = (t: ApiToken) => {
    const expired = t.expires_at !== null && Date.parse(t.expires_at) < Date.now();
    const state = t.revoked_at ? "revoked" : expired ? "expired" : "active";
    const revoke = confirmButton({
      label: "Revoke",
      name: `Revoke token ${t.name}`,
      confirm: `Confirm: revoke ${t.name}`,
      warning: "Anything using it gets 401 from now on.",
      small: true,
      run: async () => {
        await api(`/tokens/${t.id}`, { method: "DELETE" });
        created.replaceChildren();
        await refresh();
      },
    });
    return h(
      "tr",
      { "data-token": t.id, "data-state": state },
      h("td", { "data-label": "Name" }, t.name),
      h("td", { "data-label": "Scopes" }, t.scopes.join(", ")),
      h(
        "td",
        { "data-label": "Created" },
        h("time", { datetime: t.created_at, title: localTime(t.created_at) }, ago(t.created_at)),
      ),
      h("td", { "data-label": "Expires" }, t.expires_at ? localTime(t.expires_at) : "never"),
      h(
        "td",
        { "data-label": "State" },
        h("span.status", { class: state === "active" ? "status-success" : "status-canceled" }, state),
      ),
      h("td", { "data-label": "Actions" }, state === "active" ? revoke : ""),
    );
  };

  const name = h("input#token-name", {
    name: "name",
    required: true,
    autocomplete: "off",
    placeholder: "ci laptop",
  });
  const scopeBoxes = (["read", "write", "admin"] as const).map((s) =>
    h("input", { type: "radio", name: "scope", id: `token-scope-${s}`, value: s, checked: s === "read" }),
  );
  const expiry = h(
    "select#token-expiry",
    { name: "expiry" },
    [
      ["7", "7 days"],
      ["30", "30 days"],
      ["90", "90 days"],
      ["365", "1 year"],
      ["", "Never"],
    ].map(([v, t]) => h("option", { value: v, selected: v === "30" }, t)),
  );
  const status = h("div.form-status", { "aria-live": "polite" });
  const form = h(
    "form.stack.token-form",
    { "aria-label": "Create an API token" },
    h("label", { for: "token-name" }, "Name"),
    name,
    h(
      "fieldset.scopes",
      null,
      h("legend", null, "Scope"),
      scopeBoxes.map((box) =>
        h(
          "div.radio",
          null,
          box,
          h("label", { for: box.id }, box.value),
          h("span.muted", null, ` — ${SCOPE_HELP[box.value]}`),
        ),
      ),
    ),
    h("label", { for: "token-expiry" }, "Expires after"),
    expiry,
    h("div", null, h("button.primary", { type: "submit" }, "Create token")),
    status,
  );
  onSubmit(form, status, async () => {
    const scope = scopeBoxes.find((b) => b.checked)?.value ?? "read";
    // A token carries its scope and every weaker one: `write` can read too.
    const scopes = ["read", "write", "admin"].slice(0, ["read", "write", "admin"].indexOf(scope) + 1);
    const days = Number(expiry.value);
    const t = await api<ApiToken & { token: string }>("/tokens", {
      method: "POST",
      json: {
        name: name.value.trim(),
        scopes,
        expires_at: expiry.value ? new Date(Date.now() + days * 86_400_000).toISOString() : null,
      },
    });
    name.value = "";
    created.replaceChildren(shownOnce(`Token ${t.name}`, t.token));
    await refresh();
    created.querySelector<HTMLButtonElement>("button.copy")?.focus();
  });
  void refresh();
  return section(
    "tokens",
    "API tokens",
    h(
      "p.muted",
      null,
      "For the ",
      h("code", null, "cairn"),
      " CLI and scripts: ",
      h("code", null, "Authorization: Bearer <token>"),
      ". A token never does more than your role allows. It is shown once, when created; Cairn keeps only its hash.",
    ),
    created,
    form,
    list,
  );
}

const SCOPE_HELP: Record<string, string> = {
  read: "see projects, builds and logs",
  write: "also trigger, cancel and re-run",
  admin: "also change settings, as far as your role allows",
};
