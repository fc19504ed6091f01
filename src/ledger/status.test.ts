import { describe, expect, it } from "vitest";
import type { ScopeStatus } from "./queries.js";
import { byUrgency, toRow } from "./status.js";

function status(over: Partial<ScopeStatus>): ScopeStatus {
  return {
    scope: "user:a",
    kind: "user",
    name: "a",
    window: { kind: "day" },
    unit: "cents",
    limitKind: "budget",
    limit: 1000,
    cap: 1000,
    spent: 0,
    reserved: 0,
    pct: 0,
    ...over,
  };
}

const HARD = { rejectOnExceed: true };
const SOFT = { rejectOnExceed: false };

describe("status rows", () => {
  it.each([
    [{ spent: 100 }, HARD, "ok"],
    [{ spent: 800 }, HARD, "warning"],
    [{ spent: 700, reserved: 100 }, HARD, "warning"],
    [{ spent: 600, reserved: 400 }, HARD, "full"],
    [{ spent: 1000 }, HARD, "blocked"],
    // hard_stop_pct 110: blocking starts at the cap, not the limit.
    [{ spent: 1050, cap: 1100 }, HARD, "warning"],
    [{ spent: 1100, cap: 1100 }, HARD, "blocked"],
    [{ spent: 1200 }, SOFT, "over"],
    [{ spent: 900 }, SOFT, "warning"],
    // A quota refuses also in soft mode.
    [{ spent: 1000, unit: "requests" as const, limitKind: "quota" as const }, SOFT, "blocked"],
  ])("%j %j → %s", (over, policy, state) => {
    const row = toRow(status(over), policy);
    expect(row.state).toBe(state);
    expect(row.blocked).toBe(state === "blocked" || state === "full");
  });

  it("a limit that refused a request short of its cap is blocked; in soft mode it never is", () => {
    const s = status({ spent: 999 });
    expect(toRow(s, HARD, { refused: () => true }).state).toBe("blocked");
    expect(toRow(s, SOFT, { refused: () => true }).state).toBe("warning");
  });

  it("short of the cap, the smallest request's room says full (in flight) or blocked (spent)", () => {
    const s = status({ spent: 700, reserved: 250 });
    expect(toRow(s, HARD, { room: () => "in_flight" })).toMatchObject({ state: "full", blocked: true });
    expect(toRow(s, HARD, { room: () => "reached" })).toMatchObject({ state: "blocked", blocked: true });
    expect(toRow(s, HARD, { room: () => "fits" }).state).toBe("warning");
    // Soft mode serves past the limit: the room says nothing there.
    expect(toRow(s, SOFT, { room: () => "reached" }).state).toBe("ok");
  });

  it("most urgent first: blocked, full, over, then fuller, then the sooner reset", () => {
    const rows = [
      toRow(status({ scope: "a", spent: 500, resetsAt: 2000 }), HARD),
      toRow(status({ scope: "b", spent: 500, resetsAt: 1000 }), HARD),
      toRow(status({ scope: "c", spent: 900 }), HARD),
      toRow(status({ scope: "d", spent: 600, reserved: 400 }), HARD),
      toRow(status({ scope: "e", spent: 1000 }), HARD),
    ];
    expect(rows.sort(byUrgency).map((r) => r.scope)).toEqual(["e", "d", "c", "b", "a"]);
  });

  it("shows the overrides raising a limit", () => {
    const raised = { micros: 5000, until: Date.parse("2026-03-27T00:00:00Z"), ids: ["ov1"] };
    expect(toRow(status({ raised, cap: 6000 }), HARD).override).toEqual({
      amount: 5000,
      until: "2026-03-27T00:00:00.000Z",
      ids: ["ov1"],
    });
    expect(toRow(status({}), HARD)).not.toHaveProperty("override");
    // A refusal from before the override no longer blocks; spend up to the raised cap does.
    expect(toRow(status({ raised, cap: 6000, spent: 999 }), HARD, { refused: () => true }).state).toBe("ok");
    expect(toRow(status({ raised, cap: 6000, spent: 6000 }), HARD).state).toBe("blocked");
  });
});
