import type { Config } from "../config/types.generated.js";
import { undatedPreview } from "../pricing/dated.js";

/**
 * A model name as both sides can agree on it: providers bill the dated
 * snapshot an alias resolved to ("gpt-4o" → "gpt-4o-2024-08-06",
 * "gpt-3.5-turbo" → "gpt-3.5-turbo-0125", "claude-sonnet-4-20250514"), so
 * the date suffix (or "-latest") goes. Only the date: "gpt-4-turbo" and
 * "gpt-4-1106-preview" (→ "gpt-4-preview") stay apart from "gpt-4", as they
 * are other models at other prices.
 */
export function canonicalModel(name: string): string {
  return undatedPreview(name.trim());
}

/** A billed model's canonical name, and the provider's own spelling when it differs (for messages). */
export function billedModel(name: string): { model: string; billed_as?: string } {
  const model = canonicalModel(name);
  return model === name ? { model } : { model, billed_as: name };
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
