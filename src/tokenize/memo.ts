/**
 * Memoises a count over texts for the texts seen recently. Conversations
 * resend their whole history with every turn, agents their system prompt and
 * tool schemas: remembering each text's count leaves only the new message to
 * tokenize. Bounded by the total length of the texts kept (the oldest go
 * first); a text longer than a tenth of that is never kept.
 */
export function memoByText(count: (text: string) => number, maxChars: number): (text: string) => number {
  const counts = new Map<string, number>();
  const largest = Math.floor(maxChars / 10);
  let chars = 0;
  return (text) => {
    const known = counts.get(text);
    if (known !== undefined) return known;
    const n = count(text);
    if (text.length <= largest) {
      counts.set(text, n);
      chars += text.length;
      for (const oldest of counts.keys()) {
        if (chars <= maxChars) break;
        counts.delete(oldest);
        chars -= oldest.length;
      }
    }
    return n;
  };
}
