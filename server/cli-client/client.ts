// The `cairn` CLI's view of the server: the REST API only, with the user's token.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export interface CliConfig {
  server: string;
  token: string;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export const configPath = (env = process.env) =>
  env.CAIRN_CLI_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "cairn", "cli.json");

export async function saveConfig(config: CliConfig, env = process.env): Promise<string> {
  const path = configPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

/** Server and token from CAIRN_SERVER / CAIRN_TOKEN, else the file `cairn login` wrote. */
export async function loadConfig(env = process.env): Promise<CliConfig> {
  if (env.CAIRN_SERVER && env.CAIRN_TOKEN) return { server: env.CAIRN_SERVER, token: env.CAIRN_TOKEN };
  try {
    const saved = JSON.parse(await readFile(configPath(env), "utf8")) as CliConfig;
    return { server: env.CAIRN_SERVER ?? saved.server, token: env.CAIRN_TOKEN ?? saved.token };
  } catch {
    throw new CliError(
      "not logged in: run `cairn login --server URL` (it reads the token from stdin or a prompt), or set CAIRN_SERVER and CAIRN_TOKEN",
    );
  }
}

export class Api {
  constructor(readonly config: CliConfig) {}

  url(path: string): string {
    return new URL(path, this.config.server).toString();
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.config.token}`, ...extra };
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url(path), {
        method,
        headers: this.headers(body === undefined ? extra : { "content-type": "application/json", ...extra }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`cannot reach ${this.config.server}: ${(err as Error).message}`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : null;
    if (!res.ok) {
      const e = (json as { error?: { message?: string } } | null)?.error;
      throw new CliError(`${e?.message ?? `HTTP ${res.status}`} (${method} ${path}: ${res.status})`);
    }
    return json as T;
  }

  /** A streamed GET (a download): the response, or the server's error as a CliError. */
  async stream(path: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.url(path), { headers: this.headers() });
    } catch (err) {
      throw new CliError(`cannot reach ${this.config.server}: ${(err as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let message = `HTTP ${res.status}`;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
      } catch {}
      throw new CliError(`${message} (GET ${path}: ${res.status})`);
    }
    return res;
  }

  get = <T>(path: string) => this.request<T>("GET", path);
  post = <T>(path: string, body: unknown = {}, headers?: Record<string, string>) =>
    this.request<T>("POST", path, body, headers);
  delete = <T>(path: string) => this.request<T>("DELETE", path);

  /** A project by id or by name. */
  async project(ref: string): Promise<{ id: string; name: string }> {
    const list = await this.get<{ items: { id: string; name: string }[] }>("/api/v1/projects");
    const found = list.items.find((p) => p.id === ref || p.name === ref);
    if (!found) throw new CliError(`no project named or numbered ${JSON.stringify(ref)}`);
    return found;
  }
}
