// Delivery ids on a real libSQL file: a replay inside the week is a duplicate, and what is older than
// the week is deleted by the next delivery, so the table cannot grow without end.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../db/client.ts";
import { projects, webhookDeliveries } from "../db/schema.ts";
import { DELIVERY_KEEP_MS, rememberDelivery } from "./delivery-ids.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.splice(0)) f();
});

async function freshDb() {
  const dir = mkdtempSync(join(tmpdir(), "cairn-deliveries-"));
  const { db, close } = await openDb(`file:${join(dir, "cairn.db")}`);
  cleanups.push(() => {
    close();
    rmSync(dir, { recursive: true, force: true });
  });
  await db.insert(projects).values({ id: "p1", name: "p1", repoUrl: "/dev/null" });
  return db;
}

const ids = async (db: Awaited<ReturnType<typeof freshDb>>) =>
  (await db.select({ id: webhookDeliveries.deliveryId }).from(webhookDeliveries)).map((r) => r.id).sort();

test("a delivery id is a duplicate for a week, then forgotten by the next delivery", async () => {
  const db = await freshDb();
  const t0 = Date.UTC(2026, 11, 1);
  const hook = (deliveryId: string) => ({ projectId: "p1", deliveryId, event: "push" });
  expect(await rememberDelivery(db, hook("d1"), t0)).toBe(true);
  expect(await rememberDelivery(db, hook("d1"), t0 + 1000)).toBe(false);
  // GitHub lets a user redeliver for 3 days: still a duplicate then, and at the last moment of the week.
  expect(await rememberDelivery(db, hook("d1"), t0 + 3 * 24 * 3600 * 1000)).toBe(false);
  expect(await rememberDelivery(db, hook("d1"), t0 + DELIVERY_KEEP_MS)).toBe(false);
  expect(await rememberDelivery(db, hook("d2"), t0 + DELIVERY_KEEP_MS - 1)).toBe(true);
  expect(await ids(db)).toEqual(["d1", "d2"]);

  // Past the week, any delivery (another id, another project's) deletes the old rows.
  await db.insert(projects).values({ id: "p2", name: "p2", repoUrl: "/dev/null" });
  expect(
    await rememberDelivery(
      db,
      { projectId: "p2", deliveryId: "d3", event: "push" },
      t0 + DELIVERY_KEEP_MS + 1,
    ),
  ).toBe(true);
  expect(await ids(db)).toEqual(["d2", "d3"]);
});

test("a week of steady deliveries keeps the table at a week's worth", async () => {
  const db = await freshDb();
  const t0 = Date.UTC(2026, 11, 1);
  const hourly = 60 * 60 * 1000;
  // Three weeks, one delivery an hour: 504 received, at most 7 · 24 + 1 kept.
  for (let i = 0; i < 3 * 7 * 24; i++)
    expect(
      await rememberDelivery(db, { projectId: "p1", deliveryId: `d${i}`, event: "push" }, t0 + i * hourly),
    ).toBe(true);
  const kept = await ids(db);
  expect(kept.length).toBe(7 * 24 + 1);
  expect(kept).not.toContain("d0");
  expect(kept).toContain(`d${3 * 7 * 24 - 1}`);
});
