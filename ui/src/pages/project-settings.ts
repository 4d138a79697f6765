// /projects/:id/settings: follow, branch filters, default branch and concurrency; members; write-only env vars;
// the org's contexts; the deploy key; webhook URLs and secret rotation. Writes need the project's
// admin role: everyone else sees the settings read-only, with a note saying so.
import { api, currentSession } from "../api.ts";
import {
  confirmButton,
  copyable,
  errorBox,
  load,
  loading,
  onSubmit,
  section,
  setTitle,
  shownOnce,
} from "../components.ts";
import { h, replace } from "../dom.ts";
import type { Params } from "../router.ts";
import type { Member, Page, ProjectDetail } from "../types.ts";
import { contextsSection } from "./contexts.ts";
import { membersSection } from "./members.ts";
import { schedulesSection } from "./schedules.ts";
import { secretVars } from "./secret-vars.ts";

const ROLES: Member["role"][] = ["read", "write", "admin"];

/** The strongest scope the session holds (a token's sign-in carries the token's): it caps every role. */
export function sessionScope(): Member["role"] {
  const scopes = currentSession()?.scopes ?? ["admin"];
  return ROLES[Math.max(0, ...scopes.map((s) => ROLES.indexOf(s)))];
}

/** The signed-in user's role in the project, before scopes: org admins hold admin everywhere. */
export async function projectRole(projectId: string): Promise<Member["role"] | null> {
  const me = currentSession()?.user;
  if (!me) return null;
  if (me.role === "admin") return "admin";
  const members = await api<Page<Member>>(`/projects/${projectId}/members`).catch(() => null);
  return members?.items.find((m) => m.user_id === me.id)?.role ?? "read";
}

export function projectSettingsPage(root: HTMLElement, { id }: Params): void {
  root.replaceChildren(loading("Loading settings"));
  load(root, async () => {
    const [project, role] = await Promise.all([api<ProjectDetail>(`/projects/${id}`), projectRole(id)]);
    // A token's sign-in is capped by its scopes, whatever the role.
    const isAdmin = role === "admin" && sessionScope() === "admin";
    // Schedules trigger pipelines: write access is enough, as for triggering.
    const canSchedule = (role === "write" || role === "admin") && sessionScope() !== "read";
    const orgAdmin = currentSession()?.user.role === "admin" && sessionScope() === "admin";
    setTitle("Settings", project.name);
    replace(
      root,
      h(
        "nav.crumbs",
        { "aria-label": "Breadcrumb" },
        h("a", { href: "/" }, "Dashboard"),
        " / ",
        h("a", { href: `/projects/${id}` }, project.name),
        " / ",
        h("span", { "aria-current": "page" }, "Settings"),
      ),
      h("div.page-head", null, h("h1", null, `Settings of ${project.name}`)),
      h(
        "nav.section-nav",
        { "aria-label": "Settings sections" },
        [
          ["general", "General"],
          ["members", "Members"],
          ["schedules", "Schedules"],
          ["envvars", "Environment variables"],
          ["contexts", "Contexts"],
          ["deploy-key", "Deploy key"],
          ["webhook", "Webhook"],
        ].map(([anchor, label]) => h("a", { href: `#${anchor}` }, label)),
      ),
      !isAdmin &&
        h(
          "p.notice.read-only",
          { role: "note" },
          h("strong", null, "Read-only. "),
          role !== "admin"
            ? `You have the ${role ?? "read"} role in this project; changing its settings needs the admin role. Ask a project or org administrator.`
            : `This session was signed in with a token scoped ${sessionScope()}: changing settings needs an admin-scoped token, or a password or GitHub sign-in.`,
        ),
      h(
        "div.settings",
        { "data-can-edit": String(isAdmin) },
        generalSection(project, isAdmin),
        membersSection(id, isAdmin),
        schedulesSection(id, project.default_branch, canSchedule),
        section(
          "envvars",
          "Environment variables",
          h(
            "p.muted",
            null,
            "Given to every job of this project as environment variables, sealed to the builder that runs it.",
          ),
          secretVars({
            base: `/projects/${id}/envvars`,
            idPrefix: "envvar",
            owner: `project ${project.name}`,
            canEdit: isAdmin,
          }),
        ),
        contextsSection(orgAdmin),
        deployKeySection(project, isAdmin),
        webhookSection(project, isAdmin),
      ),
    );
  });
}

function generalSection(project: ProjectDetail, canEdit: boolean): HTMLElement {
  const followStatus = h("span.form-status", { "aria-live": "polite" });
  let followed = project.followed;
  const followState = h("span.follow-state");
  const followBtn = h("button", { type: "button", disabled: !canEdit });
  const drawFollow = () => {
    followState.textContent = followed
      ? "Followed: pushes and webhooks start pipelines."
      : "Not followed: webhooks are ignored until someone follows the project.";
    followBtn.textContent = followed ? "Unfollow" : "Follow";
    followBtn.setAttribute("aria-pressed", String(followed));
  };
  drawFollow();
  followBtn.addEventListener("click", async () => {
    followBtn.disabled = true;
    followStatus.replaceChildren();
    try {
      const r = await api<{ followed: boolean }>(
        `/projects/${project.id}/${followed ? "unfollow" : "follow"}`,
        { method: "POST" },
      );
      followed = r.followed;
      drawFollow();
    } catch (err) {
      followStatus.replaceChildren(errorBox(err));
    } finally {
      followBtn.disabled = false;
    }
  });

  const branch = h("input#default-branch", {
    name: "default_branch",
    value: project.default_branch,
    required: true,
    disabled: !canEdit,
  });
  const filters = h("textarea#branch-filters", {
    name: "branch_filters",
    rows: 3,
    spellcheck: "false",
    disabled: !canEdit,
    "aria-describedby": "branch-filters-help",
  });
  filters.value = project.branch_filters.join("\n");
  const concurrency = h("input#max-concurrent", {
    name: "max_concurrent_jobs",
    type: "number",
    min: 1,
    max: 10000,
    step: 1,
    inputmode: "numeric",
    value: project.max_concurrent_jobs ?? "",
    disabled: !canEdit,
    "aria-describedby": "max-concurrent-help",
  });
  const forks = h("input#pass-secrets-to-forks", {
    name: "pass_secrets_to_forks",
    type: "checkbox",
    disabled: !canEdit,
    "aria-describedby": "pass-secrets-help",
  });
  let passing = project.pass_secrets_to_forks;
  forks.checked = passing;
  const network = h(
    "select#network",
    { name: "network", disabled: !canEdit, "aria-describedby": "network-help" },
    h("option", { value: "egress" }, "Egress only (outbound through the builder's NAT)"),
    h("option", { value: "none" }, "None (loopback only)"),
  );
  network.value = project.network;
  let networkMode = project.network;
  const status = h("div.form-status", { "aria-live": "polite" });
  const form = h(
    "form.stack.settings-form",
    { "aria-label": "General settings" },
    h("label", { for: "default-branch" }, "Default branch"),
    branch,
    h("label", { for: "branch-filters" }, "Branch filters"),
    filters,
    h(
      "p#branch-filters-help.muted.help",
      null,
      "One pattern a line: globs (",
      h("code", null, "release/*"),
      ", ",
      h("code", null, "**"),
      ") or ",
      h("code", null, "/regex/"),
      ". Webhooks build only matching branches; none means every branch.",
    ),
    h("label", { for: "max-concurrent" }, "Max concurrent jobs"),
    concurrency,
    h("p#max-concurrent-help.muted.help", null, "Empty for no limit."),
    h("label", { for: "pass-secrets-to-forks" }, forks, " Pass secrets to builds from forked pull requests"),
    h(
      "p#pass-secrets-help.muted.help",
      null,
      "Off (the default), a fork's pull request builds without the project's environment variables, contexts, ",
      "OIDC tokens or deploy key. On, anyone who opens a pull request can read them: turn it on only if every ",
      "secret is safe to give away.",
    ),
    h("label", { for: "network" }, "Job network"),
    network,
    h(
      "p#network-help.muted.help",
      null,
      "Egress only: jobs reach out (dependency installs) but nothing connects in, and the fleet host and private networks stay blocked. None: jobs have loopback only.",
    ),
    canEdit && h("div", null, h("button.primary", { type: "submit" }, "Save settings")),
    status,
  );
  onSubmit(form, status, async () => {
    const n = concurrency.value.trim();
    const r = await api<ProjectDetail>(`/projects/${project.id}`, {
      method: "PATCH",
      json: {
        default_branch: branch.value.trim(),
        branch_filters: filters.value
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean),
        max_concurrent_jobs: n === "" ? null : Number(n),
        // Sent only when switched, so the audit log names them only then.
        ...(forks.checked !== passing ? { pass_secrets_to_forks: forks.checked } : {}),
        ...(network.value !== networkMode ? { network: network.value } : {}),
      },
    });
    filters.value = r.branch_filters.join("\n");
    passing = r.pass_secrets_to_forks;
    networkMode = r.network;
    status.replaceChildren(h("p.ok", null, "Saved."));
  });

  return section(
    "general",
    "General",
    h("div.inline-form.follow", null, followState, followBtn, followStatus),
    form,
  );
}

function deployKeySection(project: ProjectDetail, canEdit: boolean): HTMLElement {
  const body = h("div.deploy-key", { "aria-live": "polite" });
  const status = h("div.form-status", { "aria-live": "polite" });
  const draw = (key: ProjectDetail["deploy_key"], note?: HTMLElement | null) => {
    const generate = h("button.primary", { type: "button" }, "Generate deploy key");
    const remove = confirmButton({
      label: "Delete deploy key",
      confirm: "Confirm: delete the deploy key",
      warning: "Checkouts over SSH stop working until a new key is added to the repository.",
      run: async () => {
        await api(`/projects/${project.id}/deploy-key`, { method: "DELETE" });
        draw(null);
      },
    });
    generate.addEventListener("click", async () => {
      generate.disabled = true;
      status.replaceChildren();
      try {
        const r = await api<{
          public_key: string;
          fingerprint: string;
          forge: { added: boolean; error?: string } | null;
        }>(`/projects/${project.id}/deploy-key`, { method: "POST" });
        draw(
          { public_key: r.public_key, fingerprint: r.fingerprint },
          r.forge
            ? h(
                r.forge.added ? "p.ok" : "p.warning",
                null,
                r.forge.added
                  ? "Added to the forge as a read-only deploy key."
                  : `Not added to the forge: ${r.forge.error}. Add the public key by hand.`,
              )
            : h("p.muted", null, "Add this public key to the repository as a read-only deploy key."),
        );
      } catch (err) {
        status.replaceChildren(errorBox(err));
        generate.disabled = false;
      }
    });
    replace(
      body,
      ...(key
        ? [
            h("p", null, "Fingerprint ", h("code.fingerprint", null, key.fingerprint)),
            copyable(key.public_key, "Deploy public key", "public-key"),
            note ?? null,
            canEdit && h("div.actions-row", null, remove),
          ]
        : [
            h(
              "p.muted",
              null,
              "No deploy key: checkouts use the repository URL as it is. A deploy key lets builders clone over SSH; its private half is sealed on the server and never shown.",
            ),
            canEdit && h("div.actions-row", null, generate),
          ]),
    );
  };
  draw(project.deploy_key);
  return section("deploy-key", "Deploy key", body, status);
}

function webhookSection(project: ProjectDetail, canEdit: boolean): HTMLElement {
  const secretEl = h("div.webhook-secret", { "aria-live": "polite" });
  const status = h("div.form-status", { "aria-live": "polite" });
  const rotate = h(
    "button",
    { type: "button" },
    project.webhook_secret_set ? "Rotate secret" : "Make a secret",
  );
  rotate.addEventListener("click", async () => {
    rotate.disabled = true;
    status.replaceChildren();
    try {
      const r = await api<{ webhook_secret: string }>(`/projects/${project.id}/webhook-secret`, {
        method: "POST",
      });
      secretEl.replaceChildren(
        shownOnce("New webhook secret", r.webhook_secret),
        h("p.muted", null, "Deliveries signed with the old secret are refused from now on."),
      );
      rotate.textContent = "Rotate secret";
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      rotate.disabled = false;
    }
  });
  secretEl.replaceChildren(
    h(
      "p.muted",
      null,
      project.webhook_secret_set
        ? "A secret is set. It was shown once, when made; it cannot be shown again, only replaced."
        : "No secret is set.",
    ),
  );
  return section(
    "webhook",
    "Webhook",
    h(
      "dl.facts",
      null,
      h("dt", null, "GitHub URL"),
      h("dd", null, copyable(project.webhook_url, "GitHub webhook URL", "webhook-url")),
      h("dt", null, "Generic URL"),
      h("dd", null, copyable(project.generic_webhook_url, "Generic webhook URL")),
    ),
    secretEl,
    canEdit && h("div.actions-row", null, rotate),
    status,
  );
}
