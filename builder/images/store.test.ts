// The image store against a real registry (docker-registry on loopback), real skopeo and umoci,
// and real LXC templates in a private lxcpath.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "../../tests/harness/clean-up.ts";
import { ensureBaseTemplate, TEMPLATE, testLxcPath } from "../../tests/harness/lxc.ts";
import { imageSuiteSkips, removeStoreImages } from "../../tests/support/image-suite.ts";
import { pushImage, startRegistry, type TestRegistry } from "../../tests/support/registry.ts";
import { createLocalTransport } from "../transport/local.ts";
import { ImagePullError, ImageStore, type PreparedImage } from "./store.ts";

const skip = await imageSuiteSkips();
// This run's own lxcpath: a sweep after a kill finds the image templates there.
const LXC_PATH = skip ? "" : testLxcPath("images");

describe.skipIf(skip)("image store", () => {
  let registry: TestRegistry;
  let dir: string;
  const dirs: string[] = [];
  const transport = createLocalTransport();
  const suffix = Math.random().toString(36).slice(2, 8);
  const store = (over: ConstructorParameters<typeof ImageStore>[1] = {}) =>
    new ImageStore(
      transport,
      { dir, insecureRegistries: [registry.host], graceSeconds: 0, ...over },
      { lxcPath: LXC_PATH, baseTemplate: TEMPLATE },
    );

  beforeAll(async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    registry = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), "cairn-images-"));
    dirs.push(dir);
  });
  // The registry, then the templates this suite's stores made (found by their store dirs), then those dirs.
  afterAll(() => cleanUp([() => registry?.stop(), () => removeStoreImages(LXC_PATH, dirs)]));

  test("pulls, unpacks and caches by digest; the image's Env, User and WorkingDir come back", async () => {
    const digest = pushImage(registry.host, `t${suffix}/one`, "1", {
      marker: "one",
      user: "1000:1000",
      env: ["FOO=bar"],
      workdir: "/work",
    });
    const s = store();
    const first = await s.prepare(`${registry.host}/t${suffix}/one:1`);
    expect(first).toMatchObject({ digest, cached: false, workdir: "/work" });
    expect(first.bytes).toBeGreaterThan(100_000);
    expect(first.env).toEqual({ PATH: "/bin", FOO: "bar", HOME: "/home/user" });
    expect(first.user).toEqual({ uid: 1000, gid: 1000, home: "/home/user", name: "user" });
    const config = readFileSync(join(LXC_PATH, first.template, "config"), "utf8");
    expect(config).toContain(`lxc.rootfs.path = dir:${dir}/bundles/${first.template}/rootfs`);
    expect(config).not.toContain("lxc.mount.entry = /usr");
    expect(readFileSync(join(dir, "bundles", first.template, "rootfs/marker"), "utf8")).toBe("one\n");
    const again = await s.prepare(`${registry.host}/t${suffix}/one:1`);
    expect(again).toMatchObject({ digest, cached: true, bytes: 0, template: first.template });
  });

  test("the mirror map rewrites where an image is pulled from", async () => {
    const digest = pushImage(registry.host, `t${suffix}/mirror/one`, "1", { marker: "mirrored" });
    const s = store({ mirrors: { "example/*": `${registry.host}/t${suffix}/mirror/*` } });
    const got = await s.prepare("example/one:1");
    expect(got).toMatchObject({
      name: "example/one:1",
      digest,
      pulledFrom: `${registry.host}/t${suffix}/mirror/one:1`,
    });
  });

  test("a pinned digest is what runs, whatever the tag points at now", async () => {
    const repo = `${registry.host}/t${suffix}/pinned`;
    const old = pushImage(registry.host, `t${suffix}/pinned`, "v", { marker: "old" });
    pushImage(registry.host, `t${suffix}/pinned`, "v", { marker: "new" });
    const got = await store().prepare(`${repo}:v@${old}`);
    expect(got.digest).toBe(old);
    expect(readFileSync(join(dir, "bundles", got.template, "rootfs/marker"), "utf8")).toBe("old\n");
  });

  test("a moving tag is re-resolved once the interval has passed, not before", async () => {
    const repo = `${registry.host}/t${suffix}/moving`;
    const a = pushImage(registry.host, `t${suffix}/moving`, "latest", { marker: "a" });
    expect((await store({ resolveMinutes: 60 }).prepare(repo)).digest).toBe(a);
    const b = pushImage(registry.host, `t${suffix}/moving`, "latest", { marker: "b" });
    // Resolved moments ago and trusted for an hour: the registry is not asked.
    expect((await store({ resolveMinutes: 60 }).prepare(repo)).digest).toBe(a);
    // An interval of zero has always passed.
    expect((await store({ resolveMinutes: 0 }).prepare(repo)).digest).toBe(b);
  });

  test("a missing image fails with the registry's words; so does a registry nobody serves", async () => {
    const err = await store()
      .prepare(`${registry.host}/t${suffix}/nope:1`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImagePullError);
    expect((err as Error).message).toContain(
      `cannot pull image ${registry.host}/t${suffix}/nope:1 from ${registry.host}`,
    );
    expect((err as Error).message).toContain("manifest unknown");
    const down = await store({ insecureRegistries: ["127.0.0.1:9"] })
      .prepare("127.0.0.1:9/x/y:1")
      .then(
        () => new Error("pulled"),
        (e: unknown) => e as Error,
      );
    expect(down.message).toContain("cannot pull image 127.0.0.1:9/x/y:1 from 127.0.0.1:9");
    expect(down.message).toContain("connection refused");
  });

  test("collection evicts least recently used images first, never one in use", async () => {
    const names = ["gc-a", "gc-b", "gc-c", "gc-d"];
    for (const n of names) pushImage(registry.host, `t${suffix}/${n}`, "1", { marker: n });
    const gcDir = mkdtempSync(join(tmpdir(), "cairn-images-gc-"));
    dirs.push(gcDir);
    const s = store({ budgetBytes: 1 << 40, dir: gcDir });
    const prepared: PreparedImage[] = [];
    for (const n of names) prepared.push(await s.prepare(`${registry.host}/t${suffix}/${n}:1`));
    const [a, b, c, d] = prepared as [PreparedImage, PreparedImage, PreparedImage, PreparedImage];
    // Use order a, c, d, b: b is the most recently used.
    s.release(await s.prepare(`${registry.host}/t${suffix}/gc-b:1`));
    // a: a container is cloned from it (in use on the host); c: held by a job of this builder.
    const clone = `cairn-imgtest-${suffix}`;
    const made = spawnSync("lxc-copy", [
      "-P",
      LXC_PATH,
      "-n",
      a.template,
      "-N",
      clone,
      "-s",
      "-B",
      "overlay",
    ]);
    expect(made.status).toBe(0);
    try {
      for (const p of [a, b, d]) s.release(p);
      const size = (p: PreparedImage) =>
        Number(readFileSync(join(gcDir, "bundles", p.template, "cairn-size"), "utf8"));
      const total = [a, b, c, d].reduce((n, p) => n + size(p), 0);
      // One byte over budget: d goes (a is older but in use, c is held, b was used since).
      expect(await s.collect(total - 1)).toEqual([d.digest]);
      // Nothing fits a budget of 0, yet what is in use stays.
      expect(await s.collect(0)).toEqual([b.digest]);
      expect(existsSync(join(gcDir, "bundles", b.template))).toBe(false);
      expect(existsSync(join(LXC_PATH, b.template))).toBe(false);
      expect(existsSync(join(gcDir, "bundles", a.template, "rootfs/marker"))).toBe(true);
      expect(existsSync(join(gcDir, "bundles", c.template, "rootfs/marker"))).toBe(true);
    } finally {
      spawnSync("lxc-destroy", ["-P", LXC_PATH, "-f", "-n", clone]);
    }
    // With its clone gone and its job done, a goes too.
    s.release(c);
    expect((await s.collect(0)).sort()).toEqual([a.digest, c.digest].sort());
  });
});
