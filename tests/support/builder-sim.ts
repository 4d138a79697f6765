// A stand-in builder that speaks the real protocol over HTTP (registration, acquire, log upload,
// finish) without running anything: for log ingest and fanout tests and the benchmark.
import { ServerClient } from "../../builder/client.ts";
import { LogUploader } from "../../builder/log-uploader.ts";
import type { JobPayload } from "../../protocol/index.ts";
import { createRepo } from "./git.ts";
import type { TestServer } from "./server.ts";

export async function registerSimBuilder(
  server: string,
  adminToken: string,
  name = "sim",
): Promise<ServerClient> {
  const res = await fetch(`${server}/api/v1/builders/registration-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}` },
  });
  const { token } = (await res.json()) as { token: string };
  const r = await new ServerClient(server).register({
    registration_token: token,
    name,
    public_key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
    slots: 256,
    driver: "process",
  });
  return new ServerClient(server, r.token);
}

/** The id of a builder registered and then revoked: what a reaper may treat as gone. */
export async function revokedBuilderId(server: string, adminToken: string): Promise<string> {
  const name = `gone-${crypto.randomUUID().slice(0, 8)}`;
  await registerSimBuilder(server, adminToken, name);
  const auth = { authorization: `Bearer ${adminToken}` };
  const list = (await (await fetch(`${server}/api/v1/builders`, { headers: auth })).json()) as {
    items: { id: string; name: string }[];
  };
  const id = list.items.find((b) => b.name === name)?.id ?? "";
  const r = await fetch(`${server}/api/v1/builders/${id}/revoke`, { method: "POST", headers: auth });
  if (r.status !== 200) throw new Error(`revoking builder ${name} failed: HTTP ${r.status}`);
  return id;
}

/**
 * The next job the server offers this simulated builder (each acquire waits on the server for one);
 * with `pipeline`, the next of that pipeline: a job another test left queued is leased and left.
 * The deadline is a safety net far past a queued job's seconds under CI's load, and says so.
 */
export async function acquireJob(
  client: ServerClient,
  opts: { pipeline?: string; ms?: number } = {},
): Promise<JobPayload> {
  const ms = opts.ms ?? 90_000;
  const end = Date.now() + ms;
  const others: string[] = [];
  let polls = 0;
  for (;;) {
    const job = await client.acquire({ free_slots: 1, driver: "process" });
    if (job && (!opts.pipeline || job.pipeline.id === opts.pipeline)) return job;
    if (job) others.push(`${job.job.name} of pipeline ${job.pipeline.id}`);
    polls++;
    if (Date.now() > end)
      throw new Error(
        `no job${opts.pipeline ? ` of pipeline ${opts.pipeline}` : ""} was offered to the simulated builder in ${ms / 1000} s ` +
          `(${polls} acquire calls${others.length ? `; offered instead: ${others.join(", ")}` : ""})`,
      );
  }
}

export { LogUploader };

/**
 * A pipeline of two machine jobs, `a` then `b` as granted, both leased by a new simulated builder:
 * for tests of what a builder does to its jobs' leases and logs. `name` prefixes the project's and
 * the builder's names (each made unique).
 */
export async function leaseTwoJobs(
  server: Pick<TestServer, "url" | "token" | "api">,
  name: string,
): Promise<{ builder: ServerClient; a: string; b: string }> {
  const repo = createRepo();
  repo.commit({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  a:\n    machine: true\n    steps:\n      - run: echo a\n" +
      "  b:\n    machine: true\n    steps:\n      - run: echo b\nworkflows:\n  w:\n    jobs: [a, b]\n",
  });
  const post = async (path: string, json: unknown) => {
    const res = await server.api(path, { method: "POST", json });
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  const project = await post("/api/v1/projects", {
    name: `${name}-${crypto.randomUUID()}`,
    repo_url: repo.bare,
  });
  await post(`/api/v1/projects/${project.id}/pipelines`, { branch: "main" });
  const builder = await registerSimBuilder(server.url, server.token, `${name}-${crypto.randomUUID()}`);
  const a = (await acquireJob(builder)).job.id;
  const b = (await acquireJob(builder)).job.id;
  return { builder, a, b };
}
