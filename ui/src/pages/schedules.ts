// A project's schedules on its settings page: project schedules (cron, branch or tag, triggered as
// the user who saved them) with add and remove for users with write access, and the config's
// `triggers: schedule` workflows per branch, listed read-only (they change with the config).
import { api } from "../api.ts";
import { confirmButton, errorBox, onSubmit, section } from "../components.ts";
import { h } from "../dom.ts";
import type { Page, Pipeline, Schedule } from "../types.ts";

/** How a pipeline was triggered, in words: a schedule says which, and as whom. */
export function triggerLabel(p: Pick<Pipeline, "trigger" | "metadata">): string {
  const s = p.metadata?.schedule as { name?: string; source?: string } | undefined;
  if (p.trigger !== "schedule" || !s?.name) return p.trigger;
  const actor = (p.metadata?.actor as { login?: string } | undefined)?.login;
  const what = s.source === "config" ? `scheduled workflow ${s.name}` : `schedule “${s.name}”`;
  return actor ? `${what}, as ${actor}` : what;
}

const utc = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace("T", " ")} UTC` : "—");

export function schedulesSection(projectId: string, defaultBranch: string, canEdit: boolean): HTMLElement {
  const list = h("div.schedule-list", { "aria-live": "polite" });

  const refresh = async () => {
    try {
      const page = await api<Page<Schedule>>(`/projects/${projectId}/schedules`);
      list.replaceChildren(
        page.items.length === 0
          ? h("p.muted", null, "No schedules.")
          : h(
              "table.schedules",
              null,
              h("caption.visually-hidden", null, "Schedules"),
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  [
                    "Name",
                    "Cron (UTC)",
                    "Branch or tag",
                    "Runs as",
                    "Next",
                    "Last",
                    canEdit ? "Actions" : null,
                  ]
                    .filter(Boolean)
                    .map((t) => h("th", { scope: "col" }, t)),
                ),
              ),
              h("tbody", null, page.items.map(row)),
            ),
      );
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  };

  const row = (s: Schedule) => {
    const fromConfig = s.source === "config";
    const cells = [
      h(
        "td",
        { "data-label": "Name" },
        fromConfig ? [h("code", null, s.name), h("span.muted", null, " (config workflow)")] : s.name,
        s.description && h("div.muted", null, s.description),
      ),
      h("td", { "data-label": "Cron (UTC)" }, h("code", null, s.cron)),
      h("td", { "data-label": "Branch or tag" }, s.branch ?? (s.tag ? `tag ${s.tag}` : "—")),
      h("td", { "data-label": "Runs as" }, s.actor?.login ?? "—"),
      h("td", { "data-label": "Next" }, utc(s.next_run_at)),
      h(
        "td",
        { "data-label": "Last" },
        s.last_pipeline_id
          ? h("a", { href: `/pipelines/${s.last_pipeline_id}` }, utc(s.last_run_at))
          : utc(s.last_run_at),
        s.last_error && h("div.error", null, s.last_error),
      ),
    ];
    if (canEdit)
      cells.push(
        h(
          "td",
          { "data-label": "Actions" },
          fromConfig
            ? h("span.muted", null, "change it in the config")
            : confirmButton({
                label: "Delete",
                name: `Delete schedule ${s.name}`,
                confirm: `Confirm: delete ${s.name}`,
                warning: "It fires no more.",
                small: true,
                run: async () => {
                  await api(`/projects/${projectId}/schedules/${s.id}`, { method: "DELETE" });
                  await refresh();
                },
              }),
        ),
      );
    return h("tr", { "data-schedule": s.name, "data-source": s.source }, cells);
  };

  let form: HTMLElement | null = null;
  if (canEdit) {
    const status = h("div.form-status", { "aria-live": "polite" });
    const name = h("input#schedule-name", { name: "name", required: true, maxlength: "100" });
    const cron = h("input#schedule-cron", { name: "cron", required: true, placeholder: "0 3 * * *" });
    const branch = h("input#schedule-branch", { name: "branch", value: defaultBranch, required: true });
    const f = h(
      "form.inline-form.schedule-form",
      { "aria-label": "Add a schedule" },
      h("label", { for: "schedule-name" }, "Name"),
      name,
      h("label", { for: "schedule-cron" }, "Cron (UTC)"),
      cron,
      h("label", { for: "schedule-branch" }, "Branch"),
      branch,
      h("button.primary", { type: "submit" }, "Add schedule"),
      status,
    );
    onSubmit(f, status, async () => {
      await api(`/projects/${projectId}/schedules`, {
        method: "POST",
        json: { name: name.value, timetable: { cron: cron.value }, branch: branch.value },
      });
      name.value = "";
      cron.value = "";
      await refresh();
    });
    form = f;
  }
  void refresh();
  return section(
    "schedules",
    "Schedules",
    h(
      "p.muted",
      null,
      "The server triggers these pipelines itself, in UTC, as the user who saved the schedule. Workflows with ",
      h("code", null, "triggers: - schedule:"),
      " in the config are listed per branch and change with the config.",
    ),
    list,
    form,
  );
}
