// /pipelines/:id: each workflow's job graph (columns by depth of `requires`, edges drawn in SVG), live.
import { api, subscribeEvents } from "../api.ts";
import { jobLabel, load, loading, setTitle, shortSha, statusBadge } from "../components.ts";
import { h, replace, svg } from "../dom.ts";
import { ago, duration } from "../format.ts";
import type { Params } from "../router.ts";
import type { JobSummary, Pipeline, Project } from "../types.ts";
import { liveIndicator } from "./dashboard.ts";
import { triggerLabel } from "./schedules.ts";
import { workflowActions } from "./workflow-actions.ts";

/** A pipeline answered before its setup: what it is doing until its workflows exist. */
const SETUP_STEPS: Record<string, string> = {
  created: "Waiting to fetch the commit…",
  fetching: "Fetching the commit…",
  planning: "Planning the config…",
};

/** Columns of jobs: a job sits one column right of the deepest job it requires. */
export function layoutColumns(jobs: JobSummary[]): JobSummary[][] {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const depth = new Map<string, number>();
  const visit = (j: JobSummary, seen: Set<string>): number => {
    const known = depth.get(j.name);
    if (known !== undefined) return known;
    if (seen.has(j.name)) return 0; // a cycle cannot be planned; draw it flat rather than loop
    seen.add(j.name);
    let d = 0;
    for (const r of j.requires) {
      const dep = byName.get(r);
      if (dep) d = Math.max(d, visit(dep, seen) + 1);
    }
    depth.set(j.name, d);
    return d;
  };
  const cols: JobSummary[][] = [];
  for (const j of jobs) {
    const d = visit(j, new Set());
    cols[d] = [...(cols[d] ?? []), j];
  }
  return cols.filter(Boolean);
}

function workflowGraph(jobs: JobSummary[]): HTMLElement {
  const edges = svg("svg", { class: "edges", "aria-hidden": "true" }) as SVGSVGElement;
  // Slices of a parallel job share its name: every slice is a node, and every edge reaches each.
  const nodes = new Map<string, HTMLElement[]>();
  const colOf = new Map<string, number>();
  const columns = layoutColumns(jobs).map((col, ci) =>
    h(
      "ol.graph-column",
      null,
      col.map((j) => {
        colOf.set(j.name, ci);
        const node = h(
          "a.job-node",
          {
            href: `/jobs/${j.id}`,
            "data-job": j.name,
            "data-status": j.status,
            ...(j.slice && j.slice.total > 1 ? { "data-slice": String(j.slice.index) } : {}),
          },
          h("span.job-name", null, jobLabel(j)),
          statusBadge(j.approval === "pending" ? "on-hold" : j.status),
          (j.attempt ?? 1) > 1 && h("span.attempt.muted", null, `attempt ${j.attempt}`),
          j.requires.length > 0 && h("span.visually-hidden", null, `, requires ${j.requires.join(", ")}`),
        );
        nodes.set(j.name, [...(nodes.get(j.name) ?? []), node]);
        return h("li", null, node);
      }),
    ),
  );
  const graph = h("div.graph", { role: "group" }, edges, h("div.graph-columns", null, columns));
  const draw = () => {
    const box = graph.getBoundingClientRect();
    edges.setAttribute("width", String(graph.scrollWidth));
    edges.setAttribute("height", String(graph.scrollHeight));
    edges.replaceChildren();
    const drawn = new Set<HTMLElement>();
    for (const j of jobs) {
      for (const toEl of nodes.get(j.name)!) {
        // One set of edges per node: the slices of a name are all in `jobs`, each once.
        if (drawn.has(toEl)) continue;
        drawn.add(toEl);
        const to = toEl.getBoundingClientRect();
        for (const r of j.requires) {
          for (const fromEl of nodes.get(r) ?? []) {
            const from = fromEl.getBoundingClientRect();
            const x1 = from.right - box.left + graph.scrollLeft;
            const y1 = from.top + from.height / 2 - box.top;
            const x2 = to.left - box.left + graph.scrollLeft;
            const y2 = to.top + to.height / 2 - box.top;
            const mx = (x1 + x2) / 2;
            // An edge that skips a column would run behind the nodes in between: bend it below them.
            const skips = (colOf.get(j.name) ?? 0) - (colOf.get(r) ?? 0) > 1;
            const bend = Math.max(from.height, to.height) * 0.9;
            const d = skips
              ? `M${x1},${y1} C${x1 + 40},${y1 + bend} ${x2 - 40},${y2 + bend} ${x2},${y2}`
              : `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
            edges.appendChild(
              svg("path", {
                d,
                class: "edge",
                "data-from": fromEl.getAttribute("href") ?? "",
                "data-to": toEl.getAttribute("href") ?? "",
              }),
            );
          }
        }
      }
    }
  };
  new ResizeObserver(draw).observe(graph);
  requestAnimationFrame(draw);
  return graph;
}

export function pipelinePage(root: HTMLElement, { id }: Params): () => void {
  root.replaceChildren(loading("Loading pipeline"));
  const live = liveIndicator();
  const body = h("div");
  let project: Project | null = null;

  const draw = (p: Pipeline) => {
    setTitle(`#${p.number}`, project?.name ?? "");
    // Earlier attempts of re-run jobs stay reachable from their new attempt's page, not the graph.
    const current = p.jobs.filter((j) => !j.superseded_by);
    replace(
      body,
      h(
        "nav.crumbs",
        { "aria-label": "Breadcrumb" },
        h("a", { href: "/" }, "Dashboard"),
        " / ",
        h("a", { href: `/projects/${p.project_id}` }, project?.name ?? "project"),
        " / ",
        h("span", { "aria-current": "page" }, `#${p.number}`),
      ),
      h("div.page-head", null, h("h1", null, `Pipeline #${p.number} `, statusBadge(p.status)), live.el),
      h(
        "dl.facts",
        null,
        h("dt", null, "Branch"),
        h("dd", null, p.branch ?? p.tag ?? "—"),
        h("dt", null, "Commit"),
        h("dd", null, h("code", { title: p.sha }, shortSha(p.sha))),
        h("dt", null, "Trigger"),
        h("dd.triggered-by", null, triggerLabel(p)),
        h("dt", null, "Created"),
        h("dd", null, h("time", { datetime: p.created_at, "data-ago": "" }, ago(p.created_at))),
        h("dt", null, "Duration"),
        h("dd", null, duration(p.created_at, p.finished_at)),
        h("dt", null, "Config"),
        h("dd", null, h("code", null, p.config_path)),
        Object.keys(p.orbs ?? {}).length > 0 && [
          h("dt", null, "Orbs"),
          h(
            "dd",
            null,
            Object.values(p.orbs ?? {}).map((o) => h("code", null, o, " ")),
          ),
        ],
      ),
      SETUP_STEPS[p.status] &&
        h("p.setup-progress", { role: "status", "data-setup": p.status }, SETUP_STEPS[p.status]),
      (p.config_errors ?? []).length > 0 &&
        h(
          "section.config-errors",
          { "aria-labelledby": "config-errors" },
          h(
            "h2",
            { id: "config-errors" },
            // A setup pipeline whose continuation was refused still shows its setup workflow.
            p.status === "error"
              ? `The config cannot run: ${p.config_errors?.length} problem(s)`
              : `The continuation config was refused: ${p.config_errors?.length} problem(s)`,
          ),
          h(
            "ul",
            null,
            (p.config_errors ?? []).map((e) =>
              h("li", null, h("code", null, `${e.file}:${e.line}:${e.col}`), ": ", e.message),
            ),
          ),
        ),
      p.workflows.map((w) =>
        h(
          "section.workflow",
          { "aria-labelledby": `wf-${w.id}`, "data-workflow": w.name },
          h("h2", { id: `wf-${w.id}` }, `Workflow ${w.name} `, statusBadge(w.status)),
          workflowActions(
            w,
            current.filter((j) => j.workflow_id === w.id),
            refresh,
          ),
          workflowGraph(current.filter((j) => j.workflow_id === w.id)),
        ),
      ),
    );
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(() => api<Pipeline>(`/pipelines/${id}`).then(draw, () => {}), 100);
  };
  const unsubscribe = subscribeEvents((ev) => {
    if (ev.pipeline_id === id) refresh();
  }, live.set);

  load(root, async () => {
    const p = await api<Pipeline>(`/pipelines/${id}`);
    project = await api<Project>(`/projects/${p.project_id}`).catch(() => null);
    root.replaceChildren(body);
    draw(p);
  });
  return () => {
    clearTimeout(timer);
    unsubscribe();
  };
}
