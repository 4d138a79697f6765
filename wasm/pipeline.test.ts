// Fixed cases for each behaviour of issue 3, run against both implementations.
import { describe, expect, test } from "bun:test";
import { isMaskable, renderHtml, renderText } from "./index.ts";
import { enc, implementations, run, runChunks, texts } from "./testing.ts";

const impls = await implementations();

for (const [name, make] of impls) {
  describe(`${name}: masking`, () => {
    test("a secret is replaced by a fixed mask", () => {
      expect(texts(run(make, "token=hunter22!\n", [], { secrets: ["hunter22"] }))).toEqual([
        "token=********!",
      ]);
    });

    test("a secret split at every byte position is masked", () => {
      const input = "before supersecret after\n";
      for (let cut = 0; cut <= input.length; cut++) {
        expect(texts(run(make, input, [cut], { secrets: ["supersecret"] }))).toEqual([
          "before ******** after",
        ]);
      }
    });

    test("a secret written one byte at a time is masked", () => {
      const input = "xx supersecret yy supersecretsupersecret\n";
      const cuts = Array.from({ length: input.length }, (_, i) => i);
      expect(texts(run(make, input, cuts, { secrets: ["supersecret"] }))).toEqual([
        "xx ******** yy ****************",
      ]);
    });

    test("a failed partial match falls back (aab written as aa then ab)", () => {
      expect(texts(run(make, "aaab\n", [2], { secrets: ["aaab"] }))).toEqual(["********"]);
      expect(texts(run(make, "xaaaab\n", [3], { secrets: ["aaab"] }))).toEqual(["xa********"]);
    });

    test("overlapping and nested secrets are masked completely", () => {
      const secrets = ["abcdef", "defghi", "bcde"];
      expect(texts(run(make, "-abcdefghi-\n", [], { secrets }))).toEqual(["-********-"]);
    });

    test("values under 4 bytes are not masked, and isMaskable says so", () => {
      expect(isMaskable("abc")).toBe(false);
      expect(isMaskable("abcd")).toBe(true);
      expect(texts(run(make, "abc abcd\n", [], { secrets: ["abc", "abcd"] }))).toEqual(["abc ********"]);
    });

    test("base64 at every alignment, standard and URL-safe", () => {
      const secret = "pa?s>s~w";
      for (const prefix of ["", "u", "us", "user:"]) {
        const b = Buffer.from(`${prefix + secret}!`);
        const std = b.toString("base64");
        const url = b.toString("base64url");
        const out = run(make, `${std}\n${url}\n`, [], { secrets: [secret] }).map((l) => l.text);
        for (const line of out) expect(line).toContain("********");
      }
    });

    test("URL-encoded and JSON-escaped forms", () => {
      const secret = 'p@ss "word"/x';
      const input = `${encodeURIComponent(secret)}\n${JSON.stringify({ s: secret })}\n`;
      expect(texts(run(make, input, [], { secrets: [secret] }))).toEqual(["********", '{"s":"********"}']);
    });

    test("multi-line secrets are masked whole, line by line and after \\r\\n", () => {
      const key = "-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----";
      const whole = texts(run(make, `${key}\n`, [], { secrets: [key] }));
      expect(whole.join("\n")).not.toContain("AAAABBBBCCCC");
      const crlf = texts(run(make, `${key.replace(/\n/g, "\r\n")}\r\n`, [], { secrets: [key] }));
      expect(crlf.join("\n")).not.toContain("AAAABBBBCCCC");
      expect(texts(run(make, "x AAAABBBBCCCC y\n", [], { secrets: [key] }))).toEqual(["x ******** y"]);
    });

    test("a secret added mid-stream masks everything after it", () => {
      const p = make();
      const a = p.push(enc.encode("one hunter22\n"));
      p.addSecret("hunter22");
      const b = [...p.push(enc.encode("two hunter22\n")), ...p.flush()];
      expect(texts([...a, ...b].flatMap((c) => c.lines))).toEqual(["one hunter22", "two ********"]);
    });

    test("holds back at most longest-1 bytes and flush releases them", () => {
      const p = make({ secrets: ["abcdefgh"] });
      const lines = p.push(enc.encode("xxabcdefg\nabcdefg"));
      expect(texts(lines.flatMap((c) => c.lines))).toEqual(["xxabcdefg"]);
      expect(texts(p.flush().flatMap((c) => c.lines))).toEqual(["abcdefg"]);
    });

    test("10,000 secrets", () => {
      const secrets = Array.from({ length: 10000 }, (_, i) => `secret-${i.toString(36)}-value`);
      const input = `${secrets[42]} and ${secrets[9999]} and plain text\n`;
      expect(texts(run(make, input, [7], { secrets }))).toEqual(["******** and ******** and plain text"]);
    });
  });

  describe(`${name}: ANSI`, () => {
    test("SGR styles become spans", () => {
      const [line] = run(make, "a\x1b[1;31mB\x1b[22;4;38;5;208mC\x1b[0;48;2;1;2;3mD\x1b[mE\n");
      expect(line.text).toBe("aBCDE");
      expect(line.spans).toEqual([
        { start: 1, end: 2, fg: 1, bold: true },
        { start: 2, end: 3, fg: 208, underline: true },
        { start: 3, end: 4, bg: "#010203" },
      ]);
    });

    test("an SGR cut by the end of a push waits for its rest, whatever earlier pushes left behind it", () => {
      // Each push lands where the one before did: past the end of "… ESC [3" are the "2m" of
      // the SGR before, which must not complete it. Long pushes, so the fast loop takes the SGR.
      const dashes = "-".repeat(10);
      const seen = `${dashes}\x1b[32mb${dashes}`;
      const pushes = [seen, seen, seen, `${dashes}\x1b[3`, "1md\n"];
      const cuts = pushes.slice(0, -1).map((_, i) => pushes.slice(0, i + 1).join("").length);
      const lines = run(make, pushes.join(""), cuts);
      const text = `${dashes}b${dashes}`;
      expect(lines).toEqual([
        {
          n: 1,
          text: `${text}${text}${text}${dashes}d`,
          spans: [
            { start: 10, end: 73, fg: 2 },
            { start: 73, end: 74, fg: 1 },
          ],
        },
      ]);
    });

    test("one colour reached again after its style was displaced is still one span", () => {
      // The module interns styles through a hash of their fields; these two truecolours share a
      // slot there, so the second `F` gets a new id with the same fields, which must merge with
      // the first. Then the same after a compaction (over 1,024 styles on a line): the style left
      // must be found again.
      const F = "\x1b[38;2;1;2;3m";
      const G = "\x1b[38;2;0;1;119m";
      const fg = "#010203";
      expect(run(make, `${F}a${G}${F}b\n`)[0].spans).toEqual([{ start: 0, end: 2, fg }]);
      const many = Array.from({ length: 1100 }, (_, i) => `\x1b[38;2;9;${i >> 8};${i & 255}mx`).join("");
      const lines = run(make, `${many}${F}y\na\x1b[0m${F}b\n`);
      expect(lines[1].spans).toEqual([{ start: 0, end: 2, fg }]);
    });

    test("bright colours, dim, italic, inverse, strike", () => {
      const [line] = run(make, "\x1b[92;101;2;3;7;9mX\x1b[39;49;23;27;29mY\n");
      expect(line.spans).toEqual([
        { start: 0, end: 1, fg: 10, bg: 9, dim: true, italic: true, inverse: true, strike: true },
        { start: 1, end: 2, dim: true },
      ]);
    });

    test("OSC 8 links: http(s) only, ended by BEL or ESC \\", () => {
      const [a, b] = run(
        make,
        "\x1b]8;;https://cairn.dev/x\x1b\\go\x1b]8;;\x1b\\ \x1b]8;id=1;javascript:alert(1)\x07no\x1b]8;;\x07\n" +
          "\x1b]8;;http://a.b\x07y\x1b]0;title\x07z\n",
      );
      expect(a.text).toBe("go no");
      expect(a.spans).toEqual([{ start: 0, end: 2, href: "https://cairn.dev/x" }]);
      expect(b.text).toBe("yz");
      expect(b.spans).toEqual([{ start: 0, end: 2, href: "http://a.b" }]);
    });

    test("a megabyte OSC payload is dropped whole", () => {
      const lines = run(make, `a\x1b]8;;https://x/${"y".repeat(1 << 20)}\x07b\n`, [1000, 70000]);
      expect(lines).toEqual([{ n: 1, text: "ab", spans: [] }]);
    });

    test("\\r overwrites: a progress bar rewritten 1,000 times is one line", () => {
      let s = "";
      for (let i = 0; i <= 1000; i++) s += `\r[${"#".repeat(i % 40)}] ${i}/1000\x1b[K`;
      expect(texts(run(make, `${s}\ndone\n`, [333, 4096]))).toEqual(["[] 1000/1000", "done"]);
    });

    test("a C1 control (UTF-8) that ends a piece is dropped and the line goes on", () => {
      // The first piece leaves newlines in the module's input buffer, right past the second one.
      const input = enc.encode("ab\n\n\n\nx\u0085y\n");
      expect(texts(run(make, input, [6, 9]))).toEqual(["ab", "", "", "", "xy"]);
    });

    test("\\r\\n keeps the line; erase-line modes; backspace; tab", () => {
      // Cursor movement is dropped, so ESC[3C does not protect the text from ESC[K.
      expect(texts(run(make, "abc\r\nabcdef\r\x1b[3C\x1b[Kxy\n"))).toEqual(["abc", "xy"]);
      expect(texts(run(make, "abcdef\b\b\x1b[KZ\n12345\b\b\x1b[1Kx\n123\x1b[2K\n"))).toEqual([
        "abcdZ",
        "   x5",
        "",
      ]);
      expect(texts(run(make, "a\tb\r\tc\n"))).toEqual(["a       c"]);
    });

    test("absurd CSI parameters and unknown sequences are dropped", () => {
      expect(
        texts(
          run(
            make,
            "a\x1b[999999999Cb\x1b[?25l\x1b[2J\x1b[1;1H\x1b(B\x1bPdcs\x1b\\c\x1b[99999999999999999999;31mX\n",
          ),
        ),
      ).toEqual(["abcX"]);
    });

    test("timestamp APC sequences as Buildkite emits them", () => {
      expect(
        texts(run(make, "\x1b_bk;t=1700000000000\x07hello\n\x1b_bk;t=1700000000001\x1b\\world\n", [5])),
      ).toEqual(["hello", "world"]);
    });

    test("docker-pull style cursor-up redraws leave no escape bytes", () => {
      let s = "";
      for (let r = 0; r < 5; r++) {
        if (r > 0) s += "\x1b[3A";
        for (const id of ["a1", "b2", "c3"]) s += `\x1b[2K${id}: Downloading ${r * 20}%\r\n`;
      }
      const lines = texts(run(make, s));
      expect(lines).toHaveLength(15);
      expect(lines.at(-1)).toBe("c3: Downloading 80%");
    });

    test("UTF-8 split across chunks survives; invalid UTF-8 becomes U+FFFD", () => {
      const bytes = enc.encode("héllo 🌍 wörld\n");
      for (let cut = 0; cut < bytes.length; cut++)
        expect(texts(run(make, bytes, [cut]))).toEqual(["héllo 🌍 wörld"]);
      const bad = new Uint8Array([
        0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xf0, 0x9f, 0x8c, 0x0a, 0xed, 0xa0, 0x80, 0x0a,
      ]);
      expect(texts(run(make, bad, [8]))).toEqual(["a\ufffdb\ufffdc\ufffd", "\ufffd\ufffd\ufffd"]);
    });

    test("astral characters count two UTF-16 units in spans", () => {
      const [line] = run(make, "🌍\x1b[31mx\n");
      expect(line.spans).toEqual([{ start: 2, end: 3, fg: 1 }]);
    });
  });

  describe(`${name}: lines and chunks`, () => {
    test("lines are numbered from firstLine", () => {
      expect(run(make, "a\nb\n", [], { firstLine: 41 }).map((l) => l.n)).toEqual([41, 42]);
    });

    test("lines over 64 KiB are split with a continuation mark", () => {
      const lines = run(make, `${"x".repeat(150000)}\nend\n`, [70000]);
      expect(lines.map((l) => [l.text.length, l.cont])).toEqual([
        [65536, undefined],
        [65536, true],
        [150000 - 131072, true],
        [3, undefined],
      ]);
    });

    test("chunks hold at most 1,000 lines and 64 KiB", () => {
      const chunks = runChunks(make, `${"line\n".repeat(2500)}${"y".repeat(40000)}\n${"z".repeat(40000)}\n`);
      for (const c of chunks) {
        expect(c.lines.length).toBeLessThanOrEqual(1000);
        expect(c.lines.reduce((n, l) => n + enc.encode(l.text).length, 0)).toBeLessThanOrEqual(65536);
        expect(c.first).toBe(c.lines[0].n);
        expect(c.last).toBe(c.lines.at(-1)!.n);
      }
      expect(chunks.flatMap((c) => c.lines)).toHaveLength(2502);
    });

    test("a truncated escape at end of stream is dropped", () => {
      expect(texts(run(make, "ok\x1b[31"))).toEqual(["ok"]);
      expect(texts(run(make, "ok\x1b]8;;http"))).toEqual(["ok"]);
    });
  });
}

describe("renderings", () => {
  const lines = [
    { n: 1, text: "<b> & \"x\" 'y'", spans: [{ start: 0, end: 3, fg: 1, bold: true as const }] },
    { n: 2, text: "link", spans: [{ start: 0, end: 4, href: 'https://a/?x=1&y="2"', bg: "#ff0000" }] },
    { n: 3, text: "more", spans: [], cont: true as const },
  ];

  test("HTML is escaped and class-based", () => {
    expect(renderHtml(lines)).toBe(
      '<div class="term-line" data-n="1"><span class="term-fg1 term-fg31">&lt;b&gt;</span> &amp; &quot;x&quot; &#39;y&#39;</div>\n' +
        '<div class="term-line" data-n="2"><span style="background-color:#ff0000"><a href="https://a/?x=1&amp;y=&quot;2&quot;" rel="nofollow noopener noreferrer">link</a></span></div>\n' +
        '<div class="term-line term-cont" data-n="3">more</div>\n',
    );
  });

  test("text joins continuation lines", () => {
    expect(renderText(lines)).toBe("<b> & \"x\" 'y'\nlinkmore\n");
  });
});

describe("pushJson", () => {
  test("both implementations give the same JSON bytes, up to whitespace", () => {
    const input = enc.encode("a\x1b[31mb\nc\n");
    const [[, ref], [, wasm]] = impls;
    const decode = (b: Uint8Array) => JSON.stringify(JSON.parse(new TextDecoder().decode(b)));
    const r = ref({ secrets: ["abcd"] });
    const w = wasm({ secrets: ["abcd"] });
    expect(decode(w.pushJson!(input))).toBe(decode(r.pushJson!(input)));
    expect(decode(w.flushJson!())).toBe(decode(r.flushJson!()));
  });
});

describe("large pushes", () => {
  test("a push over 1 MiB is processed in pieces, identically by both implementations", () => {
    const [[, ref], [, wasm]] = impls;
    const big = enc.encode(`${"line of text with hunter22 in it\n".repeat(80000)}tail`);
    const a = ref({ secrets: ["hunter22"] });
    const b = wasm({ secrets: ["hunter22"] });
    const ra = [...a.push(big), ...a.flush()];
    const rb = [...b.push(big), ...b.flush()];
    expect(JSON.stringify(rb)).toBe(JSON.stringify(ra));
    expect(ra.flatMap((c) => c.lines)).toHaveLength(80001);
    expect(ra.every((c) => c.lines.every((l) => !l.text.includes("hunter22")))).toBe(true);
  });
});
