import { type Policy } from "../../src/budget/policy.js";
import type { Config } from "../../src/config/types.generated.js";
/** A validated config from YAML text; fails the test with the problems if it is not valid. */
export declare function configFrom(yaml: string, env?: Record<string, string>): Config;
export declare function policyFrom(yaml: string): Policy;
