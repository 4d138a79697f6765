// /jobs/:id: the job's steps (collapsible, timings, exit codes), an unsandboxed warning, the live
// log viewer, cancel and re-run (with SSH: the `ssh` command), and tabs for artifacts and test
// results (`?tab=artifacts|tests`, so a tab can be linked to).
import { api, subscribeEvents } from "../api.ts";
import { errorBox, jobLabel, load, loading, setTitle, statusBadge, tabs } from "../components.ts";
import { h, replace } from "../dom.ts";
import { duration, isTerminal, localTime } from "../format.ts";
import { LogViewer } from "../log/viewer.ts";
import type { Params } from "../router.ts";
import type { Job, Pipeline, Project, Step } from "../types.ts";
import { artifactsPanel, testsPanel } from "./job-outputs.ts";
import { rerunActions, sshPanel } from "./job-ssh.ts";

const TABS = ["log", "artifacts", "tests"];

/** A link to the attempt this one re-ran, when there is one. */
function previous(job: Job, pipeline: Pipeline | null): HTMLElement | null {
  const before = pipeline?.jobs.find((j) => j.superseded_by === job.id);
  return before
    ? h("span", null, " (re-ran ", h("a", { href: `/jobs/${before.id}` }, "the previous attempt"), ")")
    : null;
}

export function jobPage(root: HTMLElement, { id }: Params): () => void {
  root.replaceChildren(loading("Loading job"));
  let viewer: LogViewer | null = null;
  let poll: ReturnType<typeof setInterval> | undefined;
  let unsubscribe = () => {};
  const head = h("div");
  const stepsEl = h("section.steps", { "aria-labelledby": "steps-title" });
  const openSteps = new Set<number>();

  const drawHead = (job: Job, pipeline: Pipeline | null) => {
    setTitle(jobLabel(job), pipeline ? `#${pipeline.number}` : "");
    const cancel = h("button.danger", { type: "button", "data-key": "cancel" }, "Cancel job");
    const cancelStatus = h("span.form-status", { "aria-live": "polite" });
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        const r = await api<{ status: string }>(`/jobs/${job.id}/cancel`, { method: "POST" });
        cancelStatus.textContent = `Job ${r.status}`;
        void refresh();
      } catch (err) {
        cancelStatus.replaceChildren(errorBox(err));
        cancel.disabled = false;
      }
    });
    // The head is redrawn on every poll: keep the keyboard on the same control across redraws.
    const focused = head.contains(document.activeElement)
      ? document.activeElement?.closest("[data-key]")?.getAttribute("data-key")
      : null;
    replace(
      head,
      h(
        "nav.crumbs",
        { "aria-label": "Breadcrumb" },
        h("a", { href: "/" }, "Dashboard"),
        " / ",
        h("a", { href: `/projects/${job.project_id}` }, projectName ?? "project"),
        " / ",
        h("a", { href: `/pipelines/${job.pipeline_id}` }, pipeline ? `#${pipeline.number}` : "pipeline"),
        " / ",
        h("span", { "aria-current": "page" }, jobLabel(job)),
      ),
      h(
        "div.page-head",
        null,
        h(
          "h1",
          null,
          `Job ${jobLabel(job)} `,
          job.attempt > 1 && h("span.attempt.muted", null, `attempt ${job.attempt} `),
          h("span.job-status", { "data-status": job.status }, statusBadge(job.status)),
        ),
        h("div.actions", null, isTerminal(job.status) ? rerunActions(job) : [cancel, cancelStatus]),
      ),
      sshPanel(job, sshKeys),
      job.unsandboxed &&
        h(
          "p.warning",
          { role: "alert" },
          h("strong", null, "Unsandboxed: "),
          "this job ran with the process driver, not in an LXC container. Nothing isolated its steps from the builder host.",
        ),
      job.fork_secrets &&
        h(
          "p.notice.fork-secrets",
          null,
          h("strong", null, "Built from a fork: "),
          job.fork_secrets === "withheld"
            ? "secrets withheld. This job ran without the project's environment variables, contexts, OIDC tokens and deploy key."
            : "secrets passed, by project setting (Pass secrets to builds from forked pull requests).",
        ),
      job.failure_reason && h("p.error", null, `Failure: ${job.failure_reason}`),
      h(
        "dl.facts",
        null,
        h("dt", null, "Duration"),
        h("dd", null, duration(job.started_at, job.finished_at)),
        h("dt", null, "Started"),
        h("dd", null, localTime(job.started_at) || "not yet"),
        h("dt", null, "Attempt"),
        h(
          "dd",
          null,
          String(job.attempt),
          previous(job, pipeline),
          job.superseded_by &&
            h(
              "span",
              null,
              " (re-run as ",
              h("a", { href: `/jobs/${job.superseded_by}` }, "a newer attempt"),
              ")",
            ),
        ),
        job.slice && job.slice.total > 1 && h("dt", null, "Slice"),
        job.slice &&
          job.slice.total > 1 &&
          h(
            "dd",
            null,
            `${job.slice.index + 1} of ${job.slice.total} (CIRCLE_NODE_INDEX ${job.slice.index})`,
          ),
        h("dt", null, "Executor"),
        h(
          "dd",
          null,
          job.executor
            ? h("code", null, `${job.executor.kind}${job.executor.image ? ` ${job.executor.image}` : ""}`)
            : "default",
          ...(job.image ? [] : [" runs on LXC template ", h("code", null, job.template)]),
        ),
        job.image && h("dt", null, "Image"),
        job.image &&
          h(
            "dd.job-image",
            null,
            h("code", null, job.image.name),
            " ",
            h("code.digest", null, job.image.digest),
          ),
      ),
    );
    if (focused) head.querySelector<HTMLElement>(`[data-key="${focused}"]`)?.focus();
  };

  const drawSteps = (job: Job) => {
    const firstLines = job.steps.map((s) => s.first_line);
    stepsEl.replaceChildren(
      h("h2#steps-title", null, "Steps"),
      job.steps.length === 0
        ? h("p.muted", null, isTerminal(job.status) ? "No steps ran." : "Waiting for the first step…")
        : h(
            "ol.step-list",
            null,
            job.steps.map((s, i) => h("li", null, stepItem(s, firstLines[i + 1] ?? null))),
          ),
    );
  };

  const stepItem = (s: Step, nextFirst: number | null) => {
    const details = h(
      "details.step",
      { "data-status": s.status, open: openSteps.has(s.index) },
      h(
        "summary",
        null,
        statusBadge(s.status),
        h("span.step-name", null, s.name),
        h("span.step-time", null, duration(s.started_at, s.finished_at)),
        s.exit_code !== null &&
          h("span.exit-code", { class: s.exit_code === 0 ? "ok" : "bad" }, `exit ${s.exit_code}`),
      ),
      h(
        "dl.facts",
        null,
        h("dt", null, "Started"),
        h("dd", null, localTime(s.started_at) || "—"),
        h("dt", null, "Finished"),
        h("dd", null, localTime(s.finished_at) || "—"),
        h("dt", null, "Exit code"),
        h("dd", null, s.exit_code === null ? "—" : String(s.exit_code)),
        s.first_line !== null && h("dt", null, "Log"),
        s.first_line !== null &&
          h(
            "dd",
            null,
            h("a", { href: `#L${s.first_line}` }, `from line ${s.first_line}`),
            nextFirst ? ` to ${nextFirst - 1}` : "",
          ),
      ),
    );
    details.addEventListener("toggle", () =>
      details.open ? openSteps.add(s.index) : openSteps.delete(s.index),
    );
    return details;
  };

  let pipeline: Pipeline | null = null;
  let projectName: string | null = null;
  /** How many SSH keys the user has, asked once for a job re-run with SSH (null until known). */
  let sshKeys: number | null = null;
  let outputs: ReturnType<typeof tabs> | null = null;
  let wasTerminal = false;
  /** A failed job opens at its first failing step: that step unfolded, the log at its first line. */
  const openAtFailure = (job: Job) => {
    const failing = job.steps.find((s) => s.status === "failed");
    if (!failing) return;
    openSteps.add(failing.index);
    drawSteps(job);
    if (failing.first_line !== null) viewer?.highlight(failing.first_line);
  };

  const refresh = async () => {
    const job = await api<Job>(`/jobs/${id}`);
    drawHead(job, pipeline);
    drawSteps(job);
    if (isTerminal(job.status)) {
      clearInterval(poll);
      // What the job stored is complete once it ends: redraw open tabs.
      if (!wasTerminal) {
        outputs?.refresh("artifacts");
        outputs?.refresh("tests");
      }
      wasTerminal = true;
    }
    return job;
  };

  load(root, async () => {
    const job = await api<Job>(`/jobs/${id}`);
    if (job.ssh?.enabled) {
      sshKeys = await api<{ items: unknown[] }>("/users/me/ssh-keys")
        .then((r) => r.items.length)
        .catch(() => null);
    }
    const [p, project] = await Promise.all([
      api<Pipeline>(`/pipelines/${job.pipeline_id}`).catch(() => null),
      api<Project>(`/projects/${job.project_id}`).catch(() => null),
    ]);
    pipeline = p;
    projectName = project?.name ?? null;
    drawHead(job, pipeline);
    drawSteps(job);
    const live = !isTerminal(job.status);
    wasTerminal = !live;
    let soon: ReturnType<typeof setTimeout> | undefined;
    viewer = new LogViewer({
      jobId: job.id,
      total: job.log_lines,
      live,
      onEnd: () => void refresh().catch(() => {}),
      // Output often means a step began: re-read the steps soon, at most a few times a second.
      onLines: () => {
        if (soon) return;
        soon = setTimeout(() => {
          soon = undefined;
          void refresh().catch(() => {});
        }, 300);
      },
    });
    const logBody = h("div.job-body", null, stepsEl, viewer.el);
    const asked = new URLSearchParams(location.search).get("tab") ?? "log";
    outputs = tabs(
      "Job output",
      [
        { id: "log", label: "Log", panel: () => logBody },
        { id: "artifacts", label: "Artifacts", panel: () => artifactsPanel(job.id) },
        { id: "tests", label: "Tests", panel: () => testsPanel(job.id) },
      ],
      TABS.includes(asked) ? asked : "log",
      (tab) => {
        const url = new URL(location.href);
        if ((url.searchParams.get("tab") ?? "log") === tab) return;
        if (tab === "log") url.searchParams.delete("tab");
        else url.searchParams.set("tab", tab);
        history.replaceState(null, "", url.pathname + url.search + url.hash);
      },
    );
    root.replaceChildren(head, outputs.el);
    viewer.start();
    if (!location.hash) openAtFailure(job);
    if (live) {
      // Steps have no event of their own: poll while the job runs, and on its events.
      poll = setInterval(() => void refresh().catch(() => {}), 2000);
      unsubscribe = subscribeEvents((ev) => {
        if (ev.job_id === id) void refresh().catch(() => {});
      });
    }
  });

  return () => {
    clearInterval(poll);
    unsubscribe();
    viewer?.dispose();
  };
}
