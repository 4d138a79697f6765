import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  autoSlots,
  Capacity,
  classOf,
  describeLimits,
  limitsFor,
  parseSize,
  parseSlots,
  RESOURCE_CLASSES,
  readResourceClasses,
  resolveResourceClasses,
} from "./resources.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

test("classes fit while memory lasts, and free up again", () => {
  const cap = new Capacity(11_000);
  expect(cap.fitting()).toEqual(["small", "medium", "medium+", "large", "xlarge", "2xlarge"]); // idle: anything

  const a = cap.reserve("large"); // 8192 MB
  expect(cap.fitting()).toEqual(["small"]);
  const b = cap.reserve("small");
  expect(cap.fitting()).toEqual([]);
  a();
  a(); // releasing twice frees once
  expect(cap.fitting()).toEqual(["small", "medium", "medium+", "large"]);
  b();
  expect(cap.fitting()).toContain("2xlarge");
});

test("a job without a class, or with an unknown one, gets medium's limits", () => {
  expect(limitsFor(undefined)).toEqual({
    cpus: 2,
    memoryBytes: 4096 * 1024 * 1024,
    pids: 4096,
    diskBytes: 20 * 1024 ** 3,
  });
  expect(limitsFor("nope")).toEqual(limitsFor("medium"));
  expect(limitsFor("small").cpus).toBe(1);
});

test("auto slots: one per core while each job still gets medium's memory, never none", () => {
  expect(autoSlots(8, 64 * 1024)).toBe(8);
  expect(autoSlots(8, 12 * 1024)).toBe(3); // memory bounds it: 3 × 4 GiB
  expect(autoSlots(2, 24 * 1024)).toBe(2);
  expect(autoSlots(1, 1024)).toBe(1);
  expect(autoSlots(512, 4096 * 1024)).toBe(256);
  expect(parseSlots("auto")).toBe(autoSlots());
  expect(parseSlots("3")).toBe(3);
  for (const bad of ["0", "257", "1.5", "many", ""]) expect(parseSlots(bad)).toBeUndefined();
});

test("the limits read as the job's log states them", () => {
  expect(describeLimits(limitsFor("small"))).toBe("1 CPU, 2 GiB memory, 4096 processes, 20 GiB disk");
  expect(describeLimits({ cpus: 1.5, pids: 64 })).toBe("1.5 CPUs, 64 processes");
});

test("sizes: bytes, or a number with a binary unit", () => {
  expect(parseSize("8GiB", "disk")).toBe(8 * GiB);
  expect(parseSize("512 MiB", "disk")).toBe(512 * MiB);
  expect(parseSize("1.5GiB", "memory")).toBe(1.5 * GiB);
  expect(parseSize(" 100 ", "disk")).toBe(100);
  expect(parseSize(4096, "disk")).toBe(4096);
  expect(() => parseSize("8GB", "disk")).toThrow(
    'disk "8GB" is not a size: give bytes, or a number with B, KiB, MiB, GiB or TiB ("8GiB")',
  );
  expect(() => parseSize("-1GiB", "disk")).toThrow('disk "-1GiB" is not a size');
  expect(() => parseSize(-5, "memory")).toThrow("memory must be a positive whole number of bytes, got -5");
  expect(() => parseSize(1.5, "memory")).toThrow("memory must be a positive whole number of bytes, got 1.5");
  expect(() => parseSize("0MiB", "disk")).toThrow('disk must be positive, got "0MiB"');
  expect(() => parseSize(true, "disk")).toThrow("disk true is not a size");
});

test("the operator's classes: new names, and CircleCI's redefined field by field", () => {
  const classes = resolveResourceClasses({
    "acme/big-disk": { cpus: 2, memory: "4GiB", disk: "100GiB" },
    "acme/offline": { cpus: 0.5, memory: 512 * MiB, pids: 256, disk: "1GiB", network: "none" },
    small: { disk: "8GiB" },
  });
  // Every CircleCI class is still there, in its order, the operator's after them.
  expect(Object.keys(classes)).toEqual([...Object.keys(RESOURCE_CLASSES), "acme/big-disk", "acme/offline"]);
  expect(limitsFor("acme/big-disk", classes)).toEqual({
    cpus: 2,
    memoryBytes: 4 * GiB,
    pids: 4096, // the default, as CircleCI's classes have
    diskBytes: 100 * GiB,
  });
  expect(classOf("acme/offline", classes)).toEqual({
    cpus: 0.5,
    memoryBytes: 512 * MiB,
    pids: 256,
    diskBytes: GiB,
    network: "none",
  });
  // `small` keeps its CPUs and memory; only the disk changed.
  expect(limitsFor("small", classes)).toEqual({ ...limitsFor("small"), diskBytes: 8 * GiB });
  expect(classOf("acme/big-disk", classes).network).toBeUndefined();
  expect(describeLimits(limitsFor("acme/offline", classes))).toBe(
    "0.5 CPUs, 512 MiB memory, 256 processes, 1 GiB disk",
  );
  // None given: CircleCI's, as before.
  expect(resolveResourceClasses(undefined)).toBe(RESOURCE_CLASSES);
  expect(resolveResourceClasses({})).toEqual(RESOURCE_CLASSES);
  // The built-in table is never changed by a builder's own.
  expect(limitsFor("small").diskBytes).toBe(20 * GiB);
});

test("a class that does not make sense is refused, saying which and why", () => {
  const refused = (specs: unknown) => {
    try {
      resolveResourceClasses(specs);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(specs)}`);
  };
  const big = { cpus: 2, memory: "4GiB" };
  expect(refused({ "acme/x": { ...big, disks: "1GiB" } })).toBe(
    'resource class acme/x: unknown field "disks" (the fields are cpus, memory, pids, disk, network)',
  );
  expect(refused({ "acme/x": { ...big, disk: "15MiB" } })).toBe(
    'resource class acme/x: disk must be at least 16 MiB (an ext4 layer), got "15MiB"',
  );
  expect(refused({ "acme/x": { ...big, disk: -1 } })).toBe(
    "resource class acme/x: disk must be a positive whole number of bytes, got -1",
  );
  expect(refused({ "acme/x": { ...big, memory: 4096 } })).toBe(
    "resource class acme/x: memory must be at least 16 MiB, got 4096 (a bare number is bytes)",
  );
  expect(refused({ "acme/x": { cpus: 0, memory: "1GiB" } })).toBe(
    "resource class acme/x: cpus must be a number, at least 0.01, got 0",
  );
  expect(refused({ "acme/x": { cpus: "2", memory: "1GiB" } })).toBe(
    'resource class acme/x: cpus must be a number, at least 0.01, got "2"',
  );
  expect(refused({ small: { cpus: null } })).toBe(
    "resource class small: cpus must be a number, at least 0.01, got null",
  );
  expect(refused({ "acme/x": { ...big, pids: 1.5 } })).toBe(
    "resource class acme/x: pids must be a whole number, at least 1, got 1.5",
  );
  expect(refused({ "acme/x": { ...big, network: "egress" } })).toBe(
    `resource class acme/x: network can only be "none" (loopback only); leave it out for the builder's own network`,
  );
  expect(refused({ "acme/x": { memory: "1GiB" } })).toBe(
    "resource class acme/x: needs cpus (only CircleCI's own class names may leave it out)",
  );
  expect(refused({ "acme/x": { cpus: 1 } })).toBe(
    "resource class acme/x: needs memory (only CircleCI's own class names may leave it out)",
  );
  expect(refused({ "acme/x": "big" })).toBe(
    'resource class acme/x: must be an object such as {"cpus": 2, "memory": "4GiB"}',
  );
  expect(refused({ "a/b/c": big })).toStartWith('resource class "a/b/c": a name is letters, digits');
  expect(refused({ "": big })).toStartWith('resource class "": a name is');
  expect(refused([big])).toStartWith("resource classes must be an object of class name →");
  expect(refused("acme/x")).toStartWith("resource classes must be an object of class name →");
});

test("classes from a file: JSON, or YAML by its name; a broken file says where", () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-classes-"));
  try {
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const json = file("classes.json", '{"acme/big-disk": {"cpus": 2, "memory": "4GiB", "disk": "100GiB"}}');
    expect(readResourceClasses(json)).toEqual({
      "acme/big-disk": { cpus: 2, memory: "4GiB", disk: "100GiB" },
    });
    const yaml = file(
      "classes.yaml",
      "acme/offline:\n  cpus: 1\n  memory: 2GiB\n  network: none\nsmall:\n  disk: 8GiB\n",
    );
    expect(readResourceClasses(yaml)).toEqual({
      "acme/offline": { cpus: 1, memory: "2GiB", network: "none" },
      small: { disk: "8GiB" },
    });
    expect(readResourceClasses(file("empty.yml", ""))).toEqual({});

    expect(() => readResourceClasses(file("bad.json", '{"acme/x": {"cpus": 2,}}'))).toThrow(
      `${dir}/bad.json is not valid JSON: `,
    );
    expect(() => readResourceClasses(file("bad.yaml", "acme/x: {cpus: 2\n"))).toThrow(
      `${dir}/bad.yaml is not valid YAML: `,
    );
    expect(() =>
      readResourceClasses(
        file("small-disk.json", '{"acme/x": {"cpus": 2, "memory": "4GiB", "disk": "8MiB"}}'),
      ),
    ).toThrow(
      `${dir}/small-disk.json: resource class acme/x: disk must be at least 16 MiB (an ext4 layer), got "8MiB"`,
    );
    expect(() => readResourceClasses(join(dir, "missing.json"))).toThrow(
      `${dir}/missing.json: ENOENT: no such file or directory`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a builder offers its own classes, and reserves their memory", () => {
  const classes = resolveResourceClasses({
    "acme/big-disk": { cpus: 2, memory: "3GiB", disk: "100GiB" },
    "acme/huge": { cpus: 8, memory: "64GiB" },
  });
  const cap = new Capacity(11_000, classes);
  expect(cap.fitting()).toEqual([...Object.keys(RESOURCE_CLASSES), "acme/big-disk", "acme/huge"]); // idle: any
  const a = cap.reserve("acme/big-disk"); // 3072 MB of 11000
  expect(cap.fitting()).toEqual(["small", "medium", "medium+", "acme/big-disk"]);
  const b = cap.reserve("medium+"); // 6144 more: 1784 left
  expect(cap.fitting()).toEqual([]);
  b();
  a();
  expect(cap.fitting()).toContain("acme/huge");
  // A builder without them never offers them.
  expect(new Capacity(11_000).fitting()).not.toContain("acme/big-disk");
});

test("the builder refuses to start on classes that do not resolve, and says why", () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-classes-"));
  try {
    const bad = join(dir, "classes.json");
    writeFileSync(bad, '{"acme/big-disk": {"cpus": 2, "memory": "4GiB", "disk": "1MiB"}}');
    const identity = (extra: object) => {
      const path = join(dir, "builder.json");
      writeFileSync(path, JSON.stringify({ server: "http://127.0.0.1:9", ...extra }), { mode: 0o600 });
      return path;
    };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(import.meta.dir, "cli.ts"), ...args], { encoding: "utf8" });
    // The flag, at `run` (and at `register`, before anything is registered).
    const run = cli("run", "--config", identity({}), "--resource-classes", bad);
    expect(run.status).toBe(2);
    expect(run.stderr).toStartWith(
      `cairn-builder: --resource-classes ${bad}: resource class acme/big-disk: disk must be at least 16 MiB (an ext4 layer), got "1MiB"\n`,
    );
    const register = cli(
      "register",
      ...["--server", "http://127.0.0.1:9", "--token", "x", "--config", join(dir, "new.json")],
      ...["--resource-classes", join(dir, "nope.yaml")],
    );
    expect(register.status).toBe(2);
    expect(register.stderr).toStartWith(`cairn-builder: --resource-classes ${dir}/nope.yaml: ENOENT`);
    // Classes stored in the identity (registered, or edited by hand) are checked the same way.
    const stored = identity({ resource_classes: { "acme/x": { cpus: 2, memory: "4GiB", swap: "1GiB" } } });
    const fromIdentity = cli("run", "--config", stored);
    expect(fromIdentity.status).toBe(1);
    expect(fromIdentity.stderr).toBe(
      `cairn-builder: ${stored} resource_classes: resource class acme/x: unknown field "swap" (the fields are cpus, memory, pids, disk, network)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
