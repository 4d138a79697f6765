// Errors of the secrets layer. Each has a `code` and an HTTP `status` like server/errors.ts's ApiError,
// but does not import it, so box.ts (which the builder needs too) stays free of server-only modules.
// Messages name keys by id and rows by label; they never contain a key, a plaintext or a token.

export class SecretsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 500,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The master key is missing, malformed or its file is not private. The server must not start. */
export class MasterKeyError extends SecretsError {}

/** A sealed value could not be opened (or is not an envelope at all); names the row it came from. */
export class SecretEnvelopeError extends SecretsError {
  constructor(
    code: string,
    message: string,
    readonly row: string | undefined,
  ) {
    super(code, message, 500, row === undefined ? undefined : { row });
  }
}

/** Re-sealing under a new key could not complete; `failures` lists every row that could not be opened. */
export class SecretRotationError extends SecretsError {
  constructor(
    message: string,
    readonly failures: readonly { label: string; code: string; message: string }[],
    /** Counts at the time of failure (rows that could be opened were re-sealed). */
    readonly report?: unknown,
  ) {
    super("secret_rotation_failed", message, 500, { rows: failures.map((f) => f.label) });
  }
}

/** A job's sealed secrets could not be opened by this builder, or a builder key is malformed. */
export class SealedSecretsError extends SecretsError {}
