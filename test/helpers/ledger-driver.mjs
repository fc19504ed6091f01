// Drives a real ledger as fast as it can until it is killed. Prints "ready",
// then one "ack <cost>" line per settle whose journal write has completed —
// exactly what a proxy would have acknowledged to its client.
import { compilePolicy } from "../../dist/budget/policy.js";
import { checkConfig } from "../../dist/config/load.js";
import { Ledger } from "../../dist/ledger/ledger.js";

const dir = process.argv[2];
const fsync = process.argv[3] ?? "batch";
const yaml = `
budget:
  daily_limit_cents: 100000000
  rolling_limits: [{ window: 30d, limit_cents: 100000000 }]
  per_user_limits: { enabled: true, default: { daily_limit_cents: 10000000 } }
providers: { p: { type: mock } }
models: { m: { provider: p, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 } }
`;
const checked = checkConfig(yaml, "driver.yaml", {});
if (!checked.config) throw new Error("driver config invalid");
const policy = compilePolicy(checked.config);
const model = {
  name: "m",
  provider: "p",
  prices: {
    input: 3_000_000,
    output: 6_000_000,
    cached_input: 3_000_000,
    cache_write: 3_000_000,
    cache_write_1h: 3_000_000,
  },
  maxOutputTokens: 1000,
};
const { ledger } = await Ledger.open({ dir, policy, fsync, snapshotIntervalMs: 50 });
process.stdout.write("ready\n");

let n = 0;
async function worker(w) {
  for (;;) {
    const id = `${process.pid}-${w}-${n++}`;
    const r = ledger.reserve({
      requestId: id,
      identity: { user: `u${n % 50}` },
      model,
      inputTokens: 100 + (n % 900),
      requestedMaxTokens: 200,
    });
    if (r.action !== "allow") throw new Error(`blocked: ${JSON.stringify(r)}`);
    await r.written;
    const cost = Math.floor(r.reserve.micros * ((n % 10) / 10));
    await ledger.settle(id, {
      usage: { input: 100, cached_input: 0, cache_write: 0, cache_write_1h: 0, output: 100, reasoning: 0 },
      cost,
      status: "ok",
    });
    process.stdout.write(`ack ${cost}\n`);
  }
}
await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
