import { describe, expect, test } from "bun:test";
import { JunitError, parseJunit } from "./junit.ts";

describe("parseJunit", () => {
  test("suites, cases, statuses, times, files and messages", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!-- written by a test runner -->
<testsuites>
  <testsuite name="math" file="test/math.test.js" tests="4">
    <testcase name="adds" classname="Math" time="0.25"/>
    <testcase name="divides &amp; rounds" classname="Math" time="1.5" file="test/div.test.js">
      <failure message="expected 2 &lt; 1" type="AssertionError"><![CDATA[at div (<anonymous>:1:1)]]></failure>
    </testcase>
    <testcase name="later" classname="Math"><skipped/></testcase>
    <testcase name="boom" classname="Math" time="x"><error message="crash">stack &#x41;</error></testcase>
  </testsuite>
  <testsuite name="empty"></testsuite>
</testsuites>`;
    expect(parseJunit(xml)).toEqual([
      {
        suite: "math",
        name: "adds",
        classname: "Math",
        file: "test/math.test.js",
        time: 0.25,
        status: "passed",
        message: null,
      },
      {
        suite: "math",
        name: "divides & rounds",
        classname: "Math",
        file: "test/div.test.js",
        time: 1.5,
        status: "failed",
        message: "expected 2 < 1\nat div (<anonymous>:1:1)",
      },
      {
        suite: "math",
        name: "later",
        classname: "Math",
        file: "test/math.test.js",
        time: 0,
        status: "skipped",
        message: null,
      },
      {
        suite: "math",
        name: "boom",
        classname: "Math",
        file: "test/math.test.js",
        time: 0,
        status: "error",
        message: "crash\nstack A",
      },
    ]);
  });

  test("a lone testsuite root and single-quoted attributes", () => {
    const cases = parseJunit(
      `<testsuite name='s'><testcase name='t' classname='c' time='2'></testcase></testsuite>`,
    );
    expect(cases).toEqual([
      { suite: "s", name: "t", classname: "c", file: null, time: 2, status: "passed", message: null },
    ]);
  });

  test("refuses what is not well-formed", () => {
    expect(() => parseJunit("<testsuite><testcase></testsuite>")).toThrow(JunitError);
    expect(() => parseJunit("<testsuite>")).toThrow(/never closed/);
    expect(() => parseJunit("not xml at all")).toThrow(JunitError);
    expect(() => parseJunit("<a><</a>")).toThrow(JunitError);
  });
});
