// Regular expressions written by users (branch filters, workflow `filters`, `matches`) run inside the
// server's event loop, where JavaScript's backtracking engine could spend years on one webhook. They
// never reach that engine: they run on linear-regex.ts's automaton, at most 2 · (n + 1) · program size
// steps for a name of n characters, whatever the pattern, `(a+)+$` included. What lies outside the
// subset it runs (backreferences, lookaround, word boundaries) is refused with the reason; a pattern
// that is not a regular expression at all is refused with JavaScript's own message.
// A name longer than MAX_SUBJECT never matches a regular expression: with the pattern's length also
// capped, one test costs at most about 2 · 256 · MAX_PROGRAM steps.
import { compileLinear, type LinearRegex } from "./linear-regex.ts";

export const MAX_REGEX_LENGTH = 255;
export const MAX_SUBJECT = 255;

/** A whole-name regular expression from user input; throws a SyntaxError saying why it is refused. */
export function safeRegExp(source: string): LinearRegex {
  if (source.length > MAX_REGEX_LENGTH)
    throw new SyntaxError(`refused: it is longer than ${MAX_REGEX_LENGTH} characters`);
  new RegExp(source); // only for the syntax error a user can look up; it never runs
  return compileLinear(source);
}

/** `re` on `name`, or false for a name too long to match. */
export function testName(re: LinearRegex, name: string): boolean {
  return name.length <= MAX_SUBJECT && re.test(name);
}
