// Small file systems for fault tests: a tmpfs that really fills up, or one
// mounted read-only. Mounting needs root (CAP_SYS_ADMIN); without it the
// tests that need one say so and skip, and the injected-fault tests still run.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Mounted {
  path: string;
  unmount(): void;
}

function mount(options: string): Mounted | string {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const path = mkdtempSync(join(tmpdir(), "tokenpak-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", path], { stdio: "pipe" });
  } catch (error) {
    rmSync(path, { recursive: true, force: true });
    return `mount -t tmpfs failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
  return {
    path,
    unmount() {
      execFileSync("umount", ["-l", path], { stdio: "pipe" });
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** A tmpfs of `bytes` (rounded to pages), or why there cannot be one. */
export function smallDisk(bytes: number): Mounted | string {
  return mount(`size=${bytes},mode=0700`);
}

/** A read-only tmpfs (EROFS on every write), or why there cannot be one. */
export function readOnlyDisk(): Mounted | string {
  return mount("ro,size=64k");
}

/** Fills the file system at `path` to the last byte; returns a function that frees the space again. */
export function fillDisk(dir: string): () => void {
  const filler = join(dir, "filler");
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4096"], { stdio: "pipe" });
  } catch {
    // dd stops with ENOSPC: exactly what we want
  }
  return () => rmSync(filler, { force: true });
}

/** The reason a test is skipped, printed so a skip is never silent. */
export function skipReason(what: string, mounted: Mounted | string): string | undefined {
  if (typeof mounted !== "string") return undefined;
  const reason = `${what}: skipped, ${mounted}`;
  process.stderr.write(`[tokenpak test] ${reason}\n`);
  return reason;
}
