// A job's log downloaded whole, as text, HTML or terminal text (`raw`): a page at a time, rendered
// and handed over only when the client asks for more, so a log of any size streams through a fixed
// budget (one page of lines, one archive block read) and is never held whole.
import { renderHtml } from "../../wasm/index.ts";
import type { LogLine } from "../../wasm/types.ts";
import { renderAnsi } from "./ansi.ts";
import type { LogService } from "./service.ts";

export type DownloadFormat = "text" | "html" | "raw";

export const downloadTypes: Record<DownloadFormat, { contentType: string; ext: string }> = {
  text: { contentType: "text/plain; charset=utf-8", ext: "txt" },
  html: { contentType: "text/html; charset=utf-8", ext: "html" },
  raw: { contentType: "text/plain; charset=utf-8", ext: "log" },
};

/**
 * `renderText` a page at a time: a continuation joins the line before it even across pages; called
 * with no lines, it ends the text (the newline after the last line).
 */
function textRenderer(): (lines: LogLine[]) => string {
  let started = false;
  return (lines) => {
    if (lines.length === 0) return started ? "\n" : "";
    let out = "";
    for (const line of lines) {
      if (started && !line.cont) out += "\n";
      out += line.text;
      started = true;
    }
    return out;
  };
}

/**
 * The lines after `from`, rendered. The stream queues nothing ahead (highWaterMark 0): a page is
 * read and rendered only when the client's read asks for it, so a slow client holds one page.
 */
export function downloadLog(
  logs: LogService,
  jobId: string,
  from: number,
  format: DownloadFormat,
): ReadableStream<Uint8Array> {
  const render = { text: textRenderer(), html: renderHtml, raw: renderAnsi }[format];
  const pages = logs.pages(jobId, from);
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await pages.next();
        if (done) {
          if (format === "text") controller.enqueue(encoder.encode(render([])));
          controller.close();
        } else controller.enqueue(encoder.encode(render(value)));
      },
      async cancel() {
        await pages.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
