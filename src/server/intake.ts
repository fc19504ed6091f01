import type { ModelChoice } from "../budget/decide.js";
import type { Identity } from "../budget/policy.js";
import type { ResolvedModel } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { ownValue } from "../own.js";
import { isObject, type Json, parseJson } from "../providers/json.js";
import { type RequestShape, validateRequest } from "../providers/validate.js";
import { formatOf, type ProviderType, type Route, type WireFormat } from "../providers/wire.js";
import { estimateInput, type TokenizerFamily } from "../tokenize/estimate.js";
import type { ExchangeDeps } from "./exchange.js";

/** When neither the config nor the client bounds a model's output, the reservation assumes this much. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

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

async function readBody(request: Request, limit: number): Promise<Json> {
  const declared = request.headers.get("content-length");
  // With a length, HTTP framing holds the body to it: checking the header is enough.
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const text =
    declared === null && request.body ? await readChunked(request.body, limit) : await request.text();
  const body = parseJson(text);
  if (!isObject(body)) throw new TokenpakError("invalid_request", "request body must be a JSON object");
  return body;
}

export function providerOf(deps: ExchangeDeps, model: ResolvedModel): { name: string; type: ProviderType } {
  return { name: model.provider, type: ownValue(deps.config.providers, model.provider)?.type ?? "openai" };
}

export function modelConfig(deps: ExchangeDeps, name: string): ResolvedModel | undefined {
  return ownValue(deps.config.models, name);
}

function choice(deps: ExchangeDeps, route: Route, name: string, requested: number | undefined): ModelChoice {
  const model = modelConfig(deps, name);
  if (!model) throw new TokenpakError("unknown_model", `model ${name} is not configured`);
  return {
    name,
    provider: model.provider,
    prices: deps.prices.for(name),
    maxOutputTokens:
      route === "embeddings" ? 0 : (model.max_output_tokens ?? requested ?? DEFAULT_MAX_OUTPUT_TOKENS),
  };
}

/** Whether a model can serve `n` answers per request: Anthropic's API has no `n`. */
function servesChoices(
  deps: ExchangeDeps,
  model: ResolvedModel,
  clientFormat: WireFormat,
  n: number,
): boolean {
  return n === 1 || formatOf(providerOf(deps, model).type, clientFormat) === "openai";
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
  if (!servesChoices(deps, configured, clientFormat, shape.choices)) {
    throw new TokenpakError(
      "invalid_request",
      `model ${shape.model} is served by an Anthropic provider, which cannot generate n > 1 answers per request`,
      { param: "n" },
    );
  }
  const identity = deps.auth.identify(request.headers, body, clientFormat);
  const family: TokenizerFamily = providerOf(deps, configured).type === "anthropic" ? "other" : "openai";
  const requested = shape.maxOutputTokens;
  const model = choice(deps, route, shape.model, requested);
  const fallbackName = route === "embeddings" ? undefined : config.budget.fallback_model_on_exceed;
  const fallbackConfig = fallbackName !== undefined ? modelConfig(deps, fallbackName) : undefined;
  const fallback =
    fallbackName !== undefined &&
    fallbackName !== shape.model &&
    fallbackConfig &&
    servesChoices(deps, fallbackConfig, clientFormat, shape.choices)
      ? choice(deps, route, fallbackName, requested)
      : undefined;
  return {
    route,
    clientFormat,
    body,
    shape,
    identity,
    inputTokens: await estimateInput(route, body, family),
    model,
    fallback,
  };
}
