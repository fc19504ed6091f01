import { setTimeout as sleep } from "node:timers/promises";
import { countTextTokens } from "../tokenize/estimate.js";
import { type Json, num } from "./json.js";

/* What the mock provider's answers are made of, for every format it speaks. */

export interface MockOptions {
  /** Tokens in each reply (capped by the request's max_tokens). */
  replyTokens: number;
  latencyMs: number;
}

export interface MockResponse {
  status: number;
  contentType: string;
  chunks: AsyncIterable<string>;
}

const WORDS = [" Budgets", " keep", " agents", " honest", ",", " one", " token", " at", " a", " time", "."];

/** Deterministic text of exactly `tokens` tokens (by gpt-tokenizer). */
export function mockText(tokens: number): string {
  if (tokens <= 0) return "";
  // Whole sentences first (counting once per sentence keeps this linear), then word by word.
  const sentence = WORDS.join("");
  const perSentence = countTextTokens(sentence);
  let text = "";
  const add = (piece: string) => {
    text += text ? piece : piece.trimStart();
  };
  for (let n = 0; n + 2 * perSentence < tokens; n += perSentence) add(sentence);
  for (let i = 0; countTextTokens(text) < tokens; i++) add(WORDS[i % WORDS.length] ?? "");
  while (countTextTokens(text) > tokens) text = text.slice(0, -1);
  return text;
}

const textCache = new Map<number, string>();
export function replyText(tokens: number): string {
  let text = textCache.get(tokens);
  if (text === undefined) {
    text = mockText(tokens);
    if (textCache.size < 64) textCache.set(tokens, text);
  }
  return text;
}

export function sized(body: Json, options: MockOptions): number {
  const asked = num(body.max_completion_tokens) ?? num(body.max_tokens) ?? num(body.max_output_tokens);
  return Math.max(0, Math.min(options.replyTokens, asked ?? options.replyTokens));
}

export async function* once(text: string, latencyMs: number): AsyncIterable<string> {
  if (latencyMs > 0) await sleep(latencyMs);
  yield text;
}

export async function* stream(events: string[], latencyMs: number): AsyncIterable<string> {
  if (latencyMs > 0) await sleep(latencyMs);
  for (const e of events) yield e;
}

/** Splits text into pieces of about four tokens, as a provider streams it. */
export function pieces(text: string): string[] {
  const words = text.match(/\s*\S+/g) ?? [];
  const out: string[] = [];
  for (let i = 0; i < words.length; i += 4) out.push(words.slice(i, i + 4).join(""));
  return out;
}
