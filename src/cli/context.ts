import { Chalk, type ChalkInstance } from "chalk";
import type { Env } from "../config/load.js";

export interface Output {
  write(text: string): void;
}

/** Everything a command may touch of the outside world, so tests can run it in-process. */
export interface CliContext {
  stdout: Output;
  stderr: Output;
  cwd: string;
  env: Env;
  /** Whether stdout is a terminal that takes colour; --no-color and NO_COLOR turn it off. */
  colorLevel: 0 | 1 | 2 | 3;
}

/** Options every command accepts (declared once on the program). */
export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
  color?: boolean;
}

export function paint(ctx: CliContext, options: GlobalOptions): ChalkInstance {
  const off = options.color === false || (ctx.env.NO_COLOR !== undefined && ctx.env.NO_COLOR !== "");
  return new Chalk({ level: off ? 0 : ctx.colorLevel });
}

export function line(out: Output, text = ""): void {
  out.write(`${text}\n`);
}

/** Each command's action reports its exit code here instead of exiting. */
export type SetExitCode = (code: number) => void;
