// Resume points: a restarted server replays only the raw bytes since the last line ended (plus the
// escape sequences restoring the style there) and must still emit exactly what one uninterrupted
// pipeline would, masking included. On a real libSQL file, with the WASM pipeline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadLogPipeline } from "../../wasm/index.ts";
import type { LogLine } from "../../wasm/types.ts";
import { createFsBlobStore } from "../blobs/fs.ts";
import { logRaw } from "../db/schema.ts";
import { ResumeTracker } from "./resume-point.ts";
import type { LogPipelineFactory } from "./service.ts";
import { logServiceFixture, removeLogFixtures } from "./testing.ts";

let factory: LogPipelineFactory;
const enc = new TextEncoder();

beforeAll(async () => {
  factory = await loadLogPipeline();
});
afterAll(removeLogFixtures);

async function setup(secrets: string[]) {
  const { db, make, jobId } = await logServiceFixture({
    factory,
    blobs: (dir) => createFsBlobStore(join(dir, "blobs")),
    secrets,
  });
  const rawRows = () => db.select().from(logRaw).where(eq(logRaw.jobId, jobId));
  return { make, jobId, rawRows };
}

/** What one uninterrupted pipeline emits for the whole input, flushed at the end. */
function oneRun(input: Uint8Array, secrets: string[]): LogLine[] {
  const p = factory.create({ secrets });
  const lines = [...p.push(input), ...p.flush()].flatMap((c) => c.lines);
  p.dispose();
  return lines;
}

/** Uploads `input` in the given pieces, restarting the service (a new one, same DB) after some. */
async function ingest(input: Uint8Array, cuts: number[], restarts: Set<number>, secrets: string[]) {
  const { make, jobId, rawRows } = await setup(secrets);
  let svc = make();
  let at = 0;
  for (const [i, cut] of [...cuts, input.length].entries()) {
    expect(await svc.append(jobId, at, input.subarray(at, cut))).toEqual({ ok: true, offset: cut });
    at = cut;
    if (restarts.has(i)) svc = make();
  }
  const stored = await rawRows();
  await svc.endSegment(jobId);
  return { lines: await svc.readLines(jobId, 0, 1_000_000), stored };
}

describe("resume points", () => {
  test("a secret split across uploads inside the unterminated line is masked after a restart", async () => {
    const secrets = ["hunter2-secret"];
    const text = "a\n\x1b[1;32mgreen\x1b[0m\nbold \x1b[1mtok=hunt|er2-sec|ret done\nlast";
    const pieces = text.split("|");
    const input = enc.encode(pieces.join(""));
    const cuts = [pieces[0].length, pieces[0].length + pieces[1].length];
    const { lines, stored } = await ingest(input, cuts, new Set([0, 1]), secrets);
    expect(lines).toEqual(oneRun(input, secrets));
    expect(lines.map((l) => l.text)).toEqual(["a", "green", "bold tok=******** done", "last"]);
    expect(lines[2].spans).toEqual([{ start: 5, end: 22, bold: true }]);
    // One resume point, at the start of the unterminated "last".
    expect(stored.map((r) => [r.offset, r.firstLine])).toEqual([[input.length - 4, 4]]);
  });

  test("a restart after SGRs the pen folded restores the style exactly", async () => {
    // 22 clears bold and dim; a later 1 sets bold again and must not take the 22 with it (dim stays off).
    const text = [
      "\x1b[2mdim\x1b[22m\x1b[1mbold\n",
      "after\x1b[32m green\x1b[39m\x1b[41m\n",
      // 48;5;300 is no colour: the background stays red.
      "on red\x1b[7m\x1b[27m\x1b[1m\x1b[22m\x1b[48;5;300m\n",
      "plain on red\n",
    ].join("");
    const input = enc.encode(text);
    const cuts = [...text.matchAll(/\n/g)].map((m) => enc.encode(text.slice(0, (m.index ?? 0) + 1)).length);
    const { lines } = await ingest(input, cuts.slice(0, -1), new Set([0, 1, 2]), []);
    expect(lines).toEqual(oneRun(input, []));
    expect(lines[1].spans).toEqual([
      { start: 0, end: 5, bold: true },
      { start: 5, end: 11, fg: 2, bold: true },
    ]);
  });

  test("what is stored stays one small row however long the step's output", async () => {
    const { make, jobId, rawRows } = await setup(["s3cr3t-value"]);
    const svc = make();
    let at = 0;
    for (let i = 0; i < 200; i++) {
      const body = enc.encode(`\x1b[3${i % 8}mline ${i}\x1b[0m ${"x".repeat(200)}\npartial ${i}`);
      await svc.append(jobId, at, body);
      at += body.length;
    }
    const rows = await rawRows();
    expect(rows.length).toBe(1);
    expect(rows[0].firstLine).toBe(201);
    expect(rows[0].envelope.length).toBeLessThan(200);
  });

  // Random streams of what builds print (colours, links, tabs, carriage returns, broken UTF-8,
  // escape sequences with controls inside, secrets in text and in links), random uploads and restarts.
  const vocabulary = [
    "word ",
    "\n",
    "\n",
    "\r\n",
    "\t",
    "\rover",
    "\x1b[31m",
    "\x1b[1;4m",
    "\x1b[0m",
    "\x1b[m",
    "\x1b[38;5;202m",
    "\x1b[48;2;1;2;3m",
    "\x1b[22m",
    // One-parameter SGRs without a reset, which the tracker's pen leaves out once set again.
    "\x1b[32m",
    "\x1b[39m",
    "\x1b[1m",
    "\x1b[2m",
    "\x1b[7m",
    "\x1b[27m",
    "\x1b[90m",
    "\x1b[41m",
    "\x1b[49m",
    "\x1b[032m",
    "\x1b[38;2;10;20;30m",
    "\x1b[38:5:12m",
    "\x1b[48;5;300m",
    "\x1b[?25l",
    "\x1b[2K",
    "\x1b[3\n1m",
    "\x1b(B",
    "\x1b]0;title\x07",
    "\x1b]8;;https://example.com/a\x07",
    "\x1b]8;;\x1b\\",
    "é",
    "\xe2\x82",
    "hunter2-secret",
    "aHVudGVyMi1zZWNyZXQ=",
    "3;31m",
    "x".repeat(300),
    "\n",
    "\x1b",
    "\x1b[",
  ];
  const secretSets = [[], ["hunter2-secret"], ["1;31m-tok"], ["multi\nline-secret"]];
  for (let seed = 1; seed <= 40; seed++) {
    const secrets = secretSets[seed % secretSets.length];
    test(`seed ${seed}, secrets ${JSON.stringify(secrets)}: restarts change nothing`, async () => {
      let state = seed * 7919;
      const rand = (n: number) => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state % n;
      };
      // Every third stream has a secret inside a link: the resume point stops moving there.
      const words = seed % 3 ? vocabulary : [...vocabulary, "\x1b]8;;https://h/?t=hunter2-secret\x07"];
      let text = "";
      while (text.length < 8000) text += words[rand(words.length)];
      if (secrets[0]?.includes("\n")) text += `x ${secrets[0]} y\n`;
      // Latin-1 for the raw byte fragments, so "\xe2\x82" stays a broken UTF-8 sequence.
      const input = Uint8Array.from(Buffer.from(text.replace(/é/g, "\xc3\xa9"), "latin1"));
      const cuts: number[] = [];
      for (let c = rand(400) + 1; c < input.length; c += rand(900) + 1) cuts.push(c);
      const restarts = new Set(cuts.map((_, i) => i).filter(() => rand(3) === 0));
      const { lines } = await ingest(input, cuts, restarts, secrets);

      expect(lines).toEqual(oneRun(input, secrets));
    });
  }
});

describe("the tracker's pen", () => {
  /** A tracker without secrets, fed each text as the next upload; `end()` is where they end. */
  function tracked() {
    const tracker = new ResumeTracker([], 0);
    let at = 0;
    const feed = (text: string) => {
      const bytes = enc.encode(text);
      tracker.scan(bytes, at);
      at += bytes.length;
    };
    return { tracker, feed, end: () => at };
  }
  const prefixOf = (tracker: ResumeTracker) => new TextDecoder().decode(tracker.point(0)?.prefix);

  test("a log that colours without ever resetting keeps offering points, with a short prefix", () => {
    const { tracker, feed, end } = tracked();
    const upload = "\x1b[1m\x1b[32mok\x1b[39m \x1b[2mdim\x1b[22m \x1b[41mbg\x1b[49m\n".repeat(1000);
    for (let i = 0; i < 100; i++) feed(upload);
    expect(tracker.point(0)?.offset).toBe(end());
    // What is in force at the end, in the order last set: 39, 22 (after 1 and 2), 49; the rest is left out.
    expect(prefixOf(tracker)).toBe("\x1b[39m\x1b[22m\x1b[49m");
  });

  test("a 256-colour or RGB log that never resets keeps offering points too", () => {
    const { tracker, feed, end } = tracked();
    for (let n = 0; n < 3000; n++)
      feed(`\x1b[38;5;${n % 256}mline\x1b[48;2;${n % 256};1;2m ${n}\x1b[38:2:1:2:3m!\n`);
    expect(tracker.point(0)?.offset).toBe(end());
    expect(prefixOf(tracker)).toBe("\x1b[48;2;183;1;2m\x1b[38:2:1:2:3m");
  });

  test("SGRs it cannot fold stop the points past PREFIX_MAX, and a reset brings them back", () => {
    const { tracker, feed } = tracked();
    feed("\x1b[38;5;202;1mx\n".repeat(1000)); // 15 bytes each, never folded
    expect(tracker.point(0)).toBeNull();
    feed("\x1b[0mplain\n");
    expect(prefixOf(tracker)).toBe("\x1b[0m");
  });

  test("an SGR longer than any prefix, across uploads, stops the points until a reset", () => {
    const { tracker, feed, end } = tracked();
    feed("a\n\x1b[1");
    for (let i = 0; i < 100; i++) feed("1;".repeat(500)); // 100 KB of one sequence's parameters
    feed("m\nb\n");
    expect(tracker.point(0)).toBeNull();
    feed("\x1b[0mc\n");
    expect(tracker.point(0)?.offset).toBe(end());
  });
});

describe("the tracker's secret check", () => {
  const secret = "hunter2-secret";
  /** The point after feeding `text` cut at `cuts`, or null when the tracker stopped offering one. */
  function pointAfter(text: string, cuts: number[]): number | null {
    const input = enc.encode(text);
    const tracker = new ResumeTracker([secret], 0);
    let at = 0;
    for (const cut of [...cuts, input.length]) {
      tracker.scan(input.subarray(at, cut), at);
      at = cut;
    }
    return tracker.point(0)?.offset ?? null;
  }
  /** Every way to cut `text` in two and in three (at every 5th second cut). */
  function everyCut(text: string): number[][] {
    const n = enc.encode(text).length;
    const ways: number[][] = [[]];
    for (let a = 1; a < n; a++) {
      ways.push([a]);
      for (let b = a + 1; b < n; b += 5) ways.push([a, b]);
    }
    return ways;
  }

  test("a form starting inside an escape sequence stops the point, wherever the uploads are cut", () => {
    const cases = [
      `a\n\x1b]8;;https://h/?t=${secret}\x07link\x1b]8;;\x07\nb\n`, // inside a link's target
      `a\n\x1b]0;${secret}\x07b\n`, // inside a window title
      `a\n\x1b]0;x${Buffer.from(secret).toString("base64")}\x07b\n`, // a derived form
      `a\nb\n\x1b]0;${secret}`, // inside a sequence still open at the end
      `a\n\x1b[31${secret}\nb\n`, // from a CSI's final byte (ESC [ 3 1 h)
    ];
    for (const text of cases)
      for (const cuts of everyCut(text))
        expect({ text, cuts, point: pointAfter(text, cuts) }).toEqual({ text, cuts, point: null });
  });

  test("a form in ground text, next to sequences, leaves the point where it is", () => {
    const text = `a\n\x1b[31m${secret}\x1b[0m x ${secret}\x1b]0;title\x07\nb\n`;
    const end = enc.encode(text).length;
    for (const cuts of everyCut(text))
      expect({ cuts, point: pointAfter(text, cuts) }).toEqual({ cuts, point: end });
  });
});
