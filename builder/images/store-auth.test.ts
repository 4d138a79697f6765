// One job's registry credentials never open the image cache to another: an image that needed a
// login is served from the cache only once the registry has accepted the asking job's own (a
// manifest request), on each way a cached image is reused — a pinned digest, a tag resolved within
// the interval, a tag whose re-resolution fails. An image that was public when cached and is private
// now is treated so once its `public` mark has expired (`accessMinutes`). Real docker-registry with
// htpasswd logins on loopback, real skopeo, umoci and LXC templates in a private lxcpath.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp } from "../../tests/harness/clean-up.ts";
import { ensureBaseTemplate, TEMPLATE, testLxcPath } from "../../tests/harness/lxc.ts";
import { imageSuiteSkips, removeStoreImages } from "../../tests/support/image-suite.ts";
import { pushImage, startRegistry, type TestRegistry } from "../../tests/support/registry.ts";
import { createLocalTransport } from "../transport/local.ts";
import { ImagePullError, ImageStore, type PreparedImage, type RegistryCredentials } from "./store.ts";

const skip = await imageSuiteSkips();
const LXC_PATH = skip ? "" : testLxcPath("images");

describe.skipIf(skip)("the image cache and private registries", () => {
  let priv: TestRegistry;
  let pub: TestRegistry;
  let dir: string;
  const dirs: string[] = [];
  const registries: TestRegistry[] = [];
  const transport = createLocalTransport();
  const suffix = Math.random().toString(36).slice(2, 8);
  const alice: RegistryCredentials = { username: "alice", password: `pw-${suffix}` };
  const wrong: RegistryCredentials = { username: "alice", password: "not-her-password" };
  const login = `${alice.username}:${alice.password}`;
  // A tag resolved moments ago is trusted for an hour unless a test says otherwise.
  const store = (over: ConstructorParameters<typeof ImageStore>[1] = {}) =>
    new ImageStore(
      transport,
      { dir, insecureRegistries: [priv.host, pub.host], graceSeconds: 0, resolveMinutes: 60, ...over },
      { lxcPath: LXC_PATH, baseTemplate: TEMPLATE },
    );
  const refusal = (p: Promise<PreparedImage>) =>
    p.then(
      (got) => new Error(`served ${got.digest} (cached: ${got.cached})`),
      (e: unknown) => e as Error,
    );
  const count = (r: TestRegistry, pattern: RegExp) => r.requests().filter((l) => pattern.test(l)).length;
  const blobs = /^GET \/v2\/\S+\/blobs\//;
  /** The image's layers, as the registry serves them: a pull fetches each; a check, none. */
  const layers = (name: string) => {
    const r = spawnSync("skopeo", ["inspect", "--tls-verify=false", "--creds", login, `docker://${name}`], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`skopeo inspect ${name}: ${r.stderr}`);
    const digests = (JSON.parse(r.stdout) as { Layers: string[] }).Layers;
    expect(digests.length).toBeGreaterThan(0);
    return new RegExp(`^GET /v2/\\S+/blobs/(${digests.join("|")}) `);
  };
  /** The access mark (`public <time>` or `auth`), without its time. */
  const access = (digest: string) =>
    readFileSync(join(dir, "access", digest.slice(7)), "utf8")
      .trim()
      .split(" ")[0];

  /** Pushes a private image as alice and pulls it through the store with her login. */
  async function pullPrivate(repository: string, registry = priv) {
    const digest = pushImage(registry.host, `p${suffix}/${repository}`, "1", { marker: repository }, login);
    const name = `${registry.host}/p${suffix}/${repository}:1`;
    const first = await store({ insecureRegistries: [registry.host] }).prepare(name, alice);
    expect(first).toMatchObject({ digest, cached: false });
    expect(first.bytes).toBeGreaterThan(100_000);
    expect(access(digest)).toBe("auth");
    return { name, digest, first };
  }

  beforeAll(async () => {
    await ensureBaseTemplate({ lxcPath: LXC_PATH });
    [priv, pub] = await Promise.all([
      startRegistry({ users: { [alice.username]: alice.password } }),
      startRegistry(),
    ]);
    registries.push(priv, pub);
    dir = mkdtempSync(join(tmpdir(), "cairn-images-auth-"));
    dirs.push(dir);
  });
  afterAll(() =>
    cleanUp([...registries.map((r) => () => r.stop()), () => removeStoreImages(LXC_PATH, dirs)]),
  );

  test("the registry refuses a pull without its login, and the test's bcrypt logins work", async () => {
    const err = await refusal(store().prepare(`${priv.host}/p${suffix}/none:1`));
    expect(err).toBeInstanceOf(ImagePullError);
    expect(err.message).toContain("unauthorized");
    await pullPrivate("login");
  });

  test("a pinned digest in the cache: refused without credentials or with wrong ones; the right ones reuse it", async () => {
    const { digest, first } = await pullPrivate("by-digest");
    const pinned = `${priv.host}/p${suffix}/by-digest@${digest}`;
    for (const creds of [undefined, wrong]) {
      const err = await refusal(store().prepare(pinned, creds));
      expect(err).toBeInstanceOf(ImagePullError);
      expect(err.message).toContain(`cannot pull image ${pinned} from ${priv.host}`);
      expect(err.message).toContain("unauthorized");
    }
    const pulled = count(priv, blobs);
    const hit = await store().prepare(pinned, alice);
    expect(hit).toMatchObject({ digest, cached: true, checked: true, bytes: 0, template: first.template });
    // The builder's own credentials for the registry (registry-login) are every job's there.
    const builders = await store({ credentials: { [priv.host]: alice } }).prepare(pinned);
    expect(builders).toMatchObject({ digest, cached: true, checked: true, bytes: 0 });
    // ...but a job's own `auth:` wins, wrong or not.
    expect(
      (await refusal(store({ credentials: { [priv.host]: alice } }).prepare(pinned, wrong))).message,
    ).toContain("unauthorized");
    // Checked by a manifest request: no layer was fetched again.
    expect(count(priv, blobs)).toBe(pulled);
  });

  test("a tag resolved within the interval: refused without credentials or with wrong ones, though the tag is not asked", async () => {
    const { name, digest, first } = await pullPrivate("by-tag");
    const tagAsked = new RegExp(`^(GET|HEAD) /v2/p${suffix}/by-tag/manifests/1 `);
    const asked = count(priv, tagAsked);
    for (const creds of [undefined, wrong]) {
      const err = await refusal(store().prepare(name, creds));
      expect(err).toBeInstanceOf(ImagePullError);
      expect(err.message).toContain(`cannot pull image ${name} from ${priv.host}`);
      expect(err.message).toContain("unauthorized");
    }
    const pulled = count(priv, blobs);
    const hit = await store().prepare(name, alice);
    expect(hit).toMatchObject({ digest, cached: true, checked: true, bytes: 0, template: first.template });
    expect(count(priv, blobs)).toBe(pulled);
    // Each answer came from the cached resolution of the tag, the path under test.
    expect(count(priv, tagAsked)).toBe(asked);
  });

  test("a tag whose re-resolution is refused is not run from the cache; one that resolves with the job's login is", async () => {
    const { name, digest } = await pullPrivate("stale");
    const layer = layers(name);
    expect(count(priv, layer)).toBeGreaterThan(0);
    for (const creds of [undefined, wrong]) {
      const err = await refusal(store({ resolveMinutes: 0 }).prepare(name, creds));
      expect(err).toBeInstanceOf(ImagePullError);
      expect(err.message).toContain("unauthorized");
    }
    const pulled = count(priv, layer);
    // Resolved just now with alice's login (skopeo inspect: the manifest and config): that was the check.
    const hit = await store({ resolveMinutes: 0 }).prepare(name, alice);
    expect(hit).toMatchObject({ digest, cached: true, bytes: 0 });
    expect(hit.checked).toBeUndefined();
    expect(hit.stale).toBeUndefined();
    expect(count(priv, layer)).toBe(pulled);
  });

  test("a registry nobody answers: a private image is not run from the cache, even with the right login; a public one is, with a warning", async () => {
    const down = await startRegistry({ users: { [alice.username]: alice.password } });
    const downPublic = await startRegistry();
    registries.push(down, downPublic);
    const { name } = await pullPrivate("unreachable", down);
    pushImage(downPublic.host, `p${suffix}/unreachable-public`, "1", { marker: "public" });
    const publicName = `${downPublic.host}/p${suffix}/unreachable-public:1`;
    const hosts = { insecureRegistries: [down.host, downPublic.host] };
    const before = await store(hosts).prepare(publicName);
    expect(access(before.digest)).toBe("public");
    await Promise.all([down.stop(), downPublic.stop()]);

    const err = await refusal(store({ ...hosts, resolveMinutes: 0 }).prepare(name, alice));
    expect(err).toBeInstanceOf(ImagePullError);
    expect(err.message).toContain(`cannot pull image ${name} from ${down.host}`);
    expect(err.message).toContain("connection refused");
    const stale = await store({ ...hosts, resolveMinutes: 0 }).prepare(publicName);
    expect(stale).toMatchObject({ digest: before.digest, cached: true, template: before.template });
    expect(stale.stale).toContain("connection refused");
    // Pinned, its public mark expired: the registry cannot say it is private now, so it is served, with a warning.
    const pinned = await store({ ...hosts, accessMinutes: 0 }).prepare(
      `${downPublic.host}/p${suffix}/unreachable-public@${before.digest}`,
    );
    expect(pinned).toMatchObject({ digest: before.digest, cached: true, template: before.template });
    expect(pinned.unasked).toContain("connection refused");
    expect(pinned.stale).toBeUndefined();
    expect(access(before.digest)).toBe("public");
  });

  test("an image cached while public and private now: refused without credentials once its mark has expired, not before", async () => {
    const flip = await startRegistry();
    registries.push(flip);
    const hosts = { insecureRegistries: [flip.host] };
    const repo = `${flip.host}/p${suffix}`;
    // By tag (resolved within the interval), by pinned digest, and by a tag whose re-resolution is refused.
    const byTag = `${repo}/flip-tag:1`;
    const tagDigest = pushImage(flip.host, `p${suffix}/flip-tag`, "1", { marker: "flip-tag" });
    const pinDigest = pushImage(flip.host, `p${suffix}/flip-pin`, "1", { marker: "flip-pin" });
    const pinned = `${repo}/flip-pin@${pinDigest}`;
    const staleTag = `${repo}/flip-stale:1`;
    const staleDigest = pushImage(flip.host, `p${suffix}/flip-stale`, "1", { marker: "flip-stale" });
    const first = new Map<string, PreparedImage>();
    for (const [name, digest] of [
      [byTag, tagDigest],
      [pinned, pinDigest],
      [staleTag, staleDigest],
    ] as const) {
      const got = await store(hosts).prepare(name);
      expect(got).toMatchObject({ digest, cached: false });
      expect(access(digest)).toBe("public");
      first.set(name, got);
    }
    await flip.restart({ [alice.username]: alice.password });
    expect((await refusal(store(hosts).prepare(`${repo}/flip-none:1`))).message).toContain("unauthorized");

    // Within the interval the mark is trusted: served to anyone, and the registry is asked nothing.
    const seen = flip.requests().length;
    for (const name of [byTag, pinned]) {
      const hit = await store(hosts).prepare(name);
      expect(hit).toMatchObject({ cached: true, bytes: 0 });
      expect(hit.checked).toBeUndefined();
    }
    expect(flip.requests().slice(seen)).toEqual([]);

    // After it: without credentials or with wrong ones, refused in the registry's words; alice's open it.
    const tagAsked = new RegExp(`^(GET|HEAD) /v2/p${suffix}/flip-tag/manifests/1 `);
    const asked = count(flip, tagAsked);
    const pulled = count(flip, blobs);
    for (const [name, digest] of [
      [byTag, tagDigest],
      [pinned, pinDigest],
    ] as const) {
      for (const creds of [undefined, wrong]) {
        const err = await refusal(store({ ...hosts, accessMinutes: 0 }).prepare(name, creds));
        expect(err).toBeInstanceOf(ImagePullError);
        expect(err.message).toContain(`cannot pull image ${name} from ${flip.host}`);
        expect(err.message).toContain("unauthorized");
      }
      expect(access(digest)).toBe("auth");
      // Marked `auth` now: the interval no longer matters.
      expect((await refusal(store(hosts).prepare(name))).message).toContain("unauthorized");
      const hit = await store({ ...hosts, accessMinutes: 0 }).prepare(name, alice);
      expect(hit).toMatchObject({
        digest,
        cached: true,
        checked: true,
        bytes: 0,
        template: first.get(name)?.template,
      });
    }
    // Checked by manifest requests, the tag from its cached resolution: no layer, no tag asked.
    expect(count(flip, blobs)).toBe(pulled);
    expect(count(flip, tagAsked)).toBe(asked);

    // A public tag whose re-resolution is refused is not served stale, even with its mark fresh.
    const err = await refusal(store({ ...hosts, resolveMinutes: 0, accessMinutes: 60 }).prepare(staleTag));
    expect(err).toBeInstanceOf(ImagePullError);
    expect(err.message).toContain("unauthorized");
    expect(access(staleDigest)).toBe("auth");
    const resolved = await store({ ...hosts, resolveMinutes: 0 }).prepare(staleTag, alice);
    expect(resolved).toMatchObject({ digest: staleDigest, cached: true, bytes: 0 });
    expect(resolved.stale).toBeUndefined();

    // Public again: a job without credentials is served, and the image is marked public again.
    await flip.restart();
    const again = await store(hosts).prepare(pinned);
    expect(again).toMatchObject({ digest: pinDigest, cached: true, bytes: 0 });
    expect(access(pinDigest)).toBe("public");
  });

  test("a public image keeps the fast path: a cache hit asks the registry nothing", async () => {
    const digest = pushImage(pub.host, `p${suffix}/public`, "1", { marker: "public-fast-path" });
    const name = `${pub.host}/p${suffix}/public:1`;
    const first = await store().prepare(name);
    expect(first).toMatchObject({ digest, cached: false });
    expect(access(digest)).toBe("public");
    const seen = pub.requests().length;
    for (const ref of [name, `${pub.host}/p${suffix}/public@${digest}`]) {
      const hit = await store().prepare(ref);
      expect(hit).toMatchObject({ digest, cached: true, bytes: 0 });
      expect(hit.checked).toBeUndefined();
    }
    expect(pub.requests().slice(seen)).toEqual([]);
  });

  test("a private image pulled with a login the registry did not need is public: every job reuses it", async () => {
    const digest = pushImage(pub.host, `p${suffix}/public-with-login`, "1", { marker: "public-login" });
    const name = `${pub.host}/p${suffix}/public-with-login:1`;
    expect(await store().prepare(name, alice)).toMatchObject({ digest, cached: false });
    expect(access(digest)).toBe("public");
    const seen = pub.requests().length;
    expect(await store().prepare(name)).toMatchObject({ digest, cached: true });
    expect(pub.requests().slice(seen)).toEqual([]);
  });

  test("an image cached before the mark existed is asked about once, and a private one is refused; so is one marked public without a time", async () => {
    const { digest } = await pullPrivate("unmarked");
    const pinned = `${priv.host}/p${suffix}/unmarked@${digest}`;
    rmSync(join(dir, "access", digest.slice(7)));
    const err = await refusal(store().prepare(pinned));
    expect(err.message).toContain("unauthorized");
    expect(access(digest)).toBe("auth");
    // A `public` mark from before marks carried their time is as old as can be: asked about again.
    writeFileSync(join(dir, "access", digest.slice(7)), "public\n");
    expect((await refusal(store().prepare(pinned))).message).toContain("unauthorized");
    expect(access(digest)).toBe("auth");

    const publicDigest = pushImage(pub.host, `p${suffix}/unmarked-public`, "1", {
      marker: "unmarked-public",
    });
    const publicPinned = `${pub.host}/p${suffix}/unmarked-public@${publicDigest}`;
    await store().prepare(publicPinned);
    rmSync(join(dir, "access", publicDigest.slice(7)));
    expect(await store().prepare(publicPinned)).toMatchObject({ cached: true });
    expect(access(publicDigest)).toBe("public");
    const seen = pub.requests().length;
    expect(await store().prepare(publicPinned)).toMatchObject({ cached: true });
    expect(pub.requests().slice(seen)).toEqual([]);
  });
});
