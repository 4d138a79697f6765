// Errors both sides raise about secret material. Each has a `code` and an HTTP `status` like
// server/errors.ts's ApiError, but does not import it: the builder uses these too. Messages name keys
// by fingerprint; they never contain a key, a plaintext or a token.

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

/** A job's sealed secrets could not be opened by this builder, or a builder key is malformed. */
export class SealedSecretsError extends SecretsError {}
