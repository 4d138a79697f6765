// Forge stand-ins for source-control tests: GitHub webhook deliveries built from the real payloads
// in the shared corpus (signed like GitHub signs them), and a fake GitHub API that is a real HTTP
// server on 127.0.0.1 recording what Cairn sends it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { signBody, signGeneric } from "../../server/forge/signature.ts";
import { corpusPath } from "./corpus.ts";

const CORPUS = corpusPath("github-webhooks");

// biome-ignore lint/suspicious/noExplicitAny: payloads are GitHub's JSON, edited field by field in tests
export type Payload = any;

export const corpusPayload = (file: string): Payload => JSON.parse(readFileSync(join(CORPUS, file), "utf8"));

export interface Delivery {
  event: string;
  body: string;
  deliveryId?: string;
  /** Default: signed with `secret`; a string is sent as is; null sends no signature header. */
  signature?: string | null;
  /** Default application/json; GitHub's form encoding sends `payload=<JSON>`. */
  contentType?: string;
}

export async function deliver(
  url: string,
  projectId: string,
  secret: string,
  d: Delivery,
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": d.contentType ?? "application/json",
    "user-agent": "GitHub-Hookshot/test",
    "x-github-event": d.event,
    "x-github-delivery": d.deliveryId ?? crypto.randomUUID(),
  };
  const signature = d.signature === undefined ? await signBody(secret, d.body) : d.signature;
  if (signature !== null) headers["x-hub-signature-256"] = signature;
  return fetch(`${url}/api/v1/hooks/github/${projectId}`, { method: "POST", headers, body: d.body });
}

export async function deliverGeneric(
  url: string,
  projectId: string,
  secret: string,
  payload: unknown,
  deliveryId?: string,
  /** Signs a timestamp this many seconds off the clock (a stale or early delivery). */
  opts: { skewS?: number } = {},
) {
  const body = JSON.stringify(payload);
  const delivery = deliveryId ?? crypto.randomUUID();
  const timestamp = String(Math.floor(Date.now() / 1000) + (opts.skewS ?? 0));
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-cairn-signature-256": await signGeneric(secret, timestamp, delivery, body),
    "x-cairn-delivery": delivery,
    "x-cairn-timestamp": timestamp,
  };
  return fetch(`${url}/api/v1/hooks/generic/${projectId}`, { method: "POST", headers, body });
}

/** The corpus push payload for a new branch, pointed at `branch` and `sha` of a real test repo. */
export function pushPayload(branch: string, sha: string, message = "change"): Payload {
  const p = corpusPayload("push-with-new-branch.payload.json");
  p.ref = branch.startsWith("refs/") ? branch : `refs/heads/${branch}`;
  p.after = sha;
  p.head_commit.id = sha;
  p.head_commit.message = message;
  return p;
}

/** The corpus pull_request payload (`opened`, `synchronize`, ...) with its head at `headRef`/`sha`. */
export function pullRequestPayload(action: string, headRef: string, sha: string): Payload {
  const p = corpusPayload(`pull_request-${action}.payload.json`);
  p.pull_request.head.ref = headRef;
  p.pull_request.head.sha = sha;
  return p;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | null;
  body: Payload;
}

export interface FakeGithub {
  url: string;
  requests: RecordedRequest[];
  /** Answers the next `n` requests whose path matches with `status` (then normal service resumes). */
  failNext(pathPattern: RegExp, status: number, n?: number): void;
  /** Holds requests whose path matches unanswered until the returned `release()`; they then get `status`. */
  stall(pathPattern: RegExp, status?: number): () => void;
  waitFor(pred: (r: RecordedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): void;
}

export function startFakeGithub(): FakeGithub {
  const requests: RecordedRequest[] = [];
  const failures: { pattern: RegExp; status: number; left: number }[] = [];
  const stalls: { pattern: RegExp; status: number; released: Promise<void> }[] = [];
  let nextKeyId = 1000;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      const rec: RecordedRequest = {
        method: req.method,
        path: url.pathname,
        authorization: req.headers.get("authorization"),
        body: text ? JSON.parse(text) : null,
      };
      requests.push(rec);
      const stalled = stalls.find((x) => x.pattern.test(url.pathname));
      if (stalled) {
        await stalled.released;
        return Response.json({ message: "Server Error" }, { status: stalled.status });
      }
      const f = failures.find((x) => x.left > 0 && x.pattern.test(url.pathname));
      if (f) {
        f.left--;
        return Response.json({ message: "Server Error" }, { status: f.status });
      }
      if (req.method === "POST" && /\/statuses\/[0-9a-f]+$/.test(url.pathname))
        return Response.json({ id: requests.length, ...rec.body }, { status: 201 });
      if (req.method === "POST" && url.pathname.endsWith("/keys"))
        return Response.json({ id: nextKeyId++, ...rec.body }, { status: 201 });
      if (req.method === "DELETE" && /\/keys\/\d+$/.test(url.pathname))
        return new Response(null, { status: 204 });
      return Response.json({ message: "Not Found" }, { status: 404 });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    failNext(pattern, status, n = 1) {
      failures.push({ pattern, status, left: n });
    },
    stall(pattern, status = 503) {
      let release!: () => void;
      const stall = { pattern, status, released: new Promise<void>((r) => (release = r)) };
      stalls.push(stall);
      return () => {
        const at = stalls.indexOf(stall);
        if (at >= 0) stalls.splice(at, 1);
        release();
      };
    },
    async waitFor(pred, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(requests)) {
        if (Date.now() > deadline)
          throw new Error(
            `the fake GitHub did not see what was expected; it saw:\n${JSON.stringify(requests, null, 1)}`,
          );
        await Bun.sleep(25);
      }
    },
    stop: () => server.stop(true),
  };
}
