/**
 * Which alert levels a budget window has crossed, and which of them are new.
 *
 * Pure: the caller reads the window (spent, limit, cap, which instance of the
 * window it is) and keeps the fired levels; nothing here touches a clock or a
 * file. A level fires once per window instance: a new day or month is a new
 * instance and fires again. A rolling window has no instances, so it re-arms
 * when it drains below the lowest threshold — re-arming at each threshold
 * itself would fire again and again as steady traffic hovers around it.
 */

/** A threshold (% of the limit), the hard stop, or the switch to the fallback model. */
export type Level = number | "stop" | "fallback";

export interface Reading {
  /** In the limit's unit: µ¢, tokens or requests. */
  spent: number;
  limit: number;
  /** Where blocking starts: limit × hard_stop_pct / 100. */
  cap: number;
  /** The window instance read: "d:2026-03-25", "m:2026-03", "t", "r:24h". */
  instance: string;
  rolling: boolean;
}

/** The levels fired in one window instance. */
export interface Fired {
  instance: string;
  levels: readonly Level[];
}

export interface Outcome {
  /** Levels to fire now, lowest first. */
  fire: Level[];
  /** What is fired afterwards; the same object as given when nothing changed. */
  fired: Fired | undefined;
}

function reachedPct(reading: Reading, pct: number): boolean {
  return reading.limit > 0 && reading.spent * 100 >= reading.limit * pct;
}

/** The fired levels that still hold for this reading: none from another instance or a drained rolling window. */
function current(
  reading: Reading,
  thresholds: readonly number[],
  fired: Fired | undefined,
): Fired | undefined {
  if (!fired || fired.instance !== reading.instance) return undefined;
  const lowest = thresholds[0];
  if (reading.rolling && (lowest === undefined || !reachedPct(reading, lowest))) return undefined;
  return fired;
}

/**
 * The thresholds (sorted ascending) and the hard stop that `reading` has
 * reached and that have not fired in its window instance yet.
 */
export function crossings(
  reading: Reading,
  thresholds: readonly number[],
  fired: Fired | undefined,
): Outcome {
  const held = current(reading, thresholds, fired);
  const fire: Level[] = [];
  for (const pct of thresholds) {
    if (!reachedPct(reading, pct)) break;
    if (!held?.levels.includes(pct)) fire.push(pct);
  }
  if (reading.cap > 0 && reading.spent >= reading.cap && !held?.levels.includes("stop")) fire.push("stop");
  if (fire.length > 0) {
    return { fire, fired: { instance: reading.instance, levels: [...(held?.levels ?? []), ...fire] } };
  }
  return { fire, fired: held };
}

/**
 * A level raised by an event rather than by spend (a refusal claims "stop",
 * a fallback "fallback"): it fires unless it already has in this instance.
 * A rolling window's claims re-arm only through crossings(), when it drains:
 * a refusal can come while settled spend is low and much is reserved.
 */
export function claim(reading: Reading, level: Level, fired: Fired | undefined): Outcome {
  const held = fired?.instance === reading.instance ? fired : undefined;
  if (held?.levels.includes(level)) return { fire: [], fired: held };
  return { fire: [level], fired: { instance: reading.instance, levels: [...(held?.levels ?? []), level] } };
}
