// The operator's table from executor images to LXC base templates. `docker:` and `machine:`
// images name what a job expects (`cimg/node:20.1`, `ubuntu-2204:current`); a fleet host has
// templates. CAIRN_TEMPLATES maps one to the other — JSON, first match wins, `*` a wildcard —
// and CAIRN_DEFAULT_TEMPLATE (default `cairn-base`) takes the rest, `machine: true` included.

import type { ServiceContainer } from "../../protocol/index.ts";
import type { Executor } from "../circleci/types.ts";

export interface TemplateTable {
  templateFor(executor: Executor): string;
  /**
   * The image an LXC builder pulls and runs the job in (builder/images): a `docker` image no rule
   * maps, with the config's `auth:`; or the image a rule mapped to a template, for the log.
   */
  imageFor(executor: Executor): {
    image?: { name: string; auth?: Executor["auth"] };
    image_mapped?: string;
    /** The `docker` entries after the first, which an LXC builder starts beside the job's container. */
    services?: ServiceContainer[];
  };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function templateTable(rules: Record<string, string>, fallback = "cairn-base"): TemplateTable {
  if (!NAME.test(fallback))
    throw new Error(`the default template ${JSON.stringify(fallback)} is not a container name`);
  const compiled = Object.entries(rules).map(([pattern, template]) => {
    if (!NAME.test(template))
      throw new Error(`template ${JSON.stringify(template)} (for ${pattern}) is not a container name`);
    const rx = new RegExp(
      `^${pattern
        .split("*")
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    );
    return { rx, template };
  });
  const rule = (image: string | undefined) => (image ? compiled.find((r) => r.rx.test(image)) : undefined);
  return {
    templateFor(executor) {
      return rule(executor.image)?.template ?? fallback;
    },
    imageFor(executor) {
      const services = executor.services?.length
        ? {
            services: executor.services.map(({ image, auth, ...rest }) => ({
              image: { name: image, ...(auth ? { auth } : {}) },
              ...rest,
            })),
          }
        : {};
      if (!executor.image) return {};
      if (rule(executor.image)) return { image_mapped: executor.image, ...services };
      if (executor.kind !== "docker") return {};
      return {
        image: { name: executor.image, ...(executor.auth ? { auth: executor.auth } : {}) },
        ...services,
      };
    },
  };
}

export function templateTableFromEnv(env: Record<string, string | undefined>): TemplateTable {
  let rules: Record<string, string> = {};
  if (env.CAIRN_TEMPLATES) {
    try {
      rules = JSON.parse(env.CAIRN_TEMPLATES) as Record<string, string>;
    } catch {
      throw new Error(
        'CAIRN_TEMPLATES must be a JSON object of image pattern → template, e.g. {"cimg/node:*":"node-20"}',
      );
    }
    if (
      typeof rules !== "object" ||
      rules === null ||
      Array.isArray(rules) ||
      Object.values(rules).some((v) => typeof v !== "string")
    ) {
      throw new Error(
        'CAIRN_TEMPLATES must be a JSON object of image pattern → template, e.g. {"cimg/node:*":"node-20"}',
      );
    }
  }
  return templateTable(rules, env.CAIRN_DEFAULT_TEMPLATE ?? "cairn-base");
}
