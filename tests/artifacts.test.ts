// Artifacts, test results, workspaces and test splitting end to end, with a real LXC builder over a
// real sshd: artifacts download through the API with identical bytes, JUnit XML becomes per-test
// results, a workspace persisted by one job reaches the job that requires it, and `cairn tests split`
// gives three slices disjoint, complete shares (by name, and by the timings the first run stored).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cairnContainers, requireLxc } from "./harness/lxc.ts";
import type { TestRepo } from "./support/git.ts";
import { type LxcStack, startLxcStack, until } from "./support/lxc-stack.ts";
import type { TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });

type Job = { id: string; name: string; status: string; slice: { index: number; total: number } };

const JUNIT = `<?xml version="1.0"?>
<testsuites>
  <testsuite name="unit" file="test/a.test.js">
    <testcase name="adds" classname="Math" time="0.5"/>
    <testcase name="divides" classname="Math" time="1.25"><failure message="expected 2 &lt; 1">stack</failure></testcase>
    <testcase name="later" classname="Math"><skipped/></testcase>
  </testsuite>
</testsuites>`;

const BUILD_CONFIG = `version: 2.1
jobs:
  make:
    machine: true
    steps:
      - run: |
          mkdir -p out/sub reports
          head -c 300000 /dev/urandom > out/sub/blob.bin
          printf 'hello artifact\\n' > "out/with space.txt"
          cat > reports/junit.xml <<'EOF'
${JUNIT.split("\n")
  .map((l) => `          ${l}`)
  .join("\n")}
          EOF
          echo '<testsuite name="cut short">' > reports/broken.xml
          sha256sum out/sub/blob.bin
      - store_artifacts:
          path: out
          destination: build
      - store_artifacts:
          path: reports/junit.xml
      - store_test_results:
          path: reports
      - persist_to_workspace:
          root: .
          paths: [out/sub]
      - run: mkdir -p /tmp/second && echo second-layer > /tmp/second/note
      - persist_to_workspace:
          root: /tmp/second
          paths: [note]
  use:
    machine: true
    steps:
      - attach_workspace:
          at: /tmp/ws
      - run: sha256sum /tmp/ws/out/sub/blob.bin && cat /tmp/ws/note
workflows:
  w:
    jobs:
      - make
      - use:
          requires: [make]
`;

// 12 files; each slice reports its share by name and by timings, then writes JUnit for its own
// share with times that make t1 and t2 heavy, which the next run's timings split uses.
const SPLIT_CONFIG = `version: 2.1
jobs:
  split:
    machine: true
    parallelism: 3
    steps:
      - run: |
          mkdir -p test && for i in $(seq 1 12); do echo "// $i" > test/t$i.js; done
          cairn tests glob "test/**/*.js" > all
          circleci tests split --split-by=name < all | sed 's/^/NAME /'
          cairn tests split --split-by=timings --timings-type=filename < all | sed 's/^/TIMED /'
          cairn tests split --split-by=filesize < all | sed 's/^/SIZE /'
          mkdir -p results
          { echo '<testsuite name="s">'
            cairn tests split --split-by=timings < all | while read f; do
              t=1; case $f in test/t1.js) t=50 ;; test/t2.js) t=40 ;; esac
              echo "<testcase name=\\"$f\\" classname=\\"c\\" file=\\"$f\\" time=\\"$t\\"/>"
            done
            echo '</testsuite>'; } > results/junit.xml
      - store_test_results:
          path: results
workflows:
  w:
    jobs: [split]
`;

describe.skipIf(skip)("artifacts, test results, workspaces and splitting over LXC", () => {
  let server: TestServer;
  let repo: TestRepo;
  let projectId: string;

  let stack: LxcStack;

  beforeAll(async () => {
    stack = await startLxcStack({
      files: { ".circleci/config.yml": BUILD_CONFIG },
      project: "stored",
      builder: { name: "store-builder", slots: 3 },
    });
    ({ server, repo, projectId } = stack);
  });

  afterAll(() => stack?.stop());

  async function pipeline(config: string): Promise<Job[]> {
    repo.commit({ ".circleci/config.yml": config });
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    // Minutes: a safety net for a loaded machine (the jobs take seconds), not a speed claim.
    return until(
      "the pipeline to finish",
      async (note) => {
        const p = (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as {
          status: string;
          jobs: Job[];
        };
        note(`pipeline ${p.status}; jobs ${p.jobs.map((j) => `${j.name}=${j.status}`).join(", ")}`);
        return ["success", "failed", "canceled"].includes(p.status) && p.jobs;
      },
      240_000,
    );
  }
  const log = async (id: string) => (await server.api(`/api/v1/jobs/${id}/log?format=text`)).text();

  test("artifacts download with identical bytes; JUnit becomes per-test results; the workspace reaches the downstream job", async () => {
    const jobs = await pipeline(BUILD_CONFIG);
    const make = jobs.find((j) => j.name === "make")!;
    const use = jobs.find((j) => j.name === "use")!;
    const makeLog = await log(make.id);
    expect(make.status, makeLog).toBe("success");
    expect(use.status, await log(use.id)).toBe("success");

    const list = (await (await server.api(`/api/v1/jobs/${make.id}/artifacts`)).json()) as {
      items: { path: string; size: number; url: string }[];
    };
    expect(list.items.map((a) => [a.path, a.size])).toEqual([
      ["build/sub/blob.bin", 300000],
      ["build/with space.txt", 15],
      ["reports/junit.xml", JUNIT.length + 1],
    ]);
    const blobSum = /([0-9a-f]{64}) {2}out\/sub\/blob.bin/.exec(makeLog)![1];
    const blob = new Uint8Array(await (await server.api(list.items[0].url)).arrayBuffer());
    expect(blob.length).toBe(300000);
    expect(createHash("sha256").update(blob).digest("hex")).toBe(blobSum);
    const spaced = await server.api(list.items[1].url);
    expect(spaced.headers.get("content-type")).toBe("application/octet-stream");
    expect(await spaced.text()).toBe("hello artifact\n");
    expect(await (await server.api(list.items[2].url)).text()).toBe(`${JUNIT}\n`);
    // Downloads need the user's authentication; unknown paths are 404.
    expect((await fetch(`${server.url}${list.items[0].url}`)).status).toBe(401);
    expect((await server.api(`/api/v1/jobs/${make.id}/artifacts/build/nope`)).status).toBe(404);

    const tests = (await (await server.api(`/api/v1/jobs/${make.id}/tests`)).json()) as {
      summary: Record<string, number>;
      tests: {
        name: string;
        classname: string;
        file: string;
        time: number;
        status: string;
        message: string | null;
      }[];
    };
    expect(tests.summary).toEqual({ total: 3, passed: 1, failed: 1, error: 0, skipped: 1, time: 1.75 });
    expect(tests.tests[1]).toEqual({
      suite: "unit",
      name: "divides",
      classname: "Math",
      file: "test/a.test.js",
      time: 1.25,
      status: "failed",
      message: "expected 2 < 1\nstack",
    } as never);
    // A report the server cannot parse is a warning, not a failed step (as on CircleCI).
    expect(makeLog).toMatch(/Could not store reports\/broken\.xml: .*is never closed/);
    expect(makeLog).toContain("Stored 3 test results (1 failed) from 2 files.");

    const useLog = await log(use.id);
    expect(useLog).toContain(`${blobSum}  /tmp/ws/out/sub/blob.bin`);
    expect(useLog).toContain("second-layer");
    expect(useLog).toContain("Attached make's layer");
    expect(await cairnContainers()).toEqual([]);
  }, 420_000); // a safety net only: the pipeline's wait fails first, saying what it saw

  test("parallelism 3: the split helper gives disjoint, complete shares, by name, size and earlier timings", async () => {
    const all = Array.from({ length: 12 }, (_, i) => `test/t${i + 1}.js`).sort();
    const shares = async (jobs: Job[], tag: string) => {
      const out: string[][] = [];
      for (const j of [...jobs].sort((a, b) => a.slice.index - b.slice.index)) {
        const text = await log(j.id);
        expect(j.status, text).toBe("success");
        out.push([...text.matchAll(new RegExp(`^${tag} (\\S+)$`, "gm"))].map((m) => m[1]));
      }
      return out;
    };
    const check = (parts: string[][]) => {
      expect(parts.length).toBe(3);
      expect(parts.flat().sort()).toEqual(all); // complete, and no name twice: disjoint
      for (const p of parts) expect(p.length).toBeGreaterThan(0);
    };

    const first = await pipeline(SPLIT_CONFIG);
    expect(first.length).toBe(3);
    for (const tag of ["NAME", "TIMED", "SIZE"]) check(await shares(first, tag));

    // The second run has the first run's timings: t1 (50 s) and t2 (40 s) each get a slice of their own
    // company, the ten light files fill the third slice first.
    const second = await pipeline(SPLIT_CONFIG);
    const timed = await shares(second, "TIMED");
    check(timed);
    const withT1 = timed.find((p) => p.includes("test/t1.js"))!;
    const withT2 = timed.find((p) => p.includes("test/t2.js"))!;
    expect(withT1).not.toBe(withT2);
    expect(withT1).toEqual(["test/t1.js"]);
    expect(withT2).toEqual(["test/t2.js"]);
    expect(await cairnContainers()).toEqual([]);
  }, 600_000); // a safety net only: each pipeline's wait fails first, saying what it saw
});
