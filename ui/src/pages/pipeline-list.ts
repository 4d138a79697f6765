// A live list of pipelines (the dashboard and a project's page): rows refresh when their events arrive.
import { api } from "../api.ts";
import { shortSha, statusBadge } from "../components.ts";
import { h } from "../dom.ts";
import { ago } from "../format.ts";
import type { Pipeline, Project } from "../types.ts";

export interface PipelineList {
  el: HTMLElement;
  set(pipelines: Pipeline[]): void;
  /** Re-reads one pipeline (a new one goes on top). */
  refresh(pipelineId: string): void;
}

export function pipelineList(opts: {
  caption: string;
  projects: Map<string, Project>;
  showProject: boolean;
  limit?: number;
  filter?: (p: Pipeline) => boolean;
}): PipelineList {
  const limit = opts.limit ?? 50;
  let rows: Pipeline[] = [];
  const tbody = h("tbody");
  const empty = h("p.muted.empty", null, "No pipelines yet.");
  const table = h(
    "table.pipelines",
    null,
    h("caption.visually-hidden", null, opts.caption),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        opts.showProject && h("th", { scope: "col" }, "Project"),
        h("th", { scope: "col" }, "Pipeline"),
        h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Branch / commit"),
        h("th", { scope: "col" }, "Jobs"),
        h("th", { scope: "col" }, "Created"),
      ),
    ),
    tbody,
  );
  const el = h("div.pipeline-list", null, table, empty);

  const row = (p: Pipeline) => {
    const project = opts.projects.get(p.project_id);
    const done = p.jobs.filter((j) => j.status === "success").length;
    return h(
      "tr",
      { "data-pipeline": p.id, "data-status": p.status },
      opts.showProject &&
        h(
          "td",
          { "data-label": "Project" },
          project ? h("a", { href: `/projects/${p.project_id}` }, project.name) : p.project_id,
        ),
      h("td", { "data-label": "Pipeline" }, h("a", { href: `/pipelines/${p.id}` }, `#${p.number}`)),
      h("td", { "data-label": "Status" }, statusBadge(p.status)),
      h(
        "td",
        { "data-label": "Branch" },
        h("span.branch", null, p.branch ?? p.tag ?? "—"),
        " ",
        h("code.sha", null, shortSha(p.sha)),
      ),
      h("td", { "data-label": "Jobs" }, `${done}/${p.jobs.length} passed`),
      h(
        "td",
        { "data-label": "Created" },
        h(
          "time",
          { datetime: p.created_at, title: new Date(p.created_at).toLocaleString(), "data-ago": "" },
          ago(p.created_at),
        ),
      ),
    );
  };

  const draw = () => {
    rows.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.number - a.number);
    rows = rows.slice(0, limit);
    tbody.replaceChildren(...rows.map(row));
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
  };

  const pending = new Map<string, ReturnType<typeof setTimeout>>();
  return {
    el,
    set(pipelines) {
      rows = pipelines.filter((p) => !opts.filter || opts.filter(p));
      draw();
    },
    refresh(id) {
      // Several events for one pipeline often come together: read it once.
      clearTimeout(pending.get(id));
      pending.set(
        id,
        setTimeout(async () => {
          pending.delete(id);
          try {
            const p = await api<Pipeline>(`/pipelines/${id}`);
            if (opts.filter && !opts.filter(p)) return;
            rows = [p, ...rows.filter((r) => r.id !== id)];
            draw();
          } catch {}
        }, 100),
      );
    },
  };
}
