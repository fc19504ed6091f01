/**
 * What each file in test/fixtures/invalid/ must produce: exactly one error,
 * at this line:col (1-based, the place in the file a user should look), with
 * this JSON path, and a message and hint containing these substrings.
 * Shared by the in-process tests (config.test.ts) and the CLI tests.
 */
export interface InvalidFixture {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
  hint?: string;
}

export const INVALID_DIR = new URL("./fixtures/invalid/", import.meta.url);

export const INVALID_FIXTURES: readonly InvalidFixture[] = [
  // --- YAML itself ---
  {
    file: "yaml-syntax-error.yaml",
    // The unclosed `[` of line 4 is noticed where the next key starts.
    line: 5,
    col: 3,
    path: "(yaml)",
    message: "end with a ]",
  },
  {
    file: "yaml-tab-indent.yaml",
    line: 4,
    col: 1,
    path: "(yaml)",
    message: "Tabs are not allowed as indentation",
  },
  {
    file: "duplicate-yaml-key.yaml",
    line: 5,
    col: 3,
    path: "(yaml)",
    message: "Map keys must be unique",
    hint: "each key may appear once",
  },
  {
    file: "top-level-not-mapping.yaml",
    line: 2,
    col: 1,
    path: "(root)",
    message: "must be a mapping (key: value lines), got a list",
    hint: "a config file is a mapping of sections",
  },
  // --- shape (JSON Schema) ---
  {
    file: "unknown-key-typo.yaml",
    line: 4,
    col: 3,
    path: "budget.daily_limt_cents",
    message: "unknown key `daily_limt_cents`",
    hint: "did you mean `daily_limit_cents`?",
  },
  {
    file: "wrong-type.yaml",
    line: 3,
    col: 22,
    path: "budget.daily_limit_cents",
    message: 'must be a number, got string "lots"',
    hint: "US cents",
  },
  {
    file: "limit-zero.yaml",
    line: 7,
    col: 28,
    path: "budget.per_user_limits.user_limits.user-a.daily_limit_cents",
    message: "must be greater than 0",
    hint: "remove the key to have no limit",
  },
  {
    file: "limit-negative.yaml",
    line: 3,
    col: 24,
    path: "budget.monthly_limit_cents",
    message: "must be greater than 0",
    hint: "a limit must be positive",
  },
  {
    file: "bad-rolling-window.yaml",
    line: 7,
    col: 17,
    path: "teams.platform.rolling_limits[1].window",
    message: 'string "2 days" is not in the expected form',
    hint: "e.g. 30m, 24h, 7d",
  },
  {
    file: "provider-type-typo.yaml",
    line: 4,
    col: 11,
    path: "providers.openai.type",
    message: 'must be one of: openai, anthropic, openai-compatible, mock; got string "openia"',
    hint: "did you mean `openai`?",
  },
  {
    file: "openai-compatible-no-base-url.yaml",
    line: 3,
    col: 3,
    path: "providers.local",
    message: "missing required key `base_url`",
    hint: "add `base_url:` here",
  },
  {
    file: "redis-without-url.yaml",
    line: 4,
    col: 1,
    path: "storage",
    message: "missing required key `redis_url`",
    hint: "add `redis_url:` here",
  },
  {
    file: "missing-required-provider.yaml",
    line: 7,
    col: 3,
    path: "models.gpt-4",
    message: "missing required key `provider`",
    hint: "add `provider:` here",
  },
  {
    file: "webhook-ftp.yaml",
    line: 6,
    col: 7,
    path: "budget.alert_webhook[1]",
    message: 'string "ftp://files.example.com/alerts" is not in the expected form',
    hint: "An https: URL",
  },
  // --- environment ---
  {
    file: "missing-env-var.yaml",
    line: 5,
    col: 14,
    path: "providers.anthropic.api_key",
    message: "environment variable TOKENPAK_TEST_ANTHROPIC_KEY is not set",
    hint: "export TOKENPAK_TEST_ANTHROPIC_KEY=",
  },
  {
    file: "env-number-invalid.yaml",
    line: 3,
    col: 9,
    path: "server.port",
    message: 'must be a whole number, got string "eighty"',
  },
  // --- references and other semantic errors ---
  {
    file: "model-provider-undefined.yaml",
    line: 8,
    col: 15,
    path: "models.gpt-4.provider",
    message: "provider `openia` is not defined",
    hint: "did you mean `openai`?",
  },
  {
    file: "fallback-undefined.yaml",
    line: 4,
    col: 29,
    path: "budget.fallback_model_on_exceed",
    message: "model `gpt-3.5-turbo` is not defined",
    hint: "defined models: gpt-4",
  },
  {
    file: "key-project-undefined.yaml",
    line: 11,
    col: 14,
    path: "keys[1].project",
    message: "project `billing-app` is not defined",
    hint: "defined projects: support-bot",
  },
  {
    file: "project-team-undefined.yaml",
    line: 7,
    col: 11,
    path: "projects.support-bot.team",
    message: "team `platfrom` is not defined",
    hint: "did you mean `platform`?",
  },
  {
    file: "key-team-mismatch.yaml",
    line: 14,
    col: 11,
    path: "keys[0].team",
    message: "team `research` differs from project support-bot's team `platform`",
  },
  {
    file: "model-limits-undefined-model.yaml",
    // The name is the mapping key, so the key is where to look.
    line: 13,
    col: 7,
    path: "projects.research.model_limits.claude-opsu",
    message: "model `claude-opsu` is not defined",
    hint: "did you mean `claude-opus`?",
  },
  {
    file: "duplicate-secret.yaml",
    line: 10,
    col: 10,
    path: "keys[1].key",
    message: "key `second` has the same secret as key `first` (keys[0])",
    hint: "every client key must be unique",
  },
  {
    file: "duplicate-secret-hashed.yaml",
    line: 10,
    col: 17,
    path: "keys[1].key_sha256",
    message: "key `hashed` has the same secret as key `plain` (keys[0])",
    hint: "every client key must be unique",
  },
  {
    file: "duplicate-key-name.yaml",
    line: 9,
    col: 11,
    path: "keys[1].name",
    message: "key name `ci` is already used by keys[0]",
  },
  {
    file: "key-without-secret.yaml",
    line: 6,
    col: 5,
    path: "keys[0]",
    message: "key `ci` has no secret",
    hint: "give exactly one",
  },
  {
    file: "key-both-secrets.yaml",
    line: 6,
    col: 5,
    path: "keys[0]",
    message: "key `ci` has both key and key_sha256",
    hint: "give exactly one",
  },
  {
    file: "unknown-timezone.yaml",
    line: 4,
    col: 13,
    path: "budget.timezone",
    message: "unknown time zone `Mars/Olympus_Mons`",
    hint: "IANA name",
  },
  {
    file: "reconcile-filter-wrong-provider.yaml",
    line: 7,
    col: 20,
    path: "providers.anthropic.reconcile.project_ids",
    message: "project_ids filters OpenAI's reports; provider anthropic is anthropic",
    hint: "use workspace_ids",
  },
];
