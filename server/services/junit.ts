// A small JUnit XML reader: <testsuites>/<testsuite>/<testcase> with <failure>, <error> and <skipped>,
// the attributes CI tools write (name, classname, file, time, message). Not a general XML parser:
// no DTDs, no namespaces; entities, CDATA, comments and processing instructions are handled.

export type TestStatus = "passed" | "failed" | "error" | "skipped";

export interface TestCase {
  suite: string;
  name: string;
  classname: string;
  file: string | null;
  /** Seconds (0 when absent or not a number). */
  time: number;
  status: TestStatus;
  message: string | null;
}

export class JunitError extends Error {
  readonly code = "junit_invalid";
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (all, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
      return cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
    }
    return ENTITIES[e] ?? all;
  });
}

function attributes(source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of source.matchAll(/([^\s=/]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out[m[1]] = decodeEntities(m[3] ?? m[4] ?? "");
  }
  return out;
}

interface Open {
  tag: string;
  attrs: Record<string, string>;
  text: string;
}

const MAX_MESSAGE = 4000;

/** Every test case in the document, in order. Throws JunitError when it is not XML we can read. */
export function parseJunit(xml: string): TestCase[] {
  const cases: TestCase[] = [];
  const stack: Open[] = [];
  let current: TestCase | null = null;
  let sawRoot = false;
  const token =
    /<!--[\s\S]*?-->|<!\[CDATA\[([\s\S]*?)\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>|([^<]+)/g;
  let last = 0;
  for (const m of xml.matchAll(token)) {
    if (m.index !== last) throw new JunitError(`unexpected "<" at offset ${last}`);
    last = m.index + m[0].length;
    const top = stack[stack.length - 1];
    if (m[1] !== undefined || m[6] !== undefined) {
      // Text or CDATA: kept for the failure message only.
      if (top) top.text += m[1] ?? decodeEntities(m[6]);
      continue;
    }
    if (!m[3]) continue; // comment, declaration, DOCTYPE
    const [closing, tag, attrSource, selfClosing] = [m[2] === "/", m[3], m[4], m[5] === "/"];
    if (closing) {
      const open = stack.pop();
      if (!open || open.tag !== tag)
        throw new JunitError(`</${tag}> does not close <${open?.tag ?? "nothing"}>`);
      close(open);
      continue;
    }
    sawRoot = true;
    const node: Open = { tag, attrs: attributes(attrSource), text: "" };
    if (tag === "testcase") {
      const suite = [...stack].reverse().find((o) => o.tag === "testsuite");
      const time = Number.parseFloat(node.attrs.time ?? "");
      current = {
        suite: suite?.attrs.name ?? "",
        name: node.attrs.name ?? "",
        classname: node.attrs.classname ?? node.attrs.class ?? "",
        file: node.attrs.file ?? suite?.attrs.file ?? null,
        time: Number.isFinite(time) && time >= 0 ? time : 0,
        status: "passed",
        message: null,
      };
    }
    if (selfClosing) close(node);
    else stack.push(node);
  }
  if (last !== xml.length) throw new JunitError(`unexpected "<" at offset ${last}`);
  if (stack.length) throw new JunitError(`<${stack[stack.length - 1].tag}> is never closed`);
  if (!sawRoot) throw new JunitError("no XML elements");
  return cases;

  function close(node: Open) {
    if (!current) return;
    if (node.tag === "failure" || node.tag === "error" || node.tag === "skipped") {
      const status: TestStatus = node.tag === "failure" ? "failed" : node.tag;
      // A failure outranks a skip; the first failure's message is the one shown.
      if (current.status === "passed" || (current.status === "skipped" && status !== "skipped")) {
        current.status = status;
        const message = [node.attrs.message, node.text.trim()].filter(Boolean).join("\n");
        current.message = message ? message.slice(0, MAX_MESSAGE) : null;
      }
    } else if (node.tag === "testcase") {
      cases.push(current);
      current = null;
    }
  }
}
