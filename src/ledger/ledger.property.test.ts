import { readFileSync, unlinkSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { policyFrom } from "../../test/helpers/policy.js";
import { capOf, type ModelChoice } from "../budget/decide.js";
import type { Policy } from "../budget/policy.js";
import { centsToMicros } from "../money/money.js";
import { NO_USAGE } from "../pricing/usage.js";
import type { JournalEntry } from "./journal.js";
import { journalFiles } from "./journal.js";
import { Ledger } from "./ledger.js";

function configYaml(hardStopPct: number): string {
  return `
budget:
  daily_limit_cents: 250
  monthly_limit_cents: 600
  hard_stop_pct: ${hardStopPct}
  daily_limit_tokens: 60000
  rolling_limits:
    - window: 1h
      limit_cents: 150
  per_user_limits:
    enabled: true
    default:
      daily_limit_cents: 100
      monthly_limit_cents: 1000000 # so the ledger keeps users' months, which the test compares
providers:
  p: { type: mock }
models:
  m: { provider: p, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 }
`;
}

const MODEL: ModelChoice = {
  name: "m",
  provider: "p",
  prices: {
    input: centsToMicros(3),
    output: centsToMicros(6),
    cached_input: centsToMicros(3),
    cache_write: centsToMicros(3),
    cache_write_1h: centsToMicros(3),
  },
  maxOutputTokens: 4096,
};

type Op =
  | { t: "reserve"; user: number; input: number; maxTokens: number | undefined }
  | { t: "settle"; pick: number; fraction: number }
  | { t: "release"; pick: number }
  | { t: "crash" }
  | { t: "advance"; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("reserve" as const),
      user: fc.nat(3),
      input: fc.nat(6000),
      maxTokens: fc.option(fc.integer({ min: 1, max: 8000 }), { nil: undefined }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("settle" as const),
      pick: fc.nat(),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("crash" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.integer({ min: 0, max: 3 * 3600_000 }),
    }),
  },
);

/** Every limit of every scope the test's requests touch: spent + reserved never passes the cap. */
function assertWithinCaps(ledger: Ledger, policy: Policy, users: number): void {
  for (let u = 0; u <= users; u++) {
    for (const scope of policy.scopesFor({ user: `u${u}` }, "m")) {
      for (const limit of scope.limits) {
        const { spent, reserved } = ledger.usage(scope.id, limit);
        const cap = capOf(limit, policy.hardStopPct);
        if (spent + reserved > cap) {
          throw new Error(
            `${scope.id} ${limit.window.kind} ${limit.unit}: spent ${spent} + reserved ${reserved} > cap ${cap}`,
          );
        }
      }
    }
  }
}

function journalSum(dir: string, match: (e: Extract<JournalEntry, { type: "settle" }>) => boolean): number {
  let sum = 0;
  for (const file of journalFiles(join(dir, "journal"))) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line) continue;
      const e = JSON.parse(line) as JournalEntry;
      if (e.type === "settle" && match(e)) sum += e.cost;
    }
  }
  return sum;
}

describe("ledger under random interleavings", () => {
  it("never lets spend + reservations pass a hard cap, and at rest counters equal the journal", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(100, 120),
        fc.array(op, { minLength: 1, maxLength: 120 }),
        async (hardStop, ops) => {
          const policy = policyFrom(configYaml(hardStop));
          const dir = await mkdtemp(join(tmpdir(), "tokenpak-prop-"));
          let now = Date.parse("2026-03-10T20:00:00Z");
          const clock = () => now;
          const openLedger = async () =>
            (await Ledger.open({ dir, policy, clock, snapshotIntervalMs: 0 })).ledger;
          let ledger = await openLedger();
          let inFlight: { id: string; reserved: number; written: Promise<void> }[] = [];
          let n = 0;
          for (const o of ops) {
            if (o.t === "reserve") {
              const id = `r${n++}`;
              const r = ledger.reserve({
                requestId: id,
                identity: { user: `u${o.user}` },
                model: MODEL,
                inputTokens: o.input,
                requestedMaxTokens: o.maxTokens,
              });
              if (r.action === "allow") inFlight.push({ id, reserved: r.reserve.micros, written: r.written });
            } else if ((o.t === "settle" || o.t === "release") && inFlight.length > 0) {
              const [req] = inFlight.splice(o.pick % inFlight.length, 1);
              if (!req) continue;
              if (o.t === "settle") {
                // Real usage never exceeds the reservation: output is capped by max_tokens.
                const cost = Math.floor(req.reserved * o.fraction);
                void ledger.settle(req.id, {
                  usage: { ...NO_USAGE },
                  cost,
                  status: "ok",
                });
              } else {
                void ledger.release(req.id, "test");
              }
            } else if (o.t === "crash") {
              // Acknowledged reservations are on disk; whatever was still queued is lost, as in kill -9.
              await Promise.all(inFlight.map((r) => r.written));
              ledger.abandon();
              ledger = await openLedger();
              inFlight = []; // recovered: charged at their reservation
            } else if (o.t === "advance") {
              now += o.ms;
            }
            assertWithinCaps(ledger, policy, 3);
          }
          // At rest: end everything, then the counters must equal the journal's sums.
          for (const r of inFlight)
            void ledger.settle(r.id, {
              usage: { ...NO_USAGE },
              cost: r.reserved,
              status: "ok",
            });
          await ledger.close();
          expect(ledger.openReservations).toBe(0);
          const after = await openLedger();
          const month = {
            window: { kind: "month" as const },
            unit: "cents" as const,
            amount: 0,
            kind: "budget" as const,
          };
          expect(after.usage("workspace", month)).toEqual({
            spent: journalSum(dir, () => true),
            reserved: 0,
          });
          for (let u = 0; u <= 3; u++) {
            expect(after.usage(`user:u${u}`, month).spent).toBe(journalSum(dir, (e) => e.user === `u${u}`));
          }
          // And a rebuild from the journal alone lands on the same numbers as the snapshot.
          const fromSnapshot = after.status();
          await after.close();
          unlinkSync(join(dir, "state.json"));
          const rebuilt = await openLedger();
          expect(rebuilt.status()).toEqual(fromSnapshot);
          await rebuilt.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
