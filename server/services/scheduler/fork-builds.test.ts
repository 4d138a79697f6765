import { expect, test } from "bun:test";
import { forkSecrets, publicCheckoutUrl } from "./fork-builds.ts";

test("a fork's pipeline has its secrets withheld unless the project passes them; others are no fork", () => {
  expect(forkSecrets({ fromFork: false }, { passSecretsToForks: true })).toBeNull();
  expect(forkSecrets({ fromFork: true }, { passSecretsToForks: false })).toBe("withheld");
  expect(forkSecrets({ fromFork: true }, { passSecretsToForks: true })).toBe("passed");
});

test("a fork build clones an SSH repository over the host's public HTTPS URL; others as they are", () => {
  expect(publicCheckoutUrl("git@github.com:acme/app.git")).toBe("https://github.com/acme/app.git");
  expect(publicCheckoutUrl("ssh://git@ghe.example:2222/acme/app.git")).toBe(
    "https://ghe.example/acme/app.git",
  );
  expect(publicCheckoutUrl("git+ssh://git@github.com/acme/app")).toBe("https://github.com/acme/app");
  expect(publicCheckoutUrl("https://github.com/acme/app.git")).toBe("https://github.com/acme/app.git");
  expect(publicCheckoutUrl("/srv/git/app.git")).toBe("/srv/git/app.git");
  expect(publicCheckoutUrl("file:///srv/git/app.git")).toBe("file:///srv/git/app.git");
});
