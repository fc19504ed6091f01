import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Ledger } from "../src/ledger/ledger.js";
import { policyFrom } from "./helpers/policy.js";

const DRIVER = new URL("./helpers/ledger-driver.mjs", import.meta.url).pathname;
/** The ledger keeps only windows a limit counts in: a 30-day rolling one sums every round, across a month's end too. */
const LAST_30_DAYS = {
  window: { kind: "rolling" as const, ms: 30 * 86_400_000, label: "30d" },
  unit: "cents" as const,
  amount: 0,
  kind: "budget" as const,
};
const policy = policyFrom(`
budget:
  daily_limit_cents: 100000000
  rolling_limits: [{ window: 30d, limit_cents: 100000000 }]
  per_user_limits: { enabled: true, default: { daily_limit_cents: 10000000 } }
providers: { p: { type: mock } }
models: { m: { provider: p, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 } }
`);

/** Runs the driver until `ms` after it is ready, then kill -9; returns the sum of acknowledged costs. */
function runAndKill(dir: string, ms: number): Promise<{ acked: number; acks: number }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [DRIVER, dir], { stdio: ["ignore", "pipe", "pipe"] });
    let acked = 0;
    let acks = 0;
    let buffer = "";
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "ready") setTimeout(() => child.kill("SIGKILL"), ms);
        else if (line.startsWith("ack ")) {
          acked += Number(line.slice(4));
          acks++;
        }
      }
    });
    child.on("exit", (_code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`driver exited on its own: ${stderr}`));
      else resolve({ acked, acks });
    });
  });
}

describe("ledger crash safety", () => {
  it("after kill -9 at random moments (20 times) the ledger holds at least every acknowledged settle", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-crash-"));
    let acknowledged = 0;
    let totalAcks = 0;
    for (let i = 0; i < 20; i++) {
      const { acked, acks } = await runAndKill(dir, 20 + Math.floor(Math.random() * 280));
      acknowledged += acked;
      totalAcks += acks;
      // Restart: the dead driver's lock is taken over, the journal replayed (a torn tail cut off).
      const { ledger, report } = await Ledger.open({ dir, policy, snapshotIntervalMs: 0 });
      const spent = ledger.usage("workspace", LAST_30_DAYS).spent;
      expect(spent, `restart ${i + 1}: ${JSON.stringify(report)}`).toBeGreaterThanOrEqual(acknowledged);
      expect(ledger.openReservations).toBe(0);
      await ledger.close();
    }
    expect(totalAcks).toBeGreaterThan(1000); // the driver really worked between kills
  }, 120_000);
});
