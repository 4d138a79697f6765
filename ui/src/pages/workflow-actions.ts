// A workflow's actions on the pipeline page: approve a job on hold (`type: approval`), and once the
// workflow has ended, re-run all of it or only the jobs that did not succeed.
import { api } from "../api.ts";
import { errorBox } from "../components.ts";
import { h } from "../dom.ts";
import { isTerminal } from "../format.ts";
import type { JobSummary } from "../types.ts";

export function workflowActions(
  wf: { id: string; name: string; status: string },
  jobs: JobSummary[],
  onDone: () => void,
): HTMLElement | null {
  const status = h("span.form-status", { "aria-live": "polite" });
  const act = (label: string, path: string, json?: unknown, cls = "") => {
    const b = h("button", { type: "button", class: cls }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      status.replaceChildren();
      try {
        await api(path, { method: "POST", json });
        onDone();
      } catch (err) {
        status.replaceChildren(errorBox(err));
        b.disabled = false;
      }
    });
    return b;
  };
  const held = jobs.filter((j) => j.approval === "pending");
  const ended = isTerminal(wf.status) && jobs.every((j) => isTerminal(j.status));
  const failed = jobs.some((j) => j.status !== "success" && j.status !== "skipped");
  const buttons = [
    ...held.map((j) => act(`Approve ${j.name}`, `/jobs/${j.id}/approve`, undefined, "primary approve")),
    ended && failed && act("Re-run failed jobs", `/workflows/${wf.id}/rerun`, { from_failed: true }),
    ended && act("Re-run workflow", `/workflows/${wf.id}/rerun`, { from_failed: false }),
  ].filter((b): b is HTMLButtonElement => Boolean(b));
  if (buttons.length === 0) return null;
  return h(
    "div.actions-row.workflow-actions",
    { role: "group", "aria-label": `Actions for workflow ${wf.name}` },
    buttons,
    status,
  );
}
