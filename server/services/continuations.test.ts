// What a setup job is told about reaching this server: the continue URL under CAIRN_PUBLIC_URL, and
// the host CircleCI's scripts put in `https://$CIRCLECI_DOMAIN/api/v2/pipeline/continue`.
import { expect, test } from "bun:test";
import { continuationEnvironment } from "./continuations.ts";

test("the continue URL sits under the public URL, with or without its trailing slash", () => {
  for (const url of ["https://ci.example.test:8443", "https://ci.example.test:8443/"])
    expect(continuationEnvironment(url)).toEqual({
      CAIRN_API_URL: "https://ci.example.test:8443",
      CAIRN_CONTINUATION_URL: "https://ci.example.test:8443/api/v2/pipeline/continue",
      CIRCLECI_DOMAIN: "ci.example.test:8443",
    });
});

test("a job's own CIRCLECI_DOMAIN is kept", () => {
  const env = continuationEnvironment("https://ci.example.test", { CIRCLECI_DOMAIN: "proxy.example.test" });
  expect(env.CIRCLECI_DOMAIN).toBe("proxy.example.test");
  expect(env.CAIRN_CONTINUATION_URL).toBe("https://ci.example.test/api/v2/pipeline/continue");
});
