import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TokenpakError } from "../errors.js";

export const LOCK_FILE = "tokenpak.lock";

/** Whether process `pid` exists (also when it is not ours to signal). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it just isn't ours.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid holding the data directory (or another lock file in it), if a live process does. */
export function lockHolder(dir: string, file: string = LOCK_FILE): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, file), "utf8"), 10);
    return Number.isInteger(pid) && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One writer per ledger: takes `<dir>/tokenpak.lock` (or `file`, for other
 * one-at-a-time jobs), created exclusively, holding our pid. A lock left by
 * a dead process is taken over; one held by a live process refuses with its
 * pid. Returns the release function.
 */
export function acquireLock(dir: string, pid: number = process.pid, file: string = LOCK_FILE): () => void {
  const path = join(dir, file);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8").trim() === String(pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = lockHolder(dir, file);
      if (holder !== undefined && holder !== pid) {
        throw new TokenpakError(
          "ledger_locked",
          `data directory ${dir} is in use by tokenpak (pid ${holder}); stop it first, or use another --data-dir`,
          { dir, pid: holder },
        );
      }
      // Stale (its process is gone) or our own leftover: remove and retry.
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
    }
  }
  throw new TokenpakError("ledger_locked", `could not lock data directory ${dir}`, { dir });
}
