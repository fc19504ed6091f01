import { createHash, randomUUID } from "node:crypto";
import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { TokenpakError } from "../errors.js";

export const LOCK_FILE = "tokenpak.lock";

/**
 * A lock file's content: the holder's pid on the first line (what `lockHolder`
 * and people read), a random token on the second that tells one lock from
 * another even when a pid comes round again.
 */
interface Held {
  pid: number | undefined;
  /** What this very lock file is: its token, or for a file without one its inode, mtime and text. */
  identity: string;
}

/** Locks this process holds, so a second open of the same directory here is refused, not taken over. */
const heldHere = new Map<string, string>();

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

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

function readHeld(path: string): Held | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if (code(error) === "ENOENT") return undefined;
    throw error;
  }
  try {
    const text = readFileSync(fd, "utf8");
    const [first, token] = text.split("\n");
    const pid = Number.parseInt(first ?? "", 10);
    const stat = fstatSync(fd, { bigint: true });
    const identity =
      token !== undefined && /^[0-9a-f-]{36}$/.test(token)
        ? token
        : `file:${stat.ino}:${stat.mtimeNs}:${createHash("sha256").update(text).digest("hex")}`;
    return { pid: Number.isInteger(pid) && pid > 0 ? pid : undefined, identity };
  } finally {
    closeSync(fd);
  }
}

/** A file holding `content`, written whole under a private name: linked or renamed into place, it appears complete. */
function prepared(path: string, content: string, token: string): string {
  const temp = `${path}.${process.pid}.${token}.tmp`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return temp;
}

/** Creates `path` with `content` unless it exists; atomic, so nobody ever reads it half-written. */
function createExclusive(path: string, content: string, token: string): boolean {
  const temp = prepared(path, content, token);
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if (code(error) === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Replaces the lock at `path`, whose holder is gone, by ours — unless someone
 * else does first. Only the one process that creates the claim file named
 * after that very lock (`<path>.claim-<id>`, created exclusively) may replace
 * it, and it checks the lock is still that one before it renames its own over
 * it. A claim whose maker died mid-way is itself taken over the same way.
 * Returns false when the caller should look again.
 */
function replaceStale(path: string, stale: Held, pid: number, content: string, token: string): boolean {
  const claim = `${path}.claim-${createHash("sha256").update(stale.identity).digest("hex").slice(0, 24)}`;
  if (!createExclusive(claim, content, token)) {
    const claimer = readHeld(claim);
    if (claimer === undefined) return false;
    if (claimer.pid !== undefined && claimer.pid !== pid && alive(claimer.pid)) return false;
    if (!replaceStale(claim, claimer, pid, content, token)) return false;
  }
  try {
    if (readHeld(path)?.identity !== stale.identity) return false;
    renameSync(prepared(path, content, token), path);
    return true;
  } finally {
    if (readHeld(claim)?.identity === token) unlinkSync(claim);
  }
}

/** Leftovers of takeovers whose makers died: claims and temp files of processes that are gone. */
function sweepLeftovers(dir: string, file: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${file}.`)) continue;
    const path = join(dir, name);
    try {
      // Temp files are named <file>.<pid>.<token>.tmp; claims hold their maker's pid.
      const pid = name.endsWith(".tmp") ? Number(name.split(".").at(-3)) : readHeld(path)?.pid;
      if (pid !== undefined && !Number.isInteger(pid)) continue;
      if (pid === undefined || !alive(pid)) unlinkSync(path);
    } catch {
      // gone already, or not ours to judge
    }
  }
}

/**
 * The error for a data directory the lock cannot be taken in. It names the
 * lock file the user knows, not the private file the failing call was making
 * (`tokenpak.lock.<pid>.<uuid>.tmp`): "EROFS: read-only file system, open
 * '…'" becomes "EROFS (read-only file system)".
 */
function ioError(dir: string, path: string, error: unknown): TokenpakError {
  const e = error as NodeJS.ErrnoException;
  const reason = e.message.replace(/^\w+: /, "").replace(/, \w+ '[^']*'( -> '[^']*')?$/, "");
  return new TokenpakError(
    "io_error",
    `cannot lock data directory ${dir}: ${e.code ?? "error"} (${reason}) taking ${path}; it must be writable`,
    { dir },
  );
}

/** The pid holding the data directory (or another lock file in it), if a live process does. */
export function lockHolder(dir: string, file: string = LOCK_FILE): number | undefined {
  try {
    const pid = readHeld(join(dir, file))?.pid;
    return pid !== undefined && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One writer per ledger: takes `<dir>/tokenpak.lock` (or `file`, for other
 * one-at-a-time jobs) — our pid and a token, created atomically. A lock held
 * by a live process refuses with its pid; a lock left by a dead process is
 * taken over, by exactly one of any number of processes trying at once.
 */
export function acquireLock(dir: string, pid: number = process.pid, file: string = LOCK_FILE): LockHandle {
  const path = join(dir, file);
  if (heldHere.has(path)) {
    throw new TokenpakError("ledger_locked", `data directory ${dir} is already open in this process`, {
      dir,
      pid,
    });
  }
  const token = randomUUID();
  const content = `${pid}\n${token}\n`;
  try {
    for (let attempt = 0; attempt < 200; attempt++) {
      if (createExclusive(path, content, token)) return taken(dir, file, token);
      const held = readHeld(path);
      if (held === undefined) continue; // released in between: try again
      if (held.pid !== undefined && held.pid !== pid && alive(held.pid)) {
        throw new TokenpakError(
          "ledger_locked",
          `data directory ${dir} is in use by tokenpak (pid ${held.pid}); stop it first, or use another --data-dir`,
          { dir, pid: held.pid },
        );
      }
      // Stale: its process is gone (or it is a leftover of an earlier process with our pid).
      if (replaceStale(path, held, pid, content, token)) return taken(dir, file, token);
      pause(5 + Math.floor(Math.random() * 10)); // someone else is taking it over: see who won
    }
  } catch (error) {
    if (error instanceof TokenpakError) throw error;
    throw ioError(dir, path, error);
  }
  throw new TokenpakError("ledger_locked", `could not lock data directory ${dir}`, { dir });
}

export interface LockHandle {
  /** Lets go: removes the lock file if it is still ours. */
  release(): void;
  /** Forgets the lock as a killed process would, leaving the file behind (crash tests). */
  abandon(): void;
}

function taken(dir: string, file: string, token: string): LockHandle {
  const path = join(dir, file);
  heldHere.set(path, token);
  sweepLeftovers(dir, file);
  const forget = () => {
    if (heldHere.get(path) !== token) return false;
    heldHere.delete(path);
    return true;
  };
  return {
    release() {
      if (!forget()) return;
      try {
        if (readHeld(path)?.identity === token) unlinkSync(path);
      } catch {
        // already gone
      }
    },
    abandon() {
      forget();
    },
  };
}
