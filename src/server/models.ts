import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { ownValue } from "../own.js";

/*
 * GET /v1/models and /v1/models/{id}: the configured model names, in the
 * shape of the SDK that asks — Anthropic's when the request carries
 * `anthropic-version` (its SDK always sends it), OpenAI's otherwise.
 */

/** Configured models have no creation date of their own: the SDKs only need a valid one. */
const EPOCH = "1970-01-01T00:00:00Z";

function entry(id: string, provider: string, anthropic: boolean) {
  return anthropic
    ? { type: "model", id, display_name: id, created_at: EPOCH }
    : { id, object: "model", created: 0, owned_by: provider };
}

export function listModels(config: Readonly<Config>, anthropic: boolean): unknown {
  const data = Object.entries(config.models ?? {}).map(([id, m]) => entry(id, m?.provider ?? "", anthropic));
  if (!anthropic) return { object: "list", data };
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

export function retrieveModel(config: Readonly<Config>, id: string, anthropic: boolean): unknown {
  const model = ownValue(config.models, id);
  if (!model) {
    throw new TokenpakError("not_found", `model ${id} is not configured`, {
      available_models: Object.keys(config.models ?? {}),
    });
  }
  return entry(id, model.provider, anthropic);
}
