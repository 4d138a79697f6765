// The escape-sequence parser's states (DEC/vte style), shared by the reference parser and the
// server's resume-point mirror (server/logs/resume-point.ts); wasm/assembly/parser.ts mirrors them.
export const GROUND = 0;
export const ESCAPE = 1;
export const ESC_INTERMEDIATE = 2;
export const CSI_PARAM = 3;
export const CSI_IGNORE = 4;
export const OSC = 5;
export const OSC_ESC = 6;
export const STRING = 7;
export const STRING_ESC = 8;
