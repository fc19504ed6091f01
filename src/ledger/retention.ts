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
