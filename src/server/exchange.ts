import { randomUUID } from "node:crypto";
import type { Identity } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { isTokenpakError } from "../errors.js";
import type { Ledger, Reserved } from "../ledger/ledger.js";
import { microsToCents } from "../money/money.js";
import type { PriceSource } from "../pricing/book.js";
import type { UpstreamResponse, Upstreams } from "../providers/upstream.js";
import { type Route, routeFormat } from "../providers/wire.js";
import { abortOnDisconnect } from "./disconnect.js";
import { errorResponse, internalError } from "./errors.js";
import { forward, plan } from "./forward.js";
import { Hold } from "./hold.js";
import type { Authenticator } from "./identity.js";
import { type Intake, intake } from "./intake.js";
import { refusal } from "./refusal.js";
import { type RelayContext, relayJson } from "./relay-json.js";
import { relayStream } from "./relay-stream.js";

export interface ExchangeDeps {
  config: Readonly<Config>;
  ledger: Ledger;
  upstreams: Upstreams;
  auth: Authenticator;
  /** Prices by model: the synced table or the config, swapped live when the table changes. */
  prices: PriceSource;
  maxBodyBytes: number;
  clock: () => number;
  /** Operator-facing problems that are not the client's (a provider's broken usage): default stderr. */
  warn: (message: string) => void;
}

/**
 * One proxied exchange, in steps: take the request in (read, check, price —
 * nothing reserved yet), reserve, forward, relay the answer. From the reserve
 * on, a Hold owns the reservation and the `finally` below guarantees it ends:
 * no exception anywhere after the reserve can leave it open.
 */
export async function exchange(deps: ExchangeDeps, route: Route, request: Request): Promise<Response> {
  const clientFormat = routeFormat(route);
  const requestId = randomUUID();
  try {
    const call = await intake(deps, route, clientFormat, request);
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
      return errorResponse(refusal(decision, deps.clock()), clientFormat, {
        "x-tokenpak-request-id": requestId,
      });
    }
    const hold = new Hold(deps.ledger, decision, call.inputTokens, deps.warn);
    try {
      await decision.written;
      return await serve(deps, call, hold, request);
    } finally {
      // Every path but a stream's has ended the hold by now; if one did not, this does.
      if (!hold.delegated) await hold.close("internal_error");
    }
  } catch (error) {
    if (isTokenpakError(error))
      return errorResponse(error, clientFormat, { "x-tokenpak-request-id": requestId });
    return internalError(error, requestId, clientFormat, deps.warn);
  }
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
  };
  if (abort && upstream.status < 400 && upstream.contentType.includes("text/event-stream")) {
    hold.delegate();
    return relayStream(ctx, upstream, abort);
  }
  return relayJson(ctx, upstream);
}

function headers(decision: Reserved, upstream: UpstreamResponse): Record<string, string> {
  const out: Record<string, string> = { "x-tokenpak-request-id": decision.requestId };
  if (decision.fallbackFrom !== undefined) out["x-tokenpak-fallback-model"] = decision.model.name;
  if (decision.clamped) out["x-tokenpak-max-tokens-clamped"] = String(decision.maxOutputTokens);
  return Object.assign(out, upstream.headers);
}

function remaining(deps: ExchangeDeps, identity: Identity, decision: Reserved, out: Record<string, string>) {
  const left = deps.ledger.remaining(identity, decision.model.name);
  if (left !== undefined) out["x-tokenpak-remaining-cents"] = String(microsToCents(left));
}
