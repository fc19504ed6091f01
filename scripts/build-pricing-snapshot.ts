// Builds data/pricing-snapshot.json, the price table shipped with tokenpak so
// that a first run and an offline machine have prices: the openai and
// anthropic entries of a LiteLLM model_prices_and_context_window.json (MIT).
//
//   npm run build:pricing-snapshot [-- FILE] [--fetched-at ISO]
//
// FILE defaults to ../shared/data/pricing/litellm-model-prices.json; the
// snapshot's fetched_at defaults to the file's modification time, so that a
// rebuild from the same file writes the same bytes. Commit the result.
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseSource } from "../src/pricing/parse.js";
import { parseTable, tableText } from "../src/pricing/store.js";
import { PRICE_PROVIDERS, type PriceTable, TABLE_VERSION } from "../src/pricing/table.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const flag = args.indexOf("--fetched-at");
const fetchedAtArg = flag >= 0 ? args[flag + 1] : undefined;
const file = resolve(
  root,
  args.find((a, i) => !a.startsWith("--") && i !== flag + 1) ??
    "../shared/data/pricing/litellm-model-prices.json",
);

const bytes = readFileSync(file);
const parsed = parseSource(bytes.toString("utf8"), "litellm", PRICE_PROVIDERS);
const fetchedAt = new Date(fetchedAtArg ?? statSync(file).mtime).toISOString();
const info = {
  source: `bundled snapshot of LiteLLM model_prices_and_context_window.json (MIT), from ${basename(file)}`,
  format: parsed.format,
  fetched_at: fetchedAt,
  sha256: createHash("sha256").update(bytes).digest("hex"),
};
const table: PriceTable = {
  version: TABLE_VERSION,
  revision: 0,
  updated_at: fetchedAt,
  sources: Object.fromEntries(PRICE_PROVIDERS.map((p) => [p, info])),
  entries: parsed.entries,
};
const text = tableText(table);
parseTable(text, "the snapshot just built"); // what the package loads must validate
const out = resolve(root, "data/pricing-snapshot.json");
writeFileSync(out, text);
const count = (p: string) => Object.values(parsed.entries).filter((e) => e.provider === p).length;
process.stdout.write(
  `wrote ${out}: ${PRICE_PROVIDERS.map((p) => `${count(p)} ${p}`).join(", ")} models of ${parsed.total} in ${file} (${parsed.skipped.length} without per-token prices skipped), fetched_at ${fetchedAt}\n`,
);
