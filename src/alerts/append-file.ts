import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { TokenpakError } from "../errors.js";

/**
 * A file written only by appending whole lines. Opened with O_APPEND and
 * written with one write() per batch, so lines from another process appending
 * to the same file (`tokenpak alerts test` beside the daemon) never interleave
 * mid-line.
 */
export class AppendFile {
  private fd: number | undefined;

  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, "a", 0o600);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new TokenpakError("io_error", `cannot open ${path} for appending: ${code ?? String(cause)}`, {
        file: path,
      });
    }
  }

  /** Appends each line, newline-terminated, in one write. */
  write(lines: readonly string[]): void {
    if (this.fd === undefined || lines.length === 0) return;
    let buffer = Buffer.from(`${lines.join("\n")}\n`);
    while (buffer.length > 0) buffer = buffer.subarray(writeSync(this.fd, buffer));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
