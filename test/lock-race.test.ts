// Several processes take over a dead holder's lock at the same moment:
// exactly one may win (issue #11, obs. 11).
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const RACER = new URL("./helpers/lock-racer.mjs", import.meta.url).pathname;
const RACERS = 6;
const ROUNDS = 6;
const DEAD_PID = 2147483646;

function race(dir: string, startAt: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RACER, dir, String(startAt), "1200"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("exit", () => (out ? resolve(out.trim()) : reject(new Error(`racer failed: ${err}`))));
  });
}

describe("stale lock takeover", () => {
  it("obs 11: of several processes taking over a dead holder's lock at once, exactly one wins", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const dir = mkdtempSync(join(tmpdir(), "tokenpak-lock-race-"));
      // Left by a process that is gone: in the old one-line format, or with a token.
      const stale = round % 2 === 0 ? `${DEAD_PID}\n` : `${DEAD_PID}\n${crypto.randomUUID()}\n`;
      writeFileSync(join(dir, "tokenpak.lock"), stale);
      const startAt = Date.now() + 700; // every racer has loaded by then
      const results = await Promise.all(Array.from({ length: RACERS }, () => race(dir, startAt)));
      const winners = results.filter((r) => r === "won");
      expect(winners, `round ${round}: ${results.join(", ")}`).toHaveLength(1);
      expect(results.filter((r) => r !== "won").every((r) => r === "ledger_locked")).toBe(true);
      // The lock names the winner, and no claim or temp file is left behind.
      expect(Number.parseInt(readFileSync(join(dir, "tokenpak.lock"), "utf8"), 10)).not.toBe(DEAD_PID);
      expect(readdirSync(dir)).toEqual(["tokenpak.lock"]);
    }
  }, 60_000);
});
