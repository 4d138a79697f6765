// Runs before `npm start` and `npm test` with plain Node: installs node_modules when they are
// missing or older than package-lock.json, so a machine with only Node 20 and npm needs nothing else.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const marker = join(root, "node_modules", ".package-lock.json");
const lock = join(root, "package-lock.json");
const bun = join(root, "node_modules", ".bin", "bun");

const fresh = existsSync(marker) && existsSync(bun) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
if (!fresh) {
  console.error("cairn: installing dependencies (npm ci) ...");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: root, stdio: "inherit" });
}
execFileSync(process.execPath, [join(root, "wasm", "build.mjs")], { stdio: "inherit" });
execFileSync(bun, [join(root, "ui", "build.ts"), "--if-stale"], { stdio: "inherit" });
