// A stand-in builder that speaks the real protocol over HTTP (registration, acquire, log upload,
// finish) without running anything: for log ingest and fanout tests and the benchmark.
import { ServerClient } from "../../builder/client.ts";
import { LogUploader } from "../../builder/log-uploader.ts";
import type { JobPayload } from "../../protocol/index.ts";

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
