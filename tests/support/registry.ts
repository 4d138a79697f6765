// A real OCI registry for tests and benchmarks: Debian's `docker-registry` on 127.0.0.1 at a free
// port, and small images built here with umoci from the host's static busybox (cached under
// CAIRN_TEST_CACHE so repeated runs skip the build), pushed with skopeo over plain HTTP.
// With `users`, a private registry: every request needs one of their htpasswd (bcrypt) logins.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const IMAGE_TOOLS = ["docker-registry", "skopeo", "umoci", "busybox"] as const;

/** Why the registry tests cannot run here (a missing tool), or undefined. */
export function registryMissingReason(): string | undefined {
  for (const tool of IMAGE_TOOLS) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} not found (apt-get install -y docker-registry skopeo umoci busybox-static)`;
  }
  // ldd fails on a static binary; the image store copies /bin/busybox into images as their PID 1.
  if (spawnSync("ldd", ["/bin/busybox"]).status === 0)
    return "/bin/busybox is not static (apt-get install -y busybox-static)";
  return undefined;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The access log so far, a request a line: `GET /v2/<repo>/blobs/sha256:… HTTP/1.1" 200 …`. */
  requests(): string[];
  /**
   * Stops it and serves the same storage on the same port again, now requiring one of `users`'
   * logins (or none): an image pushed while it was public becomes private. The access log goes on.
   */
  restart(users?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Login → password: every request then needs one of them. */
  users?: Record<string, string>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "cairn-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let stderr = "";
  let log = "";
  const requests = () =>
    log
      .split("\n")
      .filter((l) => l.includes('"'))
      .map((l) => l.slice(l.indexOf('"') + 1));
  const halt = async () => {
    // Killed by a signal, a child's exitCode stays null: stopping twice must not wait for a second exit.
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  /** Writes the config (with `users`' htpasswd logins, or none) and serves `dir/data` on `host`. */
  const launch = async (users: Record<string, string> | undefined) => {
    const config = [
      "version: 0.1",
      "log: {level: error, accesslog: {disabled: false}}",
      `storage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}`,
      `http: {addr: "${host}"}`,
    ];
    if (users) {
      // Bun's bcrypt is `$2b$`, which the registry's htpasswd accepts.
      const lines = await Promise.all(
        Object.entries(users).map(
          async ([user, password]) => `${user}:${await Bun.password.hash(password, { algorithm: "bcrypt" })}`,
        ),
      );
      writeFileSync(join(dir, "htpasswd"), `${lines.join("\n")}\n`);
      config.push(`auth: {htpasswd: {realm: cairn-test, path: ${dir}/htpasswd}}`);
    }
    writeFileSync(join(dir, "config.yml"), config.join("\n"));
    const c = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    stderr = "";
    c.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    c.stdout?.on("data", (b: Buffer) => {
      log += b.toString();
    });
    for (let i = 0; i < 100; i++) {
      if (c.exitCode !== null) break;
      // A private registry answers 401 to a request with no login: it is up.
      const up = await fetch(`http://${host}/v2/`).then(
        (r) => r.ok || (Boolean(users) && r.status === 401),
        () => false,
      );
      if (up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    throw new Error(`docker-registry did not start on ${host}: ${stderr.trim()}`);
  };
  await launch(opts.users);
  const restart = async (users?: Record<string, string>) => {
    await halt();
    await launch(users);
  };
  return { host, requests, stop, restart };
}

export interface ImageSpec {
  /** Written to /marker: proves which image a job ran. */
  marker: string;
  /** The image config's User (`1000:1000`, `user`). */
  user?: string;
  env?: string[];
  workdir?: string;
  /** Incompressible bytes added as /padding, to make a big image. */
  padBytes?: number;
  /** The image config's Entrypoint and Cmd (a service container's command). */
  entrypoint?: string[];
  cmd?: string[];
}

const CACHE = process.env.CAIRN_TEST_CACHE ?? "/var/tmp/cairn-test-cache";

function run(argv: string[], what: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** An OCI layout holding `spec` as its `image` tag: built once, then taken from the test cache. */
export function buildImage(spec: ImageSpec): string {
  const key = createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 16);
  const layout = join(CACHE, "images", key);
  if (existsSync(join(layout, "index.json"))) return layout;
  // A test that started the server in-process inherited its umask 077: an image built under it
  // would have a /bin its non-root user cannot enter.
  const umask = process.umask(0o022);
  mkdirSync(join(CACHE, "images"), { recursive: true });
  const work = mkdtempSync(join(CACHE, "images", `.build-${key}-`));
  try {
    const tmpLayout = join(work, "layout");
    const bundle = join(work, "bundle");
    run(["umoci", "init", "--layout", tmpLayout], "umoci init");
    run(["umoci", "new", "--image", `${tmpLayout}:image`], "umoci new");
    run(["umoci", "unpack", "--image", `${tmpLayout}:image`, bundle], "umoci unpack");
    const root = join(bundle, "rootfs");
    for (const d of ["bin", "etc", "tmp", "root", "home/user"]) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, "tmp"), 0o1777);
    run(["cp", "/bin/busybox", join(root, "bin/busybox")], "cp busybox");
    run(
      [
        "sh",
        "-c",
        'cd "$1" && for a in $(./busybox --list); do [ "$a" = busybox ] || ln -s busybox "$a"; done',
        "ln",
        join(root, "bin"),
      ],
      "applet links",
    );
    writeFileSync(
      join(root, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    );
    writeFileSync(join(root, "etc/group"), "root:x:0:\nuser:x:1000:\n");
    run(["chown", "1000:1000", join(root, "home/user")], "chown");
    writeFileSync(join(root, "marker"), `${spec.marker}\n`);
    if (spec.padBytes)
      run(["sh", "-c", `head -c ${spec.padBytes} /dev/urandom >"$1"`, "pad", join(root, "padding")], "pad");
    run(["umoci", "repack", "--image", `${tmpLayout}:image`, bundle], "umoci repack");
    const config = ["umoci", "config", "--image", `${tmpLayout}:image`, "--config.env", "PATH=/bin"];
    for (const e of spec.env ?? []) config.push("--config.env", e);
    if (spec.user) config.push("--config.user", spec.user);
    if (spec.workdir) config.push("--config.workingdir", spec.workdir);
    for (const e of spec.entrypoint ?? []) config.push("--config.entrypoint", e);
    for (const c of spec.cmd ?? []) config.push("--config.cmd", c);
    run(config, "umoci config");
    run(["umoci", "gc", "--layout", tmpLayout], "umoci gc");
    rmSync(layout, { recursive: true, force: true });
    renameSync(tmpLayout, layout);
  } finally {
    rmSync(work, { recursive: true, force: true });
    process.umask(umask);
  }
  return layout;
}

/**
 * Pushes `spec`'s image to `registry/repository:tag` (logged in as `creds`, `user:password`, on a
 * private registry); returns its manifest digest there.
 */
export function pushImage(
  registry: string,
  repository: string,
  tag: string,
  spec: ImageSpec,
  creds?: string,
): string {
  const layout = buildImage(spec);
  run(
    [
      "skopeo",
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      ...(creds ? ["--dest-creds", creds] : []),
      `oci:${layout}:image`,
      `docker://${registry}/${repository}:${tag}`,
    ],
    "skopeo copy",
  );
  return run(
    [
      "skopeo",
      "inspect",
      "--tls-verify=false",
      ...(creds ? ["--creds", creds] : []),
      "--format",
      "{{.Digest}}",
      `docker://${registry}/${repository}:${tag}`,
    ],
    "skopeo inspect",
  ).trim();
}
