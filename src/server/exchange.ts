import { randomUUID } from "node:crypto";
import type { Identity } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import type { Ledger, Reserved } from "../ledger/ledger.js";
import { microsToCents } from "../money/money.js";
import type { PriceSource } from "../pricing/book.js";
import { toolPrices } from "../pricing/tool-prices.js";
import { totalTokens } from "../pricing/usage.js";
import type { StoredIds } from "../providers/stream-watch.js";
import type { UpstreamResponse, Upstreams } from "../providers/upstream.js";
import { type Route, routeFormat } from "../providers/wire.js";
import { abortOnDisconnect, trailersFor } from "./disconnect.js";
import { errorResponse, failureResponse } from "./errors.js";
import { forward, plan } from "./forward.js";
import { Hold, type ToolAllowance } from "./hold.js";
import type { Authenticator } from "./identity.js";
import { type Intake, intake } from "./intake.js";
import type { Outcome, ProxyMetrics } from "./metrics.js";
import { refusal } from "./refusal.js";
import { type RelayContext, relayJson } from "./relay-json.js";
import { relayStream } from "./relay-stream.js";
import type { ResponseMemory } from "./response-memory.js";

export interface ExchangeDeps {
  config: Readonly<Config>;
  ledger: Ledger;
  upstreams: Upstreams;
  auth: Authenticator;
  /** Context tokens of Responses API answers, for the turns that continue them. */
  memory: ResponseMemory;
  /** Prices by model: the synced table or the config, swapped live when the table changes. */
  prices: PriceSource;
  maxBodyBytes: number;
  clock: () => number;
  /** Operator-facing problems that are not the client's (a provider's broken usage): default stderr. */
  warn: (message: string) => void;
  /** Where requests are counted for GET /metrics; undefined when metrics are off. */
  metrics?: ProxyMetrics | undefined;
}

/**
 * One proxied exchange, in steps: take the request in (read, check, price —
 * nothing reserved yet), reserve, forward, relay the answer. From the reserve
 * on, a Hold owns the reservation and the `finally` below guarantees it ends:
 * no exception anywhere after the reserve can leave it open.
 */
/** How soon a client may try again while the store is down: the ledger retries its journal at least this often. */
const STORE_RETRY_SECONDS = "2";

export async function exchange(deps: ExchangeDeps, route: Route, request: Request): Promise<Response> {
  const startedAt = performance.now();
  const clientFormat = routeFormat(route);
  // Fail closed while the journal cannot be written (a full disk): before the body is even read.
  const down = deps.ledger.unavailable;
  if (down !== undefined) {
    const refused = errorResponse(down, clientFormat, { "retry-after": STORE_RETRY_SECONDS });
    deps.metrics?.request(route, refused.status, "", "", "error");
    return refused;
  }
  const requestId = randomUUID();
  let call: Intake | undefined;
  let outcome: Outcome = "error";
  let hold: Hold | undefined;
  let response: Response;
  try {
    call = await intake(deps, route, clientFormat, request);
    const decision = deps.ledger.reserve({
      requestId,
      identity: call.identity,
      model: call.model,
      fallback: call.fallback,
      inputTokens: call.inputTokens,
      requestedMaxTokens: call.shape.maxOutputTokens,
      choices: call.shape.choices,
    });
    if (decision.action === "block") {
      outcome = "blocked";
      response = errorResponse(storedHint(refusal(decision, deps.clock()), call), clientFormat, {
        "x-tokenpak-request-id": requestId,
      });
    } else {
      outcome = decision.fallbackFrom !== undefined ? "fallback" : decision.clamped ? "clamped" : "allowed";
      hold = new Hold(deps.ledger, decision, call.inputTokens, deps.warn, allowance(deps, call, decision));
      try {
        await decision.written;
        response = await serve(deps, call, hold, request);
      } finally {
        // Every path but a stream's has ended the hold by now; if one did not, this does.
        if (!hold.delegated) await hold.close("internal_error");
      }
    }
  } catch (error) {
    response = failureResponse(error, requestId, clientFormat, deps.warn);
  }
  if (deps.metrics) observe(deps.metrics, route, response.status, call, outcome, hold, startedAt);
  return response;
}

/** Counts the exchange; a forwarded one also gives the provider's time and the time we added around it. */
function observe(
  metrics: ProxyMetrics,
  route: Route,
  status: number,
  call: Intake | undefined,
  outcome: Outcome,
  hold: Hold | undefined,
  startedAt: number,
): void {
  const model = hold ? hold.decision.model : call?.model;
  metrics.request(route, status, model?.name ?? "", call?.identity.project ?? "", outcome);
  if (!hold || hold.answeredAt === 0) return;
  const ours = hold.sentAt - startedAt + (performance.now() - hold.readAt);
  metrics.latency(route, hold.decision.model.provider, (hold.answeredAt - hold.sentAt) / 1000, ours / 1000);
}

async function serve(deps: ExchangeDeps, call: Intake, hold: Hold, request: Request): Promise<Response> {
  const route = plan(deps, call, hold.decision, request);
  // Only a stream stops when its client leaves; a JSON answer is read to its end, as the provider bills it.
  const abort = route.streaming ? abortOnDisconnect(request) : undefined;
  const upstream = await forward(deps, call, route, hold, abort);
  const ctx: RelayContext = {
    call,
    plan: route,
    hold,
    out: headers(hold.decision, upstream),
    remaining: () => remaining(deps, call.identity, hold.decision, ctx.out),
    remember: (ids) => remember(deps, hold, ids),
  };
  if (abort && upstream.status < 400 && upstream.contentType.includes("text/event-stream")) {
    // Handed over only once the stream exists: if building it throws, the provider is stopped
    // and the exchange's `finally` ends the hold.
    let streamed: Response;
    try {
      streamed = relayStream(ctx, upstream, abort, trailersFor(request));
    } catch (error) {
      abort.abort();
      throw error;
    }
    hold.delegate();
    return streamed;
  }
  return relayJson(ctx, upstream);
}

function headers(decision: Reserved, upstream: UpstreamResponse): Record<string, string> {
  const out: Record<string, string> = { "x-tokenpak-request-id": decision.requestId };
  if (decision.fallbackFrom !== undefined) out["x-tokenpak-fallback-model"] = decision.model.name;
  if (decision.clamped) out["x-tokenpak-max-tokens-clamped"] = String(decision.maxOutputTokens);
  return Object.assign(out, upstream.headers);
}

/** The built-in tool calls the served model may make, at its prices. */
function allowance(deps: ExchangeDeps, call: Intake, decision: Reserved): ToolAllowance | undefined {
  if (!call.tools) return undefined;
  return {
    prices: toolPrices(decision.model.name, call.tools.kinds, deps.config),
    maxCalls: call.tools.maxCalls,
  };
}

/** A refusal of a request whose stored input (or files) tokenpak could not see says so, and how to avoid it. */
function storedHint(error: TokenpakError, call: Intake): TokenpakError {
  if (call.stored?.known !== false) return error;
  const window = `so its input is reserved at the model's context window (${call.stored.tokens.toLocaleString("en-US")} tokens)`;
  const why =
    call.stored.files > 0
      ? `The request refers to ${call.stored.files === 1 ? "a file" : `${call.stored.files} files`} by id or URL, whose content the provider bills as input and tokenpak cannot see, ${window}; send the file inline (base64), or set models.${call.model.name}.context_window.`
      : `The request continues a response, conversation or prompt stored at the provider that tokenpak has not seen, ${window}; send the conversation in \`input\`, or set models.${call.model.name}.context_window.`;
  return new TokenpakError(error.code, `${error.message} ${why}`, {
    ...error.details,
    stored_input_tokens: call.stored.tokens,
    ...(call.stored.files > 0 ? { unseen_files: call.stored.files } : {}),
  });
}

/**
 * A settled Responses answer, remembered for the turns that refer to it: its
 * context (all it was billed) by its id and its conversation's, and each of
 * its output items at most its whole output.
 */
function remember(deps: ExchangeDeps, hold: Hold, ids: StoredIds): void {
  if (!hold.settled) return;
  const tokens = totalTokens(hold.settled);
  if (ids.response !== undefined) deps.memory.remember(ids.response, tokens);
  if (ids.conversation !== undefined) deps.memory.remember(ids.conversation, tokens);
  for (const item of ids.items ?? []) deps.memory.remember(item, hold.settled.output);
}

function remaining(deps: ExchangeDeps, identity: Identity, decision: Reserved, out: Record<string, string>) {
  const left = deps.ledger.remaining(identity, decision.model.name);
  if (left !== undefined) out["x-tokenpak-remaining-cents"] = String(microsToCents(left));
}
