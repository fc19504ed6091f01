import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { TokenpakError } from "../errors.js";

/**
 * A file written only by appending whole lines. Opened with O_APPEND and
 * written with one write() per batch, so lines from another process appending
 * to the same file (`tokenpak alerts test` beside the daemon) never interleave
 * mid-line. A write that fails part-way (a full disk) is cut back off, so
 * the next line is not glued to a fragment.
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

  /** Appends each line, newline-terminated, in one write; throws if it cannot, leaving the file as it was. */
  write(lines: readonly string[]): void {
    const fd = this.fd;
    if (fd === undefined || lines.length === 0) return;
    const before = fstatSync(fd).size;
    let buffer = Buffer.from(`${lines.join("\n")}\n`);
    const total = buffer.length;
    try {
      while (buffer.length > 0) buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (error) {
      if (buffer.length < total) {
        try {
          ftruncateSync(fd, before);
        } catch {
          // nothing more to be done: readers skip a line that does not parse
        }
      }
      throw error;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
