// Every real config in the shared corpus either validates, or fails only with the messages Cairn
// means to give (orbs not published, macOS and Windows executors); the processed output of each is a snapshot.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { corpusPath } from "../../tests/support/corpus.ts";
import { formatError, parseConfig, planPipeline, renderProcessed } from "./index.ts";

const CORPUS = corpusPath("circleci");
const files = readdirSync(CORPUS)
  .filter((f) => f.endsWith(".yml"))
  .sort();

/** The only reasons a corpus file may be refused. */
const INTENDED = [
  /^orb `[\w-]+` \(circleci\/[\w-]+@[\d.]+\): circleci\/[\w-]+ has no published version matching [\d.]+; publish it with `cairn orb pack SRC_DIR > orb.yml && cairn orb publish circleci\/[\w-]+@[\d.X]+ orb.yml`$/,
  /^step `[\w-]+\/[\w-]+` comes from orb `[\w-]+` \(circleci\/[\w-]+@[\d.]+\), which could not be loaded/,
  /^job `[\w-]+`: macos executor \(Xcode [\d.]+\) is not supported: Cairn runs every job in a Linux LXC container/,
  /^executor `[\w-]+`: Windows machine image `windows-[^`]+` is not supported: Cairn runs every job in a Linux LXC container/,
];

const EXPECTED_VALID = [
  "CircleCI-Public__circleci-demo-ruby-rails__config.yml",
  "babel__babel__config.yml",
  "numpy__numpy__config.yml",
  "vuejs__vue__config.yml",
  "yarnpkg__yarn__config.yml",
];

describe("corpus", () => {
  test("the corpus is where we expect it", () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
  });

  for (const file of files) {
    test(file, () => {
      const { config, errors, warnings } = parseConfig(readFileSync(join(CORPUS, file), "utf8"), file);
      for (const e of errors)
        expect(
          INTENDED.some((re) => re.test(e.message)),
          formatError(e),
        ).toBe(true);
      expect(config !== undefined).toBe(EXPECTED_VALID.includes(file));
      // Valid: the expanded config; refused: the exact list of reasons.
      expect(config ? renderProcessed(config) : errors.map(formatError).join("\n")).toMatchSnapshot();
      expect(warnings.map(formatError)).toMatchSnapshot();
      if (config) {
        // Processing is deterministic, and planning a push to main works.
        expect(
          renderProcessed(parseConfig(readFileSync(join(CORPUS, file), "utf8"), file).config ?? config),
        ).toBe(renderProcessed(config));
        const plans = planPipeline(config, { branch: "main", revision: "0123abcd", parameters: {} });
        expect(plans.length).toBeGreaterThan(0);
      }
    });
  }
});
