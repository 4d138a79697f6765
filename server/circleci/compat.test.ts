// The compatibility suite: every real config we hold (the shared corpus and fixtures/real, collected
// from public repositories) is accepted and plans a push to main, or is refused only for a reason
// Cairn means to give: an orb not published to its registry.
// The figures are in docs/config-compat.md.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { corpusPath } from "../../tests/support/corpus.ts";
import { formatError, parseConfig, planPipeline } from "./index.ts";

const DIRS = [corpusPath("circleci"), join(import.meta.dir, "fixtures/real")];
const files = DIRS.flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith(".yml"))
    .map((f) => ({ name: f, path: join(d, f) })),
).sort((a, b) => a.name.localeCompare(b.name));

const ALLOWED_REFUSALS = [
  /^orb `[\w-]+` \([\w-]+\/[\w-]+@[\d.]+\): [\w-]+\/[\w-]+ has no published version matching [\d.]+; publish it with `cairn orb pack/,
  /comes from orb `[\w-]+` \([\w-]+\/[\w-]+@[\d.]+\), which could not be loaded \(see its declaration\)$/,
];

/** What each file does today; a change here is a change in the figures of docs/config-compat.md. */
const ACCEPTED = [
  "CircleCI-Public__circleci-cli__config.yml",
  "CircleCI-Public__circleci-demo-ruby-rails__config.yml",
  "apollographql__apollo-client__config.yml",
  "babel__babel__config.yml",
  "mne-tools__mne-python__config.yml",
  "numpy__numpy__config.yml",
  "sympy__sympy__config.yml",
  "vuejs__vue__config.yml",
  "yarnpkg__yarn__config.yml",
];

describe("compatibility with real configs", () => {
  test("at least 17 real configs", () => expect(files.length).toBeGreaterThanOrEqual(17));

  for (const f of files) {
    test(f.name, () => {
      const { config, errors } = parseConfig(readFileSync(f.path, "utf8"), f.name);
      for (const e of errors)
        expect(
          ALLOWED_REFUSALS.some((re) => re.test(e.message)),
          formatError(e),
        ).toBe(true);
      expect(config !== undefined).toBe(ACCEPTED.includes(f.name));
      if (config) {
        const plans = planPipeline(config, { branch: "main", revision: "0123abcd", parameters: {} });
        expect(plans.flatMap((p) => p.jobs).length).toBeGreaterThan(0);
      }
    });
  }
});
