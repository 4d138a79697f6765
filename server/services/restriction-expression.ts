// Expression restrictions of contexts, in the shape CircleCI writes them:
//   pipeline.git.branch == "main"
//   pipeline.git.branch starts-with "release/" and not pipeline.git.tag == ""
// Operands: pipeline.git.branch, pipeline.git.tag (empty string when there is none) and "string"
// literals; operators ==, !=, starts-with; combined with not, and, or (in that precedence) and
// parentheses. Parsed once when stored (a bad one is a 400) and again when a job asks for secrets.

export type Values = { branch: string | null; tag: string | null };

type Node =
  | { op: "cmp"; kind: "==" | "!=" | "starts-with"; left: Operand; right: Operand }
  | { op: "not"; arg: Node }
  | { op: "and" | "or"; left: Node; right: Node };
type Operand = { var: "branch" | "tag" } | { lit: string };

const VARS: Record<string, "branch" | "tag"> = { "pipeline.git.branch": "branch", "pipeline.git.tag": "tag" };

export class ExpressionError extends Error {}

function tokenize(src: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|(==|!=|\(|\))|([A-Za-z_][\w.-]*))/y;
  let i = 0;
  while (i < src.length) {
    if (/^\s*$/.test(src.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m) throw new ExpressionError(`unexpected text at ${i}: ${src.slice(i, i + 20)}`);
    out.push(m[1] ?? m[2] ?? m[3]);
    i = re.lastIndex;
  }
  return out;
}

export function parseExpression(src: string): Node {
  if (src.length > 1000) throw new ExpressionError("an expression may be at most 1000 characters");
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++];
  const operand = (): Operand => {
    const t = take();
    if (t === undefined) throw new ExpressionError("the expression ends too early");
    if (t.startsWith('"')) return { lit: JSON.parse(t) as string };
    const v = VARS[t];
    if (!v) throw new ExpressionError(`unknown value ${t} (pipeline.git.branch, pipeline.git.tag, "text")`);
    return { var: v };
  };
  const primary = (): Node => {
    if (peek() === "not") {
      take();
      return { op: "not", arg: primary() };
    }
    if (peek() === "(") {
      take();
      const inner = or();
      if (take() !== ")") throw new ExpressionError("a parenthesis is not closed");
      return inner;
    }
    const left = operand();
    const kind = take();
    if (kind !== "==" && kind !== "!=" && kind !== "starts-with")
      throw new ExpressionError(`expected ==, != or starts-with, found ${kind ?? "the end"}`);
    return { op: "cmp", kind, left, right: operand() };
  };
  const and = (): Node => {
    let left = primary();
    while (peek() === "and") {
      take();
      left = { op: "and", left, right: primary() };
    }
    return left;
  };
  const or = (): Node => {
    let left = and();
    while (peek() === "or") {
      take();
      left = { op: "or", left, right: and() };
    }
    return left;
  };
  const tree = or();
  if (pos < tokens.length) throw new ExpressionError(`unexpected ${tokens[pos]}`);
  return tree;
}

export function evaluate(node: Node, values: Values): boolean {
  const value = (o: Operand) => ("lit" in o ? o.lit : (values[o.var] ?? ""));
  switch (node.op) {
    case "cmp": {
      const [l, r] = [value(node.left), value(node.right)];
      return node.kind === "==" ? l === r : node.kind === "!=" ? l !== r : l.startsWith(r);
    }
    case "not":
      return !evaluate(node.arg, values);
    case "and":
      return evaluate(node.left, values) && evaluate(node.right, values);
    case "or":
      return evaluate(node.left, values) || evaluate(node.right, values);
  }
}
