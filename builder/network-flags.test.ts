// The network flags of cairn-builder are checked before anything is registered.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "./cli.ts";

const register = [
  "register",
  "--server",
  "http://127.0.0.1:9",
  "--token",
  "x",
  "--config",
  "/nonexistent/b.json",
];

test("--allow-egress is ADDRESS[/N]:PORT, needs the NAT, and the process driver gets no NAT", async () => {
  await expect(main([...register, "--allow-egress", "mirror.internal:5000"])).rejects.toThrow(
    "IPv4 address, not a name",
  );
  await expect(main([...register, "--allow-egress", "127.0.0.1:5000"])).rejects.toThrow("its own loopback");
  await expect(main([...register, "--network", "none", "--allow-egress", "10.0.0.5:5000"])).rejects.toThrow(
    "need --network nat",
  );
  await expect(main([...register, "--driver", "process", "--network", "nat"])).rejects.toThrow("need LXC");
  // The process driver without --network is no error: it simply gets none.
  await expect(main([...register, "--driver", "process", "--allow-egress", "10.0.0.5:80"])).rejects.toThrow(
    "need --network nat",
  );
  await expect(main([...register, "--network", "open"])).rejects.toThrow("--network must be none or nat");
  await expect(main([...register, "--bridge", "br;rm"])).rejects.toThrow("--bridge must be");
});

test("run --allow-egress is checked too, and needs a NAT builder", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-flags-"));
  try {
    const write = (network?: object) => {
      const path = join(dir, "b.json");
      writeFileSync(path, JSON.stringify({ server: "http://127.0.0.1:9", ...(network ? { network } : {}) }), {
        mode: 0o600,
      });
      return path;
    };
    const none = write();
    await expect(main(["run", "--config", none, "--allow-egress", "10.0.0.5:80"])).rejects.toThrow(
      "needs a builder with the NAT network",
    );
    const nat = write({ mode: "nat", bridge: "cairn0", subnet: "10.213.0.0/24" });
    await expect(main(["run", "--config", nat, "--allow-egress", "nope"])).rejects.toThrow(
      "--allow-egress must be",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
