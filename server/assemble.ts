// Builds the app's dependencies from configuration: the one place ports are chosen.
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadLogPipeline } from "../wasm/index.ts";
import { createApp } from "./app.ts";
import { blobStoreFor } from "./blobs/index.ts";
import { type Initialised, initialise, type ServerConfig } from "./bootstrap.ts";
import { projects } from "./db/schema.ts";
import type { AppDeps } from "./deps.ts";
import { deployKeyOf } from "./forge/project-forge.ts";
import { StatusReporter } from "./forge/status-reporter.ts";
import { startReplicaWatch } from "./logs/replica-watch.ts";
import { LogService } from "./logs/service.ts";
import { openBytes, seal } from "./secrets/index.ts";
import { jobValues } from "./services/context-restrictions.ts";
import { continuationSecret } from "./services/continuations.ts";
import { EventLog } from "./services/events.ts";
import { OidcIssuer } from "./services/oidc.ts";
import { PipelineSetup } from "./services/pipeline-setup.ts";
import { ScheduleRunner } from "./services/schedule-runner.ts";
import { Scheduler } from "./services/scheduler.ts";
import { DeliveredSecrets, SecretStore } from "./services/secret-store.ts";
import { StreamGuard } from "./services/stream-guard.ts";
import { TestResultService } from "./services/test-results.ts";
import { createGitMirror } from "./source/git-mirror.ts";
import { VERSION } from "./version.ts";

export interface Assembled extends Initialised {
  deps: AppDeps;
  app: ReturnType<typeof createApp>;
}

export interface AssembleOptions {
  tls?: boolean;
  upgradeWebSocket?: AppDeps["upgradeWebSocket"];
  /** The connection's peer address (default: Bun's); see trustedClientIp for proxies. */
  clientIp?: AppDeps["clientIp"];
  /** The runtime's full collection (RuntimeAdapter.collectGarbage), asked for by the log service (logs/garbage.ts). */
  collectGarbage?: () => void;
  /** The collector's heap now (RuntimeAdapter.heapBytes), watched by the log service (logs/garbage.ts). */
  heapBytes?: () => number;
}

/**
 * The audit log's source address: the connection's peer. Only with `trustProxy` (CAIRN_TRUST_PROXY=1: the
 * server sits behind a reverse proxy that appends to it) is the last X-Forwarded-For entry taken instead.
 */
export function trustedClientIp(peer: NonNullable<AppDeps["clientIp"]>, trustProxy: boolean) {
  if (!trustProxy) return peer;
  return (c: Parameters<typeof peer>[0]) => {
    const forwarded = c.req.header("x-forwarded-for")?.split(",").pop()?.trim();
    return forwarded || peer(c);
  };
}

export async function assemble(config: ServerConfig, opts: AssembleOptions = {}): Promise<Assembled> {
  const init = await initialise(config);
  const factory = await loadLogPipeline();
  const blobs = blobStoreFor(config.dataDir, config.s3);
  const keyring = init.keyring;
  const secrets = new SecretStore(init.db, keyring);
  const delivered = new DeliveredSecrets();
  const logs = new LogService({
    db: init.db,
    collectGarbage: opts.collectGarbage,
    heapBytes: opts.heapBytes,
    factory,
    blobs,
    sealer: {
      seal: (bytes, context) => seal(keyring, bytes, context),
      open: (envelope, context) => openBytes(keyring, envelope, context),
    },
    // Every secret a job was given is masked in its log (with its encoded forms).
    // A value changed while the job runs is masked in both versions: the one the job got and the new one.
    secretsFor: async (jobId) => [
      ...new Set([...delivered.get(jobId), ...(await secrets.valuesForJob(jobId))]),
    ],
  });
  const events = new EventLog(init.db);
  const { publicUrl, templates } = config;
  // deps.publicUrl is read when a token is made, so the issuer is always where discovery is served.
  let deps: AppDeps | undefined;
  const oidc = new OidcIssuer(init.db, keyring, {
    issuer: () => deps?.publicUrl ?? `http://${config.host}:${config.port}`,
    audience: config.oidcAudience,
  });
  const testResults = new TestResultService(init.db);
  const scheduler = new Scheduler({
    db: init.db,
    logs,
    events,
    leaseTtlMs: config.leaseTtlMs,
    sshWindowSeconds: config.sshWindowSeconds,
    templates,
    publicUrl: () => deps?.publicUrl ?? `http://${config.host}:${config.port}`,
    // A context's restrictions are checked here: a job that may not use one fails before it starts.
    // Its OIDC identity tokens travel sealed with its secrets (and are masked in its log like them).
    // A fork's job with secrets withheld (scheduler/fork-builds.ts) gets only the continuation key.
    jobSecrets: async (projectId, contexts, jobId, opts) =>
      delivered.remember(jobId, {
        ...(opts?.pipelineOnly
          ? {}
          : {
              ...(await secrets.forJob(projectId, contexts, await jobValues(init.db, jobId))),
              ...(await oidc.tokensForJob(jobId)),
            }),
        // A setup job's CIRCLE_CONTINUATION_KEY (services/continuations.ts): it continues only its own pipeline.
        ...(await continuationSecret(init.db, jobId)),
      }),
    checkoutKey: async (project) => deployKeyOf(keyring, project),
    testTimings: (projectId, jobName, pipelineId) => testResults.timings(projectId, jobName, pipelineId),
  });
  // Commit statuses go back to the forge in the background, from the events this process emits.
  const statuses = new StatusReporter({
    db: init.db,
    keyring,
    publicUrl: publicUrl ?? `http://${config.host}:${config.port}`,
    log: (msg) => console.error(msg),
  });
  events.subscribe(statuses.handle);
  // The mirror fetches over SSH with the project's deploy key and pinned host keys.
  const mirrorCredentials = async (projectId: string) => {
    const project = await init.db.query.projects.findFirst({ where: eq(projects.id, projectId) });
    const privateKey = project ? deployKeyOf(keyring, project) : null;
    return project && privateKey ? { privateKey, knownHosts: project.knownHosts } : null;
  };
  const source = createGitMirror(join(config.dataDir, "repos"), mirrorCredentials);
  deps = {
    db: init.db,
    source,
    logs,
    blobs,
    scheduler,
    schedules: new ScheduleRunner({ db: init.db, source, templates, events, scheduler }),
    events,
    setup: new PipelineSetup({ db: init.db, source, templates, events, scheduler }),
    streams: new StreamGuard(init.db),
    oidc,
    templates,
    version: VERSION,
    tls: opts.tls ?? false,
    keyring,
    secrets,
    publicUrl,
    githubOAuth: config.githubOAuth,
    clientIp: trustedClientIp(opts.clientIp ?? (() => null), config.trustProxy),
    upgradeWebSocket: opts.upgradeWebSocket,
  };
  return { ...init, deps, app: createApp(deps) };
}

/**
 * The server's background work: expiring leases of builders that died even when no builder polls,
 * fanning out log lines that other server processes stored, and firing due schedules. Returns the
 * function that stops it.
 */
export function startBackground(
  deps: AppDeps,
  opts: { leaseSweepMs?: number; scheduleTickMs?: number } = {},
): () => void {
  const sweeper = setInterval(
    () => deps.scheduler.expireLeases().catch((err) => console.error("lease sweep failed:", err)),
    opts.leaseSweepMs ?? 5000,
  );
  const stopWatch = startReplicaWatch(deps.logs);
  const stopGarbage = deps.logs.watchGarbage();
  const stopGuard = deps.streams.start();
  const stopSchedules = deps.schedules.start(opts.scheduleTickMs);
  // Logs whose archive a stopped server left undone (they read from their rows meanwhile).
  deps.logs.archiveEnded().catch((err) => console.error("archiving ended logs failed:", err));
  // Pipelines answered before a stop and not yet planned.
  deps.setup.resume().catch((err) => console.error("resuming pipeline setups failed:", err));
  return () => {
    clearInterval(sweeper);
    stopWatch();
    stopGarbage();
    stopGuard();
    stopSchedules();
  };
}
