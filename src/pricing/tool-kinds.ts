/*
 * Which tools of the Responses API the provider runs — and bills per call on
 * top of the tokens — and which only hand a call back to the client, costing
 * tokens alone. One list, read by the proxy (what a request needs a price for,
 * what an answer's calls cost) and by validate-config (which
 * `tool_call_cents` keys are used), so the two cannot disagree.
 *
 * A tool type on neither list — one OpenAI added after this was written — is
 * taken as run by the provider: refused unless priced or `pricing.unknown_tool:
 * allow`. Taking it as the client's would let a new billed tool through
 * uncharged, past a hard cap; taking it as the provider's costs at worst a 400
 * that names it.
 */

/**
 * The price keys of the tools the provider runs (`models.<m>.tool_call_cents`).
 * `shell` is the provider's only in a hosted container, and `tool_search` only
 * with `execution: "server"` (the default): see `src/providers/tools.ts`.
 */
export const HOSTED_TOOL_KINDS: readonly string[] = [
  "web_search",
  "file_search",
  "code_interpreter",
  "image_generation",
  "mcp",
  "tool_search",
  "shell",
];

/**
 * Tool types whose calls come back to the client to run: functions, custom
 * (free-form) tools, namespaces (groups of functions and custom tools), computer
 * use, the local shell and apply_patch.
 */
export const CLIENT_RUN_TOOL_TYPES: readonly string[] = [
  "function",
  "custom",
  "namespace",
  "computer",
  "computer_use",
  "computer_use_preview",
  "local_shell",
  "apply_patch",
];

/** The kind prices are set for: `web_search_preview` and dated variants are all `web_search`. */
export function toolKind(type: string): string {
  return type.startsWith("web_search") ? "web_search" : type;
}
