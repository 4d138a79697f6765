// Image references as Docker reads them (`cimg/node:20` is docker.io/cimg/node:20), and the
// operator's mirror map that rewrites where one is pulled from.

export interface ImageRef {
  /** `docker.io`, `127.0.0.1:5000`, `mirror.internal`. */
  registry: string;
  /** `library/alpine`, `cimg/node`. */
  repository: string;
  tag?: string;
  /** `sha256:…` when the reference pins one: no tag is resolved then. */
  digest?: string;
}

export class ImageRefError extends Error {
  readonly code = "invalid_image";
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Parses `name[:tag][@sha256:…]` with Docker's defaults: docker.io, `library/`, `:latest`. */
export function parseImageRef(text: string): ImageRef {
  const input = text.trim();
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ImageRefError(`image ${input}: the digest must be sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ImageRefError(`image ${input}: ${JSON.stringify(tag)} is not a tag`);
  }
  const parts = rest.split("/");
  let registry = "docker.io";
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === "localhost")) registry = parts.shift()!;
  if (registry === "index.docker.io") registry = "docker.io";
  if (registry === "docker.io" && parts.length === 1) parts.unshift("library");
  if (!parts.length || !parts.every((p) => COMPONENT.test(p)))
    throw new ImageRefError(`image ${input}: ${JSON.stringify(rest)} is not a repository name`);
  return { registry, repository: parts.join("/"), tag: tag ?? (digest ? undefined : "latest"), digest };
}

/** `registry/repository[:tag][@digest]`. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/**
 * The operator's mirror map: `{"cimg/*": "mirror.internal/cimg/*", "docker.io/*": "mirror.internal/hub/*"}`.
 * Patterns match the repository as the config wrote it or in full (`docker.io/library/alpine`); first
 * match wins; the text `*` matched replaces the `*` of the target. The tag and digest are kept.
 */
export function rewriteImage(text: string, mirrors: Record<string, string> = {}): ImageRef {
  const ref = parseImageRef(text);
  const written = text
    .trim()
    .replace(/@.*$/, "")
    .replace(/:[^:/]*$/, "");
  const full = `${ref.registry}/${ref.repository}`;
  for (const [pattern, target] of Object.entries(mirrors)) {
    for (const name of [written, full]) {
      const star = matchPattern(pattern, name);
      if (star === undefined) continue;
      const to = parseImageRef(target.replace("*", star));
      return { registry: to.registry, repository: to.repository, tag: ref.tag, digest: ref.digest };
    }
  }
  return ref;
}

/** The text `*` stands for when `name` matches `pattern` ("" when it has no `*`), else undefined. */
function matchPattern(pattern: string, name: string): string | undefined {
  const star = pattern.indexOf("*");
  if (star < 0) return pattern === name ? "" : undefined;
  const [head, tail] = [pattern.slice(0, star), pattern.slice(star + 1)];
  if (name.length < head.length + tail.length || !name.startsWith(head) || !name.endsWith(tail))
    return undefined;
  return name.slice(head.length, name.length - tail.length);
}
