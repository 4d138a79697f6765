// The secrets layer: master keys and envelopes (at rest), rotation, sealed delivery to builders,
// listing hints and name rules, and hashed bearer tokens. See each file's header for the why.
export {
  type BuilderKeyPair,
  builderKeyFingerprint,
  generateBuilderKeyPair,
  openSealedSecrets,
  SEALED_SECRETS_VERSION,
  type SealedSecrets,
  sealForBuilder,
} from "../../protocol/sealed-box.ts";
export {
  ENVELOPE_VERSION,
  envelopeKeyId,
  isEnvelope,
  needsReseal,
  open,
  openBytes,
  type ParsedEnvelope,
  parseEnvelope,
  seal,
} from "./envelope.ts";
export {
  MasterKeyError,
  SealedSecretsError,
  SecretEnvelopeError,
  SecretRotationError,
  SecretsError,
} from "./errors.ts";
export {
  HINT_MASK,
  HINT_MIN_LENGTH,
  RESERVED_SECRET_PREFIXES,
  SECRET_NAME_MAX_LENGTH,
  SECRET_VALUE_MAX_BYTES,
  secretHint,
  validateSecretName,
  validateSecretValue,
} from "./hint.ts";
export {
  createKeyring,
  findKey,
  type Keyring,
  MASTER_KEY_BYTES,
  MasterKey,
  parseMasterKey,
} from "./keyring.ts";
export {
  type Env,
  generateMasterKey,
  type LoadedKeyring,
  loadOrCreateMasterKey,
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  MASTER_KEY_PREVIOUS_ENV,
  MASTER_KEY_PREVIOUS_FILE,
  type MasterKeyOptions,
  masterKeyPaths,
  retirePreviousKeyFile,
  rotateKeyFiles,
} from "./master-key.ts";
export {
  type ResealWriter,
  type RotationOptions,
  type RotationReport,
  resealAll,
  type SealedRow,
} from "./rotation.ts";
export { hashToken, newToken, TOKEN_PREFIXES, type TokenPrefix, tokenPrefix, tokensEqual } from "./tokens.ts";
