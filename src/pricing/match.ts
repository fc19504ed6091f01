import { DATE_SUFFIX, undated } from "./dated.js";
import {
  PRICE_PROVIDERS,
  type PriceEntries,
  type PriceEntry,
  type PriceProvider,
  samePrice,
} from "./table.js";

/**
 * How a configured name found its entry: the same name; the same name with
 * or without a provider prefix, or with `.` for `-` in a version
 * (`openai/gpt-4o`, `anthropic/claude-3.5-sonnet` for `claude-3-5-sonnet`);
 * or a dated variant of it (`gpt-4o-2024-08-06` ↔ `gpt-4o`,
 * `claude-3-5-sonnet-20241022` ↔ `claude-3-5-sonnet-latest`), used only when
 * every variant the source lists bills the same.
 */
export type MatchKind = "exact" | "prefixed" | "dated_variant";

export interface Match {
  /** The configured name that matched (upstream_model or the model's own name). */
  name: string;
  /** The source's name for the entry. */
  key: string;
  kind: MatchKind;
  entry: PriceEntry;
}

export type MatchResult =
  | { match: Match }
  /** Dated variants that bill differently: which one the provider serves cannot be known. */
  | { ambiguous: { name: string; keys: string[] } }
  | { none: true };

const PREFIX = new RegExp(`^(${PRICE_PROVIDERS.join("|")})/`);

/** A name without provider prefix, lower case, `.` read as `-`: claude-3.5-sonnet = claude-3-5-sonnet. */
function canonical(name: string): string {
  return name.toLowerCase().replace(PREFIX, "").replace(/\./g, "-");
}

/** Which of several equal-priced candidates to show: unprefixed first, the undated one, then `-latest`, then the newest. */
function preferred(keys: string[], wanted: string): string {
  const rank = (key: string) => {
    const c = canonical(key);
    return [
      PREFIX.test(key) ? 1 : 0,
      c === wanted ? 0 : !DATE_SUFFIX.test(c) ? 1 : c.endsWith("-latest") ? 2 : 3,
    ];
  };
  return [...keys].sort((a, b) => {
    const [pa, va] = rank(a) as [number, number];
    const [pb, vb] = rank(b) as [number, number];
    return pa - pb || va - vb || (a < b ? 1 : a > b ? -1 : 0);
  })[0] as string;
}

/**
 * Finds the entry for a configured model: each of `names` in turn (its
 * upstream_model first, since that is what the provider bills), among the
 * entries of `providers` only. Pure.
 */
export function matchEntry(
  names: readonly string[],
  providers: readonly PriceProvider[],
  entries: PriceEntries,
): MatchResult {
  const keys = Object.keys(entries).filter((k) => providers.includes((entries[k] as PriceEntry).provider));
  let ambiguous: MatchResult | undefined;
  for (const name of names) {
    const exact = entries[name];
    if (exact && providers.includes(exact.provider))
      return { match: { name, key: name, kind: "exact", entry: exact } };
    const wanted = canonical(name);
    const found = (kind: MatchKind, candidates: string[]): MatchResult | undefined => {
      if (candidates.length === 0) return undefined;
      const first = entries[candidates[0] as string] as PriceEntry;
      if (!candidates.every((k) => samePrice(entries[k] as PriceEntry, first)))
        return { ambiguous: { name, keys: candidates.sort() } };
      const key = preferred(candidates, wanted);
      return { match: { name, key, kind, entry: entries[key] as PriceEntry } };
    };
    const same = found(
      "prefixed",
      keys.filter((k) => canonical(k) === wanted),
    );
    if (same && "match" in same) return same;
    const base = undated(wanted);
    const variants = found(
      "dated_variant",
      keys.filter((k) => undated(canonical(k)) === base),
    );
    if (variants && "match" in variants) return variants;
    ambiguous ??= same ?? variants;
  }
  return ambiguous ?? { none: true };
}
