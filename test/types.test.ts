import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("src/config/types.generated.ts", () => {
  it("is what scripts/gen-config-types.mjs makes of the schema (run `npm run gen:types` if not)", async () => {
    const { generate } = await import("../scripts/gen-config-types.mjs");
    const generated = await generate();
    const committed = readFileSync(new URL("../src/config/types.generated.ts", import.meta.url), "utf8");
    expect(committed).toBe(generated);
  });

  it("has both the input and the resolved (defaults applied) types", async () => {
    const { generate } = await import("../scripts/gen-config-types.mjs");
    const generated = await generate();
    expect(generated).toMatch(/^export interface ConfigInput \{/m);
    expect(generated).toMatch(/^export interface Config \{/m);
    // A key with a schema default is optional as written, present once resolved.
    const block = (name: string) => {
      const start = generated.indexOf(`export interface ${name} {`);
      expect(start, name).toBeGreaterThanOrEqual(0);
      return generated.slice(start, generated.indexOf("\n}", start));
    };
    expect(block("Server")).toMatch(/^port\?: number$/m);
    expect(block("ResolvedServer")).toMatch(/^port: number$/m);
  });
});
