// Dependency caches: one immutable blob per (project, key). Restore matches keys by prefix, newest
// first, trying each key of the list in order; a save of an existing key is a no-op.
import { and, desc, eq, sql } from "drizzle-orm";
import type { BlobStore } from "../blobs/types.ts";
import type { Db } from "../db/client.ts";
import { caches } from "../db/schema.ts";
import { newId } from "./ids.ts";

export type CacheRow = typeof caches.$inferSelect;

/** Where a job's cache uploads go: the commit refuses any other upload id. */
const uploadPrefix = (projectId: string, jobId: string) => `caches/${projectId}/${jobId}/`;

export class CacheService {
  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
  ) {}

  /** The newest cache whose key starts with the first of `keys` that matches any, or null. */
  async restore(projectId: string, keys: readonly string[]): Promise<CacheRow | null> {
    for (const prefix of keys) {
      if (!prefix) continue;
      const rows = await this.db
        .select()
        .from(caches)
        .where(
          and(eq(caches.projectId, projectId), sql`substr(${caches.key}, 1, ${prefix.length}) = ${prefix}`),
        )
        .orderBy(desc(caches.createdAt))
        .limit(5);
      // A row whose blob went missing (deleted by an operator) is skipped, not a failed restore.
      for (const row of rows) if (await this.blobs.has(row.blobKey)) return row;
    }
    return null;
  }

  async exists(projectId: string, key: string): Promise<boolean> {
    const row = await this.db.query.caches.findFirst({
      where: and(eq(caches.projectId, projectId), eq(caches.key, key)),
    });
    return Boolean(row);
  }

  /** A fresh blob key for this job's upload of one cache. */
  uploadKey(projectId: string, jobId: string): string {
    return `${uploadPrefix(projectId, jobId)}${newId()}.tar.gz`;
  }

  isUploadOf(projectId: string, jobId: string, uploadId: string): boolean {
    return (
      uploadId.startsWith(uploadPrefix(projectId, jobId)) &&
      !uploadId.slice(uploadPrefix(projectId, jobId).length).includes("/")
    );
  }

  /**
   * Records the key once its blob is there. Another job may have saved the same key meanwhile: the
   * first one wins, and this upload is deleted. Returns whether this upload became the cache.
   */
  async commit(
    projectId: string,
    jobId: string,
    key: string,
    uploadId: string,
    size: number,
  ): Promise<boolean> {
    const inserted = await this.db
      .insert(caches)
      .values({ id: newId(), projectId, key, blobKey: uploadId, size, jobId, createdAt: Date.now() })
      .onConflictDoNothing()
      .returning({ id: caches.id });
    if (inserted.length === 0) await this.blobs.delete(uploadId).catch(() => {});
    return inserted.length === 1;
  }
}
