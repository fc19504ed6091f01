import { countTokens as count } from "gpt-tokenizer";
import { memoByText } from "./memo.js";

// User text may contain "<|endoftext|>" and the like: providers read it as plain text, so do we
// (gpt-tokenizer would otherwise throw on it).
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const countTokens = (text: string) => count(text, PLAIN_TEXT);
/** Input texts repeat from request to request (history, system prompts): about 8 MB of them are remembered. */
const inputTokens = memoByText(countTokens, 4_000_000);

/**
 * Input-token estimates for the worst-case reservation. gpt-tokenizer
 * (o200k_base) is exact for current OpenAI models; other families tokenise
 * differently (Claude's tokenizer yields more tokens for the same text), so
 * their counts get a 25% margin — an estimate that errs low would let a
 * request overshoot a cap. Structure (roles, images, tool schemas) is priced
 * by the JSON it takes, plus a few tokens of per-message overhead.
 */
export type TokenizerFamily = "openai" | "other";

const PER_MESSAGE = 4;
const PER_REQUEST = 3;
const OTHER_MARGIN = 1.25;
/** A conservative flat charge for an image part (OpenAI high detail of a large image ≈ 1,100). */
const IMAGE_TOKENS = 1600;

function textTokens(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === "string") return value.length === 0 ? 0 : inputTokens(value);
  if (Array.isArray(value)) {
    let n = 0;
    for (const part of value) n += partTokens(part);
    return n;
  }
  return inputTokens(JSON.stringify(value));
}

function partTokens(part: unknown): number {
  if (typeof part === "string") return textTokens(part);
  if (part === null || typeof part !== "object") return 0;
  const p = part as Record<string, unknown>;
  if (typeof p.text === "string") return textTokens(p.text);
  if (p.type === "image_url" || p.type === "image" || p.type === "input_image") return IMAGE_TOKENS;
  if (p.type === "tool_result") return textTokens(p.content) + PER_MESSAGE;
  return inputTokens(JSON.stringify(p));
}

function messagesTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let n = 0;
  for (const m of messages) {
    if (m === null || typeof m !== "object") continue;
    const msg = m as Record<string, unknown>;
    n += PER_MESSAGE + textTokens(msg.content);
    if (msg.tool_calls !== undefined) n += textTokens(msg.tool_calls);
    if (typeof msg.name === "string") n += textTokens(msg.name);
  }
  return n;
}

function withMargin(tokens: number, family: TokenizerFamily): number {
  return family === "openai" ? tokens : Math.ceil(tokens * OTHER_MARGIN);
}

/** OpenAI chat/completions body. */
export function estimateChatInput(body: Record<string, unknown>, family: TokenizerFamily): number {
  const tools = body.tools !== undefined ? textTokens(body.tools) : 0;
  const format = body.response_format !== undefined ? textTokens(body.response_format) : 0;
  return withMargin(PER_REQUEST + messagesTokens(body.messages) + tools + format, family);
}

/** Anthropic messages body: the system prompt sits outside the messages. */
export function estimateMessagesInput(body: Record<string, unknown>, family: TokenizerFamily): number {
  const system = textTokens(body.system);
  const tools = body.tools !== undefined ? textTokens(body.tools) : 0;
  return withMargin(PER_REQUEST + system + messagesTokens(body.messages) + tools, family);
}

/** OpenAI embeddings body: `input` is a string, a list of strings, or token arrays. */
export function estimateEmbeddingsInput(body: Record<string, unknown>, family: TokenizerFamily): number {
  const input = body.input;
  let n = 0;
  if (typeof input === "string") n = textTokens(input);
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (typeof item === "string") n += textTokens(item);
      else if (Array.isArray(item))
        n += item.length; // already tokens
      else if (typeof item === "number") n += 1;
    }
  }
  return withMargin(n, family);
}

/** Tokens in a text by gpt-tokenizer (exact for OpenAI models). */
export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

/**
 * Output tokens in generated text, for an answer whose usage never came (a
 * stream cut short, a body without usage): with the family's margin, so the
 * count errs high as the estimate does.
 */
export function countOutputTokens(text: string, family: TokenizerFamily): number {
  return withMargin(countTextTokens(text), family);
}
