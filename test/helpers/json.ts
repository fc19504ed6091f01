/**
 * Parsed JSON as tests dig through it (`body.choices[0].message.content`).
 * The matchers check every value, so this one type is left open on purpose;
 * production code reads JSON through src/providers/json.ts instead.
 */
// biome-ignore lint/suspicious/noExplicitAny: test-only view of parsed JSON, checked by assertions
export type Parsed = Record<string, any>;
