import { describe, expect, it } from "vitest";
import { CLIENT_RUN_TOOL_TYPES, HOSTED_TOOL_KINDS } from "../pricing/tool-kinds.js";
import { builtinTools, callKind, hostedKind, toolCallsIn } from "./tools.js";

describe("which tools the provider runs", () => {
  it.each([
    [{ type: "web_search" }, "web_search"],
    [{ type: "web_search_preview_2025_03_11" }, "web_search"],
    [{ type: "file_search", vector_store_ids: ["vs_1"] }, "file_search"],
    [{ type: "code_interpreter", container: { type: "auto" } }, "code_interpreter"],
    [{ type: "image_generation" }, "image_generation"],
    [{ type: "mcp", server_label: "x" }, "mcp"],
    [{ type: "tool_search" }, "tool_search"],
    [{ type: "tool_search", execution: "client" }, undefined],
    [{ type: "shell", environment: { type: "container_auto" } }, "shell"],
    [{ type: "shell", environment: { type: "container_reference", container_id: "c" } }, "shell"],
    [{ type: "shell", environment: { type: "local" } }, undefined],
    [{ type: "shell" }, undefined],
    [{ type: "function", name: "f" }, undefined],
    [{ type: "custom", name: "x" }, undefined],
    [{ type: "namespace", name: "crm", tools: [] }, undefined],
    [{ type: "computer_use_preview" }, undefined],
    [{ type: "local_shell" }, undefined],
    [{ type: "apply_patch" }, undefined],
    [{ type: "something_new" }, "something_new"], // unknown: the provider's, refused until priced
  ])("%j → %s", (tool, kind) => {
    expect(hostedKind(tool)).toBe(kind);
  });

  it("the two lists do not overlap but for the shell (hosted in a container, else the client's)", () => {
    expect(HOSTED_TOOL_KINDS.filter((k) => CLIENT_RUN_TOOL_TYPES.includes(k))).toEqual([]);
    for (const type of CLIENT_RUN_TOOL_TYPES) expect(builtinTools([{ type }]), type).toEqual([]);
  });
});

describe("which output items are calls billed per call", () => {
  it.each([
    [{ type: "web_search_call" }, "web_search"],
    [{ type: "file_search_call" }, "file_search"],
    [{ type: "code_interpreter_call" }, "code_interpreter"],
    [{ type: "image_generation_call" }, "image_generation"],
    [{ type: "mcp_call" }, "mcp"],
    [{ type: "tool_search_call", execution: "server" }, "tool_search"],
    [{ type: "tool_search_call", execution: "client" }, undefined],
    [{ type: "shell_call", environment: { type: "container_reference", container_id: "c" } }, "shell"],
    [{ type: "shell_call", environment: { type: "local" } }, undefined],
    [{ type: "shell_call", environment: null }, undefined],
    [{ type: "function_call", namespace: "crm" }, undefined],
    [{ type: "custom_tool_call", name: "x", input: "" }, undefined],
    [{ type: "computer_call" }, undefined],
    [{ type: "local_shell_call" }, undefined],
    [{ type: "apply_patch_call" }, undefined],
    [{ type: "message" }, undefined],
    [{ type: "mcp_list_tools" }, undefined],
    [{ type: "something_new_call" }, "something_new"],
  ])("%j → %s", (item, kind) => {
    expect(callKind(item)).toBe(kind);
  });

  it("an answer's calls are counted by kind", () => {
    const output = [
      { type: "web_search_call" },
      { type: "custom_tool_call" },
      { type: "web_search_call" },
      { type: "function_call" },
    ];
    expect(toolCallsIn(output)).toEqual({ web_search: 2 });
  });
});
