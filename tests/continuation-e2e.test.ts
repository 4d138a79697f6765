// Dynamic configuration end to end, on a real builder daemon (the process driver): a repository whose
// `.circleci/config.yml` is a setup config; its job generates a config and POSTs it with curl to
// $CAIRN_CONTINUATION_URL as CircleCI's continuation orb does (jq-built body, printed first); the
// continued workflow's job then runs to success in the same pipeline, with the parameter it was
// given, and the continuation key never appears in the setup job's log. The process driver runs steps
// with no network (`unshare --net`), so curl reaches the server through a Unix socket on the shared
// filesystem (`--unix-socket`, same URL): the stand-in for the network an LXC job has.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const SETUP = (dir: string) => `version: 2.1
setup: true
jobs:
  generate:
    machine: true
    environment:
      KEY_FILE: ${dir}/key
      CAIRN_SOCKET: ${dir}/cairn.sock
    steps:
      - run:
          name: continue the pipeline
          command: |
            dir=$(mktemp -d)
            cat > "$dir/continue.yml" \\<<'EOF'
            version: 2.1
            parameters:
              target: {type: string, default: all}
            jobs:
              build:
                machine: true
                steps:
                  - run: echo "building \\<< pipeline.parameters.target >> at $CIRCLE_SHA1"
            workflows:
              continued:
                jobs: [build]
            EOF
            printf '%s' "$CIRCLE_CONTINUATION_KEY" > "$KEY_FILE"
            jq -Rs . "$dir/continue.yml" > "$dir/config.json"
            jq -n --arg continuation "$CIRCLE_CONTINUATION_KEY" --slurpfile config "$dir/config.json" \\
              '{"continuation-key": $continuation, "configuration": $config[0], "parameters": {"target": "docs"}}' \\
              > "$dir/body.json"
            cat "$dir/body.json"
            code=$(curl -sS --unix-socket "$CAIRN_SOCKET" -o "$dir/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \\
              --data @"$dir/body.json" "$CAIRN_CONTINUATION_URL")
            cat "$dir/answer"; echo
            rm -rf "$dir"
            test "$code" = 200
workflows:
  setup:
    jobs: [generate]
`;

let server: TestServer;
let builder: BuilderProcess | undefined;
let keyDir: string;
let socket: ReturnType<typeof Bun.serve> | undefined;
let pipeline: { id: string; number: number; jobs: { id: string; name: string }[] };

interface JobView {
  id: string;
  name: string;
  status: string;
}

const view = async () =>
  (await (await server.api(`/api/v1/pipelines/${pipeline.id}`)).json()) as {
    number: number;
    status: string;
    workflows: { name: string; status: string }[];
    jobs: JobView[];
  };
const logOf = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();

/** Waits (by polling, no clock assertion) until the pipeline has ended. */
async function ended() {
  for (let i = 0; i < 1200; i++) {
    const p = await view();
    if (!["queued", "running"].includes(p.status)) return p;
    await Bun.sleep(100);
  }
  throw new Error(`pipeline did not end; builder output:\n${builder?.output()}`);
}

beforeAll(async () => {
  server = await startTestServer();
  server.deps.publicUrl = server.url;
  keyDir = mkdtempSync(join(tmpdir(), "cairn-continuation-"));
  // Requests on the socket go on to the server as they came (method, path, headers, body).
  socket = Bun.serve({
    unix: join(keyDir, "cairn.sock"),
    fetch: async (req) => {
      const url = new URL(req.url);
      return fetch(`${server.url}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.method === "GET" ? undefined : await req.arrayBuffer(),
      });
    },
  });
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": SETUP(keyDir) });
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "dynamic", repo_url: repo.bare } })
  ).json()) as { id: string };
  pipeline = (await (
    await server.api(`/api/v1/projects/${project.id}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as typeof pipeline;
  builder = await startBuilder({ server: server.url, adminToken: server.token, name: "continuation" });
}, 60_000);
afterAll(async () => {
  await builder?.stop();
  socket?.stop(true);
  await server.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

test("a setup job continues its pipeline; the continued job runs in the same pipeline", async () => {
  const p = await ended();
  const setupJob = p.jobs.find((j) => j.name === "generate")!;
  const setupLog = await logOf(setupJob.id);
  expect({ pipeline: p.status, setup: setupJob.status }, `${setupLog}\n${builder?.output()}`).toEqual({
    pipeline: "success",
    setup: "success",
  });
  expect(p.number).toBe(pipeline.number);
  expect(p.workflows.map((w) => [w.name, w.status])).toEqual([
    ["setup", "success"],
    ["continued", "success"],
  ]);
  const build = p.jobs.find((j) => j.name === "build")!;
  expect(build.status).toBe("success");
  expect(await logOf(build.id)).toContain("building docs at ");

  // The job printed the body holding its key, as the orb does: the log has it masked, never in clear.
  const key = readFileSync(join(keyDir, "key"), "utf8");
  expect(key).toStartWith("cairn_cont_");
  expect(setupLog).toContain('"continuation-key": "');
  expect(setupLog).not.toContain(key);
  expect(setupLog).toContain('"message":"success"');
}, 180_000);
