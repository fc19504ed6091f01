import { randomUUID } from "node:crypto";
import type { ModelChoice } from "../budget/decide.js";
import type { Config, ResolvedModel } from "../config/types.generated.js";
import { isTokenpakError, TokenpakError } from "../errors.js";
import type { Ledger } from "../ledger/ledger.js";
import { type Micros, microsToCents } from "../money/money.js";
import type { PriceSource } from "../pricing/book.js";
import { costOf } from "../pricing/cost.js";
import { NO_USAGE, type Usage } from "../pricing/usage.js";
import { isObject, type Json, num, obj, parseJson, str, withMember } from "../providers/json.js";
import { SseSplitter } from "../providers/sse.js";
import {
  chatToMessagesRequest,
  chatToMessagesResponse,
  chatToMessagesStream,
  messagesToChatRequest,
  messagesToChatResponse,
  messagesToChatStream,
  type StreamTranslator,
} from "../providers/translate.js";
import type { UpstreamResponse, Upstreams } from "../providers/upstream.js";
import { jsonUsage, streamUsage } from "../providers/usage-stream.js";
import {
  formatOf,
  type ProviderType,
  setMaxTokens,
  upstreamPath,
  type WireFormat,
} from "../providers/wire.js";
import {
  countTextTokens,
  estimateChatInput,
  estimateEmbeddingsInput,
  estimateMessagesInput,
  type TokenizerFamily,
} from "../tokenize/estimate.js";
import { abortOnDisconnect } from "./disconnect.js";
import { errorResponse } from "./errors.js";
import type { Authenticator } from "./identity.js";
import { refusal } from "./refusal.js";

export type Route = "chat" | "messages" | "embeddings";

/** When neither the config nor the client bounds a model's output, the reservation assumes this much. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

export interface ExchangeDeps {
  config: Readonly<Config>;
  ledger: Ledger;
  upstreams: Upstreams;
  auth: Authenticator;
  /** Prices by model: the synced table or the config, swapped live when the table changes. */
  prices: PriceSource;
  maxBodyBytes: number;
  clock: () => number;
}

const encoder = new TextEncoder();

function centsHeader(micros: Micros): string {
  return String(microsToCents(micros));
}

async function readAll(body: AsyncIterable<Uint8Array | string>): Promise<string> {
  // An undici body reads itself whole, without the async iterator and a decode per chunk.
  if ("text" in body && typeof body.text === "function") return (body as { text(): Promise<string> }).text();
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body)
    text += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** The upstream's error body in the client's format, when the two differ. */
function translateError(text: string, from: WireFormat, to: WireFormat): string {
  if (from === to) return text;
  const parsed = obj(parseJson(text));
  const inner = obj(parsed.error);
  const message = str(inner.message) ?? (text.slice(0, 500) || "upstream error");
  const type = str(inner.type) ?? "api_error";
  return JSON.stringify(
    to === "anthropic"
      ? { type: "error", error: { type, message } }
      : { error: { type, message, code: str(inner.code) ?? null } },
  );
}

/**
 * One proxied exchange: parse, identify, price, reserve, forward, relay,
 * settle. Every path out of here ends the reservation exactly once.
 */
export async function exchange(deps: ExchangeDeps, route: Route, request: Request): Promise<Response> {
  const clientFormat: WireFormat = route === "messages" ? "anthropic" : "openai";
  try {
    return await proxied(deps, route, clientFormat, request);
  } catch (error) {
    if (isTokenpakError(error)) return errorResponse(error, clientFormat);
    throw error;
  }
}

async function readBody(request: Request, limit: number): Promise<Json> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw new TokenpakError("body_too_large", `request body is over ${limit} bytes`);
  const text = await request.text();
  if (Buffer.byteLength(text) > limit) {
    throw new TokenpakError("body_too_large", `request body is over ${limit} bytes`);
  }
  const body = parseJson(text);
  if (!isObject(body)) throw new TokenpakError("invalid_request", "request body must be a JSON object");
  return body;
}

interface Forward {
  route: Route;
  clientFormat: WireFormat;
  upstreamFormat: WireFormat;
  model: string;
  maxTokens: number;
  streaming: boolean;
}

/**
 * The request body for upstream, always re-serialised from what was parsed
 * and priced. Passing the client's own text on would be cheaper, but JSON with
 * a key given twice (`"max_tokens": 100000, …, "max_tokens": 10`) is read as
 * the last value here and possibly as the first by a provider: the model or
 * the output cap served could then differ from the one paid for.
 */
function upstreamText(body: Json, f: Forward): string {
  const out: Json =
    f.upstreamFormat === f.clientFormat
      ? { ...body }
      : f.clientFormat === "openai"
        ? chatToMessagesRequest(body)
        : messagesToChatRequest(body);
  out.model = f.model;
  if (f.route !== "embeddings") setMaxTokens(out, f.upstreamFormat, f.maxTokens);
  if (f.streaming && f.upstreamFormat === "openai") {
    // Usage arrives in a last chunk only when asked for; the relay drops it again if the client did not ask.
    out.stream_options = { ...obj(out.stream_options), include_usage: true };
  }
  return JSON.stringify(out);
}

function providerOf(deps: ExchangeDeps, model: ResolvedModel): { name: string; type: ProviderType } {
  const p = deps.config.providers?.[model.provider];
  return { name: model.provider, type: p?.type ?? "openai" };
}

function estimate(route: Route, body: Json, family: TokenizerFamily): number {
  if (route === "embeddings") return estimateEmbeddingsInput(body, family);
  return route === "chat" ? estimateChatInput(body, family) : estimateMessagesInput(body, family);
}

function choice(deps: ExchangeDeps, route: Route, name: string, requested: number | undefined): ModelChoice {
  const model = deps.config.models?.[name];
  if (!model) throw new TokenpakError("unknown_model", `model ${name} is not configured`);
  return {
    name,
    provider: model.provider,
    prices: deps.prices.for(name),
    maxOutputTokens:
      route === "embeddings" ? 0 : (model.max_output_tokens ?? requested ?? DEFAULT_MAX_OUTPUT_TOKENS),
  };
}

async function proxied(
  deps: ExchangeDeps,
  route: Route,
  clientFormat: WireFormat,
  request: Request,
): Promise<Response> {
  const { config, ledger } = deps;
  const body = await readBody(request, deps.maxBodyBytes);
  const modelName = str(body.model);
  const available = () => Object.keys(config.models ?? {});
  if (!modelName)
    throw new TokenpakError("invalid_request", "`model` is required", { available_models: available() });
  const modelConfig = config.models?.[modelName];
  if (!modelConfig) {
    throw new TokenpakError("unknown_model", `model ${modelName} is not configured`, {
      available_models: available(),
    });
  }
  const identity = deps.auth.identify(request.headers, body, clientFormat);
  const provider = providerOf(deps, modelConfig);
  const family: TokenizerFamily = provider.type === "anthropic" ? "other" : "openai";
  const inputTokens = estimate(route, body, family);
  const requested =
    route === "embeddings"
      ? undefined
      : (num(body.max_completion_tokens) ?? num(body.max_tokens) ?? undefined);
  const model = choice(deps, route, modelName, requested);
  const fallbackName = route === "embeddings" ? undefined : config.budget.fallback_model_on_exceed;
  const fallback =
    fallbackName && fallbackName !== modelName ? choice(deps, route, fallbackName, requested) : undefined;

  const requestId = randomUUID();
  const decision = ledger.reserve({
    requestId,
    identity,
    model,
    fallback,
    inputTokens,
    requestedMaxTokens: requested,
  });
  if (decision.action === "block") {
    return errorResponse(refusal(decision, deps.clock()), clientFormat, {
      "x-tokenpak-request-id": requestId,
    });
  }
  await decision.written;

  // From here on the reservation is open: every exit below ends it once.
  let ended = false;
  const settle = async (usage: Usage, status: string): Promise<Micros> => {
    if (ended) return 0;
    ended = true;
    const cost = costOf(usage, decision.model.prices);
    await ledger.settle(requestId, { usage, cost, status });
    return cost;
  };
  const release = async (reason: string) => {
    if (ended) return;
    ended = true;
    await ledger.release(requestId, reason);
  };

  const chosen = decision.model;
  const chosenConfig = config.models?.[chosen.name] ?? modelConfig;
  const chosenProvider = providerOf(deps, chosenConfig);
  const upstreamFormat = formatOf(chosenProvider.type, clientFormat);
  const streaming = body.stream === true && route !== "embeddings";
  const upstreamBody = upstreamText(body, {
    route,
    clientFormat,
    upstreamFormat,
    model: chosenConfig.upstream_model ?? chosen.name,
    maxTokens: decision.maxOutputTokens,
    streaming,
  });
  const headers: Record<string, string> = {};
  for (const name of ["anthropic-version", "anthropic-beta"]) {
    const v = request.headers.get(name);
    if (v && upstreamFormat === "anthropic") headers[name] = v;
  }

  const out: Record<string, string> = { "x-tokenpak-request-id": requestId };
  if (decision.fallbackFrom !== undefined) out["x-tokenpak-fallback-model"] = chosen.name;
  if (decision.clamped) out["x-tokenpak-max-tokens-clamped"] = String(decision.maxOutputTokens);
  const remaining = () => {
    const left = ledger.remaining(identity, chosen.name);
    if (left !== undefined) out["x-tokenpak-remaining-cents"] = centsHeader(left);
  };

  const controller = abortOnDisconnect(request);
  let upstream: UpstreamResponse;
  try {
    upstream = await deps.upstreams.send(chosenProvider.name, {
      route,
      path: upstreamPath(route, upstreamFormat),
      body: upstreamBody,
      headers,
      signal: controller.signal,
    });
  } catch (error) {
    await release(isTokenpakError(error) ? error.code : "aborted");
    throw error;
  }
  Object.assign(out, upstream.headers);

  if (upstream.status >= 400 || !streaming) {
    let text: string;
    try {
      text = await readAll(upstream.body);
    } catch (error) {
      await release("upstream_read_failed");
      throw error;
    }
    const answerJson = parseJson(text);
    const parsed = obj(answerJson);
    const usage = jsonUsage(upstreamFormat, parsed);
    if (upstream.status >= 400) {
      // Charged only when the provider says it spent something.
      if (usage) await settle(usage, "upstream_error");
      else await release(`upstream_${upstream.status}`);
      remaining();
      return new Response(translateError(text, upstreamFormat, clientFormat), {
        status: upstream.status,
        headers: { "content-type": "application/json", ...out },
      });
    }
    // A 200 without usage is still spend: count what came back rather than charge $0.
    const charged = usage ?? { ...NO_USAGE, input: inputTokens, output: countTextTokens(text) };
    const cost = await settle(charged, "ok");
    const cents = microsToCents(cost);
    out["x-tokenpak-cost-cents"] = String(cents);
    remaining();
    // The provider's own JSON, cost_cents written in, unless the answer must be rewritten anyway.
    let answerText =
      upstreamFormat === clientFormat && decision.fallbackFrom === undefined && isObject(answerJson)
        ? withMember(text, parsed, "cost_cents", cents)
        : undefined;
    if (answerText === undefined) {
      let answer =
        upstreamFormat === clientFormat
          ? parsed
          : clientFormat === "openai"
            ? messagesToChatResponse(parsed)
            : chatToMessagesResponse(parsed);
      if (decision.fallbackFrom !== undefined) answer = { ...answer, model: chosen.name };
      answer.cost_cents = cents;
      answerText = JSON.stringify(answer);
    }
    return new Response(answerText, {
      status: upstream.status,
      headers: { "content-type": "application/json", ...out },
    });
  }

  // Streaming: relay each event as it completes, read usage on the way, settle at the end.
  remaining();
  const tracker = streamUsage(upstreamFormat);
  const wantsUsage = obj(body.stream_options).include_usage === true;
  const translator: StreamTranslator | undefined =
    upstreamFormat === clientFormat
      ? undefined
      : clientFormat === "openai"
        ? messagesToChatStream(wantsUsage)
        : chatToMessagesStream();
  const splitter = new SseSplitter();
  const decoder = new TextDecoder();
  const iterator = upstream.body[Symbol.asyncIterator]();
  const relay = (text: string): string => {
    let piece = "";
    for (const event of splitter.push(text)) {
      tracker.event(event);
      if (translator) piece += translator.event(event);
      else if (clientFormat === "openai" && !wantsUsage && event.data.startsWith("{")) {
        // We asked upstream for usage; the client did not: drop the usage-only chunk, strip the rest.
        const data = obj(parseJson(event.data));
        if (Array.isArray(data.choices) && data.choices.length === 0 && isObject(data.usage)) continue;
        piece += "usage" in data ? `data: ${JSON.stringify({ ...data, usage: undefined })}\n\n` : event.raw;
      } else piece += event.raw;
    }
    return piece;
  };
  const finalUsage = (): Usage =>
    tracker.usage() ?? { ...NO_USAGE, input: inputTokens, output: countTextTokens(tracker.text()) };

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller2) {
      try {
        // A pull that enqueues nothing is not called again: read until there is something to send.
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          const chunk = next.value;
          const piece = relay(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
          if (piece) {
            controller2.enqueue(encoder.encode(piece));
            return;
          }
        }
        let tail = relay(decoder.decode());
        for (const event of splitter.flush()) {
          tracker.event(event);
          tail += translator ? translator.event(event) : event.raw;
        }
        if (translator) tail += translator.end();
        const cost = await settle(finalUsage(), "ok");
        tail += `: tokenpak cost_cents=${microsToCents(cost)} request_id=${requestId}\n\n`;
        controller2.enqueue(encoder.encode(tail));
        controller2.close();
      } catch (error) {
        await settle(finalUsage(), controller.signal.aborted ? "aborted" : "upstream_error");
        controller2.error(error);
      }
    },
    async cancel() {
      // The client went away: stop the provider and pay for what was generated.
      controller.abort();
      await iterator.return?.();
      await settle(finalUsage(), "aborted");
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...out },
  });
}
