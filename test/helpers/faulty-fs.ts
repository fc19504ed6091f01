// An fs for the journal whose writes can be made to fail like a full disk:
// each write puts down at most what is left of a byte budget, then throws
// ENOSPC — so a write can tear part-way, as on a real disk.
import * as fs from "node:fs";
import type { JournalIo } from "../../src/ledger/journal-writer.js";

export interface FaultyFs {
  io: JournalIo;
  /** Bytes that may still be written before writes fail; Infinity = a disk with room. */
  room: number;
  /** The errno writes fail with once `room` is used up. */
  code: string;
  /** Writes that failed so far. */
  failures: number;
}

export function faultyFs(): FaultyFs {
  const state: FaultyFs = {
    room: Number.POSITIVE_INFINITY,
    code: "ENOSPC",
    failures: 0,
    io: {
      ...fs,
      writeSync: ((fd: number, buffer: Buffer) => {
        if (state.room <= 0) {
          state.failures++;
          const error = new Error(`${state.code}: injected fault, write`) as NodeJS.ErrnoException;
          error.code = state.code;
          throw error;
        }
        const n = Math.min(buffer.length, state.room);
        const written = fs.writeSync(fd, buffer, 0, n);
        state.room -= written;
        return written;
      }) as typeof fs.writeSync,
    },
  };
  return state;
}
