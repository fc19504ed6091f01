import { arr, obj, str } from "./json.js";

/*
 * The Responses API's built-in tools (web_search, file_search,
 * code_interpreter, image_generation, mcp, …) run at the provider, which bills
 * each call on top of the tokens. Tools the client runs itself (functions,
 * custom tools, computer use, shells, apply_patch) only cost tokens.
 */

/** Built-in tool calls of one answer, by kind: `{ web_search: 2 }`. */
export type ToolCalls = Record<string, number>;

/** Tools the model only asks the client to run: billed as tokens, never per call. */
const CLIENT_RUN = new Set([
  "function",
  "custom",
  "computer",
  "computer_use",
  "computer_use_preview",
  "local_shell",
  "shell",
  "apply_patch",
]);

/** The kind prices are set for: `web_search_preview` and dated variants are all `web_search`. */
export function toolKind(type: string): string {
  return type.startsWith("web_search") ? "web_search" : type;
}

/** Whether a tool of this kind is run (and billed per call) by the provider. */
export function isBuiltin(kind: string): boolean {
  return !CLIENT_RUN.has(kind);
}

/** The built-in tool kinds a request's `tools` enable, each once, in order. */
export function builtinTools(tools: unknown): string[] {
  const kinds: string[] = [];
  for (const t of arr(tools)) {
    const type = str(obj(t).type);
    if (type === undefined) continue;
    const kind = toolKind(type);
    if (isBuiltin(kind) && !kinds.includes(kind)) kinds.push(kind);
  }
  return kinds;
}

/** The built-in tool kind an output item is a call of (`web_search_call` → `web_search`), if any. */
export function callKind(item: unknown): string | undefined {
  const type = str(obj(item).type);
  if (type === undefined || !type.endsWith("_call")) return undefined;
  const kind = toolKind(type.slice(0, -"_call".length));
  return isBuiltin(kind) ? kind : undefined;
}

/** Adds one call of `item`'s kind to `calls`, when it is a built-in tool's call. */
export function countCall(calls: ToolCalls, item: unknown): void {
  const kind = callKind(item);
  if (kind !== undefined) calls[kind] = (calls[kind] ?? 0) + 1;
}

/** The built-in tool calls in a Responses answer's `output`. */
export function toolCallsIn(output: unknown): ToolCalls {
  const calls: ToolCalls = {};
  for (const item of arr(output)) countCall(calls, item);
  return calls;
}

export function callCount(calls: ToolCalls): number {
  let n = 0;
  for (const v of Object.values(calls)) n += v;
  return n;
}
