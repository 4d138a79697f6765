import { describe, expect, test } from "bun:test";
import type { JobSummary } from "../types.ts";
import { layoutColumns } from "./pipeline.ts";

const job = (name: string, requires: string[] = []): JobSummary => ({
  id: name,
  name,
  status: "queued",
  workflow_id: "w",
  requires,
});
const names = (cols: JobSummary[][]) => cols.map((c) => c.map((j) => j.name));

describe("job graph layout", () => {
  test("a job sits one column right of the deepest job it requires", () => {
    const cols = layoutColumns([
      job("build"),
      job("lint"),
      job("test", ["build"]),
      job("deploy", ["test", "lint"]),
      job("docs", ["build"]),
    ]);
    expect(names(cols)).toEqual([["build", "lint"], ["test", "docs"], ["deploy"]]);
  });

  test("requires naming unknown jobs and cycles do not hang or drop jobs", () => {
    expect(names(layoutColumns([job("a", ["ghost"])]))).toEqual([["a"]]);
    const cyc = layoutColumns([job("a", ["b"]), job("b", ["a"])]);
    expect(
      cyc
        .flat()
        .map((j) => j.name)
        .sort(),
    ).toEqual(["a", "b"]);
  });
});
