// "Spin up environment" without an image store: service containers are named, and why they do not start.
import { expect, test } from "bun:test";
import type { JobPayload } from "../../protocol/index.ts";
import { describeNetwork, spinUp } from "./spin-up.ts";

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

test("the log names the network the job got, and why it has none", () => {
  expect(
    describeNetwork(
      {
        mode: "egress",
        address: "10.213.0.5",
        bridge: "cairn0",
        allow: ["10.213.0.1:5000"],
        dns: ["9.9.9.9"],
      },
      undefined,
    ),
  ).toBe(
    "Network: egress only (NAT) — 10.213.0.5 on cairn0; nothing connects in; the host, its networks, private and link-local ranges are blocked; allowed past the blocks: 10.213.0.1:5000; DNS: 9.9.9.9",
  );
  expect(describeNetwork({ mode: "egress", address: "10.213.0.5", bridge: "cairn0" }, undefined)).toContain(
    "no DNS resolver (the builder has no --nat-dns)",
  );
  expect(describeNetwork({ mode: "none" }, "none")).toBe(
    "Network: none (loopback only) — the project's setting",
  );
  expect(describeNetwork({ mode: "none" }, undefined)).toBe(
    "Network: none (loopback only) — this builder runs with --network none",
  );
  expect(describeNetwork(undefined, undefined)).toContain("process driver");
});
