// Open streams (SSE, WebSocket) outlive the request that authorised them, so their authority is
// checked again: at once when this process revokes something (recheck), and twice a second for what
// another server process on the database changed (start). A stream whose credential is gone (token
// revoked or expired, session ended, user removed) or whose user lost a project it reads is ended.
// One batched query per table per round, whatever the number of streams.
import { and, eq, gt, inArray, isNull, or } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiTokens, projectMembers, sessions, users } from "../db/schema.ts";
import type { User } from "../middleware/auth/index.ts";
import { liveSessionToken } from "../middleware/session/index.ts";

export const STREAM_RECHECK_MS = 500;

/** A stream's hold on its authority: `signal` aborts when it is lost; `close` when the stream ends anyway. */
export interface StreamLease {
  signal: AbortSignal;
  /** The stream now reads these projects (a builds list whose user joined a project). */
  update(projects: string[] | null): void;
  close(): void;
}

interface Watched {
  user: User;
  /** Projects the stream reads; null: every project (an org admin's builds list). */
  projects: string[] | null;
  abort: AbortController;
}

export class StreamGuard {
  private readonly streams = new Set<Watched>();
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** Watches a stream the user opened on `projects` (null: all of them, as an org admin). */
  open(user: User, projects: string[] | null): StreamLease {
    const w: Watched = { user, projects, abort: new AbortController() };
    this.streams.add(w);
    return {
      signal: w.abort.signal,
      update: (p) => {
        w.projects = p;
      },
      close: () => this.streams.delete(w),
    };
  }

  size(): number {
    return this.streams.size;
  }

  /** Checks every open stream now (after a revocation here); resolves when the round is done. */
  recheck(): Promise<void> {
    if (this.running) {
      // A round already under way may have read the rows before this change: run one more after it.
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.round();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Rechecks every `ms` (for changes made by other server processes); returns the stop function. */
  start(ms = STREAM_RECHECK_MS): () => void {
    const timer = setInterval(() => {
      this.recheck().catch((err) => console.error("stream access check failed:", err));
    }, ms);
    return () => clearInterval(timer);
  }

  private async round(): Promise<void> {
    const watched = [...this.streams];
    if (watched.length === 0) return;
    const now = this.now();
    const userIds = [...new Set(watched.map((w) => w.user.id))];
    const sessionHashes: string[] = [];
    const tokenIds: string[] = [];
    for (const w of watched) {
      if (w.user.credential?.kind === "session") sessionHashes.push(w.user.credential.idHash);
      else if (w.user.credential?.kind === "token") tokenIds.push(w.user.credential.id);
    }
    const liveSessions = new Set(
      sessionHashes.length === 0
        ? []
        : (
            await this.db
              .select({ idHash: sessions.idHash })
              .from(sessions)
              .leftJoin(apiTokens, eq(apiTokens.id, sessions.tokenId))
              .where(
                and(
                  inArray(sessions.idHash, sessionHashes),
                  gt(sessions.expiresAt, now),
                  liveSessionToken(now),
                ),
              )
          ).map((r) => r.idHash),
    );
    const liveTokens = new Set(
      tokenIds.length === 0
        ? []
        : (
            await this.db
              .select({ id: apiTokens.id })
              .from(apiTokens)
              .where(
                and(
                  inArray(apiTokens.id, tokenIds),
                  isNull(apiTokens.revokedAt),
                  or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now)),
                ),
              )
          ).map((r) => r.id),
    );
    const roles = new Map(
      (
        await this.db.select({ id: users.id, role: users.role }).from(users).where(inArray(users.id, userIds))
      ).map((r) => [r.id, r.role]),
    );
    const memberships = new Set(
      (
        await this.db
          .select({ userId: projectMembers.userId, projectId: projectMembers.projectId })
          .from(projectMembers)
          .where(inArray(projectMembers.userId, userIds))
      ).map((r) => `${r.userId}\n${r.projectId}`),
    );
    for (const w of watched) {
      const cred = w.user.credential;
      const credentialLive =
        cred === undefined ||
        (cred.kind === "session" ? liveSessions.has(cred.idHash) : liveTokens.has(cred.id));
      const role = roles.get(w.user.id);
      const readsAll = role === "admin";
      const stillReads =
        role !== undefined &&
        (w.projects === null
          ? readsAll
          : readsAll || w.projects.every((p) => memberships.has(`${w.user.id}\n${p}`)));
      if (!credentialLive || !stillReads) {
        this.streams.delete(w);
        w.abort.abort();
      }
    }
  }
}
