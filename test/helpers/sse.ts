import type { Parsed } from "./json.js";

/** SSE text → the JSON of each `data:` line, skipping `[DONE]` and comments. */
export function sseData(text: string): Parsed[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("data: ") && l !== "data: [DONE]")
    .map((l) => JSON.parse(l.slice(6)) as Parsed);
}
