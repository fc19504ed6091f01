/** What the benchmarks share: child servers that report their URL, and order statistics. */
import { type ChildProcess, fork } from "node:child_process";

/** Servers started and not yet stopped: `killChildren` ends them if a benchmark fails. */
const children = new Set<ChildProcess>();

/**
 * Forks `script` (under this process's loader, plus `execArgv`) as a server
 * that sends `{url}` over IPC once it listens.
 */
export function spawnServer(
  script: string,
  args: string[],
  execArgv: string[] = [],
): Promise<{ url: string; process: ChildProcess }> {
  const proc = fork(script, args, {
    execArgv: [...process.execArgv, ...execArgv],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(proc);
  proc.once("exit", () => children.delete(proc));
  return new Promise((resolve, reject) => {
    proc.once("message", (m) => {
      const url = (m as { url?: string }).url;
      if (url) resolve({ url, process: proc });
      else reject(new Error(`${args.join(" ")} did not report its URL: ${JSON.stringify(m)}`));
    });
    proc.once("exit", (code) => reject(new Error(`${args.join(" ")} exited early (code ${code})`)));
  });
}

/** Sends "stop" and resolves with the `{stats}` the server reports before it exits cleanly. */
export function stopServer(proc: ChildProcess): Promise<object> {
  return new Promise((resolve, reject) => {
    let stats: object = {};
    proc.on("message", (m) => {
      stats = (m as { stats?: object }).stats ?? stats;
    });
    proc.once("exit", (code) => {
      if (code === 0) resolve(stats);
      else reject(new Error(`server exited with code ${code}`));
    });
    proc.send("stop");
  });
}

export function killChildren(): void {
  for (const child of children) child.kill();
}

/** The p-th percentile of ascending `sorted` (nearest rank); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
