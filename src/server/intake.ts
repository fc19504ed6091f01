import type { ModelChoice } from "../budget/decide.js";
import type { Identity } from "../budget/policy.js";
import type { ResolvedModel } from "../config/types.generated.js";
import { isTokenpakError, TokenpakError } from "../errors.js";
import { ownValue } from "../own.js";
import { DEFAULT_MAX_TOOL_CALLS, dearestCall, toolPrices } from "../pricing/tool-prices.js";
import { isObject, type Json, parseJson } from "../providers/json.js";
import { untranslatable } from "../providers/translate-responses.js";
import { requestFor } from "../providers/translation.js";
import { type RequestShape, validateRequest } from "../providers/validate.js";
import { formatOf, type ProviderType, type Route, type WireFormat } from "../providers/wire.js";
import { type BodyKind, estimateInput, type TokenizerFamily } from "../tokenize/estimate.js";
import { imageTokens } from "../tokenize/image-tokens.js";
import type { ExchangeDeps } from "./exchange.js";

/** When neither the config nor the client bounds a model's output, the reservation assumes this much. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

/**
 * A model's context window when the config gives none (`context_window`): the
 * largest of current OpenAI models', so that stored input tokenpak cannot see
 * is never reserved at less than the provider can bill.
 */
export const DEFAULT_CONTEXT_WINDOW = 1_048_576;

/** Built-in tools a Responses request enables: the most calls it may make, and whether that cap is ours to send. */
export interface ToolUse {
  kinds: readonly string[];
  maxCalls: number;
  /** The client set no `max_tool_calls`: the reserved number is sent upstream. */
  inject: boolean;
}

/** Input the provider bills that the request does not carry: how much was reserved for it. */
export interface StoredReservation {
  tokens: number;
  /**
   * False when tokenpak has not seen the conversation, a stored prompt or a
   * file given by id or URL: the context window is reserved.
   */
  known: boolean;
  /** Files the input refers to by id or URL (their content is what tokenpak could not see). */
  files: number;
}

/** A request read, checked and priced — everything decided before anything is reserved. */
export interface Intake {
  route: Route;
  clientFormat: WireFormat;
  body: Json;
  shape: RequestShape;
  identity: Identity;
  inputTokens: number;
  model: ModelChoice;
  fallback?: ModelChoice | undefined;
  tools?: ToolUse | undefined;
  stored?: StoredReservation | undefined;
}

function tooLarge(limit: number): TokenpakError {
  return new TokenpakError("body_too_large", `request body is over ${limit} bytes`);
}

/**
 * A body sent without a length (chunked) is read a chunk at a time and given
 * up as soon as it passes the limit: read whole first, a 400 MB upload would
 * sit in memory before being refused.
 */
async function readChunked(body: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The request's JSON object body, read up to `limit` bytes. */
export async function readBody(request: Request, limit: number): Promise<Json> {
  const declared = request.headers.get("content-length");
  // With a length, HTTP framing holds the body to it: checking the header is enough.
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const text =
    declared === null && request.body ? await readChunked(request.body, limit) : await request.text();
  const body = parseJson(text);
  // parseJson gives undefined only for text that does not parse: say which of the two is wrong.
  if (body === undefined) {
    const why = text.trim() === "" ? "request body is empty" : "request body is not valid JSON";
    throw new TokenpakError("invalid_request", `${why}; send a JSON object`);
  }
  if (!isObject(body)) throw new TokenpakError("invalid_request", "request body must be a JSON object");
  return body;
}

export function providerOf(deps: ExchangeDeps, model: ResolvedModel): { name: string; type: ProviderType } {
  return { name: model.provider, type: ownValue(deps.config.providers, model.provider)?.type ?? "openai" };
}

export function modelConfig(deps: ExchangeDeps, name: string): ResolvedModel | undefined {
  return ownValue(deps.config.models, name);
}

function choice(
  deps: ExchangeDeps,
  route: Route,
  name: string,
  requested: number | undefined,
  tools: ToolUse | undefined,
): ModelChoice {
  const model = modelConfig(deps, name);
  if (!model) throw new TokenpakError("unknown_model", `model ${name} is not configured`);
  const calls = tools ? tools.maxCalls * dearestCall(toolPrices(name, tools.kinds, deps.config)) : 0;
  return {
    name,
    provider: model.provider,
    prices: deps.prices.for(name),
    maxOutputTokens:
      route === "embeddings" ? 0 : (model.max_output_tokens ?? requested ?? DEFAULT_MAX_OUTPUT_TOKENS),
    ...(calls > 0 ? { fixedCost: calls } : {}),
  };
}

/**
 * Why a model cannot serve this request as sent, naming the field; undefined
 * when it can. Anthropic's API has no `n`, and keeps none of the state nor
 * runs any of the tools a Responses request may refer to.
 */
function unservable(
  deps: ExchangeDeps,
  model: ResolvedModel,
  call: Pick<Intake, "clientFormat" | "shape" | "body">,
): { param: string; message: string } | undefined {
  if (formatOf(providerOf(deps, model).type, call.clientFormat) !== "anthropic") return undefined;
  if (call.shape.choices > 1) {
    return {
      param: "n",
      message: `model ${call.shape.model} is served by an Anthropic provider, which cannot generate n > 1 answers per request`,
    };
  }
  return call.clientFormat === "responses" ? untranslatable(call.body) : undefined;
}

/** The fallback model, when there is one that can serve the request in place of the one asked for. */
function fallbackFor(
  deps: ExchangeDeps,
  route: Route,
  call: Pick<Intake, "clientFormat" | "shape" | "body">,
  tools: ToolUse | undefined,
): ModelChoice | undefined {
  const name = route === "embeddings" ? undefined : deps.config.budget.fallback_model_on_exceed;
  const configured = name !== undefined ? modelConfig(deps, name) : undefined;
  if (name === undefined || name === call.shape.model || !configured || unservable(deps, configured, call))
    return undefined;
  try {
    return choice(deps, route, name, call.shape.maxOutputTokens, tools);
  } catch (error) {
    // A built-in tool it has no price for: it cannot stand in. Anything else is the operator's to see.
    if (isTokenpakError(error) && error.details.tool !== undefined) return undefined;
    throw error;
  }
}

function toolUse(shape: RequestShape): ToolUse | undefined {
  if (shape.builtinTools.length === 0) return undefined;
  return {
    kinds: shape.builtinTools,
    maxCalls: shape.maxToolCalls ?? DEFAULT_MAX_TOOL_CALLS,
    inject: shape.maxToolCalls === undefined,
  };
}

/**
 * The input a request is billed that it does not carry: for a Responses turn,
 * the remembered context of the response (or conversation) it continues and
 * of the items it references; and — when tokenpak has not seen one of them,
 * the request uses a stored prompt, or its input refers to a file by id or URL
 * (any route) — the whole context window, the most input the provider can bill.
 */
function storedInput(deps: ExchangeDeps, shape: RequestShape, window: number): StoredReservation | undefined {
  const stored = shape.stored;
  const files = shape.unseenFiles;
  if (!stored && files === 0) return undefined;
  if (files > 0 || stored?.prompt) return { tokens: window, known: false, files };
  let tokens = 0;
  let known = true;
  for (const id of [stored?.previousResponseId, stored?.conversationId]) {
    if (id === undefined) continue;
    const n = deps.memory.get(id);
    if (n === undefined) known = false;
    else tokens = Math.max(tokens, n);
  }
  // A referenced item is at most its response's output (items of one response counted each: errs high).
  for (const id of stored?.items ?? []) {
    const n = deps.memory.get(id);
    if (n === undefined) known = false;
    else tokens += n;
  }
  return { tokens: known ? Math.min(tokens, window) : window, known, files };
}

/** The largest context window of the models that may serve the request. */
function contextWindow(models: readonly (ResolvedModel | undefined)[]): number {
  let most = 0;
  for (const m of models) if (m) most = Math.max(most, m.context_window ?? DEFAULT_CONTEXT_WINDOW);
  return most;
}

/** The route whose body a wire format's requests have, to count a translated body as the provider gets it. */
const BODY_OF: Readonly<Record<WireFormat, BodyKind>> = {
  openai: "chat",
  anthropic: "messages",
  responses: "responses",
};

/**
 * The input tokens the request sends, as its provider counts them: the body
 * in the provider's format (each format frames messages differently: a
 * Messages body with a system prompt counts fewer tokens than the chat body it
 * becomes), with the margin of that provider's tokenizer and each image as the
 * most one may bill on the model (`image-tokens.ts`); the most over the
 * models that may serve it. A request that needs no translation is counted once.
 */
async function freshInput(
  deps: ExchangeDeps,
  route: Route,
  clientFormat: WireFormat,
  body: Json,
  names: readonly (string | undefined)[],
): Promise<number> {
  let most = 0;
  const counted = new Set<string>();
  for (const name of names) {
    const model = name === undefined ? undefined : modelConfig(deps, name);
    if (name === undefined || !model) continue;
    const type = providerOf(deps, model).type;
    const family: TokenizerFamily = type === "anthropic" ? "other" : "openai";
    const format = route === "embeddings" ? clientFormat : formatOf(type, clientFormat);
    const image = imageTokens(model.upstream_model ?? name, model.image_input_tokens);
    const key = `${format} ${family} ${image}`;
    if (counted.has(key)) continue;
    counted.add(key);
    const sent = format === clientFormat ? body : requestFor(clientFormat, format, body);
    most = Math.max(
      most,
      await estimateInput(format === clientFormat ? route : BODY_OF[format], sent, family, image),
    );
  }
  return most;
}

/**
 * Reads and checks the request, identifies the caller and prices the input.
 * Everything here may refuse the request; nothing here reserves anything.
 */
export async function intake(
  deps: ExchangeDeps,
  route: Route,
  clientFormat: WireFormat,
  request: Request,
): Promise<Intake> {
  const { config } = deps;
  const body = await readBody(request, deps.maxBodyBytes);
  const shape = validateRequest(route, body);
  const configured = modelConfig(deps, shape.model);
  if (!configured) {
    throw new TokenpakError("unknown_model", `model ${shape.model} is not configured`, {
      available_models: Object.keys(config.models ?? {}),
    });
  }
  const call = { clientFormat, shape, body };
  const cannot = unservable(deps, configured, call);
  if (cannot) throw new TokenpakError("invalid_request", cannot.message, { param: cannot.param });
  const identity = deps.auth.identify(request.headers, body, clientFormat);
  const tools = toolUse(shape);
  const model = choice(deps, route, shape.model, shape.maxOutputTokens, tools);
  const fallback = fallbackFor(deps, route, call, tools);
  const fresh = await freshInput(deps, route, clientFormat, body, [shape.model, fallback?.name]);
  const window = contextWindow([configured, fallback && modelConfig(deps, fallback.name)]);
  const stored = storedInput(deps, shape, window);
  // Stored context and the new input together: never more than the provider can bill in one turn.
  const inputTokens = stored ? Math.min(fresh + stored.tokens, Math.max(window, fresh)) : fresh;
  return { route, clientFormat, body, shape, identity, inputTokens, model, fallback, tools, stored };
}
