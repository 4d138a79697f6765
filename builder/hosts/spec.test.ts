import { describe, expect, test } from "bun:test";
import { checkDistinct, HostSpecError, hostLabel, parseHostSpec } from "./spec.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVzZWQtb25seS1pbi1hLXRlc3QtMDEyMzQ1Njc4OQ";

describe("--lxc-host", () => {
  test("a full ssh host", () => {
    const h = parseHostSpec(
      `ci@fleet-1.example:2222,key=/etc/cairn/id,host-key=${KEY},slots=3,lxc-path=/srv/lxc,memory-mb=8192`,
    );
    expect(h).toEqual({
      transport: {
        kind: "ssh",
        host: "fleet-1.example",
        port: 2222,
        username: "ci",
        private_key_file: "/etc/cairn/id",
        host_key: KEY,
      },
      slots: 3,
      lxc_path: "/srv/lxc",
      memory_mb: 8192,
    });
    expect(hostLabel(h)).toBe("ci@fleet-1.example:2222 (/srv/lxc)");
  });

  test("defaults: root, port 22, one slot; IPv6 in brackets; a fingerprint pin", () => {
    const h = parseHostSpec("[fd00::7],key=k,host-key=SHA256:abc");
    expect(h.transport).toMatchObject({ kind: "ssh", host: "fd00::7", port: 22, username: "root" });
    expect(h.slots).toBe(1);
  });

  test("local", () => {
    expect(parseHostSpec("local,slots=2")).toEqual({ transport: { kind: "local" }, slots: 2 });
  });

  test.each([
    ["", /host must be/],
    ["h:99999,key=k,host-key=SHA256:x", /port 99999 is out of range/],
    ["h,host-key=SHA256:x", /key=FILE .* is required/],
    ["h,key=k", /host-key=KEY .* is required/],
    ["h,key=k,host-key=nonsense", /hostKey must be/],
    ["h,key=k,host-key=SHA256:x,slots=0", /slots must be 1 to 256/],
    ["h,key=k,host-key=SHA256:x,slots=two", /slots must be 1 to 256/],
    ["h,key=k,host-key=SHA256:x,colour=red", /unknown option "colour=red"/],
    ["h,key=k,key=j,host-key=SHA256:x", /key is given twice/],
    ["h,key=,host-key=SHA256:x", /key is empty/],
    ["h,key=k,host-key=SHA256:x,lxc-path=relative", /absolute/],
    ["local,key=k", /local host takes no key/],
    ["bad host!,key=k,host-key=SHA256:x", /host must be/],
  ])("%j is refused", (spec, why) => {
    expect(() => parseHostSpec(spec)).toThrow(why);
    expect(() => parseHostSpec(spec)).toThrow(HostSpecError);
  });

  test("the same host and lxcpath twice is refused; another lxcpath is another host", () => {
    const a = parseHostSpec("h:22,key=k,host-key=SHA256:x,lxc-path=/a");
    const b = parseHostSpec("h,key=k2,host-key=SHA256:x,lxc-path=/b");
    expect(() => checkDistinct([a, b])).not.toThrow();
    expect(() => checkDistinct([a, parseHostSpec("root@h,key=k,host-key=SHA256:y,lxc-path=/a")])).toThrow(
      /given twice/,
    );
  });
});
