// Orbs with the real orb sources of ../shared/corpus/orbs (node 5.0.0 and 7.2.1, python 4.0.0):
// packed as `circleci orb pack` does, resolved from a directory of packed orbs, and expanded the way
// CircleCI expands them (parameters, steps parameters, <<include>>d scripts, executors).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { corpusPath } from "../../tests/support/corpus.ts";
import { runConfigCli } from "../circleci/cli.ts";
import { parseConfig, pickVersion, planPipeline } from "../circleci/index.ts";
import { orbsFromDir } from "./orb-dir.ts";
import { packOrb } from "./pack.ts";

const ORBS = corpusPath("orbs");
const dir = mkdtempSync(join(tmpdir(), "cairn-orbs-"));
mkdirSync(join(dir, "circleci"));
for (const [src, as] of [
  ["node-orb-v5.0.0", "node@5.0.0"],
  ["node-orb-v7.2.1", "node@7.2.1"],
  ["python-orb-v4.0.0", "python@4.0.0"],
])
  writeFileSync(join(dir, "circleci", `${as}.yml`), packOrb(join(ORBS, src, "src")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runConfigCli(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, stdout: out.join(""), stderr: err.join("").split("\n").filter(Boolean) };
}

const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe("orb pack", () => {
  test("@orb.yml plus commands/, jobs/, executors/, examples/ by file name; <<include>> inlined", () => {
    const packed = parse(readFileSync(join(dir, "circleci", "node@7.2.1.yml"), "utf8"));
    expect(packed.version).toBe(2.1);
    expect(Object.keys(packed.commands).sort()).toEqual([
      "install",
      "install-bun",
      "install-packages",
      "install-pnpm",
      "install-yarn",
    ]);
    expect(Object.keys(packed.jobs).sort()).toEqual(["run", "test"]);
    expect(Object.keys(packed.executors)).toEqual(["default"]);
    expect(Object.keys(packed.examples).length).toBeGreaterThan(10);
    const findPackage = readFileSync(
      join(ORBS, "node-orb-v7.2.1/src/scripts/packages/find-package.sh"),
      "utf8",
    );
    expect(packed.commands["install-packages"].steps[0].run.command).toBe(findPackage);
    expect(JSON.stringify(packed)).not.toContain("<<include(");
  });

  test("a tree without @orb.yml is refused", () => {
    expect(() => packOrb(join(ORBS, "node-orb-v7.2.1"))).toThrow(/no @orb\.yml/);
  });
});

describe("orb versions", () => {
  test("@X.Y and @X pick the newest match; an exact version only itself", () => {
    const v = ["5.0.0", "5.1.2", "5.1.10", "6.0.0", "7.2.1"];
    expect(pickVersion("5", v)).toBe("5.1.10");
    expect(pickVersion("5.1", v)).toBe("5.1.10");
    expect(pickVersion("5.0.0", v)).toBe("5.0.0");
    expect(pickVersion("5.2", v)).toBeUndefined();
    expect(pickVersion("volatile", v)).toBe("7.2.1");
  });

  test("--orb-dir resolves declared references", () => {
    const texts = orbsFromDir(dir, [
      "circleci/node@7",
      "circleci/node@5.0",
      "circleci/python@4.0.0",
      "circleci/ruby@1",
    ]);
    expect([...texts].map(([ref, o]) => [ref, o.resolved])).toEqual([
      ["circleci/node@7", "circleci/node@7.2.1"],
      ["circleci/node@5.0", "circleci/node@5.0.0"],
      ["circleci/python@4.0.0", "circleci/python@4.0.0"],
    ]);
  });
});

describe("configs using orbs", () => {
  const CONFIG = `version: 2.1
orbs:
  node: circleci/node@7
  python: circleci/python@4.0.0
  local:
    commands:
      greet:
        parameters: {who: {type: string, default: world}}
        steps: [{run: echo hello << parameters.who >>}]
    jobs:
      hello:
        docker: [{image: cimg/base:current}]
        steps: [greet]
jobs:
  build:
    executor: node/default
    steps:
      - checkout
      - node/install-packages: {pkg-manager: yarn, cache-version: v9}
      - local/greet: {who: cairn}
workflows:
  main:
    jobs:
      - build
      - local/hello
      - node/test:
          pkg-manager: npm
          setup: [{run: echo before install}]
`;

  test("orb commands, jobs and executors expand as CircleCI expands them", () => {
    const texts = orbsFromDir(dir, ["circleci/node@7", "circleci/python@4.0.0"]);
    const { config, errors, warnings } = parseConfig(CONFIG, "c.yml", { orbs: texts });
    expect(errors).toEqual([]);
    expect(warnings.map((w) => `${w.line}:${w.col}: ${w.message}`)).toEqual([
      "4:3: orb `python` (circleci/python@4.0.0) is declared but never used",
    ]);
    expect(config?.orbs).toEqual({ node: "circleci/node@7.2.1", python: "circleci/python@4.0.0" });
    const build = config!.jobs.build;
    // The orb's executor, with its parameter defaults.
    expect(build.executor).toMatchObject({ kind: "docker", image: "cimg/node:lts" });
    expect(build.resourceClass).toBe("large");
    const [plan] = planPipeline(config!, { branch: "main", revision: "abc", parameters: {} });
    const steps = plan.jobs.find((j) => j.name === "build")!.steps;
    const names = steps.map((s) => (s.type === "run" ? s.name : s.type));
    expect(names).toEqual([
      "checkout",
      "Checking for package.json",
      "Determine lockfile",
      "restore_cache",
      "Installing YARN packages",
      "save_cache",
      "Remove temporary links",
      "echo hello cairn",
    ]);
    const findPackage = readFileSync(
      join(ORBS, "node-orb-v7.2.1/src/scripts/packages/find-package.sh"),
      "utf8",
    );
    expect(steps[1]).toMatchObject({ type: "run", command: findPackage, workingDirectory: "." });
    const restore = steps[3] as { keys: string[] };
    expect(restore.keys[0]).toBe('node-deps-{{ arch }}-v9-{{ checksum "/tmp/node-project-lockfile" }}');
    // An orb job: its `steps` parameter spliced with `- steps: << parameters.setup >>`.
    const test = plan.jobs.find((j) => j.name === "node/test")!;
    expect(test.steps.slice(0, 3).map((s) => (s.type === "run" ? s.command : s.type))).toEqual([
      "checkout",
      "echo before install",
      findPackage,
    ]);
    expect(plan.jobs.find((j) => j.name === "local/hello")?.steps).toMatchObject([
      { type: "run", command: "echo hello world" },
    ]);
  });

  test("node 5.0.0 resolves too, with its own parameters", () => {
    const texts = orbsFromDir(dir, ["circleci/node@5.0.0"]);
    const { config, errors } = parseConfig(
      `version: 2.1
orbs: {node: circleci/node@5.0.0}
workflows:
  w:
    jobs: [{node/test: {version: "16.13"}}]
`,
      "c.yml",
      { orbs: texts },
    );
    expect(errors).toEqual([]);
    expect(config?.jobs["node/test"].executor.image).toBe("cimg/node:16.13");
  });

  test("cairn config process --orb-dir; without the orb, the error names it, its version and how to publish it", async () => {
    const file = write("config.yml", CONFIG);
    const ok = await cli("process", file, "--orb-dir", dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("image: cimg/node:lts");
    expect(ok.stdout).toContain("name: Installing YARN packages");
    const missing = await cli("validate", file);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `${file}:3:3: orb \`node\` (circleci/node@7): circleci/node has no published version matching 7; publish it with \`cairn orb pack SRC_DIR > orb.yml && cairn orb publish circleci/node@X.Y.Z orb.yml\``,
    );
  });

  test("an inline orb needs no registry; an unused inline orb is a warning", () => {
    const { config, errors, warnings } = parseConfig(
      `version: 2.1
orbs:
  tools:
    executors:
      small: {docker: [{image: busybox}], resource_class: small}
    commands:
      hi: {steps: [{run: echo hi}]}
    jobs:
      ping: {executor: small, steps: [hi]}
  spare:
    commands:
      x: {steps: [{run: x}]}
workflows:
  w: {jobs: [tools/ping]}
`,
      "c.yml",
    );
    expect(errors).toEqual([]);
    expect(warnings.map((w) => w.message)).toEqual([
      "orb `spare` (an inline orb) is declared but never used",
    ]);
    expect(config?.jobs["tools/ping"]).toMatchObject({
      executor: { kind: "docker", image: "busybox" },
      resourceClass: "small",
      steps: [{ type: "run", command: "echo hi" }],
    });
  });
});
