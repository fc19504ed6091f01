import { compilePolicy, type Policy } from "../../src/budget/policy.js";
import { checkConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.generated.js";

/** A validated config from YAML text; fails the test with the problems if it is not valid. */
export function configFrom(yaml: string, env: Record<string, string> = {}): Config {
  const result = checkConfig(yaml, "test.yaml", env);
  if (!result.config) throw new Error(`test config invalid: ${JSON.stringify(result.errors, null, 2)}`);
  return result.config as Config;
}

export function policyFrom(yaml: string): Policy {
  return compilePolicy(configFrom(yaml));
}
