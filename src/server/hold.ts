import type { Ledger, Reserved } from "../ledger/ledger.js";
import type { Micros } from "../money/money.js";
import { ownValue } from "../own.js";
import { costOf } from "../pricing/cost.js";
import { type ToolPrices, toolCost } from "../pricing/tool-prices.js";
import { NO_USAGE, type Usage, type UsageReading } from "../pricing/usage.js";
import { callCount, type ToolCalls } from "../providers/tools.js";

/** The built-in tool calls a request may make, and what each costs at the model it is served on. */
export interface ToolAllowance {
  prices: ToolPrices;
  maxCalls: number;
}

/**
 * The one owner of a request's reservation. Whatever happens after the
 * reserve — an answer, a provider error, a client that leaves, an exception
 * anywhere — the reservation ends here, exactly once: settled at what the
 * provider billed, charged at its worst case when that cannot be known, or
 * released when nothing reached the provider.
 */
export class Hold {
  private ended = false;
  private handedOver = false;
  /** Set once the request is on its way to the provider: from then on it may be billed. */
  sent = false;
  /** The usage it was settled at, once it was. */
  settled: Usage | undefined;
  /** performance.now() when it went upstream, when the provider's headers came, when its answer was read (metrics). */
  sentAt = 0;
  answeredAt = 0;
  readAt = 0;

  constructor(
    private readonly ledger: Ledger,
    readonly decision: Reserved,
    private readonly inputTokens: number,
    private readonly warn: (message: string) => void,
    private readonly tools?: ToolAllowance | undefined,
  ) {}

  get requestId(): string {
    return this.decision.requestId;
  }

  /** A stream relay ends it from now on, when the stream does (it outlives the exchange's call). */
  delegate(): void {
    this.handedOver = true;
  }

  get delegated(): boolean {
    return this.handedOver;
  }

  /**
   * Settles at the provider's usage, and the built-in tool calls it made. A
   * usage that cannot be trusted (not a count, or pricing to an impossible
   * cost, or more tool calls than were allowed) is charged at the
   * reservation, flagged `usage_invalid` and logged: never NaN, never negative.
   */
  async settle(reading: UsageReading, status: string, note?: string, calls: ToolCalls = {}): Promise<Micros> {
    const reason = reading.ok ? this.implausible(reading.usage, calls) : reading.reason;
    if (reading.ok && reason === undefined) {
      const cost = costOf(reading.usage, this.decision.model.prices) + this.toolCost(calls);
      const made = callCount(calls) > 0 ? calls : undefined;
      return this.end(reading.usage, cost, status, joined(note, this.unpriced(calls)), made);
    }
    const why = reason ?? "the usage cannot be read";
    this.warn(`request ${this.requestId}: ${why}; charged at its reservation`);
    return this.chargeReserved("usage_invalid", why);
  }

  /** The most output the provider was allowed: the output cap sent, once per answer. */
  get maxOutput(): number {
    return Math.max(0, this.decision.reserve.tokens - this.inputTokens);
  }

  /**
   * Why a well-formed usage still cannot be what the provider billed: more
   * output than the cap it was sent allows, or a cost beyond safe integers.
   */
  private implausible(usage: Usage, calls: ToolCalls): string | undefined {
    if (usage.output > this.maxOutput) {
      return `the provider reports ${usage.output} output tokens where it was allowed ${this.maxOutput}`;
    }
    const made = callCount(calls);
    if (made > 0 && made > (this.tools?.maxCalls ?? 0)) {
      return `the provider reports ${made} built-in tool calls where it was allowed ${this.tools?.maxCalls ?? 0}`;
    }
    const cost = costOf(usage, this.decision.model.prices) + this.toolCost(calls);
    return Number.isSafeInteger(cost) && cost >= 0 ? undefined : "the usage prices to an impossible cost";
  }

  private toolCost(calls: ToolCalls): Micros {
    return this.tools ? toolCost(calls, this.tools.prices) : 0;
  }

  /** Says which calls went through unpriced (`pricing.unknown_tool: allow`): reconcile-spend prices them. */
  private unpriced(calls: ToolCalls): string | undefined {
    const kinds = Object.keys(calls).filter(
      (k) => (calls[k] ?? 0) > 0 && ownValue(this.tools?.prices, k) === undefined,
    );
    if (kinds.length === 0) return undefined;
    return `built-in tool calls without a price (${kinds.map((k) => `${calls[k]} ${k}`).join(", ")}): not in this cost, reconcile-spend brings them in`;
  }

  /** Charges the worst case reserved: the provider may have billed it, and what it billed is unknown. */
  chargeReserved(status: string, note: string): Promise<Micros> {
    const worst: Usage = { ...NO_USAGE, input: this.inputTokens, output: this.maxOutput };
    return this.end(worst, this.decision.reserve.micros, status, note);
  }

  /** Drops the reservation uncharged: nothing reached the provider, or it billed nothing. */
  async release(reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.ledger.release(this.requestId, reason);
  }

  /**
   * Ends the hold if nothing else has: released when the request never left,
   * charged at its reservation when it did. Never throws: it runs in `finally`.
   */
  async close(reason: string): Promise<void> {
    if (this.ended) return;
    try {
      if (this.sent) await this.chargeReserved(reason, "the exchange ended before its answer was read");
      else await this.release(reason);
    } catch (error) {
      this.warn(`request ${this.requestId}: could not end its reservation: ${String(error)}`);
    }
  }

  private async end(
    usage: Usage,
    cost: Micros,
    status: string,
    note?: string,
    calls?: ToolCalls,
  ): Promise<Micros> {
    if (this.ended) return 0;
    this.ended = true;
    this.settled = usage;
    await this.ledger.settle(this.requestId, { usage, cost, status, note, tool_calls: calls });
    return cost;
  }
}

function joined(a: string | undefined, b: string | undefined): string | undefined {
  return a !== undefined && b !== undefined ? `${a}; ${b}` : (a ?? b);
}
