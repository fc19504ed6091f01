import { compilePolicy } from "../../src/budget/policy.js";
import { checkConfig } from "../../src/config/load.js";
/** A validated config from YAML text; fails the test with the problems if it is not valid. */
export function configFrom(yaml, env = {}) {
  const result = checkConfig(yaml, "test.yaml", env);
  if (!result.config) throw new Error(`test config invalid: ${JSON.stringify(result.errors, null, 2)}`);
  return result.config;
}
export function policyFrom(yaml) {
  return compilePolicy(configFrom(yaml));
}
//# sourceMappingURL=policy.js.map
