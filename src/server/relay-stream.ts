import { TokenpakError } from "../errors.js";
import { microsToCents } from "../money/money.js";
import type { UsageReading } from "../pricing/usage.js";
import { obj } from "../providers/json.js";
import { errorEvent, StreamRelay } from "../providers/stream-relay.js";
import type { UpstreamAbort, UpstreamResponse } from "../providers/upstream.js";
import type { TrailerSender } from "./disconnect.js";
import { type RelayContext, STREAMING } from "./relay-json.js";

/** The HTTP trailer a stream's cost is sent in, for clients that send `TE: trailers`. */
export const COST_TRAILER = "x-tokenpak-cost-cents";

const encoder = new TextEncoder();

/**
 * Relays an SSE answer event by event and settles when it ends — at the
 * provider's final usage, or, when that never came (the client left, the
 * provider cut the stream or failed mid-way), at the input plus the output
 * counted from the text that was generated. The stream owns the reservation:
 * every way it can end (done, failed, cancelled) settles it once.
 */
export function relayStream(
  ctx: RelayContext,
  upstream: UpstreamResponse,
  abort: UpstreamAbort,
  trailers?: TrailerSender,
): Response {
  ctx.remaining();
  // The source is the stream's only per-request object: its steps are methods, not closures.
  const source = new RelaySource(ctx, openRelay(ctx), upstream, abort, trailers);
  return new Response(new ReadableStream<Uint8Array>(source), {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      ...ctx.out,
      ...(trailers ? { trailer: COST_TRAILER } : {}),
    },
  });
}

/** The event-by-event translation from the provider's format to the client's. */
function openRelay({ call, plan }: RelayContext): StreamRelay {
  return new StreamRelay({
    upstream: plan.upstreamFormat,
    client: call.clientFormat,
    wantsUsage: obj(call.body.stream_options).include_usage === true,
    redact: plan.redact,
    request: call.body,
    choices: call.shape.choices,
  });
}

/** What the stream sends, and the one settle of it, whichever way it ends. */
class RelaySource {
  private readonly decoder = new TextDecoder();
  private readonly iterator: AsyncIterator<string | Uint8Array>;
  /** The one settle of this stream, whichever way it ends first (a later call gets the same outcome). */
  private settling: Promise<number> | undefined;
  /**
   * What the client gets once the provider said the answer is whole (a
   * finish reason, `[DONE]`, `message_stop`, `response.completed`): held
   * back until the settle is in the journal, so that an answer the journal
   * could not take ends in an error instead of passing for a complete one.
   */
  private held = "";

  constructor(
    private readonly ctx: RelayContext,
    private readonly relay: StreamRelay,
    upstream: UpstreamResponse,
    private readonly abort: UpstreamAbort,
    private readonly trailers: TrailerSender | undefined,
  ) {
    this.iterator = upstream.body[Symbol.asyncIterator]();
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const { relay, decoder, iterator } = this;
    try {
      // A pull that enqueues nothing is not called again: read until there is something to send.
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const chunk = next.value;
        const piece = relay.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, STREAMING));
        if (relay.watch.complete()) this.held += piece;
        else if (piece) {
          controller.enqueue(encoder.encode(piece));
          return;
        }
      }
      await this.finish(controller);
    } catch (error) {
      if (this.abort.aborted) {
        await this.settleQuietly("aborted"); // the client is gone: nobody to tell
        return;
      }
      // The provider's connection failed mid-answer: the client is told so in its own format.
      try {
        await this.finish(controller);
      } catch {
        controller.error(error);
      }
    }
  }

  async cancel(): Promise<void> {
    // The client went away: stop the provider and pay for what was generated.
    this.abort.abort();
    await this.iterator.return?.();
    await this.settleQuietly("aborted");
  }

  private settle(status: string): Promise<number> {
    this.settling ??= settleAnswer(this.ctx, this.relay, status);
    return this.settling;
  }

  /**
   * For a client that is gone: a settle the journal cannot take yet is still
   * booked (its line follows once the disk takes writes), and the journal
   * has already said that it cannot write.
   */
  private settleQuietly(status: string): Promise<number> {
    return this.settle(status).catch(() => 0);
  }

  /**
   * The client's last events: the relay's end (an error event if the answer
   * is incomplete), then the cost — in a closing comment, and in the HTTP
   * trailer when the client asked for trailers. When the settle cannot be
   * written, an error event in the client's format instead: the spend is
   * booked (its line is written once the disk takes writes again), but the
   * answer is not acknowledged.
   */
  private async finish(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const { relay, ctx } = this;
    let tail = this.held + relay.push(this.decoder.decode()) + relay.end();
    this.held = "";
    let cost: number;
    try {
      cost = await this.settle(relay.errored ? "upstream_error" : "ok");
    } catch (error) {
      controller.enqueue(encoder.encode(unrecordedEvent(ctx, error)));
      controller.close();
      return;
    }
    const cents = microsToCents(cost);
    tail += `: tokenpak cost_cents=${cents} request_id=${ctx.hold.requestId}\n\n`;
    controller.enqueue(encoder.encode(tail));
    this.trailers?.({ [COST_TRAILER]: String(cents) });
    controller.close();
  }
}

/** Books the stream's spend: at the provider's usage, or at the output counted from its text. */
async function settleAnswer(ctx: RelayContext, relay: StreamRelay, status: string): Promise<number> {
  const { call, hold } = ctx;
  const { watch } = relay;
  const reported: UsageReading | undefined = watch.usage();
  const usage = reported ?? { ok: true, usage: watch.countedUsage(call.inputTokens, hold.maxOutput) };
  const note = reported ? undefined : "the stream ended without its usage; output counted from its text";
  const cost = await hold.settle(usage, status, note, watch.toolCalls());
  ctx.remember(watch.ids());
  return cost;
}

/** The error event, in the client's format, for an answer whose settle could not be written. */
function unrecordedEvent(ctx: RelayContext, error: unknown): string {
  const message = error instanceof TokenpakError ? error.message : "the answer could not be recorded";
  const code = error instanceof TokenpakError ? error.code : "internal_error";
  return errorEvent(ctx.call.clientFormat, { type: "api_error", code, message });
}
