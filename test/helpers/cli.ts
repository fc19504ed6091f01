// Runs the built CLI (bin/tokenpak.js → dist/) as a subprocess, with a bare
// environment: PATH, HOME and NO_COLOR only.
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Env } from "../../src/config/load.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "tokenpak.js");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: tmpdir(), NO_COLOR: "1" }, timeout: 15_000 },
      (error, stdout, stderr) =>
        resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr }),
    );
  });
}

/** `tokenpak ...args` in this process (main(), as bin/tokenpak.js calls it), its output captured; no colours unless `colorLevel`. */
export async function runInProcess(
  args: readonly string[],
  cwd: string,
  env: Env,
  colorLevel: 0 | 1 | 2 | 3 = 0,
): Promise<CliRun> {
  const { main } = await import("../../src/cli/main.js");
  let stdout = "";
  let stderr = "";
  const code = await main(["node", "tokenpak", ...args], {
    stdout: {
      write: (s) => {
        stdout += s;
      },
    },
    stderr: {
      write: (s) => {
        stderr += s;
      },
    },
    cwd,
    env,
    colorLevel,
  });
  return { code, stdout, stderr };
}
