// Whole-name regular expressions (branch and tag filters, `matches`) run without backtracking: the
// pattern compiles to a small program whose threads all advance together over the name, one code unit
// at a time (Thompson's construction, run as a Pike VM). Each position visits each instruction at most
// once, so a match costs at most (name length + 1) · program size steps, whatever the pattern:
// `(a+)+$` on 50,000 a's and a `!` is linear work, where JavaScript's engine would never return.
// The subset is what filters use: literals, escapes, classes, `.`, `^`, `$`, groups, alternation and
// `*` `+` `?` `{m}` `{m,}` `{m,n}` (lazy or not: for a yes/no answer it is the same). Anything else
// (backreferences, lookaround, word boundaries, Unicode property escapes) is refused, saying what.
// Semantics are JavaScript's without flags: UTF-16 code units, `.` stops at line terminators.

/** A pattern this matcher does not run; the message says why. */
export class RegexRefused extends SyntaxError {}

/** Instructions a pattern may compile to (`{m,n}` copies its operand): bounds each step's work. */
export const MAX_PROGRAM = 2000;

type CharTest = (c: number) => boolean;

type Node =
  | { kind: "char"; test: CharTest }
  | { kind: "start" }
  | { kind: "end" }
  | { kind: "seq"; items: Node[] }
  | { kind: "alt"; items: Node[] }
  | { kind: "repeat"; node: Node; min: number; max: number };

type Op =
  | { op: "char"; test: CharTest }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; to: number }
  | { op: "start" }
  | { op: "end" }
  | { op: "match" };

export interface LinearRegex {
  readonly source: string;
  /** Instructions in the compiled program. */
  readonly size: number;
  /** Whether the pattern matches the whole of `name`. */
  test(name: string): boolean;
  /** The answer and the steps it took (instructions visited plus characters tested). */
  run(name: string): { matched: boolean; steps: number };
}

const range =
  (lo: number, hi: number): CharTest =>
  (c) =>
    c >= lo && c <= hi;
const anyOf =
  (...tests: CharTest[]): CharTest =>
  (c) =>
    tests.some((t) => t(c));
const not =
  (t: CharTest): CharTest =>
  (c) =>
    !t(c);
const code = (ch: string) => ch.charCodeAt(0);
const DIGIT = range(48, 57);
const WORD = anyOf(DIGIT, range(65, 90), range(97, 122), (c) => c === 95);
// JavaScript's \s: WhiteSpace and LineTerminator.
const SPACE: CharTest = (c) =>
  (c >= 9 && c <= 13) ||
  c === 32 ||
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000 ||
  c === 0xfeff;
const LINE_TERMINATOR: CharTest = (c) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
const CLASS_ESCAPES: Record<string, CharTest> = {
  d: DIGIT,
  D: not(DIGIT),
  w: WORD,
  W: not(WORD),
  s: SPACE,
  S: not(SPACE),
};
const CONTROL_ESCAPES: Record<string, number> = { t: 9, n: 10, v: 11, f: 12, r: 13 };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) this.refuse(`unmatched \`)\` at ${this.i}`);
    return node;
  }

  private refuse(why: string): never {
    throw new RegexRefused(`refused: ${why}`);
  }

  private peek(k = 0): string {
    return this.src[this.i + k] ?? "";
  }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.peek() === "|") {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0] : { kind: "alt", items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.peek() !== "|" && this.peek() !== ")") {
      const at = this.i;
      const atom = this.atom();
      const q = this.quantifier();
      if (!q) {
        items.push(atom);
        continue;
      }
      if (this.src[at] === "^" || this.src[at] === "$")
        this.refuse(`nothing to repeat at ${at}: \`${this.src.slice(at, this.i)}\``);
      items.push({ kind: "repeat", node: atom, ...q });
      if (this.quantifierAhead())
        this.refuse(`nothing to repeat at ${this.i}: a quantifier follows a quantifier`);
    }
    return items.length === 1 ? items[0] : { kind: "seq", items };
  }

  private quantifierAhead(): boolean {
    const ch = this.peek();
    return ch === "*" || ch === "+" || ch === "?" || (ch === "{" && this.braces() !== null);
  }

  /** `{m}`, `{m,}` or `{m,n}` here; null when the `{` is a literal (as JavaScript reads it). */
  private braces(): { text: string; min: number; max: number } | null {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
    if (!m) return null;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Number.POSITIVE_INFINITY : Number(m[3]);
    return { text: m[0], min, max };
  }

  private quantifier(): { min: number; max: number } | null {
    const ch = this.peek();
    let q: { min: number; max: number } | null = null;
    if (ch === "*") q = { min: 0, max: Number.POSITIVE_INFINITY };
    else if (ch === "+") q = { min: 1, max: Number.POSITIVE_INFINITY };
    else if (ch === "?") q = { min: 0, max: 1 };
    if (q) this.i++;
    else if (ch === "{") {
      const b = this.braces();
      if (!b) return null;
      if (b.min > b.max) this.refuse(`numbers out of order in \`${b.text}\``);
      this.i += b.text.length;
      q = b;
    }
    if (q && this.peek() === "?") this.i++; // lazy: another order, the same yes or no
    return q;
  }

  private atom(): Node {
    const at = this.i;
    const ch = this.src[this.i++];
    switch (ch) {
      case "^":
        return { kind: "start" };
      case "$":
        return { kind: "end" };
      case ".":
        return { kind: "char", test: not(LINE_TERMINATOR) };
      case "(":
        return this.group(at);
      case "[":
        return { kind: "char", test: this.charClass() };
      case "\\": {
        const e = this.escape(false);
        return { kind: "char", test: typeof e === "number" ? (c) => c === e : e };
      }
      case "*":
      case "+":
      case "?":
        return this.refuse(`nothing to repeat at ${at}: \`${ch}\``);
      case "{": {
        this.i = at;
        const b = this.braces();
        if (b) this.refuse(`nothing to repeat at ${at}: \`${b.text}\``);
        this.i = at + 1;
        return { kind: "char", test: (c) => c === 123 }; // a `{` that starts no quantifier is itself
      }
      default: {
        const c = code(ch);
        return { kind: "char", test: (x) => x === c };
      }
    }
  }

  private group(at: number): Node {
    if (this.peek() === "?") {
      const named = /^\?<([A-Za-z_$][\w$]*)>/.exec(this.src.slice(this.i));
      if (this.peek(1) === ":") this.i += 2;
      else if (named) this.i += named[0].length;
      else this.refuse(`\`(${this.src.slice(this.i, this.i + 3)}\` at ${at}: lookaround is not supported`);
    }
    const inner = this.alternation();
    if (this.peek() !== ")") this.refuse(`unterminated group at ${at}`);
    this.i++;
    return inner;
  }

  /** After a backslash: one code unit, or a class escape's test. `inClass`: `\b` is a backspace there. */
  private escape(inClass: boolean): number | CharTest {
    const at = this.i - 1;
    const ch = this.src[this.i++];
    if (ch === undefined) this.refuse("a trailing `\\`");
    if (CLASS_ESCAPES[ch]) return CLASS_ESCAPES[ch];
    if (CONTROL_ESCAPES[ch] !== undefined) return CONTROL_ESCAPES[ch];
    if (ch === "b" && inClass) return 8;
    if (ch === "0" && !/\d/.test(this.peek())) return 0;
    if (ch === "x" || ch === "u") {
      const hex = new RegExp(`^[0-9A-Fa-f]{${ch === "x" ? 2 : 4}}`).exec(this.src.slice(this.i));
      if (!hex) this.refuse(`\`\\${ch}\` at ${at} without its hex digits`);
      this.i += hex[0].length;
      return Number.parseInt(hex[0], 16);
    }
    if (/[1-9]/.test(ch) || ch === "k")
      this.refuse(`a backreference at ${at} (\`\\${ch}\`) is not supported`);
    if (ch === "b" || ch === "B") this.refuse(`a word boundary at ${at} (\`\\${ch}\`) is not supported`);
    if (/\w/.test(ch)) this.refuse(`the escape \`\\${ch}\` at ${at} is not supported`);
    return code(ch); // `\.`, `\/`, `\-`: the character itself
  }

  private charClass(): CharTest {
    const at = this.i - 1;
    const negated = this.peek() === "^";
    if (negated) this.i++;
    const tests: CharTest[] = [];
    for (;;) {
      if (this.i >= this.src.length) this.refuse(`unterminated character class at ${at}`);
      if (this.peek() === "]") {
        this.i++;
        break;
      }
      const lo = this.classAtom();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== "") {
        this.i++;
        const hi = this.classAtom();
        if (typeof lo !== "number" || typeof hi !== "number")
          this.refuse(`a range with a class escape in the character class at ${at}`);
        if (lo > hi) this.refuse(`range out of order in the character class at ${at}`);
        tests.push(range(lo, hi));
      } else tests.push(typeof lo === "number" ? (c) => c === lo : lo);
    }
    const any = anyOf(...tests);
    return negated ? not(any) : any;
  }

  /** One member of a class: a code unit, or a class escape (`\d`, ...) as its test. */
  private classAtom(): number | CharTest {
    const ch = this.src[this.i++];
    return ch === "\\" ? this.escape(true) : code(ch);
  }
}

class Compiler {
  readonly prog: Op[] = [];

  emit(op: Op): number {
    if (this.prog.length >= MAX_PROGRAM)
      throw new RegexRefused(
        `refused: it compiles to more than ${MAX_PROGRAM} instructions (large {m,n} counts copy what they repeat)`,
      );
    this.prog.push(op);
    return this.prog.length - 1;
  }

  node(n: Node): void {
    switch (n.kind) {
      case "char":
        this.emit({ op: "char", test: n.test });
        return;
      case "start":
      case "end":
        this.emit({ op: n.kind });
        return;
      case "seq":
        for (const item of n.items) this.node(item);
        return;
      case "alt": {
        const jumps: number[] = [];
        for (let k = 0; k < n.items.length; k++) {
          if (k === n.items.length - 1) {
            this.node(n.items[k]);
            break;
          }
          // split this item, the next one
          const split = this.emit({ op: "split", x: 0, y: 0 });
          this.node(n.items[k]);
          jumps.push(this.emit({ op: "jmp", to: 0 }));
          this.patchSplit(split, split + 1, this.prog.length);
        }
        for (const j of jumps) (this.prog[j] as { to: number }).to = this.prog.length;
        return;
      }
      case "repeat": {
        for (let k = 0; k < n.min; k++) this.node(n.node);
        if (n.max === Number.POSITIVE_INFINITY) {
          // L: split L+1, out; <node>; jmp L
          const split = this.emit({ op: "split", x: 0, y: 0 });
          this.node(n.node);
          this.emit({ op: "jmp", to: split });
          this.patchSplit(split, split + 1, this.prog.length);
          return;
        }
        // Each optional copy may be skipped to the end: split next, out; <node>; ...
        const splits: number[] = [];
        for (let k = n.min; k < n.max; k++) {
          splits.push(this.emit({ op: "split", x: 0, y: 0 }));
          this.node(n.node);
        }
        for (const s of splits) this.patchSplit(s, s + 1, this.prog.length);
        return;
      }
    }
  }

  private patchSplit(at: number, x: number, y: number): void {
    this.prog[at] = { op: "split", x, y };
  }
}

/** Compiles `source` to match whole names; throws RegexRefused for what lies outside the subset. */
export function compileLinear(source: string): LinearRegex {
  const ast = new Parser(source).parse();
  const c = new Compiler();
  c.node(ast);
  c.emit({ op: "match" });
  const prog = c.prog;
  return {
    source,
    size: prog.length,
    test: (name) => simulate(prog, name).matched,
    run: (name) => simulate(prog, name),
  };
}

/** Runs every thread in lockstep over `name`; `steps` counts instructions visited and characters tested. */
function simulate(prog: Op[], name: string): { matched: boolean; steps: number } {
  const n = name.length;
  // seen[pc] === the position + 1 at which pc was last added: each pc once per position.
  const seen = new Int32Array(prog.length);
  let current: number[] = [];
  let next: number[] = [];
  const stack: number[] = [];
  let steps = 0;

  const add = (list: number[], start: number, pos: number) => {
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (seen[pc] === pos + 1) continue;
      seen[pc] = pos + 1;
      steps++;
      const op = prog[pc];
      switch (op.op) {
        case "jmp":
          stack.push(op.to);
          break;
        case "split":
          stack.push(op.y, op.x);
          break;
        case "start":
          if (pos === 0) stack.push(pc + 1);
          break;
        case "end":
          if (pos === n) stack.push(pc + 1);
          break;
        default:
          list.push(pc); // char or match: waits for the next character, or the end
      }
    }
  };

  add(current, 0, 0);
  for (let pos = 0; pos < n; pos++) {
    const c = name.charCodeAt(pos);
    for (const pc of current) {
      const op = prog[pc];
      if (op.op !== "char") continue;
      steps++;
      if (op.test(c)) add(next, pc + 1, pos + 1);
    }
    [current, next] = [next, current];
    next.length = 0;
    if (current.length === 0) return { matched: false, steps };
  }
  return { matched: current.some((pc) => prog[pc].op === "match"), steps };
}
