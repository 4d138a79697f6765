// CircleCI's continuation API at CircleCI's own path, so its continuation orb and scripts work: a
// setup job POSTs its CIRCLE_CONTINUATION_KEY (the only authentication) with the next config.
import { Hono } from "hono";
import type { AppDeps } from "../deps.ts";
import { ops } from "../openapi/operations.ts";
import { validate } from "../openapi/validate.ts";
import { continuePipeline } from "../services/continuations.ts";

export const continuationRoutes = (deps: AppDeps) => {
  const app = new Hono();
  app.post("/pipeline/continue", validate(ops.continuePipeline), async (c) => {
    const body = c.req.valid("json");
    const continued = await continuePipeline(deps, {
      key: body["continuation-key"],
      configuration: body.configuration,
      parameters: body.parameters ?? {},
    });
    return c.json({ message: "success", ...continued }, 200);
  });
  return app;
};
