import { countTokens as count } from "gpt-tokenizer";
import { DEFAULT_IMAGE_TOKENS } from "./image-tokens.js";
import { TextCounts } from "./memo.js";
import { countSteps, SLICE_CHARS, TokenWork } from "./pieces.js";

// User text may contain "<|endoftext|>" and the like: providers read it as plain text, so do we
// (gpt-tokenizer would otherwise throw on it).
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const countTokens = (text: string) => count(text, PLAIN_TEXT);
/** Input texts repeat from request to request (history, system prompts): about 8 MB of them are remembered. */
const remembered = new TextCounts(4_000_000);

/**
 * Counts `text` a window at a time (`pieces.ts`), yielding the work of
 * each step so that an async driver can give the event loop a turn in
 * between; returns the tokens, never fewer than the text's own count. A count
 * is remembered only when it did not depend on `work`'s budget.
 */
function* counting(text: string, work: TokenWork): Generator<number, number> {
  const known = remembered.get(text);
  if (known !== undefined) return known;
  const longRuns = work.longRuns;
  const n = yield* countSteps(text, work, countTokens);
  if (work.longRuns === longRuns) remembered.set(text, n);
  return n;
}

/** `counting` run to its end at once (for a text known to be small, or a caller that cannot wait). */
function countAtOnce(text: string, work: TokenWork): number {
  const steps = counting(text, work);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

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

/**
 * A file sent inline (base64: a PDF, a text file) is billed as what the
 * provider extracts from it — a PDF's text and an image of each page — not as
 * its base64 text. One token per byte of the file: more than ordinary PDFs and
 * text files cost (base64 text itself tokenizes at ~0.91 per byte), and no
 * slow tokenizing of megabytes of base64.
 */
const TOKENS_PER_FILE_BYTE = 1;

type Part = Record<string, unknown>;

const member = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null ? (value as Part)[key] : undefined;

/** The base64 data of an inline file part, in any route's format; undefined for other parts. */
function inlineFileData(p: Part): string | undefined {
  // Responses `input_file`, chat/completions `file`, Anthropic `document` with a base64 source.
  let data: unknown;
  if (p.type === "input_file") data = p.file_data;
  else if (p.type === "file") data = member(p.file, "file_data");
  else if (p.type === "document" && member(p.source, "type") === "base64") data = member(p.source, "data");
  return typeof data === "string" ? data : undefined;
}

/** The size in bytes of base64 data (a `data:…;base64,` prefix aside), without decoding it. */
function decodedBytes(data: string): number {
  const comma = data.startsWith("data:") ? data.indexOf(",") + 1 : 0;
  return Math.ceil(((data.length - comma) * 3) / 4);
}

/**
 * What a body's input is made of: the texts to tokenize, and the tokens of
 * structure around them (per-message overhead, images). Collecting first and
 * counting after lets a large body be counted a slice at a time.
 */
class Tally {
  fixed = 0;
  readonly texts: string[] = [];

  /** `image`: the tokens one image part may bill on the model counted for (`image-tokens.ts`). */
  constructor(private readonly image: number) {}

  text(value: unknown): void {
    if (value === undefined || value === null) return;
    if (typeof value === "string") {
      if (value.length > 0) this.texts.push(value);
    } else if (Array.isArray(value)) {
      for (const part of value) this.part(part);
    } else this.texts.push(JSON.stringify(value));
  }

  private part(part: unknown): void {
    if (part === null || (typeof part !== "object" && typeof part !== "string")) return;
    if (typeof part === "string") {
      this.text(part);
      return;
    }
    const p = part as Part;
    const inline = inlineFileData(p);
    if (inline !== undefined) {
      this.fixed += PER_MESSAGE + Math.ceil(decodedBytes(inline) * TOKENS_PER_FILE_BYTE);
      this.text(p.filename ?? member(p.file, "filename") ?? p.title);
    } else if (typeof p.text === "string") this.text(p.text);
    else if (p.type === "image_url" || p.type === "image" || p.type === "input_image")
      this.fixed += this.image;
    else if (p.type === "tool_result") {
      this.text(p.content);
      this.fixed += PER_MESSAGE;
    } else this.texts.push(JSON.stringify(p));
  }

  messages(messages: unknown): void {
    if (!Array.isArray(messages)) return;
    for (const m of messages) {
      if (m === null || typeof m !== "object") continue;
      const msg = m as Record<string, unknown>;
      this.fixed += PER_MESSAGE;
      this.text(msg.content);
      if (msg.tool_calls !== undefined) this.text(msg.tool_calls);
      if (typeof msg.name === "string") this.text(msg.name);
    }
  }

  /** A Responses API `input`: a string, or items (messages, function calls and their outputs, reasoning). */
  items(input: unknown): void {
    if (!Array.isArray(input)) {
      this.text(input);
      return;
    }
    for (const raw of input) {
      if (raw === null || typeof raw !== "object") continue;
      const item = raw as Record<string, unknown>;
      this.fixed += PER_MESSAGE;
      if (item.content !== undefined) this.text(item.content);
      else if (item.type === "function_call") {
        this.text(item.name);
        this.text(item.arguments);
      } else if (item.type === "function_call_output") this.text(item.output);
      else this.texts.push(JSON.stringify(item));
    }
  }
}

function withMargin(tokens: number, family: TokenizerFamily): number {
  return family === "openai" ? tokens : Math.ceil(tokens * OTHER_MARGIN);
}

/**
 * The input estimate of the smallest chat request (one message of one
 * token): no request is estimated at less. `status` asks whether this still
 * fits a budget.
 */
export function smallestChatInput(family: TokenizerFamily): number {
  return withMargin(PER_REQUEST + PER_MESSAGE + 1, family);
}

/** Which API the body is for: OpenAI chat/completions, Anthropic messages, OpenAI embeddings and responses. */
export type BodyKind = "chat" | "messages" | "embeddings" | "responses";

function tally(route: BodyKind, body: Record<string, unknown>, image: number): Tally {
  const t = new Tally(image);
  if (route === "embeddings") {
    // `input` is a string, a list of strings, or token arrays.
    const input = body.input;
    if (typeof input === "string") t.text(input);
    else if (Array.isArray(input)) {
      for (const item of input) {
        if (typeof item === "string") t.text(item);
        else if (Array.isArray(item))
          t.fixed += item.length; // already tokens
        else if (typeof item === "number") t.fixed += 1;
      }
    }
    return t;
  }
  t.fixed += PER_REQUEST;
  if (route === "responses") {
    t.text(body.instructions);
    t.items(body.input);
    if (body.tools !== undefined) t.text(body.tools);
    // A JSON schema for structured output is input too.
    if (body.text !== undefined) t.text(body.text);
    return t;
  }
  // Anthropic's system prompt sits outside the messages.
  if (route === "messages") t.text(body.system);
  t.messages(body.messages);
  if (body.tools !== undefined) t.text(body.tools);
  if (route === "chat" && body.response_format !== undefined) t.text(body.response_format);
  return t;
}

function countNow(t: Tally): number {
  const work = new TokenWork();
  let n = t.fixed;
  for (const text of t.texts) n += countAtOnce(text, work);
  return n;
}

/** OpenAI chat/completions body. */
export function estimateChatInput(
  body: Record<string, unknown>,
  family: TokenizerFamily,
  image = DEFAULT_IMAGE_TOKENS,
): number {
  return withMargin(countNow(tally("chat", body, image)), family);
}

/** Anthropic messages body. */
export function estimateMessagesInput(
  body: Record<string, unknown>,
  family: TokenizerFamily,
  image = DEFAULT_IMAGE_TOKENS,
): number {
  return withMargin(countNow(tally("messages", body, image)), family);
}

/** OpenAI Responses API body. */
export function estimateResponsesInput(
  body: Record<string, unknown>,
  family: TokenizerFamily,
  image = DEFAULT_IMAGE_TOKENS,
): number {
  return withMargin(countNow(tally("responses", body, image)), family);
}

/** OpenAI embeddings body. */
export function estimateEmbeddingsInput(
  body: Record<string, unknown>,
  family: TokenizerFamily,
  image = DEFAULT_IMAGE_TOKENS,
): number {
  return withMargin(countNow(tally("embeddings", body, image)), family);
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The input estimate of a request body, as the sync estimates give it (each
 * image part as `image` tokens: the most one may bill on the model), but
 * never holding the event loop for more than a slice's work (`pieces.ts`):
 * after each `SLICE_CHARS` tokenized, other requests and /healthz get a turn.
 */
export async function estimateInput(
  route: BodyKind,
  body: Record<string, unknown>,
  family: TokenizerFamily,
  image = DEFAULT_IMAGE_TOKENS,
): Promise<number> {
  const t = tally(route, body, image);
  const work = new TokenWork();
  let n = t.fixed;
  let sinceYield = 0;
  for (const text of t.texts) {
    const steps = counting(text, work);
    for (let step = steps.next(); ; step = steps.next()) {
      if (step.done) {
        n += step.value;
        break;
      }
      sinceYield += step.value;
      if (sinceYield >= SLICE_CHARS) {
        await yieldToLoop();
        sinceYield = 0;
      }
    }
  }
  return withMargin(n, family);
}

/**
 * Tokens in a text by gpt-tokenizer, exact for OpenAI models, in one call:
 * for text the mock provider generated itself, never for a client's or a
 * provider's (its time grows with the square of a long word's length).
 */
export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

/**
 * Output tokens in generated text, for an answer whose usage never came (a
 * stream cut short, a body without usage): with the family's margin, so the
 * count errs high as the estimate does.
 */
export function countOutputTokens(text: string, family: TokenizerFamily): number {
  return withMargin(text.length === 0 ? 0 : countAtOnce(text, new TokenWork()), family);
}
