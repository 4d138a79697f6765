// Following a running job's log over GET /api/v1/jobs/:id/log/ws: line messages until an `end`.
// After a drop it reconnects with ?from=<the last line it had> (the server replays stored lines, then
// goes live), backing off up to 5 s, so the viewer sees every line once, in order.
import type { LogLine } from "../types.ts";

export interface LogTailHandlers {
  onLine(line: LogLine): void;
  onEnd(status: string): void;
  /** The socket opened or dropped. */
  onState(open: boolean): void;
}

export class LogTail {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly jobId: string,
    /** The last line already known: the stream starts after it. */
    private after: number,
    private readonly on: LogTailHandlers,
  ) {
    this.connect();
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close();
  }

  private connect(): void {
    if (this.closed) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(
      `${proto}//${location.host}/api/v1/jobs/${this.jobId}/log/ws?from=${this.after}`,
    );
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.on.onState(true);
    };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data as string) as { type: string; status?: string } & LogLine;
      if (msg.type === "line") {
        if (msg.n <= this.after) return;
        this.after = msg.n;
        this.on.onLine({ n: msg.n, text: msg.text, spans: msg.spans, ...(msg.cont ? { cont: true } : {}) });
      } else if (msg.type === "end") {
        this.closed = true;
        this.on.onEnd(msg.status ?? "");
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.closed) return;
      this.on.onState(false);
      this.timer = setTimeout(() => this.connect(), Math.min(5000, 250 * 2 ** this.attempt++));
    };
  }
}
