// Caches end to end with a real LXC builder over a real sshd: a `{{ checksum "package.json" }}` key
// saved by one pipeline and restored by the next, through the filesystem store and through s3rver
// (presigned URLs: the builder holds no S3 credentials; the archive is past the in-memory spool size, so
// it is read back from the fleet host in chunks). Blob URLs refuse another key, another
// method, a finished job and an expired signature.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { routes } from "../protocol/index.ts";
import { createS3BlobStore } from "../server/blobs/s3.ts";
import { loadOrCreateMasterKey } from "../server/secrets/index.ts";
import { BlobUrls } from "../server/services/blob-urls.ts";
import { cleanUp } from "./harness/clean-up.ts";
import { cairnContainers, destroyContainers, ensureBaseTemplate, requireLxc } from "./harness/lxc.ts";
import { startSshd, type TestSshd } from "./harness/sshd.ts";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { acquireJob, registerSimBuilder } from "./support/builder-sim.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { until } from "./support/lxc-stack.ts";
import { startS3rver, type TestS3 } from "./support/s3rver.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });

const PACKAGE_JSON = '{ "name": "demo", "dependencies": { "left-pad": "1.3.0" } }\n';
const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - restore_cache:
          keys:
            - deps-v1-{{ checksum "package.json" }}
            - deps-v1-
      - run: |
          if [ -f node_modules/left-pad/marker ]; then echo "cache hit: $(cat node_modules/left-pad/marker)"
          else mkdir -p node_modules/left-pad && echo "built by $CIRCLE_BUILD_NUM" > node_modules/left-pad/marker && head -c 400000 /dev/urandom > node_modules/left-pad/blob && echo "cache miss"; fi
          sha256sum node_modules/left-pad/blob
      - save_cache:
          key: deps-v1-{{ checksum "package.json" }}-{{ .Branch }}-{{ arch }}
          paths: [node_modules]
      - save_cache:
          key: deps-v1-{{ checksum "package.json" }}
          paths: [node_modules, ~/nothing-here]
workflows:
  w:
    jobs: [build]
`;

type Job = { id: string; status: string };

async function runPipeline(server: TestServer, projectId: string): Promise<{ job: Job; log: string }> {
  const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
    method: "POST",
    json: { branch: "main" },
  });
  expect(res.status).toBe(201);
  const p = (await res.json()) as { jobs: Job[] };
  const id = p.jobs[0].id;
  // Minutes: a safety net for a loaded machine (the job takes seconds), not a speed claim.
  const job = await until(
    "the job to finish",
    async (note) => {
      const j = (await (await server.api(`/api/v1/jobs/${id}`)).json()) as Job;
      note(`job ${id} ${j.status}`);
      return ["success", "failed", "canceled", "lost"].includes(j.status) && j;
    },
    180_000,
  );
  return { job, log: await (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text() };
}

const stores: [string, boolean][] = [
  ["filesystem", false],
  ["s3rver", true],
];

describe.skipIf(skip).each(stores)("cache round trip through the %s store", (_name, useS3) => {
  let sshd: TestSshd;
  let s3: TestS3 | undefined;
  let server: TestServer;
  let builder: BuilderProcess;
  let projectId: string;
  let repo: TestRepo | undefined;

  beforeAll(async () => {
    await ensureBaseTemplate();
    sshd = await startSshd();
    const env: Record<string, string> = {};
    if (useS3) {
      s3 = await startS3rver();
      Object.assign(env, {
        CAIRN_S3_BUCKET: s3.bucket,
        CAIRN_S3_ENDPOINT: s3.endpoint,
        CAIRN_S3_ACCESS_KEY_ID: s3.accessKeyId,
        CAIRN_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        CAIRN_S3_PREFIX: "cairn/",
      });
    }
    server = await startTestServer({ env });
    repo = createRepo();
    repo.commit({ "package.json": PACKAGE_JSON, ".circleci/config.yml": CONFIG });
    const res = await server.api("/api/v1/projects", {
      method: "POST",
      json: { name: "cached", repo_url: repo.bare },
    });
    projectId = ((await res.json()) as { id: string }).id;
    builder = await startBuilder({
      server: server.url,
      adminToken: server.token,
      name: "cache-builder",
      sshd,
    });
  });

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => destroyContainers(), // whatever a failed test left in this run's lxcpath
      () => server?.stop(),
      () => s3?.stop(),
      () => sshd?.stop(),
      () => repo?.remove(),
    ]),
  );

  test("the first pipeline saves the cache, the second restores it byte for byte", async () => {
    const checksum = createHash("sha256").update(PACKAGE_JSON).digest("base64");
    const first = await runPipeline(server, projectId);
    expect(first.job.status, first.log).toBe("success");
    expect(first.log).toContain(`No cache found for deps-v1-${checksum}, deps-v1-.`);
    expect(first.log).toContain("cache miss");
    expect(first.log).toContain(`Saved cache deps-v1-${checksum}-main-arch1-linux-`);
    expect(first.log).toContain(`Saved cache deps-v1-${checksum} (`);
    const blobSum = /([0-9a-f]{64}) {2}node_modules\/left-pad\/blob/.exec(first.log)?.[1];
    expect(blobSum).toBeDefined();

    const second = await runPipeline(server, projectId);
    expect(second.job.status, second.log).toBe("success");
    // Both keys of the first run start with the first restore key: the newest wins.
    expect(second.log).toMatch(new RegExp(`Found cache deps-v1-${checksum.replace(/[+/]/g, "\\$&")} \\(`));
    expect(second.log).toContain("cache hit: built by 1");
    expect(second.log).toContain(`${blobSum}  node_modules/left-pad/blob`);
    // Caches are immutable: saving an existing key is a no-op.
    expect(second.log).toContain(`Cache key deps-v1-${checksum} already exists`);
    expect(await cairnContainers()).toEqual([]);

    if (s3) {
      // The bytes are in the bucket (under the configured prefix), not on the server's disk.
      const store = createS3BlobStore({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      });
      expect((await store.list("cairn/caches/")).length).toBe(2);
    }
  }, 600_000); // a safety net only: each pipeline's wait fails first, saying what it saw
});

describe("blob URLs", () => {
  let server: TestServer;
  let s3: TestS3;

  beforeAll(async () => {
    server = await startTestServer();
    s3 = await startS3rver();
  });
  /** Repositories the tests made: removed with the rest, even when a test failed. */
  const repos: TestRepo[] = [];
  const newRepo = () => {
    const repo = createRepo();
    repos.push(repo);
    return repo;
  };
  afterAll(() => cleanUp([() => server?.stop(), () => s3?.stop(), ...repos.map((r) => () => r.remove())]));

  test("a capability URL names one key, one method and one live job; tampered, expired or stale ones are refused", async () => {
    const repo = newRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  a:\n    machine: true\n    steps: [{run: 'true'}]\nworkflows:\n  w:\n    jobs: [a]\n",
    });
    const p = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "urls", repo_url: repo.bare } })
    ).json()) as { id: string };
    expect(
      (await server.api(`/api/v1/projects/${p.id}/pipelines`, { method: "POST", json: { branch: "main" } }))
        .status,
    ).toBe(201);
    const client = await registerSimBuilder(server.url, server.token, "url-sim");
    const payload = await acquireJob(client);
    const jobId = payload.job.id;

    const save = await client.cacheSave(jobId, "k1");
    if (save.exists) throw new Error("fresh key reported as existing");
    expect(save.url).toStartWith("/api/v1/builder/blobs/");
    const put = (url: string, body: string) => fetch(new URL(url, server.url), { method: "PUT", body });
    expect((await put(save.url, "cache bytes")).status).toBe(201);
    expect(await client.cacheCommit(jobId, "k1", save.upload_id, 11)).toBe(true);
    const again = await client.cacheSave(jobId, "k1");
    expect(again).toEqual({ exists: true });

    const hit = await client.cacheRestore(jobId, ["k"]);
    expect(hit?.key).toBe("k1");
    expect(await (await fetch(new URL(hit!.url, server.url))).text()).toBe("cache bytes");
    expect(await client.cacheRestore(jobId, ["other-"])).toBeNull();

    // Another key with the same signature: refused.
    const token = hit!.url.slice("/api/v1/builder/blobs/".length);
    const [body, mac] = token.split(".");
    const claims = JSON.parse(Buffer.from(body, "base64url").toString());
    const forged = Buffer.from(
      JSON.stringify({ ...claims, k: `caches/${p.id}/someone-else.tar.gz` }),
    ).toString("base64url");
    const refused = await fetch(new URL(routes.blob(`${forged}.${mac}`), server.url));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("blob_url_refused");
    // A GET URL is not a PUT URL.
    expect((await put(hit!.url, "overwrite")).status).toBe(403);
    // Signed by the server's key but expired.
    const keyring = await loadOrCreateMasterKey({ dataDir: server.dataDir });
    const past = new BlobUrls({ kind: "fs" } as never, keyring, () => Date.now() - 16 * 60 * 1000);
    const stale = await past.url(claims.k, "GET", jobId);
    const expired = await fetch(new URL(stale.url, server.url));
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain("expired");
    // The same key signed now works, so it was the expiry that refused it.
    const fresh = await new BlobUrls({ kind: "fs" } as never, keyring).url(claims.k, "GET", jobId);
    expect((await fetch(new URL(fresh.url, server.url))).status).toBe(200);

    // Once the job has finished, its URLs stop working before they expire.
    await client.finish(jobId, { status: "success", unsandboxed: true, log_bytes: 0 });
    expect((await fetch(new URL(hit!.url, server.url))).status).toBe(403);
    await expect(client.cacheRestore(jobId, ["k"])).rejects.toThrow(/lease/);
  });

  test("a capability upload larger than Bun's default body limit streams through to the store", async () => {
    const repo = newRepo();
    repo.commit({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  a:\n    machine: true\n    steps: [{run: 'true'}]\nworkflows:\n  w:\n    jobs: [a]\n",
    });
    const p = (await (
      await server.api("/api/v1/projects", { method: "POST", json: { name: "big", repo_url: repo.bare } })
    ).json()) as { id: string };
    expect(
      (await server.api(`/api/v1/projects/${p.id}/pipelines`, { method: "POST", json: { branch: "main" } }))
        .status,
    ).toBe(201);
    const client = await registerSimBuilder(server.url, server.token, "big-sim");
    const jobId = (await acquireJob(client)).job.id;
    // A builder heartbeats while it moves bytes; 150 MB each way can outlast a lease on a busy machine.
    const beat = setInterval(() => client.heartbeat(jobId).catch(() => {}), 1000);
    try {
      const size = 150 * 1024 * 1024;
      const hash = createHash("sha256");
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= size) return c.close();
          const chunk = new Uint8Array(Math.min(1 << 20, size - sent)).fill(sent % 251);
          hash.update(chunk);
          sent += chunk.length;
          c.enqueue(chunk);
        },
      });
      const save = await client.cacheSave(jobId, "big");
      if (save.exists) throw new Error("fresh key reported as existing");
      await client.blob(save, { method: "PUT", body, size });
      expect(await client.cacheCommit(jobId, "big", save.upload_id, size)).toBe(true);
      const hit = (await client.cacheRestore(jobId, ["big"]))!;
      const back = createHash("sha256");
      let got = 0;
      for await (const chunk of (await client.blob(hit, { method: "GET" })).body!) {
        back.update(chunk);
        got += chunk.length;
      }
      expect(got).toBe(size);
      expect(back.digest("hex")).toBe(hash.digest("hex"));
    } finally {
      clearInterval(beat);
    }
    await client.finish(jobId, { status: "success", unsandboxed: true, log_bytes: 0 });
  });

  test("an expired presigned S3 URL is refused by the store", async () => {
    const store = createS3BlobStore({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    await store.put("caches/p/x.tar.gz", "bytes");
    const live = await store.presign!("caches/p/x.tar.gz", "GET", 60);
    expect(await (await fetch(live)).text()).toBe("bytes");
    const short = await store.presign!("caches/p/x.tar.gz", "GET", 1);
    await Bun.sleep(2100);
    const res = await fetch(short);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("expired");
  });
});
