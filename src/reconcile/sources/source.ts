import type { Period } from "../period.js";

/** Which of the organisation's traffic is tokenpak's (providers.<name>.reconcile). */
export interface Filter {
  project_ids?: readonly string[] | undefined;
  workspace_ids?: readonly string[] | undefined;
  api_key_ids?: readonly string[] | undefined;
}

/** What an admin-API source needs to fetch a period's figures. */
export interface SourceRequest {
  provider: string;
  baseUrl: string;
  adminKey: string;
  filter: Filter;
  timeoutMs: number;
  period: Period;
}
