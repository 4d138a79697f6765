// Builders (registration, list, revocation), contexts and environment variables on a real libSQL
// file, without HTTP.
import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import nacl from "tweetnacl";
import { toBase64 } from "../../protocol/encoding.ts";
import { registrationTokens } from "../db/schema.ts";
import {
  createRegistrationToken,
  issueRegistrationToken,
  LastSeen,
  listBuilders,
  registerBuilder,
  revokeBuilder,
  revokedAmong,
} from "./builders.ts";
import { createContext, deleteContext, findContext, listContexts } from "./contexts.ts";
import { createProject } from "./projects.ts";
import { SecretStore } from "./secret-store.ts";
import { removeSecretVar, setSecretVar } from "./secret-vars.ts";
import { serviceFixture } from "./testing.ts";

const builderKey = () => toBase64(nacl.box.keyPair().publicKey);

describe("builders", () => {
  test("a registration token registers one builder, once; both audited", async () => {
    const { db, by, audited } = await serviceFixture();
    const { token } = await issueRegistrationToken(db, by);
    const registration = {
      registrationToken: token,
      name: "b1",
      publicKey: builderKey(),
      slots: 2,
      driver: "lxc" as const,
    };
    await expect(registerBuilder(db, { ...registration, publicKey: "AAAA" }, null)).rejects.toMatchObject({
      status: 400,
      details: { field: "public_key" },
    });
    const b = await registerBuilder(db, registration, "198.51.100.4");
    expect(b.token).toStartWith("cairn_bld_");
    await expect(registerBuilder(db, registration, null)).rejects.toMatchObject({ status: 401 });
    const [issued] = await audited("token.created");
    expect(issued.details.kind).toBe("registration");
    const [registered] = await audited("builder.registered");
    expect(registered).toMatchObject({ actorType: "builder", actorId: b.id, ip: "198.51.100.4" });
    expect(registered.details).toMatchObject({
      name: "b1",
      registration_token_id: issued.targetId,
      registration_token_created_by: by.userId,
    });
  });

  test("listed oldest first by cursor; revoked once, audited once; the reaper learns which are gone", async () => {
    const { db, by, audited } = await serviceFixture();
    const ids: string[] = [];
    for (const name of ["b1", "b2", "b3"]) {
      const { token } = await createRegistrationToken(db, by.userId);
      ids.push(
        (
          await registerBuilder(
            db,
            { registrationToken: token, name, publicKey: builderKey(), slots: 1, driver: "process" },
            null,
          )
        ).id,
      );
    }
    // Oldest first, ties by id: two pages of the list are the whole list, in order.
    const all = (await listBuilders(db, { limit: 10 })).rows.map((b) => b.id);
    expect(all.toSorted()).toEqual(ids.toSorted());
    const first = await listBuilders(db, { limit: 2 });
    expect(first.rows.map((b) => b.id)).toEqual(all.slice(0, 2));
    expect(first.running).toEqual([]);
    const cursor = `${first.rows[1].createdAt}.${first.rows[1].id}`;
    expect((await listBuilders(db, { after: cursor, limit: 2 })).rows.map((b) => b.id)).toEqual(all.slice(2));
    await expect(listBuilders(db, { after: "nonsense", limit: 2 })).rejects.toMatchObject({
      code: "invalid_query",
    });

    expect((await revokeBuilder(db, ids[1], by))?.id).toBe(ids[1]);
    expect(await revokeBuilder(db, ids[1], by)).toBeNull();
    await expect(revokeBuilder(db, "no-such-builder", by)).rejects.toMatchObject({ status: 404 });
    expect(await audited("builder.revoked")).toHaveLength(1);
    expect(await revokedAmong(db, [...ids, "unknown"])).toEqual([ids[1]]);
  });

  test("last seen is written at most once per interval", async () => {
    const { db, by } = await serviceFixture();
    const { token } = await createRegistrationToken(db, by.userId);
    const { id } = await registerBuilder(
      db,
      { registrationToken: token, name: "b", publicKey: builderKey(), slots: 1, driver: "lxc" },
      null,
    );
    const seen = new LastSeen(db, 1000);
    const lastSeen = async () => (await listBuilders(db, { limit: 1 })).rows[0].lastSeenAt;
    await seen.heard(id, 5_000);
    expect(await lastSeen()).toBe(5_000);
    await seen.heard(id, 5_500);
    expect(await lastSeen()).toBe(5_000);
    await seen.heard(id, 6_000);
    expect(await lastSeen()).toBe(6_000);
  });
});

describe("contexts", () => {
  test("created once by name; deleting one deletes its variables, audited with their count", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const secrets = new SecretStore(db, keyring);
    const ctx = await createContext(db, "deploy", by);
    await expect(createContext(db, "deploy", by)).rejects.toMatchObject({ code: "context_exists" });
    expect((await listContexts(db)).map((c) => c.name)).toEqual(["deploy"]);
    const scope = { kind: "context" as const, id: ctx.id };
    await setSecretVar(secrets, scope, { name: "AWS_KEY", value: "a-value-of-the-test" }, by);
    await setSecretVar(secrets, scope, { name: "AWS_SECRET", value: "another-value-of-it" }, by);
    await deleteContext(db, ctx.id, by);
    await expect(findContext(db, ctx.id)).rejects.toMatchObject({ status: 404 });
    expect((await audited("context.deleted"))[0].details).toEqual({ name: "deploy", env_vars_deleted: 2 });
  });
});

describe("environment variables", () => {
  test("checked, set, replaced and deleted, each audited by name in the store's transaction, never by value", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const secrets = new SecretStore(db, keyring);
    const { project } = await createProject(db, keyring, {
      name: "p",
      repoUrl: "/srv/p.git",
      defaultBranch: "main",
    });
    const scope = { kind: "project" as const, id: project.id };
    const value = "s3cr3t-value-of-the-test";
    await expect(setSecretVar(secrets, scope, { name: "1BAD", value }, by)).rejects.toMatchObject({
      code: "invalid_secret_name",
    });
    expect((await setSecretVar(secrets, scope, { name: "TOKEN", value }, by)).created).toBe(true);
    expect((await setSecretVar(secrets, scope, { name: "TOKEN", value: `${value}-2` }, by)).created).toBe(
      false,
    );
    await removeSecretVar(secrets, scope, "TOKEN", by);
    await expect(removeSecretVar(secrets, scope, "TOKEN", by)).rejects.toMatchObject({ status: 404 });
    const events = [
      ...(await audited("secret.created")),
      ...(await audited("secret.updated")),
      ...(await audited("secret.deleted")),
    ];
    expect(events.map((e) => [e.targetType, e.targetId, e.details])).toEqual(
      Array(3).fill(["project_env_var", `${project.id}/TOKEN`, { name: "TOKEN", project_id: project.id }]),
    );
    expect(JSON.stringify(events)).not.toContain(value);
  });
});

describe("a change and its audit event are one transaction", () => {
  test("when the event cannot be written, the change is not made", async () => {
    const { db, keyring, by } = await serviceFixture();
    const { project } = await createProject(db, keyring, {
      name: "p",
      repoUrl: "/srv/p.git",
      defaultBranch: "main",
    });
    const secrets = new SecretStore(db, keyring);
    // Every audit insert now fails: nothing the services write with one may stay.
    await db.run(sql`DROP TABLE audit_events`);
    await expect(createContext(db, "deploy", by)).rejects.toThrow();
    expect(await listContexts(db)).toEqual([]);
    await expect(issueRegistrationToken(db, by)).rejects.toThrow();
    expect(await db.select().from(registrationTokens)).toEqual([]);
    const scope = { kind: "project" as const, id: project.id };
    await expect(
      setSecretVar(secrets, scope, { name: "TOKEN", value: "a-value-of-the-test" }, by),
    ).rejects.toThrow();
    expect(await secrets.list(scope)).toEqual([]);
  });
});
