import { MIN_OUTPUT_TOKENS, type ModelChoice, type Room, smallestRoom } from "../budget/decide.js";
import { parseScopeId } from "../budget/scope-id.js";
import type { Config } from "../config/types.generated.js";
import { isTokenpakError } from "../errors.js";
import { ownValue } from "../own.js";
import type { PriceSource } from "../pricing/book.js";
import { smallestChatInput } from "../tokenize/estimate.js";
import type { ScopeStatus } from "./queries.js";

/** How a limit stands for the smallest request; undefined when no priced model tells. */
export type RoomOf = (s: ScopeStatus) => Room | undefined;

interface Candidate {
  model: ModelChoice;
  inputTokens: number;
}

/** The configured models with a price now, as the smallest request to each would be decided. */
function candidates(
  config: Readonly<Pick<Config, "models" | "providers">>,
  prices: PriceSource,
): Candidate[] {
  const out: Candidate[] = [];
  for (const [name, m] of Object.entries(config.models ?? {})) {
    if (m === undefined) continue;
    let priced: ModelChoice["prices"];
    try {
      priced = prices.for(name);
    } catch (error) {
      // A model without a price is refused before any budget is asked: it cannot fit anything.
      if (isTokenpakError(error)) continue;
      throw error;
    }
    const family = ownValue(config.providers, m.provider)?.type === "anthropic" ? "other" : "openai";
    out.push({
      // Only the smallest answer is asked about: the model's cap matters only when below it.
      model: {
        name,
        provider: m.provider,
        prices: priced,
        maxOutputTokens: m.max_output_tokens ?? MIN_OUTPUT_TOKENS,
      },
      inputTokens: smallestChatInput(family),
    });
  }
  return out;
}

/** The model a scope's spend is only for (model:M, project:P/model:M), if it is one. */
function modelOf(scopeId: string): string | undefined {
  const ref = parseScopeId(scopeId);
  if (ref === undefined) return undefined;
  if (ref.kind === "model") return ref.name;
  if (ref.kind === "project_model" || ref.kind === "team_model") return ref.model;
  return undefined;
}

const ORDER: Record<Room, number> = { fits: 0, in_flight: 1, reached: 2 };

/**
 * Whether the smallest chat request still fits each limit on the cheapest
 * model it may use: a scope of one model asks that model; any other scope
 * takes the best of every priced model (a request for the cheapest one would
 * still be served). What `status` and the blocked gauge call full or blocked.
 */
export function roomOfSmallest(
  config: Readonly<Pick<Config, "models" | "providers">>,
  prices: PriceSource,
  hardStopPct: number,
): RoomOf {
  const all = candidates(config, prices);
  return (s) => {
    const only = modelOf(s.scope);
    const models = only === undefined ? all : all.filter((c) => c.model.name === only);
    const limit = { window: s.window, unit: s.unit, amount: s.limit, kind: s.limitKind };
    const usage = { spent: s.spent, reserved: s.reserved, ...(s.raised ? { raised: s.raised } : {}) };
    let best: Room | undefined;
    for (const c of models) {
      const room = smallestRoom(
        { id: s.scope, kind: s.kind, name: s.name },
        limit,
        usage,
        c.model,
        c.inputTokens,
        hardStopPct,
      );
      if (best === undefined || ORDER[room] < ORDER[best]) best = room;
      if (best === "fits") break;
    }
    return best;
  };
}
