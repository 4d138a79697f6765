// Masking of what a viewer reads (issue 18): a secret with an escape sequence, a dropped control or
// an overwrite in its middle, split by chunk boundaries anywhere, and percent-encoded in any mix of
// encoded and literal bytes, is masked in the text, the links, the JSON the server stores and the
// SSE it sends — by both implementations, which must still agree byte for byte.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  createReferencePipeline,
  loadLogPipeline,
  renderHtml,
  renderText,
  type WasmPipeline,
} from "./index.ts";
import { enc, implementations, run, runChunks, texts } from "./testing.ts";
import type { LogChunk } from "./types.ts";

const impls = await implementations();
const factory = await loadLogPipeline();
const dec = new TextDecoder();
/**
 * A hang net, not a speed claim: the exhaustive test takes ~9 s on a quiet 2-core machine, took
 * 116 s beside other suites and 442 s at load 20 (a fresh-clone CI run beside other work), so the
 * net is far past any of them.
 */
const BUDGET_MS = 900_000;

/** Sequences a colouriser or a progress display puts between the characters of a word. */
const INTERRUPTIONS = [
  "\x1b[0m",
  "\x1b[1m",
  "\x1b[31m",
  "\x1b[38;5;208m",
  "\x1b[48;2;1;2;3m",
  "\x1b[K",
  "\x1b]8;;https://cairn.dev/x\x07",
  "\x1b[2J",
  "\x01",
  "\x07",
  "Z\b",
];

const SECRET = "hunter2-Secret";

/** Every rendering a viewer or the store gets, as one string. */
function everything(chunks: LogChunk[]): string {
  const lines = chunks.flatMap((c) => c.lines);
  return [renderText(lines), renderHtml(lines), JSON.stringify(chunks)].join("\n");
}

/** Percent-decoded (either hex case, `+` as space) so an encoded leak is found too. */
function decoded(s: string): string {
  return s
    .replace(/\+/g, " ")
    .replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

describe("rendered text: a secret with an escape sequence inside", () => {
  test(
    "every interruption at every offset of the secret, with a chunk boundary at every offset, is masked (both implementations, identical)",
    () => {
      // Short, so the 11 × 9 × ~20 runs per implementation stay cheap.
      const secret = "s3cr3t-pw!";
      for (const seq of INTERRUPTIONS) {
        for (let at = 1; at < secret.length; at++) {
          const input = `id=${secret.slice(0, at)}${seq}${secret.slice(at)} done\n`;
          const from = 3;
          const to = 3 + secret.length + seq.length;
          for (let cut = from; cut <= to; cut++) {
            const outs = impls.map(([, make]) => runChunks(make, input, [cut], { secrets: [secret] }));
            // Identical output, so checking one implementation's renderings checks both.
            expect(JSON.stringify(outs[1])).toBe(JSON.stringify(outs[0]));
            expect(outs[0][0].lines[0].text).toStartWith("id=********");
            expect(everything(outs[0])).not.toContain(secret);
          }
        }
      }
    },
    BUDGET_MS,
  );

  test(
    "lines the module writes straight into the chunk (their SGRs met before) are masked too",
    () => {
      // Once an SGR is in the module's memo, a line of text and such SGRs is written as it is
      // scanned (wasm/assembly/ground.ts feedLines); its rendered text must still be checked.
      const sgrs = INTERRUPTIONS.filter((seq) => /^\x1b\[[\d;]*m$/.test(seq));
      for (const seq of sgrs) {
        for (let at = 1; at < SECRET.length; at++) {
          const line = `ok ${SECRET.slice(0, at)}${seq}${SECRET.slice(at)}\x1b[0m end\n`;
          const outs = impls.map(([, make]) => runChunks(make, line.repeat(3), [], { secrets: [SECRET] }));
          expect(JSON.stringify(outs[1])).toBe(JSON.stringify(outs[0]));
          expect(texts(outs[0].flatMap((c) => c.lines))).toEqual(Array(3).fill("ok ******** end"));
          expect(everything(outs[0])).not.toContain(SECRET);
        }
      }
    },
    BUDGET_MS,
  );

  test(
    "the module's SSE rendering and JSON output carry no secret either",
    () => {
      for (const seq of INTERRUPTIONS) {
        for (let at = 1; at < SECRET.length; at++) {
          const bytes = enc.encode(`a ${SECRET.slice(0, at)}${seq}${SECRET.slice(at)}\nb\n`);
          const p = factory.create({ secrets: [SECRET] }) as WasmPipeline;
          const cut = 2 + at;
          const first = p.pushLive(bytes.subarray(0, cut));
          const second = p.pushLive(bytes.subarray(cut));
          const out = [...first.json, first.sse, ...second.json, second.sse]
            .map((b) => dec.decode(b))
            .join("");
          p.dispose();
          expect(out).toContain("********");
          expect(out).not.toContain(SECRET);
        }
      }
    },
    BUDGET_MS,
  );

  for (const [name, make] of impls) {
    test(`${name}: the mask takes the style of the secret's first character; the rest keeps its own`, () => {
      const lines = run(make, "x \x1b[31mhunter2-\x1b[1mSecret tail\x1b[0m!\n", [], { secrets: [SECRET] });
      expect(lines).toEqual([
        {
          n: 1,
          text: "x ******** tail!",
          spans: [
            { start: 2, end: 10, fg: 1 },
            { start: 10, end: 15, fg: 1, bold: true },
          ],
        },
      ]);
    });

    test(`${name}: a secret overwritten into place after \\r, and one in a link's target, are masked`, () => {
      const input = `XXXXXXXXXXXXXXXX\rhunter2\x1b[0m-Secret\n\x1b]8;;https://x.dev/?k=hunter2-Se%63ret\x07here\x1b]8;;\x07\n`;
      const lines = run(make, input, [], { secrets: [SECRET] });
      expect(texts(lines)).toEqual(["********XX", "here"]);
      expect(lines[1].spans[0].href).toBe("https://x.dev/?k=********");
    });
  }
});

describe("rendered text: percent-encoded forms", () => {
  for (const [name, make] of impls) {
    test(`${name}: any mix of encoded and literal bytes, either hex case, + for space`, () => {
      const secret = "p@ss word!(x)";
      const forms = [
        "p%40ss%20word%21%28x%29",
        "p%40ss+word%21(x)",
        "%70%40%73%73%20%77%6f%72%64%21%28%78%29",
        "p@ss+word!%28x%29",
        "p%40ss word%21(x)",
        "p%40ss%20wo%72d%21%28x%29",
      ];
      for (const form of forms) {
        expect(texts(run(make, `u=${form}&v=1\n`, [], { secrets: [secret] }))).toEqual(["u=********&v=1"]);
      }
    });

    test(`${name}: a secret whose encoded form starts inside an escape leaves no half escape`, () => {
      // `%32` is `2`: the raw bytes' mask of `2-~%2F%2F` (the encodeURIComponent form) or of `2-~//`
      // began on the escape's last digit and left `%3` before it (found by the property below).
      for (const form of ["%32-~%2F%2F", "%32-~//", "%32-~%2f/"])
        expect(texts(run(make, `k=${form} end\n`, [], { secrets: ["2-~//"] }))).toEqual(["k=******** end"]);
      // Text that only looks so (`%X` and eight stars) is masked too: two characters more, never half an escape.
      expect(texts(run(make, "100%a********\n", [], { secrets: ["2-~//"] }))).toEqual(["100********"]);
    });

    test(`${name}: an encoded secret split by an escape sequence is masked`, () => {
      const lines = run(make, "q=p%40ss\x1b[1m%20wo\x1b[0mrd%21\n", [], { secrets: ["p@ss word!"] });
      expect(texts(lines)).toEqual(["q=********"]);
    });
  }
});

describe("properties: masking what a viewer reads", () => {
  const alphabet = [..."abcXYZ0129-_.~!*'() @:/+é"];
  const secretArb = fc
    .array(fc.constantFrom(...alphabet), { minLength: 5, maxLength: 12 })
    .map((cs) => cs.join(""))
    .filter((s) => s.trim() === s && s.length >= 5);
  const interruption = fc.constantFrom(...INTERRUPTIONS);
  /** Each character literal or percent-encoded (either hex case); a space maybe as `+`. */
  const spelling = (secret: string) =>
    fc
      .array(fc.integer({ min: 0, max: 3 }), { minLength: secret.length, maxLength: secret.length })
      .map((how) =>
        [...secret]
          .map((c, i) => {
            if (how[i] === 0) return c;
            if (c === " " && how[i] === 3) return "+";
            const hex = [...enc.encode(c)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
            return how[i] === 1 ? hex.toUpperCase() : hex;
          })
          .join(""),
      );
  const scenario = secretArb.chain((secret) =>
    fc.tuple(
      fc.constant(secret),
      fc.oneof(fc.constant(secret), spelling(secret)),
      fc.array(fc.tuple(fc.nat(), interruption), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 4 }),
    ),
  );

  test(
    "escape sequences and chunk boundaries anywhere in a secret, literal or encoded: never visible, both implementations identical",
    () => {
      fc.assert(
        fc.property(scenario, ([secret, spelled, inserts, rawCuts]) => {
          // Escapes go between characters of the spelling, never inside a %XX.
          const pieces = spelled.match(/%[0-9a-fA-F]{2}|[\s\S]/gu) ?? [];
          const at = new Map<number, string>();
          for (const [pos, seq] of inserts) at.set(1 + (pos % Math.max(1, pieces.length - 1)), seq);
          const body = pieces.map((p, i) => (at.get(i) ?? "") + p).join("");
          const bytes = enc.encode(`k=${body} end\n`);
          const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
          const outs = impls.map(([, make]) => runChunks(make, bytes, cuts, { secrets: [secret] }));
          for (const chunks of outs) {
            const text = renderText(chunks.flatMap((c) => c.lines));
            expect(text).not.toContain(secret);
            expect(decoded(text)).not.toContain(secret.replace(/\+/g, " "));
            // Masked where the secret is; an interruption that writes then backspaces ("Z\b") right
            // after a match in the raw bytes overwrites the mask's last star, as a terminal would
            // (seed 285245576: `k=Z!:ZZ\bZ end` with secret `Z!:ZZ` shows `k=*******Z end`).
            expect(text).toMatch(/^k=\*{7}/);
          }
          expect(JSON.stringify(outs[1])).toBe(JSON.stringify(outs[0]));
        }),
        { numRuns: 300 },
      );
    },
    BUDGET_MS,
  );

  test(
    "the same with random text around the secret and several secrets: identical output, secret never visible",
    () => {
      const noise = fc.string({ unit: fc.constantFrom(..."ab %+2F\x1b[m;1\r\b\n"), maxLength: 20 });
      fc.assert(
        fc.property(
          scenario,
          noise,
          noise,
          fc.array(secretArb, { maxLength: 2 }),
          (s, before, after, others) => {
            const [secret, spelled, inserts, rawCuts] = s;
            const pieces = spelled.match(/%[0-9a-fA-F]{2}|[\s\S]/gu) ?? [];
            const at = new Map<number, string>();
            for (const [pos, seq] of inserts) at.set(1 + (pos % Math.max(1, pieces.length - 1)), seq);
            const body = pieces.map((p, i) => (at.get(i) ?? "") + p).join("");
            const bytes = enc.encode(`${before}\n=${body}=${after}\n`);
            const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
            const secrets = [secret, ...others];
            const outs = [createReferencePipeline, (o?: object) => factory.create(o)].map((make) =>
              runChunks(make, bytes, cuts, { secrets }),
            );
            expect(JSON.stringify(outs[1])).toBe(JSON.stringify(outs[0]));
            // The noise may eat or overwrite the secret's line, but may never reveal the secret.
            const text = renderText(outs[0].flatMap((c) => c.lines));
            for (const s of secrets) {
              expect(text).not.toContain(s);
              expect(decoded(text)).not.toContain(s.replace(/\+/g, " "));
            }
          },
        ),
        { numRuns: 300 },
      );
    },
    BUDGET_MS,
  );
});
