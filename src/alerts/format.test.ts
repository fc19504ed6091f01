import { describe, expect, it } from "vitest";
import { centsToMicros } from "../money/money.js";
import { type Alert, limitAlert, messageAlert } from "./alert.js";
import { alertText, emailSubject, logLine, scopeFields, webhookPayload } from "./format.js";

const AT = Date.parse("2026-03-25T09:45:00.123Z");
const base = {
  id: "00000000-0000-4000-8000-000000000001",
  at: AT,
  resetsAt: Date.parse("2026-03-26T00:00:00Z"),
};
const userA = { id: "user:user-a", kind: "user" as const, name: "user-a" };
const daily = (amount: number, unit: "cents" | "tokens" = "cents") => ({
  window: { kind: "day" as const },
  unit,
  amount,
  kind: "budget" as const,
});

function threshold(spent: number, pct: number): Alert {
  return limitAlert({
    ...base,
    event: "budget_threshold_exceeded",
    scope: userA,
    limit: daily(centsToMicros(300)),
    thresholdPct: pct,
    spent: centsToMicros(spent),
  });
}

describe("the alerts log line", () => {
  it("is the recipe's format, with the threshold and the id after it", () => {
    expect(logLine(threshold(240, 80))).toBe(
      "2026-03-25T09:45:00Z ALERT budget_threshold_exceeded user=user-a spent=$2.40 daily_limit=$3.00 pct=80% threshold=80% id=00000000-0000-4000-8000-000000000001",
    );
  });

  it("shows the real percentage, rounded down, beside the threshold that fired", () => {
    expect(logLine(threshold(900, 80))).toContain("spent=$9.00 daily_limit=$3.00 pct=300% threshold=80%");
    expect(logLine(threshold(299.99, 80))).toContain("pct=99% threshold=80%");
  });

  it("token limits, composite scopes, names that need quoting", () => {
    const alert = limitAlert({
      ...base,
      event: "budget_threshold_exceeded",
      scope: { id: "project:bot/model:gpt-4", kind: "project_model", name: "bot × gpt-4" },
      limit: daily(1000, "tokens"),
      thresholdPct: 50,
      spent: 600,
    });
    expect(logLine(alert)).toContain(
      "ALERT budget_threshold_exceeded project=bot model=gpt-4 spent_tokens=600 daily_limit_tokens=1000 pct=60%",
    );
    expect(scopeFields("user:Ada Lovelace")).toBe('user="Ada Lovelace"');
    expect(scopeFields("workspace")).toBe("workspace");
  });

  it("a user or run id that contains /model: is one name, not a composite scope", () => {
    expect(scopeFields("user:x/model:claude-x")).toBe("user=x/model:claude-x");
    expect(scopeFields("run:a/model:b c")).toBe('run="a/model:b c"');
    expect(scopeFields("team:ops/model:gpt-4")).toBe("team=ops model=gpt-4");
  });

  it("events without a limit carry their message", () => {
    const alert = messageAlert({
      id: "x",
      event: "reconcile_drift",
      at: AT,
      message: 'openai billed $1.20 more "today"',
    });
    expect(logLine(alert)).toBe(
      '2026-03-25T09:45:00Z ALERT reconcile_drift workspace message="openai billed $1.20 more \\"today\\"" id=x',
    );
  });
});

describe("the webhook payload", () => {
  it("has the documented fields, money in cents, and a Slack `text`", () => {
    expect(webhookPayload(threshold(240, 80))).toEqual({
      id: "00000000-0000-4000-8000-000000000001",
      event: "budget_threshold_exceeded",
      scope: "user:user-a",
      window: "daily",
      threshold_pct: 80,
      pct: 80,
      spent_cents: 240,
      limit_cents: 300,
      resets_at: "2026-03-26T00:00:00.000Z",
      at: "2026-03-25T09:45:00.123Z",
      text: "tokenpak: User user-a has used 80% of its daily budget ($2.40 of $3.00). It resets at 2026-03-26T00:00:00.000Z.",
      unit: "cents",
    });
  });

  it("token limits: cents are null, tokens given", () => {
    const alert = limitAlert({
      ...base,
      event: "budget_threshold_exceeded",
      scope: userA,
      limit: daily(1000, "tokens"),
      thresholdPct: 80,
      spent: 812,
    });
    expect(webhookPayload(alert)).toMatchObject({
      spent_cents: null,
      limit_cents: null,
      spent_tokens: 812,
      limit_tokens: 1000,
      pct: 81.2,
      unit: "tokens",
    });
  });

  it("pct is rounded down to a tenth: 80% means at least 80%", () => {
    expect(webhookPayload(threshold(239.99, 50)).pct).toBe(79.9);
  });
});

describe("words for people", () => {
  it.each([
    [
      "budget_exhausted",
      "tokenpak: User user-a has reached its daily budget limit ($2.99 of $3.00); requests are refused. It resets at 2026-03-26T00:00:00.000Z.",
    ],
    [
      "soft_limit_overrun",
      "tokenpak: User user-a is over its daily budget ($2.99 of $3.00); soft mode keeps serving its requests. It resets at 2026-03-26T00:00:00.000Z.",
    ],
  ] as const)("%s", (event, text) => {
    const alert = limitAlert({
      ...base,
      event,
      scope: userA,
      limit: daily(centsToMicros(300)),
      thresholdPct: 100,
      spent: centsToMicros(299),
    });
    expect(alertText(alert)).toBe(text);
  });

  it("the email subject names event, scope, window and percentage", () => {
    expect(emailSubject(threshold(240, 80))).toBe(
      "[tokenpak] budget_threshold_exceeded: user=user-a daily at 80%",
    );
  });
});
