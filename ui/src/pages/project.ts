// /projects/:id: the project, a "Trigger pipeline" form and its pipelines, live.
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
        h("div.actions", null, h("a.button", { href: `/projects/${id}/settings` }, "Project settings")),
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

function triggerForm(project: Project): HTMLElement {
  const branch = h("input#trigger-branch", {
    name: "branch",
    value: project.default_branch,
    required: true,
    autocomplete: "off",
  });
  const button = h("button.primary", { type: "submit" }, "Trigger pipeline");
  const status = h("div.form-status", { "aria-live": "polite" });
  const form = h(
    "form.trigger.card",
    { "aria-labelledby": "trigger-title" },
    h("h2#trigger-title", null, "Trigger pipeline"),
    h("div.inline-form", null, h("label", { for: "trigger-branch" }, "Branch"), branch, button),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.replaceChildren(h("span.muted", null, "Triggering…"));
    try {
      const created = await api<{ id: string; number: number }>(`/projects/${project.id}/pipelines`, {
        method: "POST",
        json: { branch: branch.value.trim() },
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
