// What CircleCI steps do at run time, on a real builder daemon (the process driver): $BASH_ENV is
// sourced before each run step, background steps start and are killed at job end, `when: always`
// storage steps run after a failure, and save_cache / {{ checksum }} of missing files only warn.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type BuilderProcess, startBuilder } from "./support/builder-process.ts";
import { createRepo } from "./support/git.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo 'export GREETING="from bash env"' >> "$BASH_ENV"
      - run:
          name: server
          background: true
          command: |
            echo "server up"; touch "$HOME/server-started"
            sleep 600
      - run:
          name: uses both
          command: |
            echo "greeting: $GREETING"
            for i in $(seq 300); do [ -f "$HOME/server-started" ] && break; sleep 0.1; done
            test -f "$HOME/server-started" && echo "saw the background step"
      - save_cache:
          key: deps-{{ checksum "no-such.lock" }}-v1
          paths: [no-such-dir]
  failing:
    machine: true
    steps:
      - run: mkdir -p results && echo '<testsuite/>' > results/r.xml && exit 3
      - store_test_results: {path: results, when: always}
      - run: {name: never, command: echo never ran}
workflows:
  main:
    jobs: [build, failing]
`;

let server: TestServer;
let builder: BuilderProcess | undefined;
let jobs: { id: string; name: string }[];

const waitJob = async (id: string) => {
  for (let i = 0; i < 1200; i++) {
    const job = (await (await server.api(`/api/v1/jobs/${id}`)).json()) as {
      status: string;
      failure_reason: string | null;
      steps?: { name: string; status: string }[];
    };
    if (!["queued", "running"].includes(job.status)) return job;
    await Bun.sleep(100);
  }
  throw new Error(`job ${id} did not finish; builder output:\n${builder?.output()}`);
};
const logOf = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();

beforeAll(async () => {
  server = await startTestServer();
  const repo = createRepo();
  repo.commit({ ".circleci/config.yml": CONFIG });
  const project = (await (
    await server.api("/api/v1/projects", { method: "POST", json: { name: "steps", repo_url: repo.bare } })
  ).json()) as { id: string };
  const created = (await (
    await server.api(`/api/v1/projects/${project.id}/pipelines`, { method: "POST", json: { branch: "main" } })
  ).json()) as { jobs: { id: string; name: string }[] };
  jobs = created.jobs;
  builder = await startBuilder({ server: server.url, adminToken: server.token, name: "steps" });
}, 60_000);
afterAll(async () => {
  await builder?.stop();
  await server.stop();
});

test("$BASH_ENV is sourced by later steps; a background step runs beside them and is killed at job end", async () => {
  const id = jobs.find((j) => j.name === "build")!.id;
  const job = await waitJob(id);
  const log = await logOf(id);
  expect({ status: job.status, reason: job.failure_reason }).toEqual({ status: "success", reason: null });
  expect(log).toContain("greeting: from bash env");
  expect(log).toContain("[server] server up");
  expect(log).toContain("server: started in the background");
  expect(log).toContain("saw the background step");
  // Missing files warn instead of failing the step.
  expect(log).toContain('Warning: {{ checksum "no-such.lock" }}');
  expect(log).toContain("Warning: save_cache: no-such-dir matched no files; left out of cache deps--v1.");
  expect(log).toContain("Warning: save_cache: none of the paths exist; cache deps--v1 not saved.");
}, 120_000);

test("`when: always` on store_test_results runs after a failed step; the next default step does not", async () => {
  const id = jobs.find((j) => j.name === "failing")!.id;
  const job = await waitJob(id);
  const log = await logOf(id);
  expect(job.status).toBe("failed");
  expect(log).not.toContain("never ran");
  expect(job.steps?.map((s) => [s.name, s.status])).toEqual([
    ["Spin up environment", "success"],
    ["mkdir -p results && echo '<testsuite/>' > results/r.xml && exit 3", "failed"],
    ["store_test_results", "success"],
    ["never", "skipped"],
  ]);
}, 120_000);
