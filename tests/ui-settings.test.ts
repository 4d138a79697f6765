// The web UI's sign-in, settings, audit and job-output pages in a real browser (Debian's chromium via
// playwright-core) against a real server, with a stand-in builder speaking the real protocol: password
// sign-in (wrong password, rate limit) and GitHub sign-in through a stand-in GitHub; project settings
// (a write-only env var, a context, the deploy key, webhook secret rotation, branch filters, follow);
// the user's SSH key and API tokens (shown once, revoked); the audit log listing all of it; a job's
// artifacts and test results; re-run with SSH showing the `ssh -p` command; approve and re-run on the
// pipeline page; revoking a builder; the read-only state for a project reader.
// Screenshots of each page go to test-output/screenshots/.
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { BrowserContext, Cookie, Page } from "playwright-core";
import type { ServerClient } from "../builder/client.ts";
import { buildUi } from "../ui/build.ts";
import {
  browserTestsEnabled,
  collectPageErrors,
  launchBrowser,
  SCREENSHOTS,
  screenshot,
  type TestBrowser,
} from "../ui/testing/browser.ts";
import { acquireJob, LogUploader, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { json, startTestServer, type TestServer } from "./support/server.ts";

// A browser against a real server: seconds, not milliseconds, on a busy machine.
setDefaultTimeout(120_000);

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: make test
workflows:
  main:
    jobs: [build]
`;

/** On the `params` branch: a pipeline parameter the trigger form sets. */
const PARAMS = `version: 2.1
parameters:
  greeting:
    type: string
    default: hello
  loud:
    type: boolean
    default: false
jobs:
  say:
    machine: true
    steps:
      - run: echo << pipeline.parameters.greeting >> loud=<< pipeline.parameters.loud >>
workflows:
  main:
    jobs: [say]
`;

/** On the `gated` branch: a workflow held for approval before its one job. */
const GATED = `version: 2.1
jobs:
  ship:
    machine: true
    steps:
      - run: ./ship
workflows:
  gated:
    jobs:
      - hold:
          type: approval
      - ship:
          requires: [hold]
`;

/** The job's coverage report artifact. */
const REPORT = "coverage: 91%\n";
const ADMIN = { login: "ada", password: "correct horse battery staple" };
const READER = { login: "rita", password: "reader reader reader" };
const SECRET_VALUE = "s3cr3t-value-never-shown-9f2c";
const CONTEXT_SECRET = "aws-secret-never-shown-77ab";
const JUNIT = `<?xml version="1.0"?>
<testsuites>
  <testsuite name="unit" file="test/math.test.js">
    <testcase classname="math" name="adds" time="0.01"/>
    <testcase classname="math" name="divides by zero" time="0.02"><failure message="expected Infinity">AssertionError: expected NaN to be Infinity</failure></testcase>
    <testcase classname="math" name="rounds" time="0.01"><skipped/></testcase>
    <testcase classname="math" name="subtracts" time="0.03"/>
  </testsuite>
</testsuites>`;

// Each test has a server of its own, started on a copy of one data dir made once (beforeAll: the
// project, the users and a session Ada opened by signing in with her password; argon2id makes each
// of those a second under load), a builder and a browser context of its own (beforeEach), and makes
// what else it needs itself (the step helpers below). The browser and the stand-in GitHub are shared.
let server: TestServer;
/** The data dir each test's server starts from a copy of. */
let seedDir: string | undefined;
/** The git repository the project builds (read only: no test pushes to it). */
let repo: TestRepo | undefined;
/** Ada's session cookie in the seed: a test signed in as Ada starts with it. */
let adaSession: Cookie[];
/** A stand-in GitHub on 127.0.0.1: its authorize page sends the browser straight back with a code. */
let github: ReturnType<typeof Bun.serve>;
/** The GitHub login the stand-in says signed in. */
let githubLogin = "Ada-GH";
let browser: TestBrowser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let builder: ServerClient;
let projectId: string;

/** An OpenSSH ed25519 public key line (a valid key blob; the private half is never needed here). */
function ed25519Line(comment: string): string {
  const type = Buffer.from("ssh-ed25519");
  const blob = Buffer.alloc(4 + type.length + 4 + 32);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  blob.writeUInt32BE(32, 4 + type.length);
  Buffer.from(crypto.getRandomValues(new Uint8Array(32))).copy(blob, 8 + type.length);
  return `ssh-ed25519 ${blob.toString("base64")} ${comment}`;
}

/** Everything the page holds: markup plus the current values of its form fields. */
const pageText = (p: Page) =>
  p.evaluate(
    () =>
      document.documentElement.outerHTML +
      [...document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("input, textarea")]
        .map((i) => i.value)
        .join("\n"),
  );

/** The settings pages are long: these screenshots show all of them. */
async function fullScreenshot(p: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await p.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function signInWithPassword(
  p: Page,
  who: { login: string; password: string },
  url = server.url,
): Promise<void> {
  await p.goto(`${url}/login`);
  await p.fill("#login", who.login);
  await p.fill("#password", who.password);
  await p.click("form.password-form button[type=submit]");
  await p.waitForURL(`${url}/`);
  await p.waitForSelector(`.user a.login:text-is('${who.login}')`);
}

async function signOut(p: Page): Promise<void> {
  await p.click("button:has-text('Sign out')");
  await p.waitForURL(/\/login/);
}

describe.skipIf(!browserTestsEnabled())("settings, audit and job outputs in chromium", () => {
  /** The test servers' environment: GitHub sign-in through the stand-in. */
  let env: Record<string, string>;

  beforeAll(async () => {
    await buildUi({ ifStale: true });
    github = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const url = new URL(req.url);
        if (url.pathname === "/login/oauth/authorize") {
          const back = new URL(url.searchParams.get("redirect_uri")!);
          back.searchParams.set("code", "code-ada");
          back.searchParams.set("state", url.searchParams.get("state")!);
          return Response.redirect(back.toString(), 302);
        }
        if (url.pathname === "/login/oauth/access_token" && req.method === "POST") {
          const body = (await req.json()) as Record<string, string>;
          if (body.code !== "code-ada" || body.client_secret !== "ui-test-client-secret")
            return Response.json({ error: "bad_verification_code" });
          return Response.json({ access_token: "gho_ada", token_type: "bearer" });
        }
        if (url.pathname === "/api/v3/user" && req.headers.get("authorization") === "Bearer gho_ada")
          return Response.json({ login: githubLogin, id: 7 });
        return new Response("not found", { status: 404 });
      },
    });
    env = {
      CAIRN_GITHUB_CLIENT_ID: "cairn-ui-test",
      CAIRN_GITHUB_CLIENT_SECRET: "ui-test-client-secret",
      CAIRN_GITHUB_URL: `http://127.0.0.1:${github.port}`,
    };
    browser = await launchBrowser();

    repo = createRepo();
    repo.commit({ ".circleci/config.yml": CONFIG }, "config");
    repo.commit({ ".circleci/config.yml": GATED }, "gated config", "gated");
    repo.commit({ ".circleci/config.yml": PARAMS }, "params config", "params");
    seedDir = mkdtempSync(join(tmpdir(), "cairn-ui-settings-seed-"));
    const seed = await startTestServer({ dataDir: seedDir, env });
    try {
      projectId = (
        await json<{ id: string }>(
          seed.api("/api/v1/projects", { method: "POST", json: { name: "acme/api", repo_url: repo.bare } }),
        )
      ).id;
      await json(
        seed.api("/api/v1/users", {
          method: "POST",
          json: { ...ADMIN, role: "admin", github_login: "ada-gh" },
        }),
      );
      const reader = await json<{ id: string }>(
        seed.api("/api/v1/users", { method: "POST", json: { ...READER, role: "member" } }),
      );
      await json(
        seed.api(`/api/v1/projects/${projectId}/members`, {
          method: "POST",
          json: { user_id: reader.id, role: "read" },
        }),
      );
      const signingIn = await browser.newContext();
      try {
        await signInWithPassword(await signingIn.newPage(), ADMIN, seed.url);
        // Cookies are per host, not per port: the cookie names the session in every copy of the seed.
        adaSession = await signingIn.cookies(seed.url);
      } finally {
        await signingIn.close();
      }
    } finally {
      await seed.stop();
    }
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    github?.stop(true);
    if (seedDir) rmSync(seedDir, { recursive: true, force: true });
    // createRepo leaves its bare repository and work tree in one temporary directory.
    if (repo) rmSync(dirname(repo.bare), { recursive: true, force: true });
  }, 30_000);

  beforeEach(async () => {
    server = await startTestServer({ env, copyOf: seedDir });
    builder = await registerSimBuilder(server.url, server.token, "sim-settings");
    // A context of its own: no cookie, storage or cache of another test's server (a port may come again).
    context = await browser.newContext({ colorScheme: "light" });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    page = await context.newPage();
    errors = collectPageErrors(page);
  }, 120_000);
  afterEach(async () => {
    try {
      await context?.close();
    } finally {
      await server?.stop();
    }
  }, 30_000);

  /**
   * A test signed in as Ada (unless `signedOut`: with her session from the seed, so the password
   * sign-in is what the /login tests, the audit log's and the reader's prove), with no script error and no Content-Security-Policy
   * violation on any page it opened.
   */
  const uiTest = (name: string, steps: () => Promise<void>, opts: { signedOut?: boolean } = {}) =>
    test(name, async () => {
      if (!opts.signedOut) await context.addCookies(adaSession);
      await steps();
      // Refusals the tests provoke on purpose show as failed requests in the console.
      expect(errors.filter((e) => !/status of (401|403|429)/.test(e))).toEqual([]);
    });

  uiTest(
    "/login: GitHub button, a wrong password inline, the rate limit's message, then a password sign-in",
    async () => {
      await page.goto(`${server.url}/settings`);
      await page.waitForURL(/\/login\?next=%2Fsettings/);
      const github = page.locator("a.github");
      await github.waitFor();
      expect(await github.getAttribute("href")).toBe("/api/v1/auth/github");
      expect(await github.textContent()).toContain("Sign in with GitHub");
      // The login field has the focus; every field has a label.
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("login");
      await screenshot(page, "login-password");

      await page.fill("#login", ADMIN.login);
      await page.fill("#password", "not the password at all");
      await page.click("form.password-form button[type=submit]");
      const alert = page.locator("form.password-form [role=alert]");
      await alert.waitFor();
      expect(await alert.textContent()).toContain("login or password is wrong");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("password");

      // Five failures for one login from one address, then the sixth is refused with a wait.
      await page.fill("#login", "nobody-here");
      for (let i = 0; i < 6; i++) {
        await page.fill("#password", `wrong guess number ${i}`);
        await page.click("form.password-form button[type=submit]");
        await page.waitForSelector("form.password-form [role=alert]");
        await page.waitForSelector("form.password-form button[type=submit]:not([disabled])");
      }
      const limited = page.locator("form.password-form [data-code=too_many_attempts]");
      await limited.waitFor();
      expect(await limited.textContent()).toMatch(
        /Too many failed sign-ins.*Try again in \d+ (seconds|minutes)/,
      );
      await screenshot(page, "login-rate-limited");

      await page.fill("#login", ADMIN.login);
      await page.fill("#password", ADMIN.password);
      await page.click("form.password-form button[type=submit]");
      await page.waitForURL(`${server.url}/settings`);
      await page.waitForSelector("h1:has-text('Your settings')");
      expect(await page.locator("nav.site-nav a:has-text('Audit log')").isVisible()).toBe(true);
    },
    { signedOut: true },
  );

  uiTest(
    "Sign in with GitHub: the OAuth round trip through a stand-in GitHub signs in the linked user",
    async () => {
      await page.goto(`${server.url}/login`);
      await page.click("a.github");
      await page.waitForURL(`${server.url}/`);
      await page.waitForSelector(".user a.login:text-is('ada')");
      const cookies = await context.cookies(server.url);
      expect(cookies.find((c) => c.name === "cairn_session")?.httpOnly).toBe(true);
    },
    { signedOut: true },
  );

  uiTest(
    "Sign in with GitHub as a login no Cairn user is linked to: back on /login, told why",
    async () => {
      await page.goto(`${server.url}/login`);
      githubLogin = "stranger";
      try {
        await page.click("a.github");
        await page.waitForURL(`${server.url}/login?github_error=not_linked`);
        const alert = page.locator(".github-error[role=alert]");
        await alert.waitFor();
        expect(await alert.textContent()).toContain("not linked to a Cairn user");
        await screenshot(page, "login-github-refused");
      } finally {
        githubLogin = "Ada-GH";
      }
      await page.click("a.github");
      await page.waitForURL(`${server.url}/`);
      await page.waitForSelector(".user a.login:text-is('ada')");
    },
    { signedOut: true },
  );

  /** Settings steps as their tests take them; a test that needs what they leave behind runs them. */
  async function envVarSteps(): Promise<void> {
    await page.goto(`${server.url}/projects/${projectId}`);
    await page.click("a:has-text('Project settings')");
    await page.waitForURL(`${server.url}/projects/${projectId}/settings`);
    await page.waitForSelector("#envvars .secret-list");
    expect(await page.locator(".read-only").count()).toBe(0);

    await page.fill("#envvar-name", "DEPLOY_TOKEN");
    await page.fill("#envvar-value", SECRET_VALUE);
    await page.click("#envvars button:has-text('Save variable')");
    const row = page.locator("#envvars tr[data-var=DEPLOY_TOKEN]");
    await row.waitFor();
    expect(await row.locator(".hint").textContent()).toBe(`xxxx${SECRET_VALUE.slice(-4)}`);
    expect(await page.textContent("#envvars .secret-form > .form-status")).toContain("Added DEPLOY_TOKEN");
    expect(await page.inputValue("#envvar-value")).toBe("");
    expect(await pageText(page)).not.toContain(SECRET_VALUE);
    // Nor after a reload: the API never gives it back.
    await page.reload();
    await page.locator("#envvars tr[data-var=DEPLOY_TOKEN]").waitFor();
    expect(await pageText(page)).not.toContain(SECRET_VALUE);

    // Replacing it keeps one row.
    await page.fill("#envvar-name", "DEPLOY_TOKEN");
    await page.fill("#envvar-value", `${SECRET_VALUE}-2`);
    await page.click("#envvars button:has-text('Save variable')");
    await page.waitForSelector("#envvars .form-status :text('Replaced DEPLOY_TOKEN')");
    expect(await page.locator("#envvars tr[data-var]").count()).toBe(1);

    // A short value is stored, with the warning that logs cannot mask it.
    await page.fill("#envvar-name", "SHORT");
    await page.fill("#envvar-value", "abc");
    await page.click("#envvars button:has-text('Save variable')");
    await page.waitForSelector("#envvars .form-status .warning:has-text('cannot be masked')");
    await page.click("#envvars tr[data-var=SHORT] button:has-text('Delete')");
    // Asked twice: the first press only arms it.
    expect(await page.locator("#envvars tr[data-var=SHORT]").textContent()).toContain(
      "cannot be brought back",
    );
    // Escape disarms it; armed again, the second press deletes.
    await page.keyboard.press("Escape");
    await page.waitForSelector("#envvars tr[data-var=SHORT] button[data-armed=false]:text-is('Delete')");
    await page.click("#envvars tr[data-var=SHORT] button:has-text('Delete')");
    await page.click("#envvars tr[data-var=SHORT] button:has-text('Confirm: delete SHORT')");
    await page.locator("#envvars tr[data-var=SHORT]").waitFor({ state: "detached" });
  }

  async function contextSteps(): Promise<void> {
    await page.goto(`${server.url}/projects/${projectId}/settings`);
    await page.waitForSelector("#context-name");
    await page.fill("#context-name", "deploy-aws");
    await page.click("button:has-text('Create context')");
    const ctx = page.locator("details.context[data-context=deploy-aws]");
    await ctx.waitFor();
    expect(await ctx.getAttribute("open")).not.toBeNull();
    await ctx.locator("input[name=name]").fill("AWS_SECRET_ACCESS_KEY");
    await ctx.locator("textarea[name=value]").fill(CONTEXT_SECRET);
    await ctx.locator("button:has-text('Save variable')").click();
    await ctx.locator("tr[data-var=AWS_SECRET_ACCESS_KEY]").waitFor();
    expect(await pageText(page)).not.toContain(CONTEXT_SECRET);
    const listed = await json<{ items: { id: string; name: string }[] }>(server.api("/api/v1/contexts"));
    expect(listed.items.map((c) => c.name)).toEqual(["deploy-aws"]);
    // Restricted to this project: shown as such, and the API has it.
    await ctx.locator("p:has-text('Unrestricted')").waitFor();
    await ctx.locator("select[name=restriction_type]").selectOption("project");
    await ctx.locator(`select[name=project] option[value="${projectId}"]`).waitFor({ state: "attached" });
    await ctx.locator("select[name=project]").selectOption(projectId);
    await ctx.locator("button:has-text('Add restriction')").click();
    await ctx.locator("li[data-restriction]").waitFor();
    const restrictions = await json<{ items: { restriction_type: string; restriction_value: string }[] }>(
      server.api(`/api/v1/contexts/${listed.items[0].id}/restrictions`),
    );
    expect(restrictions.items).toMatchObject([{ restriction_type: "project", restriction_value: projectId }]);
  }

  async function projectSettingsSteps(): Promise<void> {
    await page.goto(`${server.url}/projects/${projectId}/settings`);
    await page.click("button:has-text('Generate deploy key')");
    const key = page.locator("#deploy-key .public-key code");
    await key.waitFor();
    expect(await key.textContent()).toMatch(/^ssh-ed25519 AAAA/);
    expect(await page.textContent("#deploy-key .fingerprint")).toMatch(/^SHA256:/);

    expect(await page.textContent("#webhook .webhook-url code")).toBe(
      `${server.url}/api/v1/hooks/github/${projectId}`,
    );
    await page.click("#webhook button:has-text('Rotate secret')");
    const secret = page.locator("#webhook .shown-once code");
    await secret.waitFor();
    const shown = (await secret.textContent())!;
    expect(shown.length).toBeGreaterThan(20);
    // The copy button puts it on the clipboard.
    await page.click("#webhook .shown-once button.copy");
    await page.waitForSelector("#webhook .shown-once button.copy:text-is('Copied')");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(shown);

    await page.fill("#branch-filters", "main\nrelease/*");
    await page.fill("#max-concurrent", "3");
    expect(await page.inputValue("#network")).toBe("egress");
    await page.selectOption("#network", "none");
    await page.click("button:has-text('Save settings')");
    await page.waitForSelector("#general .form-status :text('Saved.')");
    await page.click("#general button:has-text('Unfollow')");
    await page.waitForSelector("#general button[aria-pressed=false]:has-text('Follow')");
    const p = await json<{
      branch_filters: string[];
      max_concurrent_jobs: number;
      followed: boolean;
      network: string;
    }>(server.api(`/api/v1/projects/${projectId}`));
    expect(p).toMatchObject({
      branch_filters: ["main", "release/*"],
      max_concurrent_jobs: 3,
      followed: false,
      network: "none",
    });
    await page.click("#general button:has-text('Follow')");
    await page.waitForSelector("#general button[aria-pressed=true]");

    // Once gone from the page, the secret is gone for good.
    await page.reload();
    await page.waitForSelector("#webhook");
    expect(await pageText(page)).not.toContain(shown);
    expect(await page.textContent("#webhook")).toContain("A secret is set");
    await fullScreenshot(page, "project-settings");
  }

  /** Adds an SSH key to Ada's settings (re-run with SSH then has no warning that she has none). */
  async function addSshKey(): Promise<void> {
    await page.goto(`${server.url}/settings`);
    await page.waitForSelector("#ssh-keys");
    await page.fill("#ssh-key", ed25519Line("ada@laptop"));
    await page.click("button:has-text('Add SSH key')");
    const key = page.locator("#ssh-keys li.key");
    await key.waitFor();
    expect(await key.locator(".key-name").textContent()).toBe("ada@laptop");
    expect(await key.locator(".fingerprint").textContent()).toMatch(/^SHA256:/);
  }

  async function yourSettingsSteps(): Promise<void> {
    await addSshKey();

    await page.fill("#token-name", "ci laptop");
    await page.check("#token-scope-write");
    await page.selectOption("#token-expiry", "7");
    await page.click("button:has-text('Create token')");
    const once = page.locator("#tokens .shown-once code");
    await once.waitFor();
    const tokenValue = (await once.textContent())!;
    expect(tokenValue).toMatch(/^cairn_pat_/);
    // The focus lands on the copy button (once the list is redrawn), so a keyboard user can copy at once.
    await page.waitForSelector("#tokens .shown-once button.copy:focus");
    const row = page.locator("#tokens tr[data-state=active]", { hasText: "ci laptop" });
    await row.waitFor();
    expect(await row.textContent()).toContain("read, write");
    // It works, and it can write.
    const asToken = (path: string) =>
      fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${tokenValue}` } });
    expect((await asToken("/api/v1/users/me")).status).toBe(200);
    await fullScreenshot(page, "account-settings");

    // Shown once: a reload shows the row, not the token.
    await page.reload();
    await page.locator("#tokens tr[data-state=active]", { hasText: "ci laptop" }).waitFor();
    expect(await pageText(page)).not.toContain(tokenValue);

    await page.click("#tokens tr[data-state=active] button:has-text('Revoke')");
    await page.click("#tokens tr[data-state=active] button:has-text('Confirm: revoke ci laptop')");
    await page.locator("#tokens tr[data-state=revoked]", { hasText: "ci laptop" }).waitFor();
    expect((await asToken("/api/v1/users/me")).status).toBe(401);
  }

  /** A failed job with two artifacts and JUnit results, its log uploaded: its id. */
  async function finishedJobWithResults(): Promise<string> {
    await json(
      server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "main" } }),
    );
    const job = await acquireJob(builder);
    await builder.step(job.job.id, { index: 0, name: "make test", status: "running", log_offset: 0 });
    const up = new LogUploader(builder, job.job.id);
    up.write("running tests\n1 failed\n");
    await up.drain();
    for (const [path, body] of [
      ["reports/coverage.txt", REPORT],
      ["dist/app.tar.gz", "x".repeat(2048)],
    ]) {
      const url = await builder.artifact(job.job.id, path, body.length);
      await builder.blob(url, { method: "PUT", body: new Blob([body]).stream(), size: body.length });
    }
    await builder.testResults(job.job.id, "reports/junit.xml", new TextEncoder().encode(JUNIT));
    await builder.step(job.job.id, {
      index: 0,
      name: "make test",
      status: "failed",
      exit_code: 1,
      log_offset: 0,
    });
    await builder.finish(job.job.id, { status: "failed", unsandboxed: true, log_bytes: up.offset });

    return job.job.id;
  }

  uiTest("project settings: an env var shows its name and hint, never its value", envVarSteps);

  uiTest("project settings: create a context and add a variable to it", contextSteps);

  uiTest(
    "project settings: deploy key, webhook secret shown once, branch filters, concurrency, follow",
    projectSettingsSteps,
  );

  uiTest("project settings: add a member with a role, change it, remove them", async () => {
    await json(server.api("/api/v1/users", { method: "POST", json: { login: "wes", role: "member" } }));
    await page.goto(`${server.url}/projects/${projectId}/settings`);
    await page.waitForSelector("#members tr[data-member=rita]");
    expect(await page.inputValue("#members tr[data-member=rita] select")).toBe("read");
    await page.selectOption("#member-user", { label: "wes" });
    await page.selectOption("#member-role", "write");
    await page.click("button:has-text('Add member')");
    const wes = page.locator("#members tr[data-member=wes]");
    await wes.waitFor();
    expect(await wes.locator("select").inputValue()).toBe("write");
    await wes.locator("select").selectOption("admin");
    await wes.locator(".ok:text-is('Saved')").waitFor();
    const members = await json<{ items: { login: string; role: string }[] }>(
      server.api(`/api/v1/projects/${projectId}/members`),
    );
    expect(members.items).toContainEqual(expect.objectContaining({ login: "wes", role: "admin" }));
    await wes.locator("button:has-text('Remove')").click();
    await wes.locator("button:has-text('Confirm: remove wes')").click();
    await wes.waitFor({ state: "detached" });
    // Org administrators need no membership, so they are not offered.
    expect(await page.locator("#member-user option", { hasText: "ada" }).count()).toBe(0);
  });

  uiTest("your settings: add an SSH key; create a token shown once, then revoke it", yourSettingsSteps);

  uiTest(
    "the audit log lists those actions, filters by action, and pages with Load more",
    async () => {
      // The actions it lists, this test's own: a failed sign-in, a sign-in, then the settings steps.
      await page.goto(`${server.url}/login`);
      await page.fill("#login", ADMIN.login);
      await page.fill("#password", "not the password at all");
      await page.click("form.password-form button[type=submit]");
      await page.locator("form.password-form [role=alert]").waitFor();
      await signInWithPassword(page, ADMIN);
      await envVarSteps();
      await contextSteps();
      await projectSettingsSteps();
      await yourSettingsSteps();
      await page.click("nav.site-nav a:has-text('Audit log')");
      await page.waitForSelector("table.audit tbody tr");
      const actions = await page.$$eval("table.audit tbody tr", (rows) =>
        rows.map((r) => r.getAttribute("data-action")),
      );
      for (const a of [
        "session.signed_in",
        "session.sign_in_failed",
        "secret.created",
        "secret.updated",
        "secret.deleted",
        "context.created",
        "deploy_key.added",
        "project.webhook_secret_rotated",
        "project.settings_changed",
        "ssh_key.added",
        "token.created",
        "token.revoked",
      ]) {
        expect(actions).toContain(a);
      }
      // Newest first, and the actor is named by login.
      expect(actions[0]).toBe("token.revoked");
      expect(await page.textContent("table.audit tbody tr:first-child")).toContain("ada");
      expect(await pageText(page)).not.toContain(SECRET_VALUE);
      await screenshot(page, "audit");

      await page.fill("#audit-action", "secret.created");
      await page.click(".audit-filters button:has-text('Filter')");
      await page.waitForURL(/\/audit\?action=secret.created/);
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll("table.audit tbody tr")];
        return rows.length > 0 && rows.every((r) => r.getAttribute("data-action") === "secret.created");
      });
      expect(await page.locator("table.audit tbody tr").count()).toBe(3); // DEPLOY_TOKEN, SHORT, the context's

      // An actor's name links to their events only.
      await page.click("table.audit tbody tr:first-child a.actor");
      await page.waitForURL(/\/audit\?actor_type=user&actor=/);
      await page.waitForSelector("table.audit tbody tr");
      expect(await page.inputValue("#audit-actor-type")).toBe("user");
      const actors = await page.$$eval("table.audit tbody tr a.actor", (as) => [
        ...new Set(as.map((a) => a.textContent)),
      ]);
      expect(actors).toEqual(["ada"]);

      // Three a page: "Load more" follows the cursor until the log runs out.
      await page.goto(`${server.url}/audit?limit=3`);
      await page.waitForSelector("table.audit tbody tr");
      expect(await page.locator("table.audit tbody tr").count()).toBe(3);
      await page.click("button:has-text('Load more')");
      await page.waitForFunction(() => document.querySelectorAll("table.audit tbody tr").length === 6);
      const ids = await page.$$eval("table.audit tbody tr", (rows) =>
        rows.map((r) => Number(r.getAttribute("data-id"))),
      );
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      expect(new Set(ids).size).toBe(6);
    },
    { signedOut: true },
  );

  uiTest("a job's artifacts and test results tabs, failures first", async () => {
    const jobId = await finishedJobWithResults();
    await page.goto(`${server.url}/jobs/${jobId}`);
    await page.waitForSelector(".log-viewer[data-ready=true]");
    await page.click("[role=tab]:has-text('Artifacts')");
    expect(new URL(page.url()).search).toBe("?tab=artifacts");
    const link = page.locator("a.artifact", { hasText: "reports/coverage.txt" });
    await link.waitFor();
    expect(await page.textContent("tr[data-path='dist/app.tar.gz']")).toContain("2.0 KiB");
    const res = await page.request.get(`${server.url}${await link.getAttribute("href")}`);
    expect(res.status()).toBe(200);
    expect(res.headers()["content-disposition"]).toContain("attachment");
    expect(await res.text()).toBe(REPORT);
    await screenshot(page, "job-artifacts");

    // Arrow keys move between tabs (roving focus).
    await page.focus("[role=tab][aria-selected=true]");
    await page.keyboard.press("ArrowRight");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-tab"))).toBe("tests");
    await page.waitForSelector(".test-results .test-summary");
    expect(await page.textContent(".test-summary")).toContain("1 of 4 failed");
    const order = await page.$$eval(".test-list > li", (lis) =>
      lis.map((li) => li.getAttribute("data-status")),
    );
    expect(order).toEqual(["failed", "skipped", "passed", "passed"]);
    expect(await page.textContent(".test[data-status=failed] .test-message")).toContain(
      "expected NaN to be Infinity",
    );
    expect(new URL(page.url()).search).toBe("?tab=tests");
    await fullScreenshot(page, "job-tests");
    // The tab is in the URL: a reload opens it again.
    await page.reload();
    await page.waitForSelector("[role=tab][data-tab=tests][aria-selected=true]");
    await page.waitForSelector(".test-results .test-summary");
  });

  uiTest(
    "re-run with SSH shows the `ssh -p` command once a builder with an SSH server holds the job",
    async () => {
      const finishedJob = await finishedJobWithResults();
      await addSshKey();
      await page.goto(`${server.url}/jobs/${finishedJob}`);
      await page.click("button:has-text('Re-run with SSH')");
      await page.waitForURL((u) => /\/jobs\/[\w-]+$/.test(u.pathname) && !u.pathname.endsWith(finishedJob));
      const rerun = new URL(page.url()).pathname.split("/").pop()!;
      await page.waitForSelector(".ssh-access[data-state=pending]");

      // acquire is a long poll: this only turns when the server says "nothing yet".
      const deadline = Date.now() + 60_000;
      let payload = null;
      while (!payload) {
        if (Date.now() > deadline)
          throw new Error(`waited 60 s for the builder to be offered re-run ${rerun}`);
        payload = await builder.acquire({ free_slots: 1, driver: "process", ssh_endpoint: "127.0.0.1:2222" });
      }
      expect(payload.job.id).toBe(rerun);
      expect(payload.ssh).toBeDefined();

      const command = page.locator(".ssh-access .ssh-command code");
      await command.waitFor({ timeout: 20_000 });
      expect(await command.textContent()).toBe(`ssh -p 2222 ${rerun}@127.0.0.1`);
      // Ada added an SSH key in her settings, so no warning that she has none.
      expect(await page.locator(".ssh-access .no-ssh-key").count()).toBe(0);
      await page.waitForSelector(".ssh-access[data-state=running]");
      // A keyboard user on the copy button stays there while the page redraws with the job's progress.
      await page.focus(".ssh-access button.copy");
      await builder.step(rerun, { index: 0, name: "make test", status: "running", log_offset: 0 });
      await builder.step(rerun, {
        index: 0,
        name: "make test",
        status: "success",
        exit_code: 0,
        log_offset: 0,
      });
      await page.waitForSelector(".ssh-access[data-state=waiting]", { timeout: 20_000 });
      expect(
        await page.evaluate(() => document.activeElement?.matches(".ssh-access button.copy") ?? false),
      ).toBe(true);
      await page.click(".ssh-access button.copy");
      await page.waitForSelector(".ssh-access button.copy:text-is('Copied')");
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
        `ssh -p 2222 ${rerun}@127.0.0.1`,
      );
      await screenshot(page, "job-ssh");
      await builder.finish(rerun, { status: "success", unsandboxed: true, log_bytes: 0 });
      await page.waitForSelector(".ssh-access[data-state=closed]", { timeout: 20_000 });
    },
  );

  uiTest("the pipeline page approves a job on hold, then re-runs the workflow's failed jobs", async () => {
    const p = await json<{ id: string }>(
      server.api(`/api/v1/projects/${projectId}/pipelines`, { method: "POST", json: { branch: "gated" } }),
    );
    await page.goto(`${server.url}/pipelines/${p.id}`);
    await page.waitForSelector(".job-node[data-job=hold] .status-on-hold");
    await page.click("button:has-text('Approve hold')");
    await page.waitForSelector(".job-node[data-job=hold][data-status=success]");
    expect(await page.locator("button:has-text('Approve hold')").count()).toBe(0);

    const ship = await acquireJob(builder);
    expect(ship.job.name).toBe("ship");
    await builder.finish(ship.job.id, { status: "failed", unsandboxed: true, log_bytes: 0 });
    await page.waitForSelector(".job-node[data-job=ship][data-status=failed]");
    await page.click("button:has-text('Re-run failed jobs')");
    // The graph shows the new attempt in place of the failed one; the approval is not asked again.
    await page.waitForSelector(".job-node[data-job=ship][data-status=queued] .attempt:text-is('attempt 2')");
    expect(await page.locator(".job-node[data-job=ship]").count()).toBe(1);
    expect(await page.locator(".job-node[data-job=hold][data-status=success]").count()).toBe(1);
    await screenshot(page, "pipeline-rerun");
    const again = await json<{ jobs: { id: string; name: string; superseded_by: string | null }[] }>(
      server.api(`/api/v1/pipelines/${p.id}`),
    );
    const next = again.jobs.find((j) => j.name === "ship" && !j.superseded_by)!;
    await server.api(`/api/v1/jobs/${next.id}/cancel`, { method: "POST" });
  });

  uiTest(
    "the builders page shows what each builder runs, and revokes one after a second, confirming press",
    async () => {
      const retired = await registerSimBuilder(server.url, server.token, "sim-retired");
      await server.api(`/api/v1/projects/${projectId}/pipelines`, {
        method: "POST",
        json: { branch: "main" },
      });
      const running = await acquireJob(builder);
      await page.goto(`${server.url}/builders`);
      const busy = page.locator("table.builders tr", { hasText: "sim-settings" });
      await busy.locator(`.running-jobs li[data-job="${running.job.id}"] a`).waitFor();
      expect(await busy.locator(".running-jobs a").getAttribute("href")).toBe(`/jobs/${running.job.id}`);
      expect(await busy.locator("td[data-used]").textContent()).toMatch(/^1 \/ \d+$/);
      await screenshot(page, "builders-running");
      await builder.finish(running.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
      await page.reload();
      const row = page.locator("table.builders tr", { hasText: "sim-retired" });
      await row.waitFor();
      await row.locator("button:has-text('Revoke')").click();
      await row.locator("button:has-text('Confirm: revoke sim-retired')").click();
      await page
        .locator("table.builders tr", { hasText: "sim-retired" })
        .locator(".status:text-is('revoked')")
        .waitFor();
      expect(
        await page.locator("table.builders tr", { hasText: "sim-settings" }).locator("button").count(),
      ).toBe(1);
      await expect(retired.acquire({ free_slots: 1, driver: "process" })).rejects.toThrow(/revoked/);
      await screenshot(page, "builders-revoked");
    },
  );

  uiTest("the trigger form sends pipeline parameters, and says which line is malformed", async () => {
    await page.goto(`${server.url}/projects/${projectId}`);
    await page.waitForSelector("form.trigger");
    await page.fill("#trigger-branch", "params");
    await page.click("details.trigger-params summary");
    await page.fill("#trigger-params", "greeting=bonjour\nnot a pair");
    await page.click("form.trigger button[type=submit]");
    await page.waitForSelector("form.trigger .error:has-text('line 2')");
    await page.fill("#trigger-params", "greeting=bonjour\nloud=true");
    await screenshot(page, "trigger-parameters");
    await page.click("form.trigger button[type=submit]");
    await page.waitForURL(/\/pipelines\//);
    let job = await acquireJob(builder);
    while (job.job.name !== "say") {
      await builder.finish(job.job.id, { status: "canceled", unsandboxed: true, log_bytes: 0 });
      job = await acquireJob(builder);
    }
    expect(JSON.stringify(job)).toContain("echo bonjour loud=true");
    await builder.finish(job.job.id, { status: "success", unsandboxed: true, log_bytes: 0 });
  });

  uiTest(
    "a project reader sees the settings read-only and no audit log",
    async () => {
      // The project has a variable for the reader to see listed.
      await json(
        server.api(`/api/v1/projects/${projectId}/envvars`, {
          method: "POST",
          json: { name: "DEPLOY_TOKEN", value: SECRET_VALUE },
        }),
      );
      await signInWithPassword(page, READER);
      expect(await page.locator("nav.site-nav a:has-text('Audit log')").isVisible()).toBe(false);
      await page.goto(`${server.url}/projects/${projectId}/settings`);
      await page.waitForSelector(".read-only");
      expect(await page.textContent(".read-only")).toContain("read role");
      await page.locator("#envvars tr[data-var=DEPLOY_TOKEN]").waitFor();
      expect(await page.locator("#envvar-value").count()).toBe(0);
      expect(await page.locator("button:has-text('Save settings')").count()).toBe(0);
      expect(await page.locator("button:has-text('Rotate secret')").count()).toBe(0);
      expect(await page.locator("#branch-filters").isDisabled()).toBe(true);
      await fullScreenshot(page, "project-settings-read-only");

      await page.goto(`${server.url}/audit`);
      await page.waitForSelector(".notice:has-text('Only org administrators')");
    },
    { signedOut: true },
  );

  uiTest(
    "a session signed in with a read-scoped token sees the settings read-only, whatever the role",
    async () => {
      const { token } = await json<{ token: string }>(
        server.api("/api/v1/tokens", { method: "POST", json: { name: "ui read", scopes: ["read"] } }),
      );
      await page.goto(`${server.url}/login`);
      await page.fill("#token", token);
      await page.click("form.login-form button[type=submit]");
      await page.waitForURL(`${server.url}/`);
      await page.goto(`${server.url}/projects/${projectId}/settings`);
      await page.waitForSelector(".read-only");
      expect(await page.textContent(".read-only")).toContain("token scoped read");
      expect(await page.locator("button:has-text('Save settings')").count()).toBe(0);
      expect(await page.locator("button:has-text('Create context')").count()).toBe(0);
    },
    { signedOut: true },
  );

  uiTest(
    "dark theme and phone width: the new pages lay out without horizontal scrolling; inputs are labelled",
    async () => {
      // What the pages show: a deploy key, a token (Ada's, made on her settings page), a job's tests.
      await json(server.api(`/api/v1/projects/${projectId}/deploy-key`, { method: "POST" }));
      await yourSettingsSteps();
      const finishedJob = await finishedJobWithResults();
      // The phone is a second page in Ada's context, so signed in too; closed with the context.
      const phone = await context.newPage();
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.emulateMedia({ colorScheme: "dark" });
      const phoneErrors = collectPageErrors(phone);
      const fits = () => phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      const unlabeled = () =>
        phone.$$eval(
          "input, textarea, select",
          (els) =>
            els.filter(
              (i) =>
                !(i.id && document.querySelector(`label[for="${i.id}"]`)) &&
                !i.getAttribute("aria-label") &&
                (i as HTMLInputElement).type !== "hidden",
            ).length,
        );
      for (const [path, ready, name] of [
        [`/projects/${projectId}/settings`, "#deploy-key .public-key", "project-settings-phone-dark"],
        ["/settings", "#tokens tr[data-token]", "account-settings-phone-dark"],
        ["/audit", "table.audit tbody tr", "audit-phone-dark"],
        [`/jobs/${finishedJob}?tab=tests`, ".test-results .test-summary", "job-tests-phone-dark"],
      ]) {
        await phone.goto(`${server.url}${path}`);
        await phone.waitForSelector(ready);
        expect(await fits()).toBe(true);
        expect(await unlabeled()).toBe(0);
        await fullScreenshot(phone, name);
      }
      await signOut(phone);
      await phone.waitForSelector("#login");
      expect(await fits()).toBe(true);
      await screenshot(phone, "login-phone-dark");
      errors.push(...phoneErrors);
    },
  );
});
