// The module's exports: one log pipeline per instance (the host instantiates the compiled
import "./env";
// module once per job). Bytes move through one input buffer and one output buffer in linear
// memory; the host never sees per-line allocations.
import { addPattern, build } from "./automaton";
import { finishLine, initLine } from "./line";
import { flushInput, pushInput, reserve, resetScan } from "./masker";
import { outBuf, resetOutput, takeOutput } from "./output";
import { finishParser, initParser } from "./parser";
import { scanWholeLine } from "./rendered";
import { sseBuf } from "./sse";
import { initStyles } from "./style";

export { reserve };
export { renderSse } from "./sse";

export function init(firstLine: u32): void {
  initStyles();
  initParser();
  initLine(firstLine);
  resetOutput();
}

/** Scratch space for the host to write one secret pattern into before addSecretPattern. */
let scratch: usize = 0;
let scratchCap: i32 = 0;
export function scratchFor(n: i32): usize {
  if (n > scratchCap) {
    if (scratch != 0) heap.free(scratch);
    scratch = heap.alloc(<usize>n);
    scratchCap = n;
  }
  return scratch;
}

export function addSecretPattern(len: i32): void {
  addPattern(scratch, len);
}

/** Makes the patterns added so far live; held-back bytes are scanned again. */
export function rebuild(): void {
  build();
  resetScan();
  scanWholeLine = true;
}

/** Processes the n bytes the host wrote at reserve(n). */
export function push(n: i32): void {
  pushInput(n);
}

export function flush(): void {
  flushInput();
  finishParser();
  finishLine();
}

/** Closes the output JSON (an array of chunks) and returns its length; it starts at outputPtr(). */
export function take(): i32 {
  return takeOutput();
}

export function outputPtr(): usize {
  return outBuf;
}

/** Where renderSse wrote the output's lines as Server-Sent Events. */
export function ssePtr(): usize {
  return sseBuf;
}

/** Starts the next output after the host has read the previous one. */
export function clearOutput(): void {
  resetOutput();
}
