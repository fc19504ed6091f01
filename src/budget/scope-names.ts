import type { ScopeKind } from "./policy.js";

const SCOPE_WORD: Record<ScopeKind, string> = {
  request: "This request",
  run: "Run",
  key: "Key",
  user: "User",
  project_model: "Project × model",
  project: "Project",
  team_model: "Team × model",
  team: "Team",
  model: "Model",
  workspace: "Workspace",
};

/** "User alice", "Project × model bot × gpt-4", "Workspace": how refusals and alerts name a scope. */
export function scopeTitle(scope: { kind: ScopeKind; name: string }): string {
  const word = SCOPE_WORD[scope.kind];
  return scope.kind === "workspace" || scope.kind === "request" ? word : `${word} ${scope.name}`;
}
