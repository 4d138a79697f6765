// `cairn-server backup` then `restore` into a new data dir, with the binaries: the same projects, the
// secrets still open (restore's verification, and a build on the restored server sees the value),
// the same logs; a non-empty target is refused. Also to and from S3 (s3rver) through the blob adapter.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cleanUp } from "./harness/clean-up.ts";
import {
  builderBinary,
  type Install,
  installBinaries,
  logText,
  type Running,
  run,
  runPipeline,
  type ServerBinary,
  serveBinary,
} from "./support/binaries.ts";
import { createRepo, type TestRepo } from "./support/git.ts";
import { startS3rver } from "./support/s3rver.ts";

const CONFIG = `version: 2.1
jobs:
  secretive:
    machine: true
    steps:
      - run:
          name: Use the secret
          command: |
            echo "deploying with $DEPLOY_TOKEN"
            test "$DEPLOY_TOKEN" = "s3cr3t-value-for-backup" && echo "secret delivered intact"
workflows:
  main:
    jobs: [secretive]
`;

type Project = { id: string; name: string };
type EnvVar = { name: string };

describe("backup and restore (binaries)", () => {
  let install: Install;
  let work: string;
  let server: ServerBinary | undefined;
  let builder: Running | undefined;
  let projectId = "";
  let jobId = "";
  let logBefore = "";
  let projectsBefore: Project[] = [];
  let restoredServer: ServerBinary | undefined;
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    install = await installBinaries();
    work = mkdtempSync(join(tmpdir(), "cairn-backup-test-"));
    const dataDir = join(work, "data");
    expect((await run(install, install.server, ["init"], { CAIRN_DATA_DIR: dataDir })).code).toBe(0);
    server = await serveBinary(install, dataDir);
    builder = await builderBinary(install, server, "backup-builder");
    const repo = createRepo();
    repos.push(repo);
    repo.commit({ ".circleci/config.yml": CONFIG });
    projectId = (
      (await (
        await server.api("/api/v1/projects", { method: "POST", json: { name: "kept", repo_url: repo.bare } })
      ).json()) as Project
    ).id;
    const env = await server.api(`/api/v1/projects/${projectId}/envvars`, {
      method: "POST",
      json: { name: "DEPLOY_TOKEN", value: "s3cr3t-value-for-backup" },
    });
    expect(env.status).toBeLessThan(300);
    const jobs = await runPipeline(server, projectId);
    jobId = jobs[0]!.id;
    expect(
      jobs.map((j) => j.status),
      builder.output() + (await logText(server, jobId)),
    ).toEqual(["success"]);
    logBefore = await logText(server, jobId);
    expect(logBefore).toContain("secret delivered intact");
    expect(logBefore).not.toContain("s3cr3t-value-for-backup"); // masked
    projectsBefore = ((await (await server.api("/api/v1/projects")).json()) as { items: Project[] }).items;
    expect(projectsBefore.map((p) => p.name)).toEqual(["kept"]);
    await builder.stop();
    builder = undefined;
  }, 120_000);

  afterAll(() =>
    cleanUp([
      () => builder?.stop(),
      () => server?.stop(),
      () => restoredServer?.stop(),
      // The install (both binaries) lives in one temp folder of its own.
      () => install && rmSync(dirname(install.bin), { recursive: true, force: true }),
      () => work && rmSync(work, { recursive: true, force: true }),
      ...repos.map((r) => () => r.remove()),
    ]),
  );

  /** A backup of the server's data dir, made once, that the restore tests read (the first test makes its own). */
  let fixture: Promise<string> | undefined;
  const backup = () => {
    fixture ??= (async () => {
      const file = join(work, "fixture.tar.gz");
      const r = await backupTo(file);
      if (r.code !== 0) throw new Error(`cairn-server backup failed (exit ${r.code}): ${r.err}`);
      return file;
    })();
    return fixture;
  };

  const backupTo = (target: string) =>
    run(install, install.server, ["backup", target], { CAIRN_DATA_DIR: join(work, "data") });

  test("a backup of a running server is one 0600 file, with a loud warning about the master key", async () => {
    const file = join(work, "cairn.tar.gz");
    // A stand-in for `init --self-signed`'s CA (a real one would switch this server to HTTPS).
    mkdirSync(join(work, "data", "tls"), { recursive: true });
    writeFileSync(join(work, "data", "tls", "ca.pem"), "stand-in\n");
    const r = await backupTo(file);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain("MASTER KEY");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const tar = Bun.spawnSync(["tar", "-tzf", file]);
    const names = tar.stdout.toString().split("\n");
    expect(names).toContain("cairn.db");
    expect(names).toContain("master.key");
    expect(names).toContain(`blobs/logs/${jobId}.ndjson`); // the finished job's archived log
    expect(names).toContain("tls/ca.pem");
    expect(names.some((n) => n.startsWith("repos/"))).toBe(false);
    // Never overwrites.
    expect((await backupTo(file)).code).toBe(1);
  });

  test("restore refuses a non-empty data dir", async () => {
    const busy = join(work, "busy");
    mkdirSync(busy);
    writeFileSync(join(busy, "something"), "x");
    const r = await run(install, install.server, ["restore", await backup(), "--data-dir", busy]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("not empty");
  });

  test("restore into a new data dir: same projects, secrets open, same logs, and it builds", async () => {
    const adminToken = server!.token;
    const restored = join(work, "restored");
    const r = await run(install, install.server, ["restore", await backup(), "--data-dir", restored]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/all [1-9]\d* sealed value\(s\) open with master key/);
    expect(r.out).toContain("1 project(s)");

    // The admin token file is not in a backup; the token (its hash is in the database) still works.
    // Served beside the original, which the other tests still back up.
    const again = await serveBinary(install, restored, adminToken);
    restoredServer = again;
    expect(((await (await again.api("/api/v1/projects")).json()) as { items: Project[] }).items).toEqual(
      projectsBefore,
    );
    const vars = (await (await again.api(`/api/v1/projects/${projectId}/envvars`)).json()) as {
      items: EnvVar[];
    };
    expect(vars.items.map((v) => v.name)).toEqual(["DEPLOY_TOKEN"]);
    expect(await logText(again, jobId)).toBe(logBefore);

    // The restored key opens the sealed value for a new build on the restored server.
    builder = await builderBinary(install, again, "after-restore");
    const jobs = await runPipeline(again, projectId);
    expect(
      jobs.map((j) => j.status),
      builder.output(),
    ).toEqual(["success"]);
    expect(await logText(again, jobs[0]!.id)).toContain("secret delivered intact");
    await builder.stop();
    builder = undefined;
  }, 90_000);

  test("restore refuses a backup whose master key does not open the secrets", async () => {
    const unpacked = join(work, "unpacked");
    mkdirSync(unpacked);
    expect(Bun.spawnSync(["tar", "-xzf", await backup(), "-C", unpacked]).exitCode).toBe(0);
    writeFileSync(
      join(unpacked, "master.key"),
      `${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}\n`,
      {
        mode: 0o600,
      },
    );
    const forged = join(work, "forged.tar.gz");
    expect(Bun.spawnSync(["tar", "-czf", forged, "-C", unpacked, "."]).exitCode).toBe(0);
    const r = await run(install, install.server, ["restore", forged, "--data-dir", join(work, "forged")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("could not be opened");
  });

  test("to and from S3 (s3rver) with the CAIRN_S3_* endpoint and credentials", async () => {
    const s3 = await startS3rver();
    try {
      // Endpoint and credentials only: the bucket comes from the URL, and the blobs stay local (so they are archived).
      const env = {
        CAIRN_S3_ENDPOINT: s3.endpoint,
        CAIRN_S3_ACCESS_KEY_ID: s3.accessKeyId,
        CAIRN_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        CAIRN_S3_PATH_STYLE: "true",
      };
      const dataDir = join(work, "data");
      const up = await run(install, install.server, ["backup", `s3://${s3.bucket}/backups/one.tar.gz`], {
        ...env,
        CAIRN_DATA_DIR: dataDir,
      });
      expect(up.code, up.err).toBe(0);
      const down = await run(
        install,
        install.server,
        ["restore", `s3://${s3.bucket}/backups/one.tar.gz`, "--data-dir", join(work, "from-s3")],
        env,
      );
      expect(down.code, down.err).toBe(0);
      expect(down.out).toContain("1 project(s)");
      expect(down.out).toMatch(/[1-9]\d* blob file\(s\)/);
    } finally {
      await s3.stop();
    }
  }, 60_000);
});
