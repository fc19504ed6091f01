import type { Config } from "../config/types.generated.js";

const SNAPSHOT = /-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

/**
 * A model name as both sides can agree on it: providers bill the dated
 * snapshot an alias resolved to ("gpt-4o" → "gpt-4o-2024-08-06",
 * "claude-sonnet-4-20250514"), so the date suffix (or "-latest") goes.
 */
export function canonicalModel(name: string): string {
  return name.trim().replace(SNAPSHOT, "");
}

/** Token kinds OpenAI appends to a cost line item: "gpt-4o-2024-08-06, cached input". */
const LINE_ITEM_KIND = /^(.*\S),\s*([a-z][a-z0-9 _-]*)$/i;

/** The model an OpenAI cost `line_item` is for; the whole text when it names no token kind. */
export function lineItemModel(lineItem: string): string {
  return LINE_ITEM_KIND.exec(lineItem)?.[1] ?? lineItem;
}

/** Canonical billed name of each configured model of `provider`: its upstream_model, else its own name. */
export function billedNames(config: Readonly<Config>, provider: string): (ledgerModel: string) => string {
  const names = new Map<string, string>();
  for (const [name, m] of Object.entries(config.models ?? {})) {
    if (m?.provider === provider) names.set(name, canonicalModel(m.upstream_model ?? name));
  }
  return (ledgerModel) => names.get(ledgerModel) ?? canonicalModel(ledgerModel);
}
