/**
 * The most input tokens one image part may bill, for the worst-case
 * reservation. The estimate cannot see an image's size (a URL, or base64 it
 * would have to decode), so it reserves the most the model can bill for one.
 */

/**
 * Tile models (gpt-4o, gpt-4-turbo, o1, o3…): high detail fits an image in
 * 2048², scales its short side to 768 and bills 85 + 170 per 512-px tile, at
 * most 8 tiles (768×2048) = 1,445; Anthropic bills ≤ ~1,600 (1.15 MP / 750
 * tokens per pixel). The flat figure covers both, and any model not below.
 */
export const DEFAULT_IMAGE_TOKENS = 1600;

/**
 * Families that bill more per image, by model name (a dated snapshot, a
 * fine-tune `ft:…` or a `provider/` prefix included). Figures from OpenAI's
 * vision guide ("Calculating costs"), confirmed by measured usage:
 * - gpt-4o-mini bills 2,833 base + 5,667 per tile (the tile scheme above,
 *   priced ~33× so that its low per-token price bills like gpt-4o): at most
 *   2,833 + 8 × 5,667 = 48,169, rounded up.
 * - patch models bill 32-px patches, at most 1,536, times a multiplier:
 *   gpt-4.1-mini 1.62 (2,488.3), gpt-4.1-nano 2.46 (3,778.6), o4-mini 1.72 (2,641.9).
 */
const FAMILIES: readonly (readonly [RegExp, number])[] = [
  [/(^|[/:])gpt-4o-mini/, 48_200],
  [/(^|[/:])gpt-4\.1-mini/, 2_489],
  [/(^|[/:])gpt-4\.1-nano/, 3_779],
  [/(^|[/:])o4-mini/, 2_642],
];

/**
 * Tokens to reserve per image for a model: `configured`
 * (`models.<m>.image_input_tokens`) when set, else its family's most by
 * `modelName` (the upstream name when it differs), else the flat default.
 */
export function imageTokens(modelName: string, configured: number | undefined): number {
  if (configured !== undefined) return configured;
  let tokens = byName.get(modelName);
  if (tokens === undefined) {
    tokens = familyTokens(modelName.toLowerCase());
    byName.set(modelName, tokens);
  }
  return tokens;
}

/** Asked per request, answered per model: the names are the config's, so few. */
const byName = new Map<string, number>();

function familyTokens(name: string): number {
  for (const [pattern, tokens] of FAMILIES) if (pattern.test(name)) return tokens;
  return DEFAULT_IMAGE_TOKENS;
}
