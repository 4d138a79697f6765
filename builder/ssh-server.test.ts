// The builder's SSH host key: made so that it can always be read back, and a stored key that
// cannot be read stops the SSH server with a message that says what to do.
import { expect, test } from "bun:test";
import { utils } from "ssh2";
import { generateHostKey, startSshServer } from "./ssh-server.ts";

test("every host key made reads back as a whole ed25519 key (ssh2's generator alone fails ~1 in 256)", () => {
  // 3,000 keys: with the generator's flaw left in, all of them reading back has odds of about 1e-5.
  for (let i = 0; i < 3_000; i++) {
    const key = utils.parseKey(generateHostKey());
    if (key instanceof Error) throw new Error(`key ${i} does not read back: ${key.message}`);
    expect(key.type).toBe("ssh-ed25519");
    expect(key.getPublicSSH().length).toBe(51);
  }
});

test("a stored host key that cannot be read stops the SSH server, saying how to make a new one", async () => {
  const deps = {
    hostKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n",
    authorize: async () => null,
    recheck: async () => [],
    sandboxFor: () => undefined,
    sessionEvent: () => {},
  };
  await expect(startSshServer(deps, { host: "127.0.0.1", port: 0 })).rejects.toThrow(
    /the SSH host key in the builder's identity cannot be read .*register the builder again with --ssh-listen/,
  );
});
