// Execution backends behind one port: `lxc` (the product) and `process` (unsandboxed fallback).

/** Runs shell commands on the fleet host: over an ssh2 connection to its sshd, or directly. */
export interface HostTransport {
  readonly kind: "ssh" | "local";
  /**
   * Runs argv on the host (no shell interpretation of the arguments), feeding `stdin` if given.
   * Output is delivered as it arrives; resolves with the exit code (128+n for a signal).
   */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts argv as an interactive session (a terminal when `pty` is set): SSH into a build. */
  interactive(argv: string[], opts?: InteractiveOptions): Promise<Interactive>;
  close(): Promise<void>;
}

export interface InteractiveOptions {
  pty?: { rows: number; cols: number; term: string };
}

/** A running interactive command: bytes in, bytes out, a resizable terminal, an exit code. */
export interface Interactive {
  write(bytes: Uint8Array): void;
  /** Closes its stdin. */
  end(): void;
  resize(rows: number, cols: number): void;
  onData(cb: (bytes: Uint8Array) => void): void;
  onExit(cb: (code: number) => void): void;
  kill(): void;
}

export interface ExecOptions {
  stdin?: Uint8Array | string;
  /** Extra environment passed to the remote command without it appearing in any process list. */
  env?: Record<string, string>;
  onStdout?: (bytes: Uint8Array) => void;
  onStderr?: (bytes: Uint8Array) => void;
  signal?: AbortSignal;
}

export interface ExecResult {
  code: number;
  /** The first 1 MiB of each stream (output.ts); stream through onStdout/onStderr for more. */
  stdout: string;
  stderr: string;
}

/** One sandbox for one job slice: created, used for steps, destroyed whatever happened. */
export interface Sandbox {
  readonly name: string;
  /** True when this sandbox isolates nothing (the process driver); shown in the API and UI. */
  readonly unsandboxed: boolean;
  /** Home of the user steps run as (`~` in paths); /root when absent. */
  readonly home?: string;
  /** The network the sandbox got, as the job's log states it (lxc driver); absent: the host's own (process driver). */
  readonly network?: SandboxNetwork;
  /** A login shell (or `command`) inside the sandbox for SSH into a build (the process driver's runs on the host, like its steps). */
  attach?(opts: InteractiveOptions & { command?: string; workdir?: string }): Promise<Interactive>;
  /** Copies a directory tree from the host (a checkout) to `dest` inside the sandbox. */
  putTree(hostDir: string, dest: string): Promise<void>;
  /** Runs a step's script with `shell` in `workdir`, with `env`; streams output; returns the exit code. */
  run(step: StepSpec, io: StepIO): Promise<number>;
  /**
   * Runs `/bin/sh -c script cairn-sh ARGS...` in the sandbox (cwd: home) with its stdout spooled to a temp
   * file on the host, so an archive's size is known before its upload and it is read back in bounded
   * chunks. A non-zero exit throws with the script's stderr; the spool is removed then. ARGS that are
   * absolute or start with `~` are sandbox paths (the process driver maps them into its directory).
   */
  capture(script: string, args: string[]): Promise<Spool>;
  /**
   * Runs `/bin/sh -c script cairn-sh ARGS...` in the sandbox with `input` on its stdin (spooled through the
   * host in bounded chunks, never whole in memory). A non-zero exit throws with the script's stderr.
   */
  feed(script: string, args: string[], input: ReadableStream<Uint8Array>): Promise<void>;
  /**
   * Starts a service container beside this sandbox (the `lxc` driver only): its own unprivileged
   * container from `spec.template`, in this sandbox's network namespace, so `localhost:PORT`
   * reaches it. destroy() removes it first.
   */
  startService?(spec: ServiceSpec): Promise<ServiceContainer>;
  destroy(): Promise<void>;
}

/** A service container to start (builder/images/services.ts makes one from the config's entry). */
export interface ServiceSpec {
  /** Its name is the sandbox's plus `-svcN`. */
  index: number;
  /** The LXC template of its image. */
  template: string;
  /** Its PID 1: the image's Entrypoint and Cmd, or the config's `entrypoint`/`command`. */
  argv: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
  /** Where argv starts ("" or absent: /). */
  workdir?: string;
  /** A host name the sandbox resolves to it (127.0.0.1: they share one network). */
  hostname?: string;
  /** The job's other services' names, which it resolves too. */
  peers?: string[];
}

export interface ServiceContainer {
  readonly name: string;
  /** The last `maxBytes` of what it wrote to its stdout and stderr. */
  output(maxBytes?: number): Promise<string>;
  running(): Promise<boolean>;
}

/** Bytes a sandbox produced, held in a temp file on the fleet host until removed. */
export interface Spool {
  readonly size: number;
  /** The bytes in order, read a bounded chunk at a time as the consumer pulls. */
  stream(): ReadableStream<Uint8Array>;
  /** Deletes the temp file; idempotent. */
  remove(): Promise<void>;
}

export interface StepSpec {
  script: string;
  shell?: string;
  workdir: string;
  env: Record<string, string>;
}

export interface StepIO {
  onOutput: (bytes: Uint8Array) => void;
  signal?: AbortSignal;
}

/** Who steps run as: the image's `User`, resolved against its /etc/passwd (builder/images). */
export interface SandboxUser {
  uid: number;
  gid: number;
  home: string;
}

/** Resource-class limits for one sandbox: cgroups under LXC; the process driver cannot enforce them. */
export interface SandboxLimits {
  /** Hard memory limit; past it the kernel kills the step (and the log says so). */
  memoryBytes?: number;
  /** CPU time as a number of CPUs (1.5 = one and a half cores' worth). */
  cpus?: number;
  /** Maximum processes and threads, so a fork bomb stops here. */
  pids?: number;
  /** Size of the container's writable layer (an ext4 image under LXC); past it writes fail with ENOSPC. */
  diskBytes?: number;
}

/** `egress`: its own address behind the builder's NAT bridge; `none`: loopback only. */
export interface SandboxNetwork {
  mode: "egress" | "none";
  /** egress: the container's address and the bridge it sits on. */
  address?: string;
  bridge?: string;
  /** egress: the operator's `--allow-egress` exceptions. */
  allow?: string[];
  /** egress: the resolvers in the container's /etc/resolv.conf (`--nat-dns`); none: names do not resolve. */
  dns?: string[];
}

export interface Driver {
  readonly kind: "lxc" | "process";
  /** Checks the host can run this driver (tools present, template exists); throws a clear error if not. */
  check(): Promise<void>;
  /** `name` gets a `cairn-` prefix if it lacks one; `limits` come from the job's resource class. */
  create(opts: {
    name: string;
    template?: string;
    limits?: SandboxLimits;
    user?: SandboxUser;
    /** `none`: no network even where the builder has its NAT bridge (the project's `network: none`). */
    network?: "egress" | "none";
  }): Promise<Sandbox>;
  /**
   * Removes the `cairn-*` sandboxes not in `keep` that this builder owns (orphans from a crashed
   * daemon), and those of builders the server says are gone; never another live builder's.
   */
  reapOrphans(keep: Set<string>): Promise<string[]>;
}
