import type { Policy } from "../budget/policy.js";
import { countedWindows, type KeptWindows } from "./counters.js";

const DAY_MS = 86_400_000;

/**
 * How long a total window (an agent run's) is kept after the run's last
 * spend: a month, or the longest rolling window if that is longer. A run id
 * used again after that starts from zero.
 */
export function totalIdleMs(policy: Policy): number {
  const rolling = policy.rollingWindows.map((w) => (w.kind === "rolling" ? w.ms : 0));
  return Math.max(31 * DAY_MS, ...rolling);
}

/**
 * What the ledger keeps of each scope at `now`: the windows its limits count
 * in — a total only while the scope has been active within totalIdleMs — and
 * for the workspace also its all-time total, one number whatever the traffic.
 */
export function keptWindows(policy: Policy, now: number): KeptWindows {
  const idleMs = totalIdleMs(policy);
  const workspace = new Set([...countedWindows(policy.limitsById("workspace")), "t"]);
  return (scopeId, lastAt) => {
    if (scopeId === "workspace") return workspace;
    const counted = countedWindows(policy.limitsById(scopeId));
    if (!counted.has("t") || now - lastAt <= idleMs) return counted;
    return new Set([...counted].filter((w) => w !== "t"));
  };
}

const NONE: ReadonlySet<string> = new Set();

/** The windows scope `id` counts in under `policy`: its own limits', or (a user without any) every user's. */
function windowsOf(policy: Policy, id: string): ReadonlySet<string> {
  const own = policy.windowSets.get(id);
  if (own !== undefined) return own;
  return id.startsWith("user:") ? (policy.windowSets.get("user:*") ?? NONE) : NONE;
}

/**
 * Whether counters kept for `old` can serve `next`: not when the time zone
 * changed (every day and month is another), nor when some scope now counts in
 * a window it did not, since the counters dropped its spend there (retention
 * keeps only what the limits count in). `fresh` scopes are known to have no
 * spend to miss (a key created just now).
 */
export function needsRebuild(old: Policy, next: Policy, fresh: ReadonlySet<string>): boolean {
  if (old.timeZone !== next.timeZone) return true;
  for (const id of new Set([...old.windowSets.keys(), ...next.windowSets.keys()])) {
    if (fresh.has(id)) continue;
    const before = windowsOf(old, id);
    for (const w of windowsOf(next, id)) if (!before.has(w)) return true;
  }
  return false;
}
