// Runs one leased job: a fresh sandbox, the checkout handed into it, each step in order with its
// output streamed to the server, the result reported — and the sandbox destroyed whatever happened.
import type { FinishReport, JobPayload, Step } from "../protocol/index.ts";
import { HEARTBEAT_INTERVAL_MS, LEASE_TTL_MS, openSealedSecrets } from "../protocol/index.ts";
import { BackgroundSteps } from "./background.ts";
import { checkout } from "./checkout.ts";
import type { ServerClient } from "./client.ts";
import type { Driver, HostTransport, Sandbox, StepSpec } from "./driver/types.ts";
import { describeNetwork, type Environment, SPIN_UP_STEP, spinUp, startServices } from "./images/spin-up.ts";
import type { ImageStore } from "./images/store.ts";
import { LogUploader } from "./log-uploader.ts";
import { classOf, describeLimits, limitsFor, type ResourceClasses } from "./resources.ts";
import type { SshRegistry } from "./ssh-registry.ts";
import { installHelpers, isStorageStep, runStorageStep } from "./storage/index.ts";

const DEFAULT_NO_OUTPUT_TIMEOUT_S = 600;
const DEFAULT_MAX_JOB_S = 5 * 60 * 60;
const CONTAINER_HOME = "/root";

export interface RunnerDeps {
  client: ServerClient;
  driver: Driver;
  transport: HostTransport;
  /** This builder's NaCl box secret key (base64): opens the job's sealed secrets. */
  boxSecretKey?: string;
  /** Max job time in seconds (default 5 h). */
  maxJobSeconds?: number;
  /** The fleet host's image store: jobs naming a `docker` image run in it (LXC only). */
  images?: ImageStore;
  /** What each `resource_class` means on this builder (default CircleCI's classes). */
  classes?: ResourceClasses;
  /** Jobs enterable over SSH, when this builder runs an SSH server. */
  ssh?: { registry: SshRegistry; endpoint: string };
  log?: (msg: string) => void;
}

const enc = new TextEncoder();
/** A line Cairn itself writes into the log, dimmed so it stands apart from the build's output. */
const note = (text: string) => enc.encode(`\x1b[2m${text}\x1b[0m\r\n`);

export function expandHome(path: string, home = CONTAINER_HOME): string {
  return path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
}

export async function runJob(deps: RunnerDeps, payload: JobPayload): Promise<FinishReport["status"]> {
  const { client, driver } = deps;
  const jobId = payload.job.id;
  const abort = new AbortController();
  let abortReason: string | null = null;
  const stop = (reason: string) => {
    if (!abortReason) abortReason = reason;
    abort.abort();
  };
  const uploader = new LogUploader(client, jobId, (err) =>
    stop(`log upload failed: ${(err as Error).message}`),
  );

  // Each heartbeat goes out on its own timer, never behind the job's uploads (fetch opens another
  // connection while one is busy); one the server does not answer within a lease's life is given up,
  // so a dead connection or a starved server cannot pile them up.
  const heartbeat = setInterval(async () => {
    try {
      const r = await client.heartbeat(jobId, AbortSignal.timeout(LEASE_TTL_MS));
      if (r.action === "cancel") stop("canceled by a user");
    } catch (err) {
      if ((err as { code?: string }).code === "lease_lost") stop("the server ended this job's lease");
    }
  }, HEARTBEAT_INTERVAL_MS);
  const maxTimer = setTimeout(
    () => stop(`the job ran longer than its maximum of ${deps.maxJobSeconds ?? DEFAULT_MAX_JOB_S} s`),
    (deps.maxJobSeconds ?? DEFAULT_MAX_JOB_S) * 1000,
  );

  let sandbox: Sandbox | null = null;
  let unsandboxed = driver.kind !== "lxc";
  let status: FinishReport["status"] = "success";
  let failureReason: string | undefined;
  /** The host failed under the job: reported `lost`, so the server re-queues it once. */
  let hostLost = false;
  let workdir = expandHome(payload.working_directory || "~/project");
  let env: Environment | undefined;
  let services: Awaited<ReturnType<typeof startServices>> = [];
  const background = new BackgroundSteps((bytes) => uploader.write(bytes), abort.signal);
  try {
    // Secrets are opened in memory only and reach the steps as environment (over stdin to the sandbox).
    const secrets = openJobSecrets(deps, payload);
    let job: JobPayload = { ...payload, environment: { ...secrets, ...payload.environment } };
    const limits = limitsFor(payload.resource_class, deps.classes);
    // The project's `network: none`, or a class the operator made loopback-only.
    const classNone = classOf(payload.resource_class, deps.classes).network === "none";
    const network = classNone ? "none" : payload.network;
    // Step 0, as on CircleCI: the image (pulled or cached) and the container made from it.
    await client.step(jobId, {
      index: 0,
      name: SPIN_UP_STEP,
      status: "running",
      log_offset: uploader.offset,
    });
    try {
      env = await spinUp(
        payload,
        { images: deps.images, driverKind: driver.kind, say: (line) => uploader.write(note(line)) },
        job.environment,
      );
      // The image's Env first; the job's `environment` (and secrets) win.
      job = { ...job, environment: { ...env.env, ...job.environment } };
      sandbox = await driver.create({
        name: `cairn-${jobId.slice(0, 8)}-${payload.job.attempt}`,
        template: env.template,
        limits,
        ...(env.user ? { user: env.user } : {}),
        ...(network ? { network } : {}),
      });
      uploader.write(
        note(
          describeNetwork(sandbox.network, payload.network, classNone ? payload.resource_class : undefined),
        ),
      );
      services = await startServices(sandbox, env.services, (line) => uploader.write(note(line)));
    } catch (err) {
      uploader.write(note((err as Error).message));
      await uploader.drain();
      await client.step(jobId, {
        index: 0,
        name: SPIN_UP_STEP,
        status: "failed",
        exit_code: 1,
        log_offset: uploader.offset,
      });
      throw err;
    }
    await uploader.drain();
    await client.step(jobId, {
      index: 0,
      name: SPIN_UP_STEP,
      status: "success",
      exit_code: 0,
      log_offset: uploader.offset,
      ...(env.image ? { image: { name: env.image.name, digest: env.image.digest } } : {}),
    });
    workdir = expandHome(payload.working_directory || "~/project", sandbox.home);
    unsandboxed = sandbox.unsandboxed;
    if (unsandboxed)
      uploader.write(
        note("Warning: this builder has no LXC; the job runs UNSANDBOXED in a temporary directory."),
      );
    else
      uploader.write(
        note(
          `Sandbox: unprivileged LXC container ${sandbox.name}; limits (resource class ${payload.resource_class}): ${describeLimits(limits)}`,
        ),
      );
    deps.ssh?.registry.register(jobId, sandbox, workdir);
    await installHelpers(sandbox, job);
    let failed = false;
    for (const [i, step] of payload.steps.entries()) {
      const index = i + 1;
      const name = stepName(step);
      const when = "when" in step ? step.when : "on_success";
      const runs = !abort.signal.aborted && (when === "always" || (when === "on_fail" ? failed : !failed));
      if (!runs) {
        await client.step(jobId, { index, name, status: "skipped", log_offset: uploader.offset });
        continue;
      }
      await client.step(jobId, { index, name, status: "running", log_offset: uploader.offset });
      if (step.type === "run" && step.background) {
        background.start(sandbox, name, runSpec(job, step, workdir, sandbox.home));
        uploader.write(note(`${name}: started in the background; its lines are marked [${name}].`));
        await uploader.drain();
        await client.step(jobId, {
          index,
          name,
          status: "success",
          exit_code: 0,
          log_offset: uploader.offset,
        });
        continue;
      }
      let code: number;
      try {
        code = await runStep(deps, job, sandbox, step, workdir, uploader, abort.signal, stop);
      } catch (err) {
        uploader.write(note(`${name}: ${(err as Error).message}`));
        code = 1;
        // The host, not the build, failed: say so in the job's failure reason.
        if ((err as { code?: string }).code === "transport_closed") {
          hostLost = true;
          stop(`lost the connection to the fleet host (${(err as Error).message})`);
        }
      }
      if (abort.signal.aborted) {
        uploader.write(note(`Stopped: ${abortReason}`));
        await uploader.drain();
        await client.step(jobId, {
          index,
          name,
          status: "canceled",
          exit_code: code,
          log_offset: uploader.offset,
        });
        break;
      }
      if (code !== 0) {
        failed = true;
        uploader.write(note(`Exited with code ${code}`));
      }
      await uploader.drain();
      await client.step(jobId, {
        index,
        name,
        status: code === 0 ? "success" : "failed",
        exit_code: code,
        log_offset: uploader.offset,
      });
    }
    await background.stopAll();
    await reportServices(client, jobId, payload.steps.length + 1, services, uploader);
    if (abort.signal.aborted) {
      status = abortReason === "canceled by a user" ? "canceled" : hostLost ? "lost" : "failed";
      failureReason = abortReason ?? undefined;
    } else if (failed) {
      status = "failed";
    }
    if (payload.ssh && !abort.signal.aborted) await holdForSsh(deps, payload, uploader, abort.signal);
  } catch (err) {
    status = "failed";
    failureReason = `infrastructure: ${(err as Error).message}`;
    uploader.write(note(`Cairn could not run this job: ${(err as Error).message}`));
  } finally {
    await background.stopAll();
    deps.ssh?.registry.unregister(jobId);
    clearInterval(heartbeat);
    clearTimeout(maxTimer);
    if (sandbox) {
      await sandbox
        .destroy()
        .catch((err) => deps.log?.(`destroying ${sandbox?.name} failed: ${err.message}`));
    }
    if (env?.image) deps.images?.release(env.image);
    for (const s of env?.services ?? []) deps.images?.release(s.image);
  }
  await uploader.drain();
  await client.retrying(
    () =>
      client.finish(jobId, {
        status,
        failure_reason: failureReason,
        unsandboxed,
        log_bytes: uploader.offset,
      }),
    undefined,
    10,
  );
  return status;
}

/**
 * Each service container's output as a step of its own after the job's (on CircleCI a service is a
 * step running beside the others): collapsed on the job page, failed if the service exited early.
 */
async function reportServices(
  client: ServerClient,
  jobId: string,
  firstIndex: number,
  services: Awaited<ReturnType<typeof startServices>>,
  uploader: LogUploader,
): Promise<void> {
  for (const [i, { image, container }] of services.entries()) {
    const index = firstIndex + i;
    const name = `Service container ${image}`;
    await client.step(jobId, { index, name, status: "running", log_offset: uploader.offset });
    const [running, output] = await Promise.all([
      container.running().catch(() => false),
      container.output().catch((err) => `cairn: cannot read its output: ${(err as Error).message}\n`),
    ]);
    if (output) uploader.write(enc.encode(output.replace(/\r?\n/g, "\r\n")));
    if (!running) uploader.write(note(`${container.name} had stopped before the job ended`));
    await uploader.drain();
    await client.step(jobId, {
      index,
      name,
      status: running ? "success" : "failed",
      log_offset: uploader.offset,
    });
  }
}

/** The job's secrets, or a clear error: sealed to another builder, altered, or no key to open them with. */
export function openJobSecrets(
  deps: Pick<RunnerDeps, "boxSecretKey">,
  payload: JobPayload,
): Record<string, string> {
  if (!payload.secrets) return {};
  if (!deps.boxSecretKey) throw new Error("this job has secrets but the builder has no box key to open them");
  try {
    return openSealedSecrets(payload.secrets, deps.boxSecretKey, payload.job.id);
  } catch (err) {
    throw new Error(`cannot open this job's secrets: ${(err as Error).message}`);
  }
}

/** "Re-run with SSH": the container stays up for the window, or until the last session closes. */
async function holdForSsh(
  deps: RunnerDeps,
  payload: JobPayload,
  uploader: LogUploader,
  signal: AbortSignal,
): Promise<void> {
  const minutes = Math.round((payload.ssh?.window_seconds ?? 600) / 60);
  if (!deps.ssh || !payload.ssh) {
    uploader.write(
      note("SSH was asked for, but this builder runs no SSH server (cairn-builder register --ssh-listen)."),
    );
    return;
  }
  const [host, port] = [
    deps.ssh.endpoint.slice(0, deps.ssh.endpoint.lastIndexOf(":")),
    deps.ssh.endpoint.slice(deps.ssh.endpoint.lastIndexOf(":") + 1),
  ];
  uploader.write(note(`SSH is enabled: ssh -p ${port} ${payload.job.id}@${host}`));
  uploader.write(note(`The container stays up for ${minutes} min, or until the last SSH session ends.`));
  await uploader.drain();
  const why = await deps.ssh.registry.hold(payload.job.id, payload.ssh.window_seconds * 1000, signal);
  uploader.write(
    note(
      why === "sessions-closed"
        ? "The last SSH session ended."
        : why === "window"
          ? "The SSH window ended."
          : "SSH ended early.",
    ),
  );
}

function stepName(step: Step): string {
  switch (step.type) {
    case "run":
      return step.name;
    case "checkout":
      return "Checkout code";
    default:
      return "name" in step && step.name ? step.name : step.type;
  }
}

async function runStep(
  deps: RunnerDeps,
  payload: JobPayload,
  sandbox: Sandbox,
  step: Step,
  workdir: string,
  uploader: LogUploader,
  signal: AbortSignal,
  stop: (reason: string) => void,
): Promise<number> {
  switch (step.type) {
    case "checkout":
      return checkout(
        deps,
        payload,
        sandbox,
        step.path ? expandHome(step.path, sandbox.home) : workdir,
        uploader,
      );
    case "run": {
      const limitS = step.noOutputTimeout ?? DEFAULT_NO_OUTPUT_TIMEOUT_S;
      let timer = setTimeout(() => stop(`no output for ${limitS} s (no_output_timeout)`), limitS * 1000);
      const code = await sandbox
        .run(runSpec(payload, step, workdir, sandbox.home), {
          signal,
          onOutput: (bytes) => {
            clearTimeout(timer);
            timer = setTimeout(() => stop(`no output for ${limitS} s (no_output_timeout)`), limitS * 1000);
            uploader.write(bytes);
          },
        })
        .finally(() => clearTimeout(timer));
      return code;
    }
    default:
      if (isStorageStep(step)) {
        const ctx = {
          client: deps.client,
          sandbox,
          payload,
          workdir,
          signal,
          note: (t: string) => uploader.write(note(t)),
        };
        return runStorageStep(ctx, step);
      }
      uploader.write(note(`Skipped: the ${step.type} step is not supported by this builder yet.`));
      return 0;
  }
}

function runSpec(
  payload: JobPayload,
  step: Extract<Step, { type: "run" }>,
  workdir: string,
  home?: string,
): StepSpec {
  return {
    script: step.command,
    shell: step.shell,
    workdir: step.workingDirectory ? expandHome(step.workingDirectory, home) : workdir,
    env: { ...payload.environment, ...step.environment },
  };
}
