import { describe, expect, it } from "vitest";
import { formatScopeId, parseScopeId, type ScopeRef, scopeName } from "./scope-id.js";

describe("scope ids", () => {
  const refs: [ScopeRef, string, string][] = [
    [{ kind: "workspace" }, "workspace", "workspace"],
    [{ kind: "user", name: "alice" }, "user:alice", "alice"],
    [{ kind: "run", name: "r:1" }, "run:r:1", "r:1"],
    [{ kind: "key", name: "ci" }, "key:ci", "ci"],
    [{ kind: "model", name: "openai/gpt-4o" }, "model:openai/gpt-4o", "openai/gpt-4o"],
    [{ kind: "project", name: "bot" }, "project:bot", "bot"],
    [{ kind: "project_model", name: "bot", model: "gpt-4" }, "project:bot/model:gpt-4", "bot × gpt-4"],
    [{ kind: "team_model", name: "ops", model: "m" }, "team:ops/model:m", "ops × m"],
    // Client input: a user id that looks composite is still one user.
    [{ kind: "user", name: "x/model:claude-x" }, "user:x/model:claude-x", "x/model:claude-x"],
    [{ kind: "run", name: "a/model:b" }, "run:a/model:b", "a/model:b"],
  ];

  it.each(refs)("%j is %s and reads back the same", (ref, id, name) => {
    expect(formatScopeId(ref)).toBe(id);
    expect(parseScopeId(id)).toEqual(ref);
    expect(scopeName(ref)).toBe(name);
  });

  it("text that is no scope id reads as undefined", () => {
    for (const id of ["", "nonsense", "galaxy:x", ":x"]) expect(parseScopeId(id)).toBeUndefined();
  });
});
