// The layers of server/, checked from the import lines: routes parse, authorise, call a service and
// present; the rules and writes live in services/. So no route reaches the tables or the database
// client itself, and deps.ts (which every route imports) imports no route.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const importsOf = (file: string) =>
  [...readFileSync(file, "utf8").matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]);

describe("layers", () => {
  const routes = readdirSync(join(here, "routes")).filter(
    (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
  );

  test("no route file imports db/schema.ts, the database client or drizzle-orm", () => {
    expect(routes.length).toBeGreaterThan(10);
    const offenders = routes.flatMap((f) =>
      importsOf(join(here, "routes", f))
        .filter(
          (m) => m.endsWith("db/schema.ts") || m.endsWith("db/client.ts") || m.startsWith("drizzle-orm"),
        )
        .map((m) => `${f} imports ${m}`),
    );
    expect(offenders).toEqual([]);
  });

  test("deps.ts imports no route (request helpers are http/request.ts)", () => {
    expect(importsOf(join(here, "deps.ts")).filter((m) => m.includes("routes/"))).toEqual([]);
  });

  test("services import no route", () => {
    const services = readdirSync(join(here, "services")).filter((f) => f.endsWith(".ts"));
    const offenders = services.flatMap((f) =>
      importsOf(join(here, "services", f))
        .filter((m) => m.includes("/routes/"))
        .map((m) => `${f} imports ${m}`),
    );
    expect(offenders).toEqual([]);
  });
});
