import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import { configChanges, keepStartSettings } from "./config-diff.js";

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

describe("keepStartSettings", () => {
  it("puts the file in force but for where the daemon listens and stores: a second reload reports them again", () => {
    const started = configFrom(yaml());
    const file = configFrom(
      yaml({
        budget: "50",
        server: ", host: 0.0.0.0, admin_token: abcdefghijklmnopq",
        storage: "fsync: always",
        alerts: "log_file: a.log",
      }),
    );
    const inForce = keepStartSettings(started, file);
    expect(inForce.budget.daily_limit_cents).toBe(50);
    expect(inForce.server).toMatchObject({ host: "127.0.0.1", port: 8000, admin_token: "abcdefghijklmnopq" });
    expect(inForce.storage).toEqual(started.storage);
    expect(inForce.alerts.log_file).toBeUndefined();
    expect(Object.isFrozen(inForce) && Object.isFrozen(inForce.server)).toBe(true);
    const again = configChanges(inForce, file);
    expect(again.changed).toEqual([]);
    expect(again.restartRequired).toEqual(configChanges(started, file).restartRequired);
    expect(again.restartRequired).toHaveLength(3);
  });
});
