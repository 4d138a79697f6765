// How the CLI prints: colours only on a terminal (and never with NO_COLOR), JSON for scripts.
export interface Out {
  json: boolean;
  color: boolean;
  print(text: string): void;
  error(text: string): void;
  data(value: unknown): void;
}

export function makeOut(json: boolean, stream = process.stdout): Out {
  const color = !json && Boolean(stream.isTTY) && !process.env.NO_COLOR;
  return {
    json,
    color,
    print: (t) => void stream.write(`${t}\n`),
    error: (t) => void process.stderr.write(`${t}\n`),
    data: (v) => void stream.write(`${JSON.stringify(v)}\n`),
  };
}

const CODES: Record<string, string> = {
  success: "32",
  failed: "31",
  lost: "31",
  canceled: "33",
  not_run: "2",
  on_hold: "35",
  running: "36",
  queued: "2",
};

export function status(out: Out, s: string): string {
  return out.color && CODES[s] ? `\x1b[${CODES[s]}m${s}\x1b[0m` : s;
}
