// Pipelines made from outside — an API trigger (once per Idempotency-Key) and a signed forge
// delivery — on a real libSQL file, a real git repository and the real git mirror, without HTTP.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { createRepo } from "../../tests/support/git.ts";
import { pipelines } from "../db/schema.ts";
import { createGitMirror, type SourcePort } from "../source/git-mirror.ts";
import { EventLog } from "./events.ts";
import { triggerPipeline } from "./pipeline-requests.ts";
import { PipelineSetup } from "./pipeline-setup.ts";
import { openPipeline } from "./pipelines.ts";
import { createProject, setFollowed, updateSettings } from "./projects.ts";
import { findPipeline, pipelineTree } from "./runs.ts";
import { templateTable } from "./templates.ts";
import { serviceFixture } from "./testing.ts";
import { type Delivery, receiveDelivery } from "./webhooks.ts";

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo hello
workflows:
  main:
    jobs: [build]
`;

/** A mirror whose `resolve` waits while the test holds the gate: the fetch, not yet done. */
function gatedSource(source: SourcePort) {
  let open: () => void = () => {};
  let gate = Promise.resolve();
  return {
    source: {
      ...source,
      resolve: async (...a: Parameters<SourcePort["resolve"]>) => {
        await gate;
        return source.resolve(...a);
      },
    } satisfies SourcePort,
    hold() {
      gate = new Promise<void>((r) => {
        open = r;
      });
    },
    release: () => open(),
  };
}

async function setup() {
  const f = await serviceFixture();
  const repo = createRepo();
  const sha = repo.commit({ ".circleci/config.yml": CONFIG }, "add config");
  const { project } = await createProject(f.db, f.keyring, {
    name: "p",
    repoUrl: repo.bare,
    defaultBranch: "main",
  });
  const events = new EventLog(f.db);
  let notified = 0;
  const gated = gatedSource(createGitMirror(mkdtempSync(join(tmpdir(), "cairn-mirror-"))));
  const base = {
    db: f.db,
    keyring: f.keyring,
    source: gated.source,
    templates: templateTable({}),
    events,
    // The scheduler is told to look for work; counted here, not run.
    scheduler: { notify: () => void notified++ },
  };
  const deps = { ...base, setup: new PipelineSetup(base) };
  const all = async () => await events.since(0, null);
  const created = async () => (await all()).filter((e) => e.type === "pipeline.created");
  const row = async (id: string) => (await findPipeline(f.db, id))!;
  return { ...f, repo, sha, project, deps, gated, all, created, row, notified: () => notified };
}

describe("triggering through the API", () => {
  test("answers with the pipeline `created` before the mirror is fetched; the setup then plans it", async () => {
    const { project, deps, gated, all, row, sha, db } = await setup();
    gated.hold();
    const { pipeline } = await triggerPipeline(deps, project, { branch: "main" });
    // The answer came while the fetch is held: nothing is planned yet.
    expect(pipeline).toMatchObject({ status: "created", sha: "", branch: "main", number: 1 });
    // The setup starts and waits on the held fetch.
    while ((await row(pipeline.id)).status === "created") await Bun.sleep(5);
    expect((await row(pipeline.id)).status).toBe("fetching");
    expect((await pipelineTree(db, await row(pipeline.id))).jobs).toEqual([]);
    gated.release();
    await deps.setup.settled(pipeline.id);
    const planned = await row(pipeline.id);
    expect(planned).toMatchObject({ status: "queued", sha, configPath: ".circleci/config.yml" });
    expect((await pipelineTree(db, planned)).jobs.map((j) => j.name)).toEqual(["build"]);
    // Its progress, in order: what a viewer of /api/v1/events sees.
    expect((await all()).map((e) => `${e.type} ${e.status}`)).toEqual([
      "pipeline.setup created",
      "pipeline.setup fetching",
      "pipeline.setup planning",
      "pipeline.created queued",
    ]);
  });

  test("one key makes one pipeline: the second request replays it, planned or not", async () => {
    const { project, deps, gated, created, notified } = await setup();
    gated.hold();
    const first = await triggerPipeline(deps, project, { branch: "main" }, "key-1");
    expect(first.replayed).toBe(false);
    const early = await triggerPipeline(deps, project, { branch: "main" }, "key-1");
    expect(early).toMatchObject({ pipeline: { id: first.pipeline.id }, replayed: true });
    gated.release();
    await deps.setup.settled(first.pipeline.id);
    const again = await triggerPipeline(deps, project, { branch: "main" }, "key-1");
    expect(again).toMatchObject({ pipeline: { id: first.pipeline.id, status: "queued" }, replayed: true });
    const other = await triggerPipeline(deps, project, { branch: "main" });
    await deps.setup.settled(other.pipeline.id);
    expect(other.pipeline.id).not.toBe(first.pipeline.id);
    expect((await created()).map((e) => e.pipeline_id)).toEqual([first.pipeline.id, other.pipeline.id]);
    expect(notified()).toBe(2);
  });

  test("bad refs are refused before the key is claimed; an unknown branch is an `error` pipeline", async () => {
    const { project, deps, sha, row, all } = await setup();
    await expect(
      triggerPipeline(deps, project, { branch: "main", tag: "v1" }, "key-2"),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(triggerPipeline(deps, project, { branch: "main" }, "")).rejects.toMatchObject({
      code: "invalid_idempotency_key",
    });
    const missing = await triggerPipeline(deps, project, { branch: "no-such-branch" }, "key-3");
    expect(missing.pipeline.status).toBe("created");
    await deps.setup.settled(missing.pipeline.id);
    const failed = await row(missing.pipeline.id);
    expect(failed.status).toBe("error");
    expect(JSON.parse(failed.configErrors!)[0].message).toMatch(/^ref_not_found: branch no-such-branch/);
    expect((await all()).at(-1)).toMatchObject({ type: "pipeline.finished", status: "error" });
    const made = await triggerPipeline(deps, project, { branch: "main" }, "key-2");
    expect(made.replayed).toBe(false);
    await deps.setup.settled(made.pipeline.id);
    expect((await row(made.pipeline.id)).sha).toBe(sha);
  });

  test("an invalid config: answered `created`, then `error` with every problem", async () => {
    const { project, deps, repo, row } = await setup();
    repo.commit(
      { ".circleci/config.yml": "version: 2.1\njobs:\n  build:\n    steps: [\n" },
      "broken yaml",
      "broken",
    );
    const { pipeline } = await triggerPipeline(deps, project, { branch: "broken" });
    expect(pipeline.status).toBe("created");
    await deps.setup.settled(pipeline.id);
    const failed = await row(pipeline.id);
    expect(failed).toMatchObject({ status: "error", configPath: ".circleci/config.yml" });
    const errors = JSON.parse(failed.configErrors!) as { file: string; line: number }[];
    expect(errors[0].file).toBe(".circleci/config.yml");
    expect(errors[0].line).toBeGreaterThan(0);
  });

  test("a server started with pipelines still in setup resumes them", async () => {
    const { project, deps, db, row, sha } = await setup();
    // Answered, then the server stopped: one never started, one cut short while fetching.
    const waiting = await openPipeline(db, project, { branch: "main" });
    const cut = await openPipeline(db, project, { branch: "main" });
    await db.update(pipelines).set({ status: "fetching" }).where(eq(pipelines.id, cut.id));
    const restarted = new PipelineSetup(deps);
    expect(await restarted.resume()).toBe(2);
    await Promise.all([restarted.settled(waiting.id), restarted.settled(cut.id)]);
    for (const p of [waiting, cut]) expect(await row(p.id)).toMatchObject({ status: "queued", sha });
  });
});

describe("a signed delivery", () => {
  const delivery = (
    over: Partial<Extract<Delivery["decision"], { kind: "build" }>> = {},
    id: string = crypto.randomUUID(),
  ): Delivery => ({
    source: "generic",
    event: "push",
    id,
    decision: { kind: "build", sha: "", branch: "main", ...over },
    publicBase: "https://cairn.example",
  });

  test("is built once per delivery id; skipped, filtered and unfollowed ones make nothing", async () => {
    const { db, keyring, by, project, deps, sha, created } = await setup();
    const push = delivery({ sha }, "d-1");
    const made = await receiveDelivery(deps, project, push);
    expect(made.status).toBe("created");
    expect(await receiveDelivery(deps, project, push)).toEqual({ status: "duplicate" });
    expect((await receiveDelivery(deps, project, delivery({ sha, message: "wip [skip ci]" }))).status).toBe(
      "skipped",
    );
    const filtered = await updateSettings(db, keyring, project, { branch_filters: ["release/*"] }, by);
    expect(await receiveDelivery(deps, filtered, delivery({ sha }))).toMatchObject({ status: "ignored" });
    await setFollowed(db, project.id, false, by);
    expect(await receiveDelivery(deps, { ...project, followed: false }, delivery({ sha }))).toEqual({
      status: "ignored",
      reason: "the project is not followed",
    });
    expect(await created()).toHaveLength(1);
  });

  test("a fork's pull request is built and marked from_fork, even when its info does not say fork", async () => {
    const { db, project, deps, sha } = await setup();
    const pr = {
      number: 7,
      url: null,
      head_ref: "feature",
      head_repo: "fork/p",
      base_ref: "main",
      base_repo: "acme/p",
      title: null,
    };
    const made = await receiveDelivery(deps, project, delivery({ sha, branch: "pull/7", pull_request: pr }));
    expect(made.status).toBe("created");
    const id = (made as { pipeline: { id: string } }).pipeline.id;
    const row = await db.query.pipelines.findFirst({ where: eq(pipelines.id, id) });
    expect(row).toMatchObject({ fromFork: true, branch: "pull/7", trigger: "pull_request" });
    expect(JSON.parse(row!.metadata!).pull_request).toMatchObject({ fork: true });
    const same = await receiveDelivery(
      deps,
      project,
      delivery({ sha, pull_request: { ...pr, head_repo: "acme/p" } }),
    );
    const sameRow = await db.query.pipelines.findFirst({
      where: eq(pipelines.id, (same as { pipeline: { id: string } }).pipeline.id),
    });
    expect(sameRow?.fromFork).toBe(false);
  });
});

test("`<< pipeline.trigger_source >>` says how the pipeline came, in CircleCI's words", async () => {
  const { db, repo, project, deps, row } = await setup();
  const sha = repo.commit(
    { ".circleci/config.yml": CONFIG.replace("echo hello", "echo << pipeline.trigger_source >>") },
    "say the trigger source",
  );
  const stepOf = async (pipelineId: string) => {
    const [job] = (await pipelineTree(db, await row(pipelineId))).jobs;
    const spec = (await db.query.jobs.findFirst({ where: (j, { eq }) => eq(j.id, job.id) }))!.spec;
    return JSON.stringify(JSON.parse(spec).steps);
  };
  const { pipeline } = await triggerPipeline(deps, project, { branch: "main" });
  await deps.setup.settled(pipeline.id);
  expect(await stepOf(pipeline.id)).toContain("echo api");
  const made = await receiveDelivery(deps, project, {
    source: "generic",
    event: "push",
    id: "d-source",
    decision: { kind: "build", sha, branch: "main" },
    publicBase: "https://cairn.example",
  });
  expect(made.status).toBe("created");
  const pushed = (await db.select().from(pipelines)).find((p) => p.trigger === "webhook")!;
  expect(await stepOf(pushed.id)).toContain("echo webhook");
});
