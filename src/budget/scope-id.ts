/**
 * Scope ids: the counter keys of the ledger, the `scope` of refusals and
 * alerts. The one place they are written and read back.
 *
 *   workspace | request | <kind>:<name> | <project|team>:<name>/model:<model>
 *
 * Only project and team ids can be composite, so a user or run id (client
 * input, free text) that happens to contain "/model:" stays one name.
 */

export type ScopeKind =
  | "request"
  | "run"
  | "key"
  | "user"
  | "project_model"
  | "project"
  | "team_model"
  | "team"
  | "model"
  | "workspace";

type SimpleKind = "run" | "key" | "user" | "project" | "team" | "model";

/** What a scope id names. */
export type ScopeRef =
  | { kind: "workspace" | "request" }
  | { kind: SimpleKind; name: string }
  | { kind: "project_model" | "team_model"; name: string; model: string };

const SIMPLE = new Set<string>(["run", "key", "user", "project", "team", "model"]);
const MODEL_PART = "/model:";

export function formatScopeId(ref: ScopeRef): string {
  switch (ref.kind) {
    case "workspace":
    case "request":
      return ref.kind;
    case "project_model":
      return `project:${ref.name}${MODEL_PART}${ref.model}`;
    case "team_model":
      return `team:${ref.name}${MODEL_PART}${ref.model}`;
    default:
      return `${ref.kind}:${ref.name}`;
  }
}

/** The scope an id names; undefined for text that is no scope id. */
export function parseScopeId(id: string): ScopeRef | undefined {
  if (id === "workspace" || id === "request") return { kind: id };
  const colon = id.indexOf(":");
  if (colon < 0) return undefined;
  const kind = id.slice(0, colon);
  const name = id.slice(colon + 1);
  if (!SIMPLE.has(kind)) return undefined;
  if (kind === "project" || kind === "team") {
    // Project, team and model names all come from the config; the model is the last part.
    const split = name.lastIndexOf(MODEL_PART);
    if (split >= 0) {
      return {
        kind: kind === "project" ? "project_model" : "team_model",
        name: name.slice(0, split),
        model: name.slice(split + MODEL_PART.length),
      };
    }
  }
  return { kind: kind as SimpleKind, name };
}

/** The human name: "alice", "bot × gpt-4", "workspace". */
export function scopeName(ref: ScopeRef): string {
  switch (ref.kind) {
    case "workspace":
    case "request":
      return ref.kind;
    case "project_model":
    case "team_model":
      return `${ref.name} × ${ref.model}`;
    default:
      return ref.name;
  }
}
