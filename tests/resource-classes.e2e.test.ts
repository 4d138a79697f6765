// An operator's own resource class, end to end on real LXC: a builder registered with
// `--resource-classes FILE` offers the class, is granted the job that names it, and the job's
// unprivileged container has the class's memory, pids and CPU limits and its disk size.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "./harness/clean-up.ts";
import { requireLxc } from "./harness/lxc.ts";
import { type LxcStack, startLxcStack, until } from "./support/lxc-stack.ts";

const skip = await requireLxc({ sshd: true });
const MiB = 1024 * 1024;

// YAML, as an operator may write it; sizes in the units they think in.
const CLASSES = `acme/small-disk:
  cpus: 0.5
  memory: 256MiB
  pids: 128
  disk: 64MiB
  network: none
`;

// Reads the limits from inside the container (cgroup v1 or v2), then writes past the disk.
const CONFIG = `version: 2.1
jobs:
  limited:
    machine: true
    resource_class: acme/small-disk
    steps:
      - run:
          name: Limits
          command: |
            echo "memory $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
            echo "pids $(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"
            echo "cpu $(cut -d' ' -f1 /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
            if head -c 100M /dev/zero > ~/big; then echo "wrote 100 MiB"; else echo "write failed"; fi
            rm -f ~/big
workflows:
  main:
    jobs: [limited]
`;

type Job = { id: string; name: string; status: string; resource_class?: string };

describe.skipIf(skip)("an operator's own resource class", () => {
  let dir: string | undefined;
  let stack: LxcStack | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-classes-e2e-"));
    const classes = join(dir, "classes.yaml");
    writeFileSync(classes, CLASSES);
    stack = await startLxcStack({
      files: { ".circleci/config.yml": CONFIG },
      project: "classes-e2e",
      builder: { name: "classes", extraArgs: ["--resource-classes", classes] },
    });
  });

  afterAll(() => cleanUp([() => stack?.stop(), () => dir && rmSync(dir, { recursive: true, force: true })]));

  test("a job naming it runs in a container with its limits, and its log says so", async () => {
    const { server, projectId, builder } = stack!;
    const res = await server.api(`/api/v1/projects/${projectId}/pipelines`, {
      method: "POST",
      json: { branch: "main" },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const done = await until("the pipeline to finish", async (note) => {
      const p = (await (await server.api(`/api/v1/pipelines/${id}`)).json()) as {
        status: string;
        jobs: Job[];
      };
      note(p.status);
      return ["created", "queued", "running"].includes(p.status) ? undefined : p;
    });
    const job = done.jobs[0];
    const log = await (await server.api(`/api/v1/jobs/${job.id}/log?format=text`)).text();
    expect({ status: done.status, log }).toMatchObject({ status: "success" });
    // The builder said at start what the class means on it.
    expect(builder.output()).toContain(
      "resource class acme/small-disk: 0.5 CPUs, 256 MiB memory, 128 processes, 64 MiB disk, no network (loopback only)",
    );
    expect(log).toMatch(
      /Sandbox: unprivileged LXC container cairn-[0-9a-f]{8}-1; limits \(resource class acme\/small-disk\): 0\.5 CPUs, 256 MiB memory, 128 processes, 64 MiB disk/,
    );
    expect(log).toContain("Network: none (loopback only) — resource class acme/small-disk on this builder");
    expect(log).toContain(`memory ${256 * MiB}\npids 128\ncpu 50000\n`);
    expect(log).toContain("No space left on device");
    expect(log).toContain("write failed");
    expect(log).not.toContain("wrote 100 MiB");
  }, 240_000);
});
