// Limits shared by the WASM module and the TypeScript reference; wasm/assembly/limits.ts mirrors these.

/** Fixed replacement: the same for every secret so it does not reveal length. */
export const MASK = "********";
/** Shorter values would shred the log (CircleCI makes the same call). */
export const MIN_SECRET_BYTES = 4;
/** UTF-8 bytes of text after which a line is split and continued with `cont`. */
export const LINE_LIMIT_BYTES = 65536;
/** A chunk carries at most this many UTF-8 bytes of line text ... */
export const CHUNK_LIMIT_BYTES = 65536;
/** ... and at most this many lines. */
export const CHUNK_LIMIT_LINES = 1000;
/** OSC payloads past this are ignored whole (a URL longer than this is not a link). */
export const OSC_LIMIT_BYTES = 4096;
/** CSI parameters past this count are ignored, like vte. */
export const CSI_MAX_PARAMS = 32;
/** CSI parameter values saturate here so ESC[999999999C cannot overflow anything. */
export const CSI_PARAM_MAX = 65535;
/** Tab stops every 8 columns. */
export const TAB_WIDTH = 8;
/** The style table is compacted after a line is emitted once it has grown past this. */
export const STYLE_TABLE_COMPACT = 1024;
/**
 * A push is processed as consecutive pieces of at most this many bytes, and a chunk never
 * spans two pieces: the module's output buffer stays bounded whatever a builder sends. A job's
 * linear memory grows to hold one piece's output and never shrinks: ~18–36 MiB for 1 MiB pieces,
 * which 200 jobs whose builders send 1 MiB uploads (a backlogged server) made 3.6 GB; 64 KiB pieces
 * keep it near 2 MiB a job (docs/perf.md, "Live log fanout" and memory).
 */
export const PUSH_PIECE_BYTES = 64 * 1024;
