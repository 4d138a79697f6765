// 50 jobs in a row on a real LXC builder (3 slots, through a real sshd) leave no container and no
// growth on the fleet host: /var/lib/lxc, the spools under /var/tmp and the checkout temp dirs
// under /tmp are measured after a warm-up and again after the 50 jobs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { SPOOL_DIR, SPOOL_PREFIX } from "../builder/driver/spool.ts";
import { cairnContainers, requireLxc, TEMPLATE } from "./harness/lxc.ts";
import type { TestRepo } from "./support/git.ts";
import { type LxcStack, startLxcStack } from "./support/lxc-stack.ts";
import type { TestServer } from "./support/server.ts";

const skip = await requireLxc({ sshd: true });
const LXC_DIR = "/var/lib/lxc";
const JOBS = 50;

/**
 * A workflow of `n` independent trivial jobs, each storing an artifact (a spool on the host); every
 * fifth also checks out (a temp clone on the host), which is what makes a job slow.
 */
function config(n: number): string {
  const steps = (i: number) =>
    `    machine: true\n    steps:\n${i % 5 === 0 ? "      - checkout\n" : ""}      - run: echo ok > done.txt\n      - store_artifacts: {path: done.txt}\n`;
  const names = Array.from({ length: n }, (_, i) => `j${i + 1}`);
  return `version: 2.1\njobs:\n${names.map((n, i) => `  ${n}:\n${steps(i)}`).join("")}workflows:\n  churn:\n    jobs: [${names.join(", ")}]\n`;
}

/** Container name of a job's first attempt (builder/job-runner.ts). */
const containerOf = (jobId: string) => `cairn-${jobId.slice(0, 8)}-1`;

/**
 * KiB used under /var/lib/lxc by the template and by any container of ours; other `cairn-*`
 * containers (another test's builder on this machine) are left out of the sum.
 */
function lxcUsage(ours: Set<string>): number {
  let kib = 0;
  for (const entry of readdirSync(LXC_DIR)) {
    if (entry.startsWith("cairn-") && entry !== TEMPLATE && !ours.has(entry)) continue;
    kib += Number(execFileSync("du", ["-sxk", join(LXC_DIR, entry)], { encoding: "utf8" }).split("\t")[0]);
  }
  return kib;
}

const leftovers = () => ({
  spools: readdirSync(SPOOL_DIR).filter((n) => n.startsWith(SPOOL_PREFIX)).length,
  checkouts: readdirSync("/tmp").filter((n) => n.startsWith("cairn-checkout-") || n.startsWith("cairn-key-"))
    .length,
});

describe.skipIf(skip)("fleet churn", () => {
  let server: TestServer;
  let repo: TestRepo;
  let projectId: string;

  let stack: LxcStack;

  beforeAll(async () => {
    stack = await startLxcStack({
      files: { ".circleci/config.yml": config(3) },
      project: "churn",
      builder: { name: "churner", slots: 3 },
    });
    ({ server, repo, projectId } = stack);
  });

  afterAll(() => stack?.stop());

  async function runWorkflow(n: number): Promise<{ id: string; status: string }[]> {
    repo.commit({ ".circleci/config.yml": config(n) });
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const end = Date.now() + 150_000;
    for (;;) {
      const p = (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as {
        status: string;
        jobs: { id: string; status: string }[];
      };
      if (["success", "failed", "canceled"].includes(p.status)) return p.jobs;
      if (Date.now() > end) throw new Error(`pipeline still ${p.status} after 150 s`);
      await Bun.sleep(250);
    }
  }

  test(`${JOBS} jobs in a row leave zero cairn-* containers and no growth in the host's disk use`, async () => {
    // Warm-up: whatever a first job creates once (LXC's own state) is not churn.
    const warm = await runWorkflow(3);
    expect(warm.every((j) => j.status === "success")).toBe(true);
    const baseline = { lxc: lxcUsage(new Set()), ...leftovers() };

    const started = Date.now();
    const jobs = await runWorkflow(JOBS);
    const seconds = (Date.now() - started) / 1000;
    expect(jobs.length).toBe(JOBS);
    const failed = jobs.filter((j) => j.status !== "success");
    expect(
      failed,
      failed.length ? await (await server.api(`/api/v1/jobs/${failed[0].id}/log?format=text`)).text() : "",
    ).toEqual([]);

    const ours = new Set(jobs.map((j) => containerOf(j.id)));
    const left = (await cairnContainers()).filter((n) => ours.has(n));
    expect(left).toEqual([]);
    const after = { lxc: lxcUsage(ours), ...leftovers() };
    console.log(
      `churn: ${JOBS} jobs in ${seconds.toFixed(1)} s; /var/lib/lxc ${baseline.lxc} → ${after.lxc} KiB; spools ${baseline.spools} → ${after.spools}; checkout dirs ${baseline.checkouts} → ${after.checkouts}`,
    );
    // No per-job growth: 50 jobs may not add even 4 KiB each (a clone's overlay alone is far more).
    expect(after.lxc - baseline.lxc).toBeLessThan(JOBS * 4);
    expect(after.spools).toBeLessThanOrEqual(baseline.spools);
    expect(after.checkouts).toBeLessThanOrEqual(baseline.checkouts);

    // Every job stored its artifact (the spool path ran 50 times).
    const arts = (await (await server.api(`/api/v1/jobs/${jobs[JOBS - 1].id}/artifacts`)).json()) as {
      items: { path: string }[];
    };
    expect(arts.items.map((a) => a.path)).toEqual(["done.txt"]);
  }, 180_000);
});
