// The network flags of cairn-builder are checked before anything is registered.
import { expect, test } from "bun:test";
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
