// The private orb registry: publish (admins; versions immutable; audited), list, one orb, one version.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { sourceIp } from "../http/request.ts";
import { type AuthEnv, requireAdmin } from "../middleware/auth/index.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { iso } from "../services/ids.ts";
import { listOrbs, type OrbVersionRow, orbVersion, orbVersionsOf, publishOrb } from "../services/orbs.ts";

const summary = (r: OrbVersionRow) => ({
  version: r.version,
  digest: r.digest,
  created_at: iso(r.createdAt),
});
const full = (r: OrbVersionRow) => ({
  name: `${r.namespace}/${r.name}`,
  version: r.version,
  digest: r.digest,
  body: r.body,
  created_at: iso(r.createdAt),
});

export const orbRoutes = (deps: AppDeps) => {
  const app = new Hono<AuthEnv>();
  const { db } = deps;

  app.post("/orbs/:namespace/:name/versions", validate(ops.publishOrbVersion), async (c) => {
    const user = c.get("user");
    requireAdmin(user);
    const { version, body } = c.req.valid("json");
    const row = await publishOrb(
      db,
      { id: user.id, ip: sourceIp(deps, c) },
      { namespace: c.req.param("namespace"), name: c.req.param("name"), version },
      body,
    );
    return c.json(full(row), 201);
  });

  app.get("/orbs", async (c) => {
    const orbs = await listOrbs(db);
    return c.json({
      items: orbs.map((o) => ({ name: o.name, versions: o.versions.map(summary) })),
      next_cursor: null,
    });
  });

  app.get("/orbs/:namespace/:name", async (c) => {
    const { namespace, name } = c.req.param();
    const rows = await orbVersionsOf(db, namespace, name);
    return c.json({ name: `${namespace}/${name}`, versions: rows.map(summary) });
  });

  app.get("/orbs/:namespace/:name/versions/:version", async (c) => {
    const { namespace, name, version } = c.req.param();
    return c.json(full(await orbVersion(db, namespace, name, version)));
  });

  return app;
};
