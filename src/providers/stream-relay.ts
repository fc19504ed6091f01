import type { Json } from "./json.js";
import { formatEvent, type SseEvent, SseSplitter } from "./sse.js";
import { type ProviderError, type StreamWatch, watchStream } from "./stream-watch.js";
import type { StreamTranslator } from "./translate.js";
import { streamFor } from "./translation.js";
import type { WireFormat } from "./wire.js";

export interface StreamRelayOptions {
  upstream: WireFormat;
  client: WireFormat;
  /** The client asked for OpenAI's usage chunk (`stream_options.include_usage`); we always ask upstream. */
  wantsUsage: boolean;
  /** Applied to the provider's error events before they are relayed (they may echo what it was sent). */
  redact?: (text: string) => string;
  /** The client's request: a translated Responses stream echoes its settings. */
  request?: Json;
  /** How many answers the request asked for (`n`): the stream is whole only when each has ended. */
  choices?: number;
}

const CUT_SHORT: ProviderError = {
  type: "api_error",
  message: "the provider's stream ended before the answer was complete",
};

/**
 * A provider error as an event of the client's format: the official SDKs
 * raise the chat and messages ones as an APIError; a Responses stream's
 * `error` event is what its clients watch for.
 */
export function errorEvent(format: WireFormat, error: ProviderError): string {
  if (format === "anthropic") {
    return formatEvent(
      JSON.stringify({ type: "error", error: { type: error.type, message: error.message } }),
      "error",
    );
  }
  if (format === "responses") {
    return formatEvent(
      JSON.stringify({
        type: "error",
        code: error.code ?? error.type,
        message: error.message,
        param: null,
        sequence_number: 0,
      }),
      "error",
    );
  }
  return formatEvent(
    JSON.stringify({ error: { message: error.message, type: error.type, code: error.code ?? null } }),
  );
}

/**
 * Turns an upstream SSE stream into the client's, one event at a time as each
 * completes: translated when the formats differ, the usage chunk the client
 * did not ask for removed, every event read for usage and text on the way.
 * A provider error, or a stream that ends before the provider said the answer
 * was whole, reaches the client as an error event — never as a normal end, so
 * a truncated answer cannot pass for a complete one.
 */
export class StreamRelay {
  readonly watch: StreamWatch;
  private readonly splitter = new SseSplitter();
  private readonly translator: StreamTranslator | undefined;
  private readonly stripUsage: boolean;
  private failed = false;

  constructor(private readonly options: StreamRelayOptions) {
    this.watch = watchStream(options.upstream, options.choices);
    this.translator = streamFor(options.upstream, options.client, options.wantsUsage, options.request ?? {});
    this.stripUsage = options.client === "openai" && options.upstream === "openai" && !options.wantsUsage;
  }

  /** Text from upstream in; the client's text for every event it completed out. */
  push(text: string): string {
    let out = "";
    for (const e of this.splitter.push(text)) out += this.pass(e);
    return out;
  }

  /** The upstream stream ended: its last event, then the end of the client's stream. */
  end(): string {
    let out = "";
    for (const e of this.splitter.flush()) out += this.pass(e);
    if (this.failed) return out;
    if (!this.watch.complete()) {
      this.failed = true;
      return out + errorEvent(this.options.client, CUT_SHORT);
    }
    return out + (this.translator?.end() ?? "");
  }

  /** Whether the stream ended in an error (the provider's, or cut short). */
  get errored(): boolean {
    return this.failed;
  }

  private pass(e: SseEvent): string {
    const seen = this.watch.event(e);
    if (this.failed) return ""; // nothing the provider sends after its error is part of an answer
    if (seen.kind === "error") {
      this.failed = true;
      const event = this.translator ? errorEvent(this.options.client, seen.error) : e.raw;
      return this.options.redact ? this.options.redact(event) : event;
    }
    if (this.translator) return this.translator.event(e);
    if (this.stripUsage && seen.kind === "data" && "usage" in seen.data) {
      const { usage: _, ...rest } = seen.data;
      const usageOnly = Array.isArray(rest.choices) && rest.choices.length === 0;
      return usageOnly ? "" : formatEvent(JSON.stringify(rest));
    }
    return e.raw;
  }
}
