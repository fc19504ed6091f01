/** One server-sent event: its `event:` name (if any), its joined `data:` lines, and its exact text. */
export interface SseEvent {
  event?: string;
  data: string;
  /** The event as it arrived, blank-line terminator included, for relaying untouched. */
  raw: string;
}

/**
 * Splits a byte stream into server-sent events as they complete, so a relay
 * can pass each one on at once (no buffering of the whole answer) while
 * reading the usage out of it.
 */
export class SseSplitter {
  private buffer = "";

  push(text: string): SseEvent[] {
    this.buffer += text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
    const events: SseEvent[] = [];
    for (let end = this.buffer.indexOf("\n\n"); end !== -1; end = this.buffer.indexOf("\n\n")) {
      const raw = this.buffer.slice(0, end + 2);
      this.buffer = this.buffer.slice(end + 2);
      const event = parseEvent(raw);
      if (event) events.push(event);
    }
    return events;
  }

  /** Whatever is left when the stream ends without a final blank line. */
  flush(): SseEvent[] {
    const rest = this.buffer;
    this.buffer = "";
    const event = rest.trim() ? parseEvent(`${rest}\n\n`) : undefined;
    return event ? [event] : [];
  }
}

function parseEvent(raw: string): SseEvent | undefined {
  let name: string | undefined;
  const data: string[] = [];
  let any = false;
  for (const line of raw.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    any = true;
  }
  if (!any) return { data: "", raw }; // a comment-only event: relayed as is
  return { ...(name !== undefined ? { event: name } : {}), data: data.join("\n"), raw };
}

export function formatEvent(data: string, event?: string): string {
  return `${event !== undefined ? `event: ${event}\n` : ""}data: ${data}\n\n`;
}
