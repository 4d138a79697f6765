// A fork's pull request end to end: a signed GitHub `pull_request` delivery (the corpus payload with
// its head in another repository) through the real webhook route, a real git repository holding the
// fork's commit only under refs/pull/N/head (as GitHub keeps it), and a real builder daemon process
// (process driver) whose job prints whether the project's secrets reached it. Without the project's
// opt-in they do not — no env var, no context, no OIDC token — and no value is in the log; with it
// they do, masked; a restricted context is refused to a fork either way it could be asked for.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { buildUi } from "../ui/build.ts";
import { browserTestsEnabled, collectPageErrors, launchBrowser, screenshot } from "../ui/testing/browser.ts";
import { MASK } from "../wasm/index.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { deliver, type Payload, pullRequestPayload } from "./support/forge.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const API_KEY = "fork-e2e-project-secret-9Qz4";
const OPEN_TOKEN = "fork-e2e-open-context-Lm27";
const PROD_TOKEN = "fork-e2e-restricted-Xw81";

const CONFIG = `version: 2.1
jobs:
  show:
    machine: true
    steps:
      - checkout
      - run:
          name: What reached the job
          command: |
            cat FORK.txt
            if [ -n "\${API_KEY:-}" ]; then echo "API_KEY is set: $API_KEY"; else echo "API_KEY is not set"; fi
            if [ -n "\${OPEN_TOKEN:-}" ]; then echo "OPEN_TOKEN is set: $OPEN_TOKEN"; else echo "OPEN_TOKEN is not set"; fi
            if [ -n "\${CIRCLE_OIDC_TOKEN:-}" ]; then echo "OIDC token is set"; else echo "OIDC token is not set"; fi
            echo "pr=$CIRCLE_PR_NUMBER user=$CIRCLE_PR_USERNAME repo=$CIRCLE_PR_REPONAME branch=$CIRCLE_BRANCH"
  deploy:
    machine: true
    steps:
      - run: echo "PROD_TOKEN=\${PROD_TOKEN:-unset}"
workflows:
  main:
    jobs:
      - show:
          context: [open]
      - deploy:
          context: [prod]
`;

interface Job {
  id: string;
  name: string;
  status: string;
  failure_reason: string | null;
  fork_secrets: "withheld" | "passed" | null;
}

let server: TestServer;
let builder: BuilderProcess;
let projectId: string;
let secret: string;
let forkSha: string;
let repo: TestRepo | undefined;
/** The `show` jobs of the two tests: secrets withheld, then passed (the browser test makes its own when run alone). */
const shown: { withheld?: string; passed?: string } = {};

const api = async (path: string, init: { method?: string; json?: unknown } = {}) => {
  const res = await server.api(path, init);
  return { status: res.status, body: JSON.parse((await res.text()) || "null") };
};
const logOf = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();
async function finished(id: string): Promise<Job> {
  for (let i = 0; i < 1200; i++) {
    const job = (await api(`/api/v1/jobs/${id}`)).body as Job;
    if (!["queued", "running"].includes(job.status)) return job;
    await Bun.sleep(100);
  }
  throw new Error(`job ${id} did not finish; builder output:\n${builder.output()}`);
}

/** The corpus `pull_request` payload, opened from mallory's fork, its head at the fork's commit. */
function forkPayload(action: string): Payload {
  const p = pullRequestPayload(action, "patch-1", forkSha);
  p.number = 5;
  p.pull_request.number = 5;
  p.pull_request.html_url = "https://github.com/Codertocat/Hello-World/pull/5";
  p.pull_request.user.login = "mallory";
  p.pull_request.head.repo.full_name = "mallory/Hello-World";
  p.pull_request.head.repo.name = "Hello-World";
  p.pull_request.head.repo.fork = true;
  p.pull_request.head.repo.owner.login = "mallory";
  return p;
}

/** Sets the project's opt-in as a test needs it, whatever an earlier test left. */
async function passSecretsToForks(on: boolean) {
  const patched = await api(`/api/v1/projects/${projectId}`, {
    method: "PATCH",
    json: { pass_secrets_to_forks: on },
  });
  expect(patched.status).toBe(200);
  return patched;
}

/** A fork's pull request delivered and its `show` job finished: its id. */
async function showJob(action: string): Promise<string> {
  const pipeline = await deliverFork(action);
  return (await finished(pipeline.jobs.find((j) => j.name === "show")!.id)).id;
}

async function deliverFork(action: string): Promise<{ id: string; jobs: Job[] }> {
  const res = await deliver(server.url, projectId, secret, {
    event: "pull_request",
    body: JSON.stringify(forkPayload(action)),
  });
  expect(res.status).toBe(201);
  const { pipeline } = (await res.json()) as { pipeline: { id: string } };
  const p = (await api(`/api/v1/pipelines/${pipeline.id}`)).body;
  expect(p).toMatchObject({ from_fork: true, branch: "pull/5", sha: forkSha, trigger: "pull_request" });
  return { id: p.id, jobs: p.jobs };
}

beforeAll(async () => {
  server = await startTestServer();
  repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG, "FORK.txt": "base tree\n" }, "add config");
  // The fork's commit reaches the base repository only as GitHub keeps it: refs/pull/5/head.
  forkSha = repo.commit({ "FORK.txt": "the fork's tree 31c9\n" }, "fork work", "patch-1");
  execFileSync("git", ["-C", repo.bare, "update-ref", "refs/pull/5/head", forkSha]);
  execFileSync("git", ["-C", repo.bare, "update-ref", "-d", "refs/heads/patch-1"]);

  const created = await api("/api/v1/projects", {
    method: "POST",
    json: { name: "forks", repo_url: repo.bare },
  });
  expect(created.status).toBe(201);
  projectId = created.body.id;
  secret = created.body.webhook_secret;
  const put = async (path: string, name: string, value: string) =>
    expect((await api(path, { method: "POST", json: { name, value } })).status).toBeLessThan(300);
  await put(`/api/v1/projects/${projectId}/envvars`, "API_KEY", API_KEY);
  const open = await api("/api/v1/contexts", { method: "POST", json: { name: "open" } });
  await put(`/api/v1/contexts/${open.body.id}/envvars`, "OPEN_TOKEN", OPEN_TOKEN);
  const prod = await api("/api/v1/contexts", { method: "POST", json: { name: "prod" } });
  await put(`/api/v1/contexts/${prod.body.id}/envvars`, "PROD_TOKEN", PROD_TOKEN);
  // Restricted to this very project: still no fork's code is trusted with it.
  const restricted = await api(`/api/v1/contexts/${prod.body.id}/restrictions`, {
    method: "POST",
    json: { restriction_type: "project", restriction_value: projectId },
  });
  expect(restricted.status).toBe(201);
  // Off unless an admin opts in.
  expect((await api(`/api/v1/projects/${projectId}`)).body.pass_secrets_to_forks).toBe(false);
  builder = await startBuilder({ server: server.url, adminToken: server.token, name: "forks" });
}, 60_000);

afterAll(async () => {
  await builder?.stop();
  await server?.stop();
  // createRepo leaves its bare repository and work tree in one temporary directory.
  if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
});

describe("a fork's pull request", () => {
  test("builds the fork's commit without the project's secret, contexts or OIDC token; the log holds no value", async () => {
    await passSecretsToForks(false);
    const pipeline = await deliverFork("opened");
    const show = await finished(pipeline.jobs.find((j) => j.name === "show")!.id);
    const log = await logOf(show.id);
    expect({ status: show.status, reason: show.failure_reason, log }).toMatchObject({
      status: "success",
      reason: null,
    });
    expect(show.fork_secrets).toBe("withheld");
    shown.withheld = show.id;
    expect(log).toContain("the fork's tree 31c9");
    expect(log).toContain("API_KEY is not set");
    expect(log).toContain("OPEN_TOKEN is not set");
    expect(log).toContain("OIDC token is not set");
    expect(log).toContain("pr=5 user=mallory repo=Hello-World branch=pull/5");
    // The restricted context is withheld like the rest: its job runs without it.
    const deploy = await finished(pipeline.jobs.find((j) => j.name === "deploy")!.id);
    expect(deploy).toMatchObject({ status: "success", fork_secrets: "withheld" });
    const deployLog = await logOf(deploy.id);
    expect(deployLog).toContain("PROD_TOKEN=unset");
    for (const value of [API_KEY, OPEN_TOKEN, PROD_TOKEN]) {
      expect(log).not.toContain(value);
      expect(deployLog).not.toContain(value);
    }
  }, 120_000);

  test("with the project's opt-in (admin, audited) the secrets are passed and masked; a restricted context is refused", async () => {
    const patched = await passSecretsToForks(true);
    expect(patched.body.pass_secrets_to_forks).toBe(true);
    const audit = (await api("/api/v1/audit?action=project.settings_changed")).body as {
      items: { target: { id: string }; details: Record<string, unknown> }[];
    };
    expect(
      audit.items.some((e) => e.target.id === projectId && e.details.pass_secrets_to_forks === true),
    ).toBe(true);

    const pipeline = await deliverFork("synchronize");
    const show = await finished(pipeline.jobs.find((j) => j.name === "show")!.id);
    const log = await logOf(show.id);
    expect({ status: show.status, log }).toMatchObject({ status: "success" });
    expect(show.fork_secrets).toBe("passed");
    shown.passed = show.id;
    expect(log).toContain(`API_KEY is set: ${MASK}`);
    expect(log).toContain(`OPEN_TOKEN is set: ${MASK}`);
    expect(log).toContain("OIDC token is set");
    const deploy = await finished(pipeline.jobs.find((j) => j.name === "deploy")!.id);
    expect(deploy.status).toBe("failed");
    expect(deploy.failure_reason).toContain("context prod may not be used here");
    for (const value of [API_KEY, OPEN_TOKEN, PROD_TOKEN]) {
      expect(log).not.toContain(value);
      expect(await logOf(deploy.id)).not.toContain(value);
    }
  }, 120_000);
});

describe.skipIf(!browserTestsEnabled())("in chromium", () => {
  test("the job page says a fork's job ran without the secrets, or with them by project setting; the settings page has the switch", async () => {
    // Alone (-t), it builds the two jobs it shows itself.
    if (!shown.withheld) {
      await passSecretsToForks(false);
      shown.withheld = await showJob("opened");
    }
    if (!shown.passed) {
      await passSecretsToForks(true);
      shown.passed = await showJob("synchronize");
    }
    // The switch is on, as the second test leaves it.
    await passSecretsToForks(true);
    await buildUi({ ifStale: true });
    const browser = await launchBrowser();
    try {
      const session = await browser.context.request.post(`${server.url}/api/v1/session`, {
        data: { token: server.token },
      });
      expect(session.status()).toBe(201);
      const page = await browser.newPage({ colorScheme: "light" });
      const errors = collectPageErrors(page);
      await page.goto(`${server.url}/jobs/${shown.withheld}`);
      const note = await page.waitForSelector(".fork-secrets");
      expect(await note.textContent()).toContain("Built from a fork: secrets withheld");
      await screenshot(page, "job-fork-withheld");
      await page.goto(`${server.url}/jobs/${shown.passed}`);
      expect(await (await page.waitForSelector(".fork-secrets")).textContent()).toContain(
        "Built from a fork: secrets passed, by project setting",
      );
      await page.goto(`${server.url}/projects/${projectId}/settings`);
      const box = await page.waitForSelector("#pass-secrets-to-forks");
      expect(await box.isChecked()).toBe(true);
      await box.uncheck();
      await page.click("form[aria-label='General settings'] button[type=submit]");
      await page.waitForSelector("form[aria-label='General settings'] p.ok");
      expect((await api(`/api/v1/projects/${projectId}`)).body.pass_secrets_to_forks).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);
});
