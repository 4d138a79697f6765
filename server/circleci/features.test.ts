// 2.1 expansion, one feature at a time, on fixtures/features.yml and small inline configs.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatError, type ProcessedConfig, parseConfig, renderProcessed } from "./index.ts";
import type { Step } from "./types.ts";

const features = () => {
  const r = parseConfig(
    readFileSync(join(import.meta.dir, "fixtures", "features.yml"), "utf8"),
    "features.yml",
  );
  expect(r.errors.map(formatError)).toEqual([]);
  return r.config as ProcessedConfig;
};
const valid = (text: string) => {
  const r = parseConfig(text, "c.yml");
  expect(r.errors.map(formatError)).toEqual([]);
  return r.config as ProcessedConfig;
};
const runs = (steps: ProcessedConfig["jobs"][string]["steps"]) =>
  steps.flatMap((s) => (s.type === "run" ? [s.command] : []));

describe("2.1 expansion (fixtures/features.yml)", () => {
  test("the expanded config is stable", () => {
    expect(renderProcessed(features())).toMatchSnapshot();
  });

  test("executors with parameters, environment merged image < executor < job", () => {
    const c = features();
    expect(c.jobs.coverage.executor).toEqual({ kind: "docker", image: "cimg/node:22.0" });
    expect(c.jobs.deploy.executor).toEqual({ kind: "docker", image: "cimg/node:18.0" });
    expect(c.jobs["on-vm"].executor).toEqual({ kind: "machine", image: "ubuntu-2204:current" });
    expect(c.jobs["test-20.11-1"].environment).toEqual({
      FROM_IMAGE: "yes",
      FROM_EXECUTOR: "1",
      NODE_VERSION: "20.11",
    });
    expect(c.jobs["test-20.11-1"].workingDirectory).toBe("~/app");
    expect(c.jobs["test-20.11-1"].resourceClass).toBe("medium");
    expect(c.jobs["on-vm"].workingDirectory).toBe("~/project");
  });

  test("commands: arguments, defaults, sections, steps parameters, env_var_name, \\<< escapes", () => {
    const c = features();
    expect(c.jobs["test-20.11-1"].steps[1]).toEqual({
      type: "restore_cache",
      keys: ['v1-deps-{{ checksum "yarn.lock" }}', "v1-deps-"],
    });
    expect(runs(c.jobs["test-20.11-1"].steps).slice(0, 4)).toEqual([
      "yarn install", // `frozen: false` drops the <<# >> section
      'echo "up to 5 attempts"',
      "yarn test --node 20.11", // the `body` steps parameter, spliced in
      `echo "\${NPM_TOKEN}" << not-a-parameter >>`,
    ]);
    const flaky = c.jobs["test-20.11-1"].steps.find((s) => s.type === "run" && s.name === "flaky") as Extract<
      Step,
      { type: "run" }
    >;
    expect(flaky.noOutputTimeout).toBe(5400);
  });

  test("integer and executor parameters take their type when used whole", () => {
    const c = features();
    expect(c.jobs["test-20.11-2"].parallelism).toBe(2);
    expect(c.jobs["test-20.11-1"].parallelism).toBe(1);
  });

  test("when/unless with and/or/not/equal; conditions on pipeline values wait for planning", () => {
    const c = features();
    expect(runs(c.jobs.coverage.steps)).toContain("yarn coverage");
    expect(runs(c.jobs["test-20.11-1"].steps)).not.toContain("yarn coverage");
    expect(runs(c.jobs["test-18.0-1"].steps)).toContain('echo "not the default node"');
    expect(runs(c.jobs["test-20.11-1"].steps)).not.toContain('echo "not the default node"');
    const last = c.jobs["test-20.11-1"].steps.at(-1);
    expect(last?.type).toBe("when");
  });

  test("matrix: names from the template, exclude, alias in requires", () => {
    const wf = features().workflows.find((w) => w.name === "build");
    expect(wf?.jobs.map((j) => j.name)).toEqual([
      "test-18.0-1",
      "test-20.11-1",
      "test-20.11-2",
      "coverage",
      "on-vm",
      "hold",
      "deploy",
    ]);
    expect(wf?.jobs.find((j) => j.name === "hold")?.requires).toEqual([
      "test-18.0-1",
      "test-20.11-1",
      "test-20.11-2",
      "coverage",
    ]);
    expect(wf?.jobs.find((j) => j.name === "deploy")?.contexts).toEqual(["prod-secrets", "shared"]);
  });

  test("pipeline parameters: defaults fill << pipeline.parameters.x >>; a false workflow `when` drops it", () => {
    const c = features();
    const deploy = c.jobs.deploy.steps[1] as Extract<Step, { type: "run" }>;
    expect(deploy.name).toBe("Deploy to eu");
    expect(deploy.environment).toEqual({ TARGET: "eu" });
    expect(deploy.command).toBe("./deploy --number << pipeline.number >>");
    expect(c.workflows.map((w) => w.name)).toEqual(["build"]);
    expect(c.pipelineParameters).toEqual({
      deploy: { type: "boolean", default: false },
      region: { type: "enum", default: "eu", enum: ["eu", "us"] },
    });
  });

  test("default matrix names join the values; matrix values reach the job as parameters", () => {
    const c = valid(`version: 2.1
jobs:
  t:
    parameters:
      os: {type: string}
      v: {type: integer}
    docker: [{image: "img:<< parameters.os >>"}]
    steps: [{run: "echo << parameters.v >>"}]
workflows:
  w:
    jobs:
      - t:
          matrix:
            parameters: {os: [a, b], v: [1, 2]}
      - done:
          type: approval
          requires: [t]
`);
    const jobs = c.workflows[0].jobs;
    expect(jobs.map((j) => j.name)).toEqual(["t-a-1", "t-a-2", "t-b-1", "t-b-2", "done"]);
    expect(jobs[4].requires).toEqual(["t-a-1", "t-a-2", "t-b-1", "t-b-2"]);
    expect(c.jobs["t-b-2"].executor.image).toBe("img:b");
    expect(runs(c.jobs["t-b-2"].steps)).toEqual(["echo 2"]);
  });

  test("pre-steps and post-steps wrap the job's steps", () => {
    const c = valid(`version: 2.1
jobs:
  j: {docker: [{image: a}], steps: [{run: main}]}
workflows:
  w:
    jobs:
      - j:
          pre-steps: [{run: before}]
          post-steps: [{store_artifacts: {path: out}}]
`);
    expect(c.jobs.j.steps.map((s) => s.type)).toEqual(["run", "run", "store_artifacts"]);
    expect(runs(c.jobs.j.steps)).toEqual(["before", "main"]);
  });
});

describe("YAML anchors and merge keys", () => {
  test("two `<<:` keys in one mapping both apply, as on CircleCI (yarn's config)", () => {
    const c = valid(`version: 2
docker_defaults: &docker_defaults
  docker:
    - image: yarnpkg/dev:latest
  working_directory: ~/project/yarn
install_steps: &install_steps
  steps:
    - checkout
    - run: yarn install
jobs:
  build:
    <<: *docker_defaults
    <<: *install_steps
  node13:
    <<: *docker_defaults
    docker:
      - image: node:13
    <<: *install_steps
`);
    expect(c.jobs.build.executor.image).toBe("yarnpkg/dev:latest");
    expect(c.jobs.build.workingDirectory).toBe("~/project/yarn");
    expect(runs(c.jobs.build.steps)).toEqual(["yarn install"]);
    // An explicit key wins over a merged one, wherever it is written.
    expect(c.jobs.node13.executor.image).toBe("node:13");
    expect(c.jobs.node13.steps.length).toBe(2);
  });

  test("`<<: [*a, *b]`: the earlier mapping wins; aliases of scalars and lists work anywhere", () => {
    const c = valid(`version: 2
a: &a {working_directory: /from-a}
b: &b {working_directory: /from-b, resource_class: large}
img: &img node:20
jobs:
  build:
    <<: [*a, *b]
    docker: [{image: *img}]
    steps: [checkout]
`);
    expect(c.jobs.build.workingDirectory).toBe("/from-a");
    expect(c.jobs.build.resourceClass).toBe("large");
    expect(c.jobs.build.executor.image).toBe("node:20");
  });

  test("a merge of something that is not a mapping is an error at that node", () => {
    const r = parseConfig("version: 2\nx: &x [1]\njobs:\n  build:\n    <<: *x\n", "c.yml");
    expect(r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`)[0]).toBe(
      "2:8: a merge key `<<` must refer to a mapping (or a list of mappings)",
    );
  });
});

describe("service containers", () => {
  test("docker entries after the first keep their name, entrypoint, command, user, environment and auth", () => {
    const c = valid(`version: 2
jobs:
  build:
    docker:
      - image: a
      - image: postgres:16
        name: db
        environment: {POSTGRES_PASSWORD: pw, PORT: 5432}
        command: postgres -c 'fsync=off' -c "max_connections=5"
        user: postgres
      - image: redis
        entrypoint: [redis-server, --port, 6380]
        auth: {username: u, password: $PASS}
    steps: [checkout]
`);
    expect(c.jobs.build.executor.services).toEqual([
      {
        image: "postgres:16",
        name: "db",
        environment: { POSTGRES_PASSWORD: "pw", PORT: "5432" },
        command: ["postgres", "-c", "fsync=off", "-c", "max_connections=5"],
        user: "postgres",
      },
      {
        image: "redis",
        entrypoint: ["redis-server", "--port", "6380"],
        auth: { username: "u", password: "$PASS" },
      },
    ]);
  });

  test("a service's name must be a host name, and its command's quotes must close", () => {
    const r = parseConfig(
      `version: 2
jobs:
  build:
    docker: [{image: a}, {image: b, name: "no spaces"}, {image: c, command: "sh -c 'x"}]
    steps: [checkout]
`,
      "c.yml",
    );
    expect(r.errors.map((e) => e.message)).toEqual([
      'job `build`: docker `name` "no spaces" is not a host name',
      "job `build`: docker `command` of c has an unclosed quote",
    ]);
  });
});

describe("steps", () => {
  test("every built-in step normalises to the Step union", () => {
    const c = valid(`version: 2
jobs:
  build:
    docker: [{image: a}, {image: postgres:16}]
    steps:
      - checkout: {path: src}
      - run:
          name: Test
          command: make test
          shell: /bin/sh
          environment: {A: 1, B: true, C: null}
          background: true
          working_directory: src
          no_output_timeout: 10m
          when: on_fail
      - save_cache: {key: k, paths: [a, b], when: always, name: Save}
      - restore_cache: {key: k}
      - store_artifacts: {path: out, destination: dist}
      - store_test_results: {path: results}
      - persist_to_workspace: {root: ., paths: [dist]}
      - attach_workspace: {at: /tmp/ws}
      - add_ssh_keys: {fingerprints: ["aa:bb"]}
      - add_ssh_keys
`);
    expect(c.jobs.build.executor).toEqual({
      kind: "docker",
      image: "a",
      services: [{ image: "postgres:16" }],
    });
    expect(c.warnings).toEqual([]);
    expect(c.jobs.build.steps).toEqual([
      { type: "checkout", path: "src" },
      {
        type: "run",
        name: "Test",
        command: "make test",
        shell: "/bin/sh",
        environment: { A: "1", B: "true", C: "" },
        background: true,
        workingDirectory: "src",
        noOutputTimeout: 600,
        when: "on_fail",
      },
      { type: "save_cache", key: "k", paths: ["a", "b"], name: "Save", when: "always" },
      { type: "restore_cache", keys: ["k"] },
      { type: "store_artifacts", path: "out", destination: "dist" },
      { type: "store_test_results", path: "results" },
      { type: "persist_to_workspace", root: ".", paths: ["dist"] },
      { type: "attach_workspace", at: "/tmp/ws" },
      { type: "add_ssh_keys", fingerprints: ["aa:bb"] },
      { type: "add_ssh_keys", fingerprints: [] },
    ]);
  });

  test("machine: true, and a job's shell reaches its executor", () => {
    const c = valid(
      "version: 2\njobs:\n  build:\n    machine: true\n    shell: /bin/zsh\n    steps: [checkout]\n",
    );
    expect(c.jobs.build.executor).toEqual({ kind: "machine", shell: "/bin/zsh" });
  });
});

describe("definitions nothing invokes", () => {
  test("are checked with placeholders for required parameters, without false errors", () => {
    const c = valid(`version: 2.1
executors:
  e:
    parameters:
      img: {type: string}
    docker: [{image: "<< parameters.img >>"}]
commands:
  c:
    parameters:
      n: {type: integer}
      body: {type: steps}
    steps:
      - run: echo << parameters.n >>
      - << parameters.body >>
jobs:
  unused:
    parameters:
      shards: {type: integer}
      exec: {type: executor}
      mode: {type: enum, enum: [a, b]}
    executor: << parameters.exec >>
    parallelism: << parameters.shards >>
    steps:
      - c: {n: << parameters.shards >>, body: []}
  plain:
    docker: [{image: a}]
    steps: [checkout]
workflows:
  w:
    jobs: [plain]
`);
    // `unused` needs arguments, so it is not in the processed jobs; `plain` is.
    expect(Object.keys(c.jobs)).toEqual(["plain"]);
  });

  test("but their real mistakes are reported", () => {
    const r = parseConfig(
      "version: 2.1\ncommands:\n  c:\n    steps: [nope]\njobs:\n  build:\n    docker: [{image: a}]\n    steps: [checkout]\n",
      "c.yml",
    );
    expect(r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`)).toEqual([
      "4:13: command `c`: unknown step `nope` (not a built-in step or a command under `commands:`)",
    ]);
  });
});

describe("rendering what depends on pipeline values", () => {
  test("conditional steps and workflow conditions stay until values are known", () => {
    const c = valid(`version: 2.1
jobs:
  j:
    docker: [{image: a}]
    working_directory: /w
    steps:
      - unless:
          condition: {equal: [main, << pipeline.git.branch >>]}
          steps: [{run: echo side branch}]
workflows:
  w:
    unless: {matches: {pattern: "^wip/.*", value: << pipeline.git.branch >>}}
    jobs: [j]
`);
    expect(renderProcessed(c)).toBe(`version: 2.1
jobs:
  j:
    docker:
      - image: a
    working_directory: /w
    steps:
      - unless:
          condition:
            equal:
              - main
              - << pipeline.git.branch >>
          steps:
            - run:
                name: echo side branch
                command: echo side branch
workflows:
  w:
    unless:
      matches:
        pattern: ^wip/.*
        value: << pipeline.git.branch >>
    jobs:
      - j
`);
  });

  test("an executor's keys are overridden by the job's", () => {
    const c = valid(`version: 2.1
executors:
  e:
    docker: [{image: a, environment: {X: image, Y: image}}]
    working_directory: /exec
    resource_class: small
    shell: /bin/sh
    environment: {X: executor}
jobs:
  j:
    executor: e
    working_directory: /job
    resource_class: large
    environment: {Z: job}
    steps: [checkout]
workflows:
  w:
    jobs: [j]
`);
    expect(c.jobs.j).toMatchObject({
      executor: { kind: "docker", image: "a", shell: "/bin/sh" },
      workingDirectory: "/job",
      resourceClass: "large",
      environment: { X: "executor", Y: "image", Z: "job" },
    });
  });
});

describe("the primary image's auth", () => {
  test("is kept as written; $NAME values are expanded on the builder", () => {
    const c = valid(`version: 2.1
jobs:
  j:
    docker:
      - image: registry.lan/team/app:1
        auth:
          username: ci
          password: $REGISTRY_PASSWORD
    steps: [{run: "true"}]
workflows:
  w:
    jobs: [j]
`);
    expect(c.jobs.j.executor).toEqual({
      kind: "docker",
      image: "registry.lan/team/app:1",
      auth: { username: "ci", password: "$REGISTRY_PASSWORD" },
    });
  });

  test("without a password it is refused", () => {
    const r = parseConfig(
      "version: 2.1\njobs:\n  j:\n    docker:\n      - image: x\n        auth: {username: ci}\n    steps: [{run: 'true'}]\nworkflows:\n  w:\n    jobs: [j]\n",
      "c.yml",
    );
    expect(r.errors.map(formatError).join("\n")).toContain("`auth` needs `username` and `password`");
  });
});
