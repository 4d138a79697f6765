import { expect, test } from "bun:test";
import { cleanUp } from "./clean-up.ts";

test("every step runs, in order, even after one throws; the one error is rethrown as it was", async () => {
  const ran: string[] = [];
  const boom = new Error("builder would not stop");
  const done = cleanUp([
    () => {
      ran.push("builder");
      throw boom;
    },
    undefined, // a step whose thing was never made
    async () => {
      await Bun.sleep(1);
      ran.push("containers");
    },
    () => ran.push("server"),
  ]);
  await expect(done).rejects.toBe(boom);
  expect(ran).toEqual(["builder", "containers", "server"]);
});

test("two failed steps are both reported, by message", async () => {
  const done = cleanUp([
    () => Promise.reject(new Error("sshd kill failed")),
    () => {
      throw new Error("lxc-destroy failed");
    },
  ]);
  await expect(done).rejects.toThrow("2 cleanup steps failed: sshd kill failed; lxc-destroy failed");
});

test("nothing failed: nothing is thrown", async () => {
  await expect(cleanUp([() => {}, undefined])).resolves.toBeUndefined();
});
