// "Spin up environment" without an image store: service containers are named, and why they do not start.
import { expect, test } from "bun:test";
import type { JobPayload } from "../../protocol/index.ts";
import { spinUp } from "./spin-up.ts";

const payload = {
  template: "cairn-base",
  image: { name: "cimg/node:20" },
  services: [{ image: { name: "postgres:16" }, name: "db" }],
} as unknown as JobPayload;

test("a builder that cannot run service containers says so for each, and runs the job", async () => {
  for (const [driverKind, why] of [
    ["process", "this builder has no LXC"],
    ["lxc", "this builder pulls no images"],
  ] as const) {
    const lines: string[] = [];
    const env = await spinUp(payload, { driverKind, say: (l) => lines.push(l) }, {});
    expect(env.services).toEqual([]);
    expect(lines).toContain(`Service container postgres:16: not started — ${why}`);
  }
});
