// A TCP relay on loopback in front of a server, that a test can shut and open again: shut, it
// drops every relayed connection and new ones at once (as an unreachable server would), while the
// server itself runs on.
import { createConnection, createServer, type Socket } from "node:net";

export interface TcpGate {
  /** `http://127.0.0.1:PORT`: the relay's address, for a URL in place of the server's. */
  url: string;
  shut(): void;
  open(): void;
  stop(): Promise<void>;
}

export async function startTcpGate(target: { host: string; port: number }): Promise<TcpGate> {
  let shut = false;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = createServer((inbound) => {
    track(inbound);
    if (shut) return inbound.destroy();
    const outbound = createConnection(target);
    track(outbound);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.once("close", () => outbound.destroy());
    outbound.once("close", () => inbound.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    shut() {
      shut = true;
      for (const s of sockets) s.destroy();
    },
    open() {
      shut = false;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        shut = true;
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
