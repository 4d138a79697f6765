// Projects, their settings and deploy keys on a real libSQL file, without HTTP.
import { describe, expect, test } from "bun:test";
import { deployKeyOf, forgeConnection, webhookSecretOf } from "../forge/project-forge.ts";
import { addDeployKey, removeDeployKey } from "./deploy-keys.ts";
import { createProject, findProject, rotateWebhookSecret, setFollowed, updateSettings } from "./projects.ts";
import { serviceFixture } from "./testing.ts";

const newProject = { name: "app", repoUrl: "git@github.com:acme/app.git", defaultBranch: "main" };

describe("projects", () => {
  test("create: the webhook secret is returned once and kept sealed; a second of the name is 409, a bad URL 400", async () => {
    const { db, keyring } = await serviceFixture();
    const { project, webhookSecret } = await createProject(db, keyring, newProject);
    expect(webhookSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(project.webhookSecret).not.toContain(webhookSecret);
    expect(webhookSecretOf(keyring, project)).toBe(webhookSecret);
    await expect(createProject(db, keyring, newProject)).rejects.toMatchObject({
      status: 409,
      code: "project_exists",
    });
    await expect(
      createProject(db, keyring, { ...newProject, name: "b", repoUrl: "--upload-pack=x" }),
    ).rejects.toMatchObject({ status: 400, details: { field: "repo_url" } });
  });

  test("settings: applied and audited by name; the forge token sealed and never in the audit log", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const { project } = await createProject(db, keyring, newProject);
    const token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
    const p = await updateSettings(
      db,
      keyring,
      project,
      { branch_filters: ["main", "release/*"], default_branch: "trunk", forge: { repo: "acme/app", token } },
      by,
    );
    expect(p.defaultBranch).toBe("trunk");
    expect(JSON.parse(p.branchFilters)).toEqual(["main", "release/*"]);
    expect(p.forgeToken).not.toContain(token);
    expect(forgeConnection(keyring, p)?.token).toBe(token);
    const [event] = await audited("project.settings_changed");
    expect(event).toMatchObject({ actorId: by.userId, ip: by.ip, targetId: project.id });
    expect(event.details).toEqual({
      fields: ["branch_filters", "default_branch", "forge"],
      forge_token_changed: true,
    });
    expect(JSON.stringify(event)).not.toContain(token);

    await expect(updateSettings(db, keyring, p, { default_branch: "-x" }, by)).rejects.toMatchObject({
      status: 400,
    });
    // A refused change writes nothing, not even its audit event.
    expect(await audited("project.settings_changed")).toHaveLength(1);
  });

  test("network: egress by default; `none` is applied and audited with its value; anything else refused", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const { project } = await createProject(db, keyring, newProject);
    expect(project.network).toBe("egress");
    const p = await updateSettings(db, keyring, project, { network: "none" }, by);
    expect(p.network).toBe("none");
    const [event] = await audited("project.settings_changed");
    expect(event.details).toEqual({ fields: ["network"], network: "none" });
    await expect(updateSettings(db, keyring, p, { network: "bridge" as "none" }, by)).rejects.toMatchObject({
      status: 400,
      details: { field: "network" },
    });
    expect((await findProject(db, project.id)).network).toBe("none");
  });

  test("follow, unfollow and webhook-secret rotation, each with its event", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const { project, webhookSecret } = await createProject(db, keyring, newProject);
    await setFollowed(db, project.id, false, by);
    expect((await findProject(db, project.id)).followed).toBe(false);
    const secret = await rotateWebhookSecret(db, keyring, project.id, by);
    expect(secret).not.toBe(webhookSecret);
    expect(webhookSecretOf(keyring, await findProject(db, project.id))).toBe(secret);
    expect((await audited("project.settings_changed")).map((e) => e.details)).toEqual([
      { fields: ["followed"], followed: false },
    ]);
    expect(await audited("project.webhook_secret_rotated")).toHaveLength(1);
  });
});

describe("deploy keys", () => {
  test("made with the private half sealed; a second is 409; removed again; both audited", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const { project } = await createProject(db, keyring, newProject);
    const key = await addDeployKey(db, keyring, project, by);
    expect(key.publicKey).toStartWith("ssh-ed25519 ");
    expect(key.forge).toBeNull();
    const withKey = await findProject(db, project.id);
    expect(withKey.deployKeyPrivate).not.toContain("PRIVATE KEY");
    expect(deployKeyOf(keyring, withKey)).toContain("PRIVATE KEY");
    await expect(addDeployKey(db, keyring, withKey, by)).rejects.toMatchObject({ code: "deploy_key_exists" });

    const removed = await removeDeployKey(db, keyring, withKey, by);
    expect(removed).toEqual({ fingerprint: key.fingerprint, forge: null });
    expect((await findProject(db, project.id)).deployKeyPrivate).toBeNull();
    await expect(removeDeployKey(db, keyring, await findProject(db, project.id), by)).rejects.toMatchObject({
      status: 404,
    });
    expect((await audited("deploy_key.added")).map((e) => e.details)).toEqual([
      { fingerprint: key.fingerprint, forge_key_id: null },
    ]);
    expect((await audited("deploy_key.removed")).map((e) => e.details)).toEqual([
      { fingerprint: key.fingerprint, forge_removed: null },
    ]);
  });

  test("a forge that cannot be reached does not stop the key: the answer says what the forge did", async () => {
    const { db, keyring, by, audited } = await serviceFixture();
    const { project } = await createProject(db, keyring, newProject);
    // Port 9 (discard) on loopback: nothing listens, so the forge call fails at once.
    const connected = await updateSettings(
      db,
      keyring,
      project,
      { forge: { repo: "acme/app", api_url: "http://127.0.0.1:9", token: "t0ken-for-the-test" } },
      by,
    );
    const key = await addDeployKey(db, keyring, connected, by);
    expect(key.forge?.added).toBe(false);
    expect(typeof key.forge?.error).toBe("string");
    expect((await findProject(db, project.id)).deployKeyFingerprint).toBe(key.fingerprint);
    expect((await audited("deploy_key.added"))[0].details.forge_key_id).toBeNull();
  });
});
