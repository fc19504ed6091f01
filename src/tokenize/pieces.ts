import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/encodingParams/constants";

/**
 * How a text is cut so that no tokenizer call does more than a bounded amount
 * of work, and what the cuts cost in accuracy.
 *
 * gpt-tokenizer first splits text into pre-tokens (a word, a run of digits, of
 * punctuation, of whitespace: the o200k pattern), then runs byte-pair merging
 * on each, in time that grows with the square of a pre-token's length. Normal
 * text has short pre-tokens; 16K random letters or CJK without punctuation are
 * one pre-token each, and took 0.2 s and 1.5 s in one call. So:
 *
 * - a pre-token longer than `RUN_CHARS` is cut into pieces of at most that
 *   many characters (at a code-point boundary), each counted on its own;
 * - a text is counted `SLICE_CHARS` at a time, so an async caller can yield
 *   to the event loop in between;
 * - long pre-tokens are tokenized only up to `SLOW_BUDGET_CHARS` per request:
 *   past that, one is charged one token per UTF-8 byte. That is a true upper
 *   bound for byte-level BPE (o200k, cl100k): merging starts from one token
 *   per byte and every merge makes one token of two.
 *
 * A cut can undercount: the merges of the whole may differ near the cut from
 * those of the parts, and searching found parts that count 2 fewer tokens
 * than their whole. Every cut therefore adds `CUT_MARGIN` tokens, which keeps
 * the sum at or above the count of the whole (tested on random letters, CJK,
 * emoji and mixed text), so the reservation still errs high.
 */
export const RUN_CHARS = 256;
/** Characters counted in one call: about 15 ms for the slowest text, well under 1 ms for prose. */
export const SLICE_CHARS = 4096;
/** Characters of long pre-tokens tokenized per request (≈ 0.25 s of CPU at worst) before the byte bound is used. */
export const SLOW_BUDGET_CHARS = 65_536;
/** Tokens added per cut (see above). */
export const CUT_MARGIN = 3;

/** What one request may still spend on long pre-tokens; `longRuns` tells a caller whether a count used it. */
export class TokenWork {
  longRuns = 0;
  constructor(public slowLeft: number = SLOW_BUDGET_CHARS) {}
}

/** The ASCII and Unicode white space of `\s`. */
function isSpace(c: number): boolean {
  if (c === 32 || (c >= 9 && c <= 13)) return true;
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * Whether `text` may hold a pre-token longer than `RUN_CHARS`: one linear
 * pass, so the pattern itself runs only when it may find one. Every o200k
 * pre-token is white space, or non-space with at most one leading space,
 * except punctuation followed by a run of `\r`, `\n` and `/`: with no run of
 * either kind longer than `RUN_CHARS`, no pre-token exceeds twice that.
 */
export function mayHoldLongRun(text: string): boolean {
  let solid = 0;
  let blank = 0;
  let tail = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      blank++;
      solid = 0;
    } else {
      solid++;
      blank = 0;
    }
    tail = c === 10 || c === 13 || c === 47 ? tail + 1 : 0;
    if (solid > RUN_CHARS || blank > RUN_CHARS || tail > RUN_CHARS) return true;
  }
  return false;
}

/** Where to end a piece of `text` starting at `at` of at most `max` characters: never between the halves of a surrogate pair. */
function pieceEnd(text: string, at: number, max: number): number {
  const end = Math.min(text.length, at + max);
  if (end === text.length) return end;
  const c = text.charCodeAt(end - 1);
  return c >= 0xd800 && c <= 0xdbff ? end - 1 : end;
}

/** `text` in windows of at most `SLICE_CHARS`, cut before white space where there is some in a window's second half. */
function* windows(text: string): Generator<string> {
  for (let at = 0; at < text.length; ) {
    let end = pieceEnd(text, at, SLICE_CHARS);
    if (end < text.length) {
      let space = end;
      while (space > at + SLICE_CHARS / 2 && !isSpace(text.charCodeAt(space))) space--;
      if (space > at + SLICE_CHARS / 2) end = space;
    }
    yield text.slice(at, end);
    at = end;
  }
}

/**
 * Tokenizing a long pre-token costs 1–4 µs a character against well under
 * 0.1 for prose: its pieces weigh this much more in the work an async driver
 * measures between turns of the event loop.
 */
const LONG_RUN_WEIGHT = 8;

/**
 * A pre-token longer than `RUN_CHARS`: cut into pieces while the budget lasts
 * (yielding each piece's weight), else bounded by its bytes. Returns its tokens.
 */
function* longRun(
  run: string,
  work: TokenWork,
  tokenize: (text: string) => number,
): Generator<number, number> {
  work.longRuns++;
  if (run.length > work.slowLeft) return Buffer.byteLength(run, "utf8") + CUT_MARGIN;
  work.slowLeft -= run.length;
  let n = 0;
  for (let at = 0; at < run.length; ) {
    const end = pieceEnd(run, at, RUN_CHARS);
    n += CUT_MARGIN + tokenize(run.slice(at, end));
    yield (end - at) * LONG_RUN_WEIGHT;
    at = end;
  }
  return n;
}

/**
 * The tokens of one window, no fewer than `tokenize` gives the window whole:
 * the window as it stands when it cannot hold a long pre-token (prose, code,
 * punctuated CJK), else its ordinary pre-tokens as they stand and each long
 * one by `longRun`. Yields the work done, in characters of prose.
 */
function* windowSteps(
  window: string,
  work: TokenWork,
  tokenize: (text: string) => number,
): Generator<number, number> {
  if (!mayHoldLongRun(window)) {
    const n = tokenize(window);
    yield window.length;
    return n;
  }
  let n = 0;
  let from = 0;
  for (const match of window.matchAll(O200K_TOKEN_SPLIT_REGEX)) {
    const token = match[0];
    if (token.length <= RUN_CHARS) continue;
    if (match.index > from) n += tokenize(window.slice(from, match.index));
    n += yield* longRun(token, work, tokenize);
    from = match.index + token.length;
  }
  if (from < window.length) n += tokenize(window.slice(from));
  yield window.length;
  return n;
}

/**
 * Counts `text` a window at a time, yielding the work done since the last
 * step in characters of prose (an async driver gives the event loop a turn
 * after about `SLICE_CHARS` of it), and returning the tokens: never fewer than
 * `tokenize(text)`, each call of `tokenize` on at most `SLICE_CHARS`
 * characters whose pre-tokens are at most `2 × RUN_CHARS + 1`.
 */
export function* countSteps(
  text: string,
  work: TokenWork,
  tokenize: (text: string) => number,
): Generator<number, number> {
  let n = 0;
  let cuts = -1;
  for (const window of windows(text)) {
    cuts++;
    n += yield* windowSteps(window, work, tokenize);
  }
  return n + Math.max(0, cuts) * CUT_MARGIN;
}
