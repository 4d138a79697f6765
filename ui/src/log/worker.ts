// The log worker: fetches a page of log lines, parses the JSON and packs it (compact.ts) off the main
// thread, then hands the typed arrays over without copying. Served as its own script (CSP: 'self').
import type { LogLine } from "../types.ts";
import { encodePage } from "./compact.ts";

export interface PageRequest {
  id: number;
  url: string;
}

interface LogResponse {
  lines: LogLine[];
  total_lines: number;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<PageRequest>) => void) | null;
  postMessage(msg: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = async (e) => {
  const { id, url } = e.data;
  try {
    const res = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = (await res.json()) as LogResponse;
    const page = encodePage(body.lines);
    scope.postMessage({ id, page, total: body.total_lines }, [
      page.offsets.buffer,
      page.spanAt.buffer,
      page.spans.buffer,
    ]);
  } catch (err) {
    scope.postMessage({ id, error: String(err) });
  }
};
