import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import { configChanges } from "./config-diff.js";

const yaml = (extra: { budget?: string; server?: string; storage?: string; alerts?: string } = {}) => `
budget: { daily_limit_cents: ${extra.budget ?? "100"} }
server: { port: 8000${extra.server ?? ""} }
${extra.storage ? `storage: { ${extra.storage} }` : ""}
${extra.alerts ? `alerts: { ${extra.alerts} }` : ""}
providers: { mock: { type: mock } }
models: { m: { provider: mock, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 1 } }
`;

describe("configChanges", () => {
  const before = configFrom(yaml());

  it("nothing when nothing changed", () => {
    expect(configChanges(before, configFrom(yaml()))).toEqual({ changed: [], restartRequired: [] });
  });

  it("limits take effect now; host, port, storage and the alerts log wait for a restart", () => {
    expect(configChanges(before, configFrom(yaml({ budget: "50" })))).toEqual({
      changed: ["budget"],
      restartRequired: [],
    });
    expect(
      configChanges(before, configFrom(yaml({ server: ", host: 0.0.0.0, admin_token: abcdefghijklmnopq" }))),
    ).toEqual({
      changed: ["server"],
      restartRequired: ['server.host: "127.0.0.1" → "0.0.0.0"'],
    });
    expect(
      configChanges(before, configFrom(yaml({ storage: "fsync: always", alerts: "log_file: a.log" }))),
    ).toEqual({
      changed: [],
      restartRequired: ['storage.fsync: "batch" → "always"', 'alerts.log_file: (unset) → "a.log"'],
    });
  });
});
