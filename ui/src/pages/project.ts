// /projects/:id: the project, a "Trigger pipeline" form (branch and pipeline parameters) and its
// pipelines, live.
import { api, subscribeEvents } from "../api.ts";
import { errorBox, load, loading, setTitle } from "../components.ts";
import { h } from "../dom.ts";
import { navigate, type Params } from "../router.ts";
import type { Page as ListPage, Pipeline, Project } from "../types.ts";
import { liveIndicator } from "./dashboard.ts";
import { pipelineList } from "./pipeline-list.ts";

export function projectPage(root: HTMLElement, { id }: Params): () => void {
  root.replaceChildren(loading("Loading project"));
  const projects = new Map<string, Project>();
  const list = pipelineList({
    caption: "Pipelines of this project",
    projects,
    showProject: false,
    filter: (p) => p.project_id === id,
  });
  const live = liveIndicator();
  const unsubscribe = subscribeEvents((ev) => {
    if (ev.project_id === id) list.refresh(ev.pipeline_id);
  }, live.set);

  load(root, async () => {
    const [project, pipelines] = await Promise.all([
      api<Project>(`/projects/${id}`),
      api<ListPage<Pipeline>>(`/projects/${id}/pipelines`),
    ]);
    projects.set(project.id, project);
    setTitle(project.name);
    list.set(pipelines.items);
    root.replaceChildren(
      h(
        "nav.crumbs",
        { "aria-label": "Breadcrumb" },
        h("a", { href: "/" }, "Dashboard"),
        " / ",
        h("span", { "aria-current": "page" }, project.name),
      ),
      h(
        "div.page-head",
        null,
        h("h1", null, project.name),
        live.el,
        h(
          "div.actions",
          null,
          h("a.button", { href: `/projects/${id}/insights` }, "Insights"),
          h("a.button", { href: `/projects/${id}/settings` }, "Project settings"),
        ),
      ),
      h(
        "dl.facts",
        null,
        h("dt", null, "Repository"),
        h("dd", null, h("code", null, project.repo_url)),
        h("dt", null, "Default branch"),
        h("dd", null, project.default_branch),
      ),
      triggerForm(project),
      h(
        "section",
        { "aria-labelledby": "pipelines-title" },
        h("h2#pipelines-title", null, "Pipelines"),
        list.el,
      ),
    );
  });
  return unsubscribe;
}

/**
 * Pipeline parameters as typed in the trigger form: one `name=value` per line, blank lines ignored;
 * `true`/`false` and integers become booleans and numbers, as `cairn trigger --param` reads them.
 */
export function parseParameters(text: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`Parameters, line ${i + 1}: expected name=value, got "${line}"`);
    const name = line.slice(0, eq).trim();
    const v = line.slice(eq + 1).trim();
    out[name] = v === "true" ? true : v === "false" ? false : /^-?\d+$/.test(v) ? Number(v) : v;
  });
  return out;
}

function triggerForm(project: Project): HTMLElement {
  const branch = h("input#trigger-branch", {
    name: "branch",
    value: project.default_branch,
    required: true,
    autocomplete: "off",
  });
  const params = h("textarea#trigger-params", {
    name: "parameters",
    rows: 3,
    spellcheck: "false",
    placeholder: "deploy=true\nregion=eu-west-1",
    "aria-describedby": "trigger-params-help",
  }) as HTMLTextAreaElement;
  const button = h("button.primary", { type: "submit" }, "Trigger pipeline");
  const status = h("div.form-status", { "aria-live": "polite" });
  const form = h(
    "form.trigger.card",
    { "aria-labelledby": "trigger-title" },
    h("h2#trigger-title", null, "Trigger pipeline"),
    h("div.inline-form", null, h("label", { for: "trigger-branch" }, "Branch"), branch, button),
    h(
      "details.trigger-params",
      null,
      h("summary", null, "Pipeline parameters"),
      h("label.visually-hidden", { for: "trigger-params" }, "Pipeline parameters, one name=value per line"),
      params,
      h(
        "p#trigger-params-help.muted",
        null,
        "One name=value per line, for the config's ",
        h("code", null, "parameters:"),
        "; true, false and integers keep their type.",
      ),
    ),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let parameters: Record<string, string | number | boolean>;
    try {
      parameters = parseParameters(params.value);
    } catch (err) {
      status.replaceChildren(errorBox(err));
      params.focus();
      return;
    }
    button.disabled = true;
    status.replaceChildren(h("span.muted", null, "Triggering…"));
    try {
      const created = await api<{ id: string; number: number }>(`/projects/${project.id}/pipelines`, {
        method: "POST",
        json: {
          branch: branch.value.trim(),
          ...(Object.keys(parameters).length ? { parameters } : {}),
        },
      });
      navigate(`/pipelines/${created.id}`);
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
