// The server sets umask 077 for its own files; a test server in this process must not leave it set.
import { expect, test } from "bun:test";
import { startTestServer } from "../support/server.ts";

test("starting a test server leaves the process umask as it was", async () => {
  const before = process.umask();
  const server = await startTestServer();
  try {
    expect(process.umask()).toBe(before);
  } finally {
    await server.stop();
  }
});
