// Webhook delivery ids, remembered so that the same delivery twice creates one pipeline, and forgotten
// after DELIVERY_KEEP_MS so the table holds a week of deliveries, not every one ever received.
// A generic delivery is refused 5 minutes off the server's clock (routes/hooks.ts), so it needs its id
// for that window only; GitHub signs no time and lets a user redeliver for up to 3 days, so GitHub ids
// are what sets the week. One retention for both: the table does not record which forge sent an id.
import { and, eq, lt } from "drizzle-orm";
import type { DbOrTx } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema.ts";

export const DELIVERY_KEEP_MS = 7 * 24 * 60 * 60 * 1000;

/** Records a delivery id for the project; false when it was already recorded (a replay). */
export async function rememberDelivery(
  db: DbOrTx,
  d: { projectId: string; deliveryId: string; event: string },
  now = Date.now(),
): Promise<boolean> {
  await forgetOldDeliveries(db, now);
  const r = await db
    .insert(webhookDeliveries)
    .values({ ...d, receivedAt: now })
    .onConflictDoNothing();
  return r.rowsAffected > 0;
}

/** Deletes the ids received more than DELIVERY_KEEP_MS before `now`. */
export async function forgetOldDeliveries(db: DbOrTx, now = Date.now()): Promise<void> {
  await db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, now - DELIVERY_KEEP_MS));
}

/** The row of one delivery (to attach its pipeline, or forget it when nothing was made). */
export const deliveryRow = (projectId: string, deliveryId: string) =>
  and(eq(webhookDeliveries.projectId, projectId), eq(webhookDeliveries.deliveryId, deliveryId));
