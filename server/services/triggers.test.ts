// Pipelines made from outside — an API trigger (once per Idempotency-Key) and a signed forge
// delivery — on a real libSQL file, a real git repository and the real git mirror, without HTTP.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { createRepo } from "../../tests/support/git.ts";
import { pipelines } from "../db/schema.ts";
import { createGitMirror } from "../source/git-mirror.ts";
import { EventLog } from "./events.ts";
import { triggerPipeline } from "./pipeline-requests.ts";
import { createProject, setFollowed, updateSettings } from "./projects.ts";
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
  const deps = {
    db: f.db,
    keyring: f.keyring,
    source: createGitMirror(mkdtempSync(join(tmpdir(), "cairn-mirror-"))),
    templates: templateTable({}),
    events,
    // The scheduler is told to look for work; counted here, not run.
    scheduler: { notify: () => void notified++ },
  };
  const created = async () => (await events.since(0, null)).filter((e) => e.type === "pipeline.created");
  return { ...f, repo, sha, project, deps, created, notified: () => notified };
}

describe("triggering through the API", () => {
  test("one key makes one pipeline: the second request replays it", async () => {
    const { project, deps, created, notified } = await setup();
    const first = await triggerPipeline(deps, project, { branch: "main" }, "key-1");
    expect(first.replayed).toBe(false);
    const again = await triggerPipeline(deps, project, { branch: "main" }, "key-1");
    expect(again).toEqual({ pipeline: first.pipeline, replayed: true });
    const other = await triggerPipeline(deps, project, { branch: "main" });
    expect(other.pipeline.id).not.toBe(first.pipeline.id);
    expect((await created()).map((e) => e.pipeline_id)).toEqual([first.pipeline.id, other.pipeline.id]);
    expect(notified()).toBe(2);
  });

  test("bad refs are refused before the key is claimed; a failed creation frees it", async () => {
    const { project, deps, sha } = await setup();
    await expect(
      triggerPipeline(deps, project, { branch: "main", tag: "v1" }, "key-2"),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(triggerPipeline(deps, project, { branch: "main" }, "")).rejects.toMatchObject({
      code: "invalid_idempotency_key",
    });
    await expect(triggerPipeline(deps, project, { branch: "no-such-branch" }, "key-2")).rejects.toMatchObject(
      {
        status: 422,
      },
    );
    const made = await triggerPipeline(deps, project, { branch: "main" }, "key-2");
    expect(made.replayed).toBe(false);
    expect(made.pipeline.sha).toBe(sha);
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
