// The image flags of cairn-builder are checked before anything is registered or started.
import { describe, expect, test } from "bun:test";
import { main } from "../cli.ts";

const register = [
  "register",
  "--server",
  "http://127.0.0.1:9",
  "--token",
  "x",
  "--config",
  "/nonexistent/b.json",
];

describe("cairn-builder image flags", () => {
  test("a mirror must be PATTERN=TARGET with names Docker accepts", async () => {
    await expect(main([...register, "--image-mirror", "nope"])).rejects.toThrow("is not PATTERN=TARGET");
    await expect(main([...register, "--image-mirror", "cimg/*=Bad Host/*"])).rejects.toThrow(
      "--image-mirror",
    );
  });
  test("--insecure-registry is HOST or HOST:PORT, at register and at run", async () => {
    await expect(main([...register, "--insecure-registry", "a b"])).rejects.toThrow(
      "is not HOST or HOST:PORT",
    );
    await expect(main(["run", "--config", "/nonexistent", "--insecure-registry", "x:y"])).rejects.toThrow(
      "is not HOST or HOST:PORT",
    );
  });
  test("sizes and paths are checked", async () => {
    await expect(main([...register, "--image-cache-mb", "0"])).rejects.toThrow("--image-cache-mb must be");
    await expect(main([...register, "--image-dir", "rel"])).rejects.toThrow("absolute");
  });
});

describe("cairn-builder default image flags", () => {
  test("--default-image and --default-template are one choice, each checked", async () => {
    await expect(
      main([...register, "--default-image", "cairn/debian:bookworm", "--default-template", "cairn-base"]),
    ).rejects.toThrow("give one");
    await expect(main([...register, "--default-image", "Bad Name"])).rejects.toThrow("--default-image");
    await expect(main([...register, "--default-template", "../x"])).rejects.toThrow(
      "is not a container name",
    );
  });
  test("image build-default checks its arguments before building anything", async () => {
    await expect(main(["image"])).rejects.toThrow("the subcommand is build-default");
    const build = ["image", "build-default", "--image-dir", "/nonexistent/images"];
    await expect(main([...build, "--suite", "Book worm"])).rejects.toThrow("is not a Debian suite name");
    await expect(main([...build, "--packages", "git;rm -rf"])).rejects.toThrow("Debian packages");
    await expect(main([...build, "--mirror", "ftp://x"])).rejects.toThrow("http(s)://");
    await expect(main([...build, "--name", "Bad Name"])).rejects.toThrow("--name");
    await expect(main(["image", "build-default", "--image-dir", "rel"])).rejects.toThrow("absolute");
  });
});
