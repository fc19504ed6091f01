import { join } from "node:path";
import { type JournalEntry, readJournal } from "../../src/ledger/journal.js";

/** Every entry of a data directory's journal, oldest first. */
export function journalEntries(dataDir: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  readJournal(join(dataDir, "journal"), (e) => entries.push(e));
  return entries;
}

export type SettleEntry = Extract<JournalEntry, { type: "settle" }>;

export function settleEntries(dataDir: string): SettleEntry[] {
  return journalEntries(dataDir).filter((e): e is SettleEntry => e.type === "settle");
}
