// "Spin up environment" without an image store: service containers are named, and why they do not start.
import { describe, expect, test } from "bun:test";
import type { JobPayload } from "../../protocol/index.ts";
import { describeNetwork, spinUp } from "./spin-up.ts";
import type { ImageStore } from "./store.ts";

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

// The choice for `machine:` jobs and jobs with no image. A stand-in for the store's two answers
// (which image is the default, and preparing it); the store itself is proven on LXC by
// tests/default-image.e2e.test.ts.
describe("machine: jobs and jobs with no image", () => {
  const machine = { template: "cairn-base" } as unknown as JobPayload;
  const prepared = {
    name: "cairn/debian:bookworm",
    pulledFrom: "docker.io/cairn/debian:bookworm",
    digest: `sha256:${"c".repeat(64)}`,
    template: "cairnimg-x",
    cached: false,
    local: true,
    bytes: 0,
    seconds: 1,
    env: { PATH: "/usr/bin:/bin" },
    user: { uid: 0, gid: 0, home: "/root", name: "root" },
    workdir: "",
    entrypoint: [],
    cmd: ["/bin/bash"],
    passwd: [],
  };
  const store = (defaultImage: string | undefined) => {
    const asked: string[] = [];
    const images = {
      defaultImage: async () => defaultImage,
      prepare: async (name: string) => {
        asked.push(name);
        return { ...prepared, name };
      },
    } as unknown as ImageStore;
    return { images, asked };
  };

  test("run on the default image, and say so", async () => {
    const { images, asked } = store("cairn/debian:bookworm");
    const lines: string[] = [];
    const env = await spinUp(machine, { images, driverKind: "lxc", say: (l) => lines.push(l) }, {});
    expect(asked).toEqual(["cairn/debian:bookworm"]);
    expect(env.template).toBe("cairnimg-x");
    expect(env.image?.digest).toBe(prepared.digest);
    expect(lines).toContain("No docker image for this job (machine: or none): the builder's default image");
    expect(lines).toContain("Image: cairn/debian:bookworm");
    expect(lines).toContain(`Digest: ${prepared.digest}`);
    expect(lines.some((l) => l.startsWith("Built on this host"))).toBe(true);
  });

  test("with no default image (or the operator's --default-template), the payload's template", async () => {
    const { images, asked } = store(undefined);
    const lines: string[] = [];
    const env = await spinUp(machine, { images, driverKind: "lxc", say: (l) => lines.push(l) }, {});
    expect(asked).toEqual([]);
    expect(env.template).toBe("cairn-base");
    expect(env.image).toBeUndefined();
    expect(lines[0]).toBe("Template: cairn-base (the operator's template for this job)");
    expect(lines[1]).toContain("No default image: the job runs on that template");
  });

  test("an image CAIRN_TEMPLATES mapped keeps its template; a docker image is never replaced", async () => {
    const { images, asked } = store("cairn/debian:bookworm");
    const mapped = { template: "node-20", image_mapped: "cimg/node:20" } as unknown as JobPayload;
    const lines: string[] = [];
    expect(
      (await spinUp(mapped, { images, driverKind: "lxc", say: (l) => lines.push(l) }, {})).template,
    ).toBe("node-20");
    expect(lines).toEqual(["Template: node-20 (the operator's template for image cimg/node:20)"]);
    const docker = { template: "cairn-base", image: { name: "alpine:3" } } as unknown as JobPayload;
    await spinUp(docker, { images, driverKind: "lxc", say: () => {} }, {});
    expect(asked).toEqual(["alpine:3"]);
  });
});

test("a public image served while its registry could not be asked whether it still is: the log warns", async () => {
  const images = {
    prepare: async (name: string) => ({
      name,
      pulledFrom: "docker.io/library/alpine:3",
      digest: `sha256:${"a".repeat(64)}`,
      template: "cairnimg-a",
      cached: true,
      unasked: "connection refused",
      bytes: 0,
      seconds: 0.1,
      env: {},
      user: { uid: 0, gid: 0, home: "/root", name: "root" },
      workdir: "",
      entrypoint: [],
      cmd: [],
      passwd: [],
    }),
  } as unknown as ImageStore;
  const lines: string[] = [];
  const docker = { template: "cairn-base", image: { name: "alpine:3" } } as unknown as JobPayload;
  await spinUp(docker, { images, driverKind: "lxc", say: (l) => lines.push(l) }, {});
  expect(lines).toContain(
    "Warning: the registry could not be asked whether this image is still public (connection refused); using the cached image",
  );
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
  expect(describeNetwork({ mode: "none" }, undefined, "acme/offline")).toBe(
    "Network: none (loopback only) — resource class acme/offline on this builder",
  );
  expect(describeNetwork(undefined, undefined)).toContain("process driver");
});
