// The web UI's entry: the layout (header, navigation, theme toggle), sign-in guard and routes.
import { currentSession, loadSession, signOut } from "./api.ts";
import { h } from "./dom.ts";
import { ago } from "./format.ts";
import { accountPage } from "./pages/account.ts";
import { auditPage } from "./pages/audit.ts";
import { buildersPage } from "./pages/builders.ts";
import { dashboardPage } from "./pages/dashboard.ts";
import { insightsPage } from "./pages/insights.ts";
import { jobPage } from "./pages/job.ts";
import { loginPage } from "./pages/login.ts";
import { orbsPage } from "./pages/orbs.ts";
import { pipelinePage } from "./pages/pipeline.ts";
import { projectPage } from "./pages/project.ts";
import { projectSettingsPage } from "./pages/project-settings.ts";
import { match, navigate, route, startRouter } from "./router.ts";
import { applyTheme, themeToggle } from "./theme.ts";

route("/login", loginPage, { public: true });
route("/", dashboardPage);
route("/projects/:id", projectPage);
route("/projects/:id/settings", projectSettingsPage);
route("/projects/:id/insights", insightsPage);
route("/pipelines/:id", pipelinePage);
route("/jobs/:id", jobPage);
route("/builders", buildersPage);
route("/orbs", orbsPage);
route("/audit", auditPage);
route("/settings", accountPage);

applyTheme(null);

const main = h("main#main", { tabindex: "-1" });
const userBox = h("div.user");
const nav = h(
  "nav.site-nav",
  { "aria-label": "Main" },
  h("a", { href: "/" }, "Dashboard"),
  h("a", { href: "/builders" }, "Builders"),
  h("a", { href: "/orbs" }, "Orbs"),
  h("a.admin-only", { href: "/audit" }, "Audit log"),
  h("a", { href: "/settings" }, "Settings"),
);
const httpNotice = h("p.http-notice", { hidden: true, role: "note" });
document.body.replaceChildren(
  h("a.skip-link", { href: "#main" }, "Skip to content"),
  h(
    "header.site-header",
    null,
    h("a.brand", { href: "/", "aria-label": "Cairn CI home" }, "▲ Cairn"),
    nav,
    h("div.header-end", null, themeToggle(), userBox),
  ),
  httpNotice,
  main,
);

function drawUser(): void {
  const s = currentSession();
  nav.hidden = !s;
  for (const a of nav.querySelectorAll<HTMLElement>(".admin-only")) a.hidden = s?.user.role !== "admin";
  if (!s) {
    userBox.replaceChildren();
    return;
  }
  const out = h("button.link", { type: "button" }, "Sign out");
  out.addEventListener("click", async () => {
    await signOut().catch(() => {});
    drawUser();
    navigate("/login");
  });
  userBox.replaceChildren(
    h("a.login", { href: "/settings", title: `role: ${s.user.role} — your settings` }, s.user.login),
    out,
  );
}

let cleanup: (() => void) | undefined;
let sessionChecked = false;

async function render(): Promise<void> {
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  if (!sessionChecked) {
    await loadSession().catch(() => null);
    sessionChecked = true;
  }
  const found = match(location.pathname);
  if (!found) {
    main.replaceChildren(
      h("h1", null, "Not found"),
      h("p", null, h("a", { href: "/" }, "Back to the dashboard")),
    );
    return;
  }
  if (!found.route.public && !currentSession()) {
    navigate(`/login?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`, {
      replace: true,
    });
    return;
  }
  if (found.route.public && currentSession() && location.pathname === "/login") {
    navigate("/", { replace: true });
    return;
  }
  drawUser();
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const done = found.route.page(main, found.params);
  cleanup = typeof done === "function" ? (done as () => void) : undefined;
}

window.addEventListener("cairn:signed-out", () => {
  if (location.pathname !== "/login")
    navigate(`/login?next=${encodeURIComponent(location.pathname)}`, { replace: true });
});

fetch("/api/v1/health")
  .then((r) => r.json() as Promise<{ tls: boolean; version: string }>)
  .then((health) => {
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
    if (!health.tls) {
      httpNotice.hidden = false;
      httpNotice.textContent = loopback
        ? "Served over plain HTTP on loopback."
        : "Warning: this server speaks plain HTTP — tokens and logs cross the network unencrypted.";
      httpNotice.classList.toggle("danger", !loopback);
    }
  })
  .catch(() => {});

// Relative times ("3m ago") stay true while a page is open.
setInterval(() => {
  for (const t of document.querySelectorAll<HTMLTimeElement>("time[data-ago]"))
    t.textContent = ago(t.dateTime);
}, 15_000);

startRouter(() => void render());
