// A real Server-Sent Events client over fetch: parses the stream as a browser's EventSource would.
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export async function* readSse(url: string, init: RequestInit = {}): AsyncGenerator<SseEvent> {
  const res = await fetch(url, {
    ...init,
    headers: { accept: "text/event-stream", ...(init.headers ?? {}) },
  });
  if (!res.ok || !res.body) throw new Error(`SSE ${url}: HTTP ${res.status} ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = "";
  let ev: { id?: string; event?: string; data: string[] } = { data: [] };
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(piece, { stream: true });
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (ev.data.length || ev.event)
          yield { id: ev.id, event: ev.event ?? "message", data: ev.data.join("\n") };
        ev = { data: [] };
      } else if (!line.startsWith(":")) {
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "data") ev.data.push(value);
        else if (field === "id") ev.id = value;
        else if (field === "event") ev.event = value;
      }
    }
  }
}
