import { isTokenpakError, TokenpakError } from "../errors.js";
import type { Reserved } from "../ledger/ledger.js";
import { ownValue } from "../own.js";
import { NO_USAGE } from "../pricing/usage.js";
import { obj } from "../providers/json.js";
import { redactor } from "../providers/redact.js";
import { requestFor } from "../providers/translation.js";
import { providerReached, type UpstreamAbort, type UpstreamResponse } from "../providers/upstream.js";
import {
  formatOf,
  type ProviderType,
  setMaxTokens,
  upstreamPath,
  type WireFormat,
} from "../providers/wire.js";
import type { ExchangeDeps } from "./exchange.js";
import type { Hold } from "./hold.js";
import { type Intake, modelConfig, providerOf } from "./intake.js";

/** Where and how the reserved request goes upstream. */
export interface Plan {
  provider: { name: string; type: ProviderType };
  upstreamFormat: WireFormat;
  streaming: boolean;
  /** The request body for upstream, as JSON text. */
  text: string;
  headers: Record<string, string>;
  /** Blanks the provider's own keys out of what it sends back (error bodies may echo them). */
  redact: (text: string) => string;
}

/**
 * The request body for upstream, always re-serialised from what was parsed
 * and priced. Passing the client's own text on would be cheaper, but JSON with
 * a key given twice (`"max_tokens": 100000, …, "max_tokens": 10`) is read as
 * the last value here and possibly as the first by a provider: the model or
 * the output cap served could then differ from the one paid for.
 */
function upstreamText(
  call: Intake,
  plan: Pick<Plan, "provider" | "upstreamFormat" | "streaming">,
  model: string,
  maxTokens: number,
) {
  const { body, clientFormat, route } = call;
  const out = requestFor(clientFormat, plan.upstreamFormat, body);
  out.model = model;
  if (route !== "embeddings") setMaxTokens(out, plan.upstreamFormat, plan.provider.type, maxTokens);
  // The built-in tool calls reserved are the most the provider may make.
  if (call.tools?.inject && plan.upstreamFormat === "responses") out.max_tool_calls = call.tools.maxCalls;
  if (plan.streaming && plan.upstreamFormat === "openai") {
    // Usage arrives in a last chunk only when asked for; the relay drops it again if the client did not ask.
    out.stream_options = { ...obj(out.stream_options), include_usage: true };
  }
  return JSON.stringify(out);
}

export function plan(deps: ExchangeDeps, call: Intake, decision: Reserved, request: Request): Plan {
  const chosen = modelConfig(deps, decision.model.name);
  if (!chosen)
    throw new TokenpakError("internal_error", `model ${decision.model.name} vanished from the config`);
  const provider = providerOf(deps, chosen);
  const upstreamFormat = formatOf(provider.type, call.clientFormat);
  const base = { provider, upstreamFormat, streaming: call.shape.stream };
  const model = chosen.upstream_model ?? decision.model.name;
  return {
    ...base,
    text: upstreamText(call, base, model, decision.maxOutputTokens),
    headers: upstreamFormat === "anthropic" ? anthropicHeaders(request) : {},
    redact: providerRedactor(deps, provider.name),
  };
}

/** The client's Anthropic API version and beta flags, which the provider must see as sent. */
export function anthropicHeaders(request: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ["anthropic-version", "anthropic-beta"]) {
    const v = request.headers.get(name);
    if (v) headers[name] = v;
  }
  return headers;
}

/** Blanks a provider's own keys out of what it sends back. */
/** One per provider settings object: built on first use, not per request. */
const redactors = new WeakMap<object, (text: string) => string>();

export function providerRedactor(deps: ExchangeDeps, provider: string): (text: string) => string {
  const settings = ownValue(deps.config.providers, provider);
  if (!settings) return redactor([]);
  let redact = redactors.get(settings);
  if (!redact) {
    redact = redactor([settings.api_key, settings.admin_api_key]);
    redactors.set(settings, redact);
  }
  return redact;
}

/**
 * Sends the request and hands back the provider's answer. A request that
 * failed before reaching the provider is released; one the provider had (a
 * timeout, a connection lost after sending) may be billed, so it is charged at
 * its reservation; one the client abandoned while waiting for a stream is
 * charged for its input.
 */
export async function forward(
  deps: ExchangeDeps,
  call: Intake,
  p: Plan,
  hold: Hold,
  abort: UpstreamAbort | undefined,
): Promise<UpstreamResponse> {
  hold.sent = true;
  hold.sentAt = performance.now();
  try {
    const upstream = await deps.upstreams.send(p.provider.name, {
      route: call.route,
      path: upstreamPath(call.route, p.upstreamFormat),
      body: p.text,
      headers: p.headers,
      ...(abort ? { signal: abort.signal } : {}),
    });
    hold.answeredAt = performance.now();
    hold.readAt = hold.answeredAt;
    return upstream;
  } catch (error) {
    if (abort?.aborted) {
      await hold.settle({ ok: true, usage: { ...NO_USAGE, input: call.inputTokens } }, "aborted");
    } else if (!providerReached(error)) {
      await hold.release(isTokenpakError(error) ? error.code : "upstream_failed");
    } else {
      const status =
        isTokenpakError(error) && error.code === "upstream_timeout" ? "upstream_timeout" : "upstream_failed";
      await hold.chargeReserved(
        status,
        `the provider had the request, but its answer never came: ${String(error)}`,
      );
    }
    throw error;
  }
}
