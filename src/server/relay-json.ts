import { TokenpakError } from "../errors.js";
import { microsToCents } from "../money/money.js";
import { NO_USAGE } from "../pricing/usage.js";
import { isObject, type Json, obj, parseJson, withMember } from "../providers/json.js";
import {
  hidesOutput,
  jsonIds,
  jsonToolCalls,
  jsonUsage,
  providerError,
  type StoredIds,
} from "../providers/stream-watch.js";
import { answerAsStream } from "../providers/synthesize.js";
import { answerFor } from "../providers/translation.js";
import { type UpstreamResponse, upstreamError } from "../providers/upstream.js";
import type { WireFormat } from "../providers/wire.js";
import { countOutputTokens, type TokenizerFamily } from "../tokenize/estimate.js";
import { errorResponse } from "./errors.js";
import type { Plan } from "./forward.js";
import type { Hold } from "./hold.js";
import type { Intake } from "./intake.js";

/** decode()'s options for a chunk with more to come: one object for every chunk of every answer. */
export const STREAMING = { stream: true } as const;

/** What a relay needs besides the answer: the exchange's headers so far, and how to add the remaining budget. */
export interface RelayContext {
  call: Intake;
  plan: Plan;
  hold: Hold;
  /** Response headers: request id, clamp and fallback notes, the provider's request id. */
  out: Record<string, string>;
  /** Sets x-tokenpak-remaining-cents, after the settle it should reflect. */
  remaining(): void;
  /** After the settle: what a Responses answer holds as context, for the turn that continues it. */
  remember(ids: StoredIds): void;
}

/** A provider's whole answer body as text. */
export async function readAll(body: AsyncIterable<Uint8Array | string>): Promise<string> {
  // An undici body reads itself whole, without the async iterator and a decode per chunk.
  if ("text" in body && typeof body.text === "function") return (body as { text(): Promise<string> }).text();
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body)
    text += typeof chunk === "string" ? chunk : decoder.decode(chunk, STREAMING);
  return text + decoder.decode();
}

/** The upstream's error body in the client's format, when the two differ. */
function translateError(text: string, from: WireFormat, to: WireFormat): string {
  if (from === to) return text;
  const parsed = parseJson(text);
  const error = isObject(parsed) ? providerError(parsed) : { type: "api_error", message: text.slice(0, 500) };
  return JSON.stringify(
    to === "anthropic"
      ? { type: "error", error: { type: error.type, message: error.message || "upstream error" } }
      : { error: { type: error.type, message: error.message || "upstream error", code: error.code ?? null } },
  );
}

function family(plan: Plan): TokenizerFamily {
  return plan.upstreamFormat === "anthropic" ? "other" : "openai";
}

/** The answer in the client's format, cost_cents included. */
function clientAnswer(ctx: RelayContext, parsed: Json, cents: number): Json {
  const { call, plan, hold } = ctx;
  let answer = answerFor(plan.upstreamFormat, call.clientFormat, parsed, call.body);
  if (hold.decision.fallbackFrom !== undefined) answer = { ...answer, model: hold.decision.model.name };
  return { ...answer, cost_cents: cents };
}

/** The answer as JSON text: the provider's own bytes with cost_cents written in, when nothing else changes. */
function clientAnswerText(ctx: RelayContext, text: string, parsed: Json, cents: number): string {
  const unchanged =
    ctx.plan.upstreamFormat === ctx.call.clientFormat && ctx.hold.decision.fallbackFrom === undefined;
  return (
    (unchanged ? withMember(text, parsed, "cost_cents", cents) : undefined) ??
    JSON.stringify(clientAnswer(ctx, parsed, cents))
  );
}

/**
 * Reads a whole JSON answer (also when a stream was asked and the provider
 * answered JSON), settles it, and answers the client in its own format. The
 * read goes on when the client has left: the provider bills the answer.
 */
export async function relayJson(ctx: RelayContext, upstream: UpstreamResponse): Promise<Response> {
  const { call, plan, hold, out } = ctx;
  let text: string;
  try {
    text = await readAll(upstream.body);
    hold.readAt = performance.now();
  } catch (error) {
    // The provider answered and may bill; what it billed never arrived.
    await hold.chargeReserved("upstream_failed", `the answer could not be read: ${String(error)}`);
    throw upstreamError(error, plan.provider.name);
  }
  const parsed = parseJson(text);
  const usage = isObject(parsed)
    ? jsonUsage(plan.upstreamFormat, parsed, call.route === "embeddings")
    : undefined;
  if (upstream.status >= 400) {
    // Charged only when the provider says it spent something.
    if (usage) await hold.settle(usage, "upstream_error");
    else await hold.release(`upstream_${upstream.status}`);
    ctx.remaining();
    return new Response(plan.redact(translateError(text, plan.upstreamFormat, call.clientFormat)), {
      status: upstream.status,
      headers: { "content-type": "application/json", ...out },
    });
  }
  // A success we cannot read is still spend: count what came back rather than charge $0 —
  // all of the cap when it reasoned, as reasoning tokens are billed but never shown.
  // Only then: tokenizing every answer would cost more than the rest of the relay.
  const counted = () => {
    const output =
      isObject(parsed) && hidesOutput(plan.upstreamFormat, parsed)
        ? hold.maxOutput
        : Math.min(countOutputTokens(text, family(plan)), hold.maxOutput);
    return { ok: true as const, usage: { ...NO_USAGE, input: call.inputTokens, output } };
  };
  if (!isObject(parsed)) {
    await hold.settle(counted(), "upstream_invalid", "the provider's answer is not a JSON object");
    ctx.remaining();
    return errorResponse(
      new TokenpakError(
        "upstream_invalid_response",
        `provider ${plan.provider.name} answered with something that is not a JSON object`,
        { provider: plan.provider.name },
      ),
      call.clientFormat,
      out,
    );
  }
  const calls = jsonToolCalls(plan.upstreamFormat, parsed);
  const cost = usage
    ? await hold.settle(usage, "ok", undefined, calls)
    : await hold.settle(counted(), "ok", "the answer carried no usage; output counted from its text", calls);
  ctx.remember(jsonIds(plan.upstreamFormat, parsed));
  const cents = microsToCents(cost);
  out["x-tokenpak-cost-cents"] = String(cents);
  ctx.remaining();
  if (!plan.streaming) {
    return new Response(clientAnswerText(ctx, text, parsed, cents), {
      status: upstream.status,
      headers: { "content-type": "application/json", ...out },
    });
  }
  const wantsUsage = obj(call.body.stream_options).include_usage === true;
  const events = answerAsStream(call.clientFormat, clientAnswer(ctx, parsed, cents), wantsUsage);
  return new Response(`${events}: tokenpak cost_cents=${cents} request_id=${hold.requestId}\n\n`, {
    status: 200,
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...out },
  });
}
