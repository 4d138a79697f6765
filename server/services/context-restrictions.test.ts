// Restriction checks on a real libSQL file: a fork's job may use no restricted context, whatever the
// restriction allows; an unrestricted one is not refused here (whether it is given at all is the
// fork setting's call, scheduler/fork-builds.ts).
import { afterEach, expect, test } from "bun:test";
import { contextRestrictions, contexts } from "../db/schema.ts";
import { ContextRestrictedError, checkContextUse } from "./context-restrictions.ts";
import { serviceFixture } from "./testing.ts";

let fx: Awaited<ReturnType<typeof serviceFixture>>;
afterEach(() => fx.close());

test("a restricted context is refused to a fork's job even where it allows the project and branch", async () => {
  fx = await serviceFixture();
  await fx.db.insert(contexts).values([
    { id: "c-prod", name: "prod" },
    { id: "c-open", name: "open" },
  ]);
  await fx.db.insert(contextRestrictions).values([
    { id: "r1", contextId: "c-prod", restrictionType: "project", restrictionValue: "p1" },
    {
      id: "r2",
      contextId: "c-prod",
      restrictionType: "expression",
      restrictionValue: 'pipeline.git.branch == "pull/5"',
    },
  ]);
  const prod = [{ id: "c-prod", name: "prod" }];
  const open = [{ id: "c-open", name: "open" }];
  await checkContextUse(fx.db, prod, "p1", { branch: "pull/5", tag: null });
  const refused = checkContextUse(fx.db, prod, "p1", { branch: "pull/5", tag: null, fromFork: true });
  await expect(refused).rejects.toBeInstanceOf(ContextRestrictedError);
  await expect(refused).rejects.toThrow(
    "context prod may not be used here: it is restricted, and this job runs a fork's pull request",
  );
  await checkContextUse(fx.db, open, "p1", { branch: "pull/5", tag: null, fromFork: true });
});
