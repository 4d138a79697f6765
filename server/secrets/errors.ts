// Errors of the server's secrets layer, on the base the builder shares (protocol/errors.ts).
// Messages name keys by id and rows by label; they never contain a key, a plaintext or a token.
import { SecretsError } from "../../protocol/errors.ts";

export { SealedSecretsError, SecretsError } from "../../protocol/errors.ts";

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
