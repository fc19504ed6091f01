import type { Ledger, Reserved } from "../ledger/ledger.js";
import type { Micros } from "../money/money.js";
import { costOf } from "../pricing/cost.js";
import { NO_USAGE, type Usage, type UsageReading } from "../pricing/usage.js";

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

  constructor(
    private readonly ledger: Ledger,
    readonly decision: Reserved,
    private readonly inputTokens: number,
    private readonly warn: (message: string) => void,
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
   * Settles at the provider's usage. A usage that cannot be trusted (not a
   * count, or pricing to an impossible cost) is charged at the reservation,
   * flagged `usage_invalid` and logged: never NaN, never negative.
   */
  async settle(reading: UsageReading, status: string, note?: string): Promise<Micros> {
    const reason = reading.ok ? this.implausible(reading.usage) : reading.reason;
    if (reading.ok && reason === undefined) {
      return this.end(reading.usage, costOf(reading.usage, this.decision.model.prices), status, note);
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
  private implausible(usage: Usage): string | undefined {
    if (usage.output > this.maxOutput) {
      return `the provider reports ${usage.output} output tokens where it was allowed ${this.maxOutput}`;
    }
    const cost = costOf(usage, this.decision.model.prices);
    return Number.isSafeInteger(cost) && cost >= 0 ? undefined : "the usage prices to an impossible cost";
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

  private async end(usage: Usage, cost: Micros, status: string, note?: string): Promise<Micros> {
    if (this.ended) return 0;
    this.ended = true;
    await this.ledger.settle(this.requestId, { usage, cost, status, note });
    return cost;
  }
}
