// /: recent pipelines across every project, updating live from /api/v1/events.
import { api, currentSession, subscribeEvents } from "../api.ts";
import { copyable, errorBox, load, loading, setTitle, shownOnce } from "../components.ts";
import { h } from "../dom.ts";
import type { Page as ListPage, Pipeline, Project } from "../types.ts";
import { pipelineList } from "./pipeline-list.ts";

export function liveIndicator(): { el: HTMLElement; set(live: boolean): void } {
  const el = h("span.live", { role: "status", "data-live": "false" }, "connecting…");
  return {
    el,
    set(live) {
      el.dataset.live = String(live);
      el.textContent = live ? "live" : "reconnecting…";
    },
  };
}

export function dashboardPage(root: HTMLElement): () => void {
  setTitle("Dashboard");
  root.replaceChildren(loading("Loading pipelines"));
  const projects = new Map<string, Project>();
  const list = pipelineList({ caption: "Recent pipelines across all projects", projects, showProject: true });
  const live = liveIndicator();
  const projectNav = h("ul.project-links");

  const drawProjects = () =>
    projectNav.replaceChildren(
      ...[...projects.values()].map((p) => h("li", null, h("a", { href: `/projects/${p.id}` }, p.name))),
    );

  const unsubscribe = subscribeEvents(async (ev) => {
    if (!projects.has(ev.project_id)) {
      for (const p of (await api<ListPage<Project>>("/projects")).items) projects.set(p.id, p);
      drawProjects();
    }
    list.refresh(ev.pipeline_id);
  }, live.set);

  load(root, async () => {
    for (const p of (await api<ListPage<Project>>("/projects")).items) projects.set(p.id, p);
    const all = await Promise.all(
      [...projects.keys()].map((id) => api<ListPage<Pipeline>>(`/projects/${id}/pipelines`)),
    );
    list.set(all.flatMap((page) => page.items));
    drawProjects();
    const aside = h(
      "aside.projects",
      { "aria-labelledby": "projects-title" },
      h("h2#projects-title", null, "Projects"),
      projects.size ? projectNav : h("p.muted", null, "No projects yet."),
      currentSession()?.user.role === "admin" && newProjectForm(),
    );
    root.replaceChildren(
      h("div.page-head", null, h("h1", null, "Recent pipelines"), live.el),
      h("div.dashboard", null, h("section", { "aria-label": "Recent pipelines" }, list.el), aside),
    );
  });
  return unsubscribe;
}

function newProjectForm(): HTMLElement {
  const name = h("input#np-name", { name: "name", required: true, placeholder: "org/repo" });
  const repo = h("input#np-repo", {
    name: "repo_url",
    required: true,
    placeholder: "git@github.com:org/repo.git",
  });
  const branch = h("input#np-branch", { name: "default_branch", placeholder: "main" });
  const status = h("div.form-status", { "aria-live": "polite" });
  const form = h(
    "form.stack",
    null,
    h("label", { for: "np-name" }, "Name"),
    name,
    h("label", { for: "np-repo" }, "Repository URL"),
    repo,
    h("label", { for: "np-branch" }, "Default branch"),
    branch,
    h("button.primary", { type: "submit" }, "Create project"),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const p = await api<Project & { webhook_secret: string; webhook_url: string }>("/projects", {
        method: "POST",
        json: {
          name: name.value.trim(),
          repo_url: repo.value.trim(),
          ...(branch.value.trim() ? { default_branch: branch.value.trim() } : {}),
        },
      });
      // The webhook secret exists only in this answer: show it before leaving, with the URL it goes with.
      form.replaceWith(
        h(
          "div.stack.project-created",
          null,
          h("p", null, "Project ", h("strong", null, p.name), " created."),
          shownOnce("Webhook secret", p.webhook_secret),
          h(
            "p.muted",
            null,
            "Add a webhook with this URL and secret on the forge (push and pull request events):",
          ),
          copyable(p.webhook_url, "Webhook URL", "webhook-url"),
          h("a.button.primary", { href: `/projects/${p.id}` }, `Open ${p.name}`),
        ),
      );
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  });
  return h("details.new-project", null, h("summary", null, "New project"), form);
}
