// `bun run bench:config`: how long the config engine takes on every real config we hold (the shared
// corpus and server/circleci/fixtures/real) and on two synthetic alias-heavy files, in-process.
// Per file: CPU time (user + system) of `parseConfig` and of `planPipeline` for a push to main, best
// of ROUNDS after one warm-up (the machine is shared; CPU time is charged to this process only).
// Budget (docs/perf.md, ## Config processing): the largest real config ≤ 100 ms.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseConfig, planPipeline } from "../../server/circleci/index.ts";
import { corpusPath } from "../../tests/support/corpus.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const json = process.argv.includes("--json");
const root = join(import.meta.dir, "../..");
const dirs = [corpusPath("circleci"), join(root, "server/circleci/fixtures/real")];

const inputs: { name: string; text: string; real: boolean }[] = [];
for (const dir of dirs) {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith(".yml"));
  } catch {}
  for (const f of names.sort())
    inputs.push({ name: f, text: readFileSync(join(dir, f), "utf8"), real: true });
}
inputs.push({ name: "synthetic: 6,000 aliases of 100 steps", text: aliasHeavy(100, 60), real: false });
inputs.push({ name: "synthetic: 200 anchors, 20,000 aliases", text: aliasHeavy(200, 100), real: false });

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const best = (f: () => void) => {
  f();
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) {
    const t = cpu();
    f();
    min = Math.min(min, cpu() - t);
  }
  return min;
};

const rows = inputs.map(({ name, text, real }) => {
  const first = parseConfig(text, name);
  const values = { branch: "main", revision: "0123abcd", parameters: {} };
  const parseMs = best(() => parseConfig(text, name));
  const planMs = first.config ? best(() => planPipeline(first.config as never, values)) : undefined;
  return {
    name: basename(name),
    real,
    kb: Math.round(text.length / 102.4) / 10,
    aliases: (text.match(/(^|[\s[{,])\*[\w-]+/g) ?? []).length,
    valid: first.config !== undefined,
    errors: first.errors.length,
    parse_ms: Math.round(parseMs * 10) / 10,
    plan_ms: planMs === undefined ? null : Math.round(planMs * 10) / 10,
  };
});

const largest = rows.filter((r) => r.real).sort((a, b) => b.kb - a.kb)[0];
const summary = {
  rounds: ROUNDS,
  largest_real: largest?.name,
  largest_real_kb: largest?.kb,
  largest_real_ms: largest ? largest.parse_ms + (largest.plan_ms ?? 0) : null,
  budget_ms: 100,
};
if (json) console.log(JSON.stringify({ ...summary, rows }));
else {
  console.log("file                                                   KB  aliases  valid  parse ms  plan ms");
  for (const r of rows)
    console.log(
      `${r.name.padEnd(52)} ${String(r.kb).padStart(5)} ${String(r.aliases).padStart(8)} ${String(r.valid ? "yes" : `no (${r.errors})`).padStart(6)} ${r.parse_ms.toFixed(1).padStart(9)} ${(r.plan_ms?.toFixed(1) ?? "-").padStart(8)}`,
    );
  console.log(
    `largest real config: ${summary.largest_real} (${summary.largest_real_kb} KB): ${summary.largest_real_ms?.toFixed(1)} ms CPU (budget ${summary.budget_ms} ms), best of ${ROUNDS}`,
  );
}

/** `anchors` anchored steps, each used by every one of `jobs` jobs. */
function aliasHeavy(anchors: number, jobs: number): string {
  const steps = Array.from(
    { length: anchors },
    (_, i) => `  - &s${i} {run: {name: s${i}, command: echo ${i}}}`,
  );
  const defs = Array.from(
    { length: jobs },
    (_, j) =>
      `  j${j}:\n    docker: [{image: cimg/base:current}]\n    steps:\n${steps.map((_, i) => `      - *s${i}`).join("\n")}`,
  );
  return `version: 2.1\nsteps:\n${steps.join("\n")}\njobs:\n${defs.join("\n")}\nworkflows:\n  w:\n    jobs: [${defs.map((_, j) => `j${j}`).join(", ")}]\n`;
}
