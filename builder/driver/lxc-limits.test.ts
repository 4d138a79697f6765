import { describe, expect, test } from "bun:test";
import { cgroupSettings, formatBytes, parseOomKills } from "./lxc-limits.ts";

describe("cgroup limits", () => {
  const limits = { memoryBytes: 512 * 1024 * 1024, cpus: 1.5, pids: 300 };

  test("cgroup v2 keys", () => {
    expect(cgroupSettings(limits, true)).toEqual([
      { key: "memory.max", value: "536870912" },
      { key: "memory.swap.max", value: "0", optional: true },
      { key: "cpu.max", value: "150000 100000" },
      { key: "pids.max", value: "300" },
    ]);
  });

  test("cgroup v1 keys", () => {
    expect(cgroupSettings(limits, false)).toEqual([
      { key: "memory.limit_in_bytes", value: "536870912" },
      { key: "memory.memsw.limit_in_bytes", value: "536870912", optional: true },
      { key: "cpu.cfs_period_us", value: "100000" },
      { key: "cpu.cfs_quota_us", value: "150000" },
      { key: "pids.max", value: "300" },
    ]);
  });

  test("nothing asked, nothing set; nonsense refused", () => {
    expect(cgroupSettings({}, true)).toEqual([]);
    expect(() => cgroupSettings({ memoryBytes: -1 }, true)).toThrow(/memoryBytes must be a positive number/);
    expect(() => cgroupSettings({ cpus: Number.NaN }, false)).toThrow(/cpus/);
  });

  test("OOM kill counters from either cgroup version", () => {
    expect(parseOomKills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")).toBe(1);
    expect(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")).toBe(4);
    expect(parseOomKills("oom_kill_disable 0\nunder_oom 0\n")).toBeUndefined();
  });

  test("limits read as people write them", () => {
    expect(formatBytes(64 * 1024 * 1024)).toBe("64 MiB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3 GiB");
    expect(formatBytes(1000)).toBe("1000 bytes");
  });
});
