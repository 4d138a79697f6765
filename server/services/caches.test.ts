// Caches, workspaces and test timings on a real libSQL file and a real filesystem blob store.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsBlobStore } from "../blobs/fs.ts";
import { type Db, openDb } from "../db/client.ts";
import { caches, jobs, pipelines, projects, workflows } from "../db/schema.ts";
import { CacheService } from "./caches.ts";
import { TestResultService } from "./test-results.ts";
import { WorkspaceService } from "./workspaces.ts";

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "cairn-caches-"));
  const { db } = await openDb(`file:${join(dir, "cairn.db")}`);
  const blobs = createFsBlobStore(join(dir, "blobs"));
  const projectId = crypto.randomUUID();
  await db.insert(projects).values({ id: projectId, name: "p", repoUrl: "/dev/null" });
  return { db, blobs, projectId };
}

let pipelineNumber = 0;
async function workflow(
  db: Db,
  projectId: string,
  specs: { name: string; requires?: string[]; status?: string; supersededBy?: string }[],
) {
  const pipelineId = crypto.randomUUID();
  await db
    .insert(pipelines)
    .values({ id: pipelineId, projectId, number: ++pipelineNumber, sha: "0".repeat(40), configPath: "x" });
  const workflowId = crypto.randomUUID();
  await db.insert(workflows).values({ id: workflowId, pipelineId, name: "w" });
  const rows: Record<string, typeof jobs.$inferSelect> = {};
  for (const s of specs) {
    const id = crypto.randomUUID();
    await db.insert(jobs).values({
      id,
      pipelineId,
      workflowId,
      projectId,
      name: s.name,
      spec: "{}",
      template: "t",
      requires: JSON.stringify(s.requires ?? []),
      status: (s.status ?? "success") as "success",
      supersededBy: s.supersededBy ?? null,
    });
    rows[s.supersededBy ? `${s.name}-old` : s.name] = (await db.query.jobs.findFirst({
      where: (j, { eq }) => eq(j.id, id),
    }))!;
  }
  return { pipelineId, workflowId, rows };
}

describe("caches", () => {
  test("restore: each key is a prefix, tried in order; the newest match of the first key that has one wins", async () => {
    const { db, blobs, projectId } = await setup();
    const svc = new CacheService(db, blobs);
    const save = async (key: string, at: number) => {
      const upload = svc.uploadKey(projectId, "job-1");
      await blobs.put(upload, key);
      await db.insert(caches).values({
        id: crypto.randomUUID(),
        projectId,
        key,
        blobKey: upload,
        size: 1,
        jobId: "job-1",
        createdAt: at,
      });
      return upload;
    };
    await save("deps-aaa", 1000);
    await save("deps-bbb", 2000);
    await save("other-x", 3000);
    expect((await svc.restore(projectId, ["deps-"]))?.key).toBe("deps-bbb");
    expect((await svc.restore(projectId, ["deps-aaa", "other-"]))?.key).toBe("deps-aaa");
    expect((await svc.restore(projectId, ["nope-", "other-"]))?.key).toBe("other-x");
    expect(await svc.restore(projectId, ["nope"])).toBeNull();
    // A prefix is literal: LIKE wildcards in a key match nothing special.
    expect(await svc.restore(projectId, ["deps-%"])).toBeNull();
    expect(await svc.restore(projectId, ["deps-_aa"])).toBeNull();
    // Another project sees none of them.
    expect(await svc.restore(crypto.randomUUID(), ["deps-"])).toBeNull();
    // A row whose blob is gone is skipped: the next newest is used.
    const newest = await save("deps-ccc", 4000);
    await blobs.delete(newest);
    expect((await svc.restore(projectId, ["deps-"]))?.key).toBe("deps-bbb");
  });

  test("a key is immutable: the first commit wins, a later upload of the same key is deleted", async () => {
    const { db, blobs, projectId } = await setup();
    const svc = new CacheService(db, blobs);
    const first = svc.uploadKey(projectId, "job-a");
    const second = svc.uploadKey(projectId, "job-b");
    await blobs.put(first, "first");
    await blobs.put(second, "second");
    expect(await svc.exists(projectId, "k")).toBe(false);
    expect(await svc.commit(projectId, "job-a", "k", first, 5)).toBe(true);
    expect(await svc.commit(projectId, "job-b", "k", second, 6)).toBe(false);
    expect(await svc.exists(projectId, "k")).toBe(true);
    expect(await blobs.has(second)).toBe(false);
    const hit = await svc.restore(projectId, ["k"]);
    expect(hit?.blobKey).toBe(first);
    expect(new TextDecoder().decode((await blobs.get(first))!)).toBe("first");
  });

  test("an upload id belongs to one project and job", async () => {
    const { db, blobs, projectId } = await setup();
    const svc = new CacheService(db, blobs);
    const id = svc.uploadKey(projectId, "job-a");
    expect(svc.isUploadOf(projectId, "job-a", id)).toBe(true);
    expect(svc.isUploadOf(projectId, "job-b", id)).toBe(false);
    expect(svc.isUploadOf("other", "job-a", id)).toBe(false);
    expect(svc.isUploadOf(projectId, "job-a", `caches/${projectId}/job-a/x/../../../y`)).toBe(false);
  });
});

describe("workspaces", () => {
  test("attach gets the layers of every job required, transitively, oldest first; not a failed or superseded attempt's", async () => {
    const { db, projectId } = await setup();
    const { rows } = await workflow(db, projectId, [
      { name: "a" },
      { name: "a", supersededBy: "x" },
      { name: "b", requires: ["a"] },
      { name: "side" },
      { name: "broken", status: "failed" },
      { name: "c", requires: ["b", "broken"], status: "queued" },
    ]);
    const ws = new WorkspaceService(db);
    const la = await ws.addLayer(rows.a, 10);
    await ws.addLayer(rows["a-old"], 99);
    await Bun.sleep(2);
    const lb = await ws.addLayer(rows.b, 20);
    await ws.addLayer(rows.side, 30);
    await ws.addLayer(rows.broken, 40);
    const layers = await ws.layersFor(rows.c);
    expect(layers.map((l) => [l.jobName, l.blobKey, l.size])).toEqual([
      ["a", la, 10],
      ["b", lb, 20],
    ]);
    expect(await ws.layersFor(rows.a)).toEqual([]);
  });
});

describe("test timings", () => {
  test("from the latest earlier run of the job name, summed over its slices, per file, classname and test", async () => {
    const { db, projectId } = await setup();
    const svc = new TestResultService(db);
    const old = await workflow(db, projectId, [{ name: "test" }]);
    await svc.ingest(
      old.rows.test,
      `<testsuite><testcase name="x" classname="X" file="a.js" time="100"/></testsuite>`,
    );
    const last = await workflow(db, projectId, [{ name: "test" }, { name: "test" }, { name: "lint" }]);
    const [s0, s1] = (
      await db.query.jobs.findMany({
        where: (j, { eq, and }) => and(eq(j.pipelineId, last.pipelineId), eq(j.name, "test")),
      })
    ).map((j) => j);
    await svc.ingest(
      s0,
      `<testsuite><testcase name="one" classname="A" file="a.js" time="1.5"/><testcase name="two" classname="A" file="b.js" time="2"/></testsuite>`,
    );
    await svc.ingest(
      s1,
      `<testsuite><testcase name="three" classname="B" file="a.js" time="0.5"/></testsuite>`,
    );
    await svc.ingest(
      last.rows.lint,
      `<testsuite><testcase name="l" classname="L" file="lint.js" time="9"/></testsuite>`,
    );
    const current = await workflow(db, projectId, [{ name: "test", status: "running" }]);
    expect(await svc.timings(projectId, "test", current.pipelineId)).toEqual({
      file: { "a.js": 2, "b.js": 2 },
      classname: { A: 3.5, B: 0.5 },
      testname: { one: 1.5, two: 2, three: 0.5 },
    });
    expect(await svc.timings(projectId, "deploy", current.pipelineId)).toBeUndefined();
    const listed = await svc.list(s0.id);
    expect(listed.summary).toEqual({ total: 2, passed: 2, failed: 0, error: 0, skipped: 0, time: 3.5 });
  });
});
