// Several processes take over a dead holder's lock at the same moment:
// exactly one may win (issue #11, obs. 11).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const RACER = new URL("./helpers/lock-racer.mjs", import.meta.url).pathname;
const RACERS = 8;
const ROUNDS = 20;
const DEAD_PID = 2147483646;

/** Starts a racer; resolves with what it printed, and the process (a winner keeps running). */
function race(dir: string, startAt: number): Promise<{ said: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RACER, dir, String(startAt)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stdout.on("data", (d: Buffer) => resolve({ said: d.toString().trim(), child }));
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("exit", () => reject(new Error(`racer said nothing: ${err}`)));
  });
}

describe("stale lock takeover", () => {
  it("obs 11: of several processes taking over a dead holder's lock at once, exactly one wins", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const dir = mkdtempSync(join(tmpdir(), "tokenpak-lock-race-"));
      // Left by a process that is gone: in the old one-line format, or with a token.
      const stale = round % 2 === 0 ? `${DEAD_PID}\n` : `${DEAD_PID}\n${crypto.randomUUID()}\n`;
      writeFileSync(join(dir, "tokenpak.lock"), stale);
      const startAt = Date.now() + 400; // every racer has loaded by then
      const raced = await Promise.all(Array.from({ length: RACERS }, () => race(dir, startAt)));
      for (const { child } of raced) child.kill("SIGKILL"); // winners die holding the lock
      const results = raced.map((r) => r.said);
      const winners = results.filter((r) => r === "won");
      expect(winners, `round ${round}: ${results.join(", ")}`).toHaveLength(1);
      expect(
        results.filter((r) => r !== "won"),
        `round ${round}`,
      ).toEqual(Array(RACERS - 1).fill("ledger_locked"));
      // The lock names the winner, and no claim or temp file is left behind.
      expect(Number.parseInt(readFileSync(join(dir, "tokenpak.lock"), "utf8"), 10)).not.toBe(DEAD_PID);
      expect(readdirSync(dir)).toEqual(["tokenpak.lock"]);
    }
  }, 60_000);
});
