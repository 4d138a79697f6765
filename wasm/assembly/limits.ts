// Mirror of wasm/limits.ts for the AssemblyScript build (it cannot import host TypeScript).
export const LINE_LIMIT_BYTES: i32 = 65536;
export const CHUNK_LIMIT_BYTES: i32 = 65536;
export const CHUNK_LIMIT_LINES: i32 = 1000;
export const OSC_LIMIT_BYTES: i32 = 4096;
export const CSI_MAX_PARAMS: i32 = 32;
export const CSI_PARAM_MAX: i32 = 65535;
export const STYLE_TABLE_COMPACT: i32 = 1024;
export const HASH_MUL: u32 = 0x9e3779b1;
