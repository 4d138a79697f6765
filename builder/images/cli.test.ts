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
