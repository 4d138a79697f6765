// A project's members and their roles (read < write < admin). Org administrators hold admin in every
// project without being listed. Project admins add people, change roles and remove them.
import { api } from "../api.ts";
import { confirmButton, errorBox, onSubmit, section } from "../components.ts";
import { h, replace } from "../dom.ts";
import type { Member, Page, User } from "../types.ts";

const ROLES = ["read", "write", "admin"] as const;
const ROLE_HELP: Record<string, string> = {
  read: "read: builds and logs",
  write: "write: also trigger, cancel, re-run and SSH into builds",
  admin: "admin: also settings, secrets and members",
};

export function membersSection(projectId: string, canEdit: boolean): HTMLElement {
  const list = h("div.member-list", { "aria-live": "polite" });
  const userSelect = h("select#member-user", { name: "user_id", required: true });
  const roleSelect = h(
    "select#member-role",
    { name: "role" },
    ROLES.map((r) => h("option", { value: r, selected: r === "write" }, ROLE_HELP[r])),
  );

  const refresh = async () => {
    try {
      const [members, users] = await Promise.all([
        api<Page<Member>>(`/projects/${projectId}/members`),
        canEdit ? api<Page<User>>("/users?limit=200") : Promise.resolve({ items: [], next_cursor: null }),
      ]);
      list.replaceChildren(
        members.items.length === 0
          ? h("p.muted", null, "No members: only org administrators can see this project.")
          : h(
              "table.members",
              null,
              h("caption.visually-hidden", null, "Project members"),
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  ["Login", "Role", canEdit ? "Actions" : null]
                    .filter(Boolean)
                    .map((t) => h("th", { scope: "col" }, t)),
                ),
              ),
              h("tbody", null, members.items.map(row)),
            ),
      );
      // Anyone not yet a member (org admins need no membership).
      const listed = new Set(members.items.map((m) => m.user_id));
      replace(
        userSelect,
        h("option", { value: "" }, "Choose a user…"),
        users.items
          .filter((u) => !listed.has(u.id) && u.role !== "admin")
          .map((u) => h("option", { value: u.id }, u.login)),
      );
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  };

  const row = (m: Member) => {
    const status = h("span.form-status", { "aria-live": "polite" });
    const cells = [h("td", { "data-label": "Login" }, m.login), h("td", { "data-label": "Role" }, m.role)];
    if (canEdit) {
      const role = h(
        "select",
        { "aria-label": `Role of ${m.login}` },
        ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)),
      );
      role.addEventListener("change", async () => {
        status.replaceChildren();
        try {
          await api(`/projects/${projectId}/members`, {
            method: "POST",
            json: { user_id: m.user_id, role: role.value },
          });
          status.replaceChildren(h("span.ok", null, "Saved"));
        } catch (err) {
          status.replaceChildren(errorBox(err));
        }
      });
      const remove = confirmButton({
        label: "Remove",
        name: `Remove ${m.login}`,
        confirm: `Confirm: remove ${m.login}`,
        warning: "They lose access unless they are an org administrator.",
        small: true,
        run: async () => {
          await api(`/projects/${projectId}/members/${m.user_id}`, { method: "DELETE" });
          await refresh();
        },
      });
      cells[1] = h("td", { "data-label": "Role" }, role);
      cells.push(h("td", { "data-label": "Actions" }, remove, status));
    }
    return h("tr", { "data-member": m.login }, cells);
  };

  let form: HTMLElement | null = null;
  if (canEdit) {
    const status = h("div.form-status", { "aria-live": "polite" });
    const f = h(
      "form.inline-form.member-form",
      { "aria-label": "Add a member" },
      h("label", { for: "member-user" }, "Add"),
      userSelect,
      h("label", { for: "member-role" }, "as"),
      roleSelect,
      h("button.primary", { type: "submit" }, "Add member"),
      status,
    );
    onSubmit(f, status, async () => {
      await api(`/projects/${projectId}/members`, {
        method: "POST",
        json: { user_id: userSelect.value, role: roleSelect.value },
      });
      await refresh();
    });
    form = f;
  }
  void refresh();
  return section(
    "members",
    "Members",
    h("p.muted", null, "Org administrators hold the admin role in every project and are not listed."),
    list,
    form,
  );
}
