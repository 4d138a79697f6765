// A project's deploy key: made here (private half sealed, public half shown), added to the forge when
// one is connected, and removed from it again. A forge that fails does not stop the key: the answer
// says what the forge did, and the audit event records it.
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { projects } from "../db/schema.ts";
import { ApiError, Conflict } from "../errors.ts";
import { addDeployKey as addForgeKey, removeDeployKey as removeForgeKey } from "../forge/github/keys.ts";
import { forgeConnection, sealDeployKey } from "../forge/project-forge.ts";
import type { Keyring } from "../secrets/index.ts";
import { generateDeployKey } from "../source/deploy-keys.ts";
import { audit, byUser, type Requester } from "./audit.ts";
import type { Project } from "./projects.ts";

export interface AddedDeployKey {
  publicKey: string;
  fingerprint: string;
  forge: { added: boolean; id?: string; error?: string } | null;
}

export async function addDeployKey(
  db: Db,
  keyring: Keyring,
  project: Project,
  by: Requester,
): Promise<AddedDeployKey> {
  if (project.deployKeyPublic) {
    throw new Conflict(
      "the project already has a deploy key: DELETE it first to make a new one",
      { fingerprint: project.deployKeyFingerprint },
      "deploy_key_exists",
    );
  }
  const key = await generateDeployKey(`cairn deploy key for ${project.name}`);
  let forge: AddedDeployKey["forge"] = null;
  const conn = forgeConnection(keyring, project);
  if (conn) {
    try {
      forge = { added: true, id: await addForgeKey(conn, `Cairn CI (${project.name})`, key.publicKey) };
    } catch (err) {
      forge = { added: false, error: (err as Error).message };
    }
  }
  await db.transaction(async (tx) => {
    await tx
      .update(projects)
      .set({
        deployKeyPublic: key.publicKey,
        deployKeyFingerprint: key.fingerprint,
        deployKeyPrivate: sealDeployKey(keyring, project.id, key.privateKey),
        deployKeyForgeId: forge?.id ?? null,
      })
      .where(eq(projects.id, project.id));
    await audit(tx, {
      actor: byUser(by),
      action: "deploy_key.added",
      target: { type: "project", id: project.id },
      ip: by.ip,
      details: { fingerprint: key.fingerprint, forge_key_id: forge?.id ?? null },
    });
  });
  return { publicKey: key.publicKey, fingerprint: key.fingerprint, forge };
}

export interface RemovedDeployKey {
  fingerprint: string | null;
  forge: { removed: boolean; error?: string } | null;
}

export async function removeDeployKey(
  db: Db,
  keyring: Keyring,
  project: Project,
  by: Requester,
): Promise<RemovedDeployKey> {
  if (!project.deployKeyPublic)
    throw new ApiError(404, "not_found", `project ${project.id} has no deploy key`);
  let forge: RemovedDeployKey["forge"] = null;
  const conn = project.deployKeyForgeId ? forgeConnection(keyring, project) : null;
  if (conn && project.deployKeyForgeId) {
    try {
      await removeForgeKey(conn, project.deployKeyForgeId);
      forge = { removed: true };
    } catch (err) {
      forge = { removed: false, error: (err as Error).message };
    }
  }
  await db.transaction(async (tx) => {
    await tx
      .update(projects)
      .set({
        deployKeyPublic: null,
        deployKeyFingerprint: null,
        deployKeyPrivate: null,
        deployKeyForgeId: null,
      })
      .where(eq(projects.id, project.id));
    await audit(tx, {
      actor: byUser(by),
      action: "deploy_key.removed",
      target: { type: "project", id: project.id },
      ip: by.ip,
      details: { fingerprint: project.deployKeyFingerprint, forge_removed: forge?.removed ?? null },
    });
  });
  return { fingerprint: project.deployKeyFingerprint, forge };
}
