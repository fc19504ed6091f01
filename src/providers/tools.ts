import { CLIENT_RUN_TOOL_TYPES, toolKind } from "../pricing/tool-kinds.js";
import { arr, obj, str } from "./json.js";

/*
 * The Responses API's built-in tools (web_search, file_search,
 * code_interpreter, image_generation, mcp, …) run at the provider, which bills
 * each call on top of the tokens. Tools the client runs itself (functions,
 * custom tools, namespaces, computer use, the local shell, apply_patch) only
 * cost tokens. Which is which: src/pricing/tool-kinds.ts.
 */

/** Built-in tool calls of one answer, by kind: `{ web_search: 2 }`. */
export type ToolCalls = Record<string, number>;

const CLIENT_RUN = new Set(CLIENT_RUN_TOOL_TYPES);

/** The shell runs at the provider in a hosted container (`container_auto`, `container_reference`), else at the client. */
function hostedShell(environment: unknown): boolean {
  return str(obj(environment).type)?.startsWith("container") === true;
}

/**
 * The price key of a request's tool when the provider runs it; undefined when
 * the client does. A type on neither list is the provider's (see tool-kinds.ts).
 */
export function hostedKind(tool: unknown): string | undefined {
  const t = obj(tool);
  const type = str(t.type);
  if (type === undefined || CLIENT_RUN.has(type)) return undefined;
  if (type === "shell") return hostedShell(t.environment) ? "shell" : undefined;
  if (type === "tool_search") return t.execution === "client" ? undefined : "tool_search";
  return toolKind(type);
}

/** The built-in tool kinds a request's `tools` enable, each once, in order. */
export function builtinTools(tools: unknown): string[] {
  const kinds: string[] = [];
  for (const t of arr(tools)) {
    const kind = hostedKind(t);
    if (kind !== undefined && !kinds.includes(kind)) kinds.push(kind);
  }
  return kinds;
}

/** Output items that are calls the client runs: the tool types they come from are in CLIENT_RUN_TOOL_TYPES. */
const CLIENT_CALLS = new Set([
  "function_call", // also a namespace's functions, with `namespace` set
  "custom_tool_call", // custom tools, in a namespace or not
  "computer_call",
  "local_shell_call",
  "apply_patch_call",
]);

/**
 * The built-in tool kind an output item is a call of (`web_search_call` →
 * `web_search`); undefined for anything else, calls the client runs included.
 * An unknown `*_call` item is a built-in's, as an unknown tool type is.
 */
export function callKind(item: unknown): string | undefined {
  const i = obj(item);
  const type = str(i.type);
  if (type === undefined || !type.endsWith("_call") || CLIENT_CALLS.has(type)) return undefined;
  if (type === "shell_call") return hostedShell(i.environment) ? "shell" : undefined;
  if (type === "tool_search_call") return i.execution === "client" ? undefined : "tool_search";
  return toolKind(type.slice(0, -"_call".length));
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
