// The reaper's question to the server: which of these sandbox owners are gone? Only builders
// revoked here; a live one, or an id this server never issued (another server's builder on a
// shared host), is not.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { PROTOCOL_VERSION } from "../protocol/index.ts";
import { registerSimBuilder, revokedBuilderId } from "./support/builder-sim.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

test("only revoked builders are gone", async () => {
  const asking = await registerSimBuilder(server.url, server.token, "asking");
  await registerSimBuilder(server.url, server.token, "live");
  const list = (await (await server.api("/api/v1/builders")).json()) as {
    items: { id: string; name: string }[];
  };
  const live = list.items.find((b) => b.name === "live")!.id;
  const revoked = await revokedBuilderId(server.url, server.token);
  const unknown = crypto.randomUUID();
  expect(await asking.goneBuilders([live, revoked, unknown, revoked])).toEqual([revoked]);
  expect(await asking.goneBuilders([])).toEqual([]);
});

test("asking takes a builder token, and a malformed question is refused", async () => {
  const res = await fetch(`${server.url}/api/v1/builder/builders/gone`, {
    method: "POST",
    headers: { "content-type": "application/json", "cairn-protocol": String(PROTOCOL_VERSION) },
    body: JSON.stringify({ builder_ids: [] }),
  });
  expect(res.status).toBe(401);
  const asking = await registerSimBuilder(server.url, server.token, "asking-2");
  await expect(asking.goneBuilders(["x".repeat(101)])).rejects.toThrow(/builder_ids/);
});
