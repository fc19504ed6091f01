import { describe, expect, it } from "vitest";
import type { JournalEntry } from "../ledger/journal.js";
import { NO_USAGE } from "../pricing/usage.js";
import { type Billing, type Diff, diffSpend, type Part } from "./diff.js";
import { LedgerFigures } from "./ledger-figures.js";
import { billedModel, canonicalModel, lineItemModel } from "./models.js";

const D1 = "2026-03-22";
const D2 = "2026-03-23";
const DAYS = [D1, D2];
const upstream: Record<string, string> = { "gpt-4o": "gpt-4o-2024-08-06", mini: "gpt-4o-mini" };
const billedName = (m: string) => canonicalModel(upstream[m] ?? m);

let seq = 0;
function settle(
  day: string,
  who: Record<string, string>,
  model: string,
  cost: number,
  tokens = 0,
): JournalEntry {
  return {
    type: "settle",
    seq: ++seq,
    ts: `${day}T23:59:59.000Z`,
    reserved_at: `${day}T10:00:00.000Z`,
    request_id: `r${seq}`,
    provider: "openai",
    model,
    usage: { ...NO_USAGE },
    cost,
    tokens,
    reserved: cost,
    status: "ok",
    ...who,
  };
}

/** The adjust entries a diff's parts become (as the ledger journals them). */
function journalled(diff: Diff): JournalEntry[] {
  return diff.lines.flatMap((l) =>
    l.parts.map(
      (p): JournalEntry => ({
        type: "adjust",
        seq: ++seq,
        ts: "2026-03-25T09:00:00.000Z",
        ...p.identity,
        ...(p.model !== "" ? { model: p.model } : {}),
        provider: "openai",
        cost: p.cost,
        tokens: p.tokens,
        reason: "reconcile",
        reconcile: { day: l.day, model: l.model, delta: l.written, provider_cost: 0, ledger_cost: 0 },
      }),
    ),
  );
}

function run(
  entries: JournalEntry[],
  billing: Billing,
  options: { provisional?: string; threshold?: number } = {},
) {
  const figures = new LedgerFigures("openai", (d) => DAYS.includes(d));
  for (const e of entries) figures.add(e);
  return diffSpend({
    billing,
    days: DAYS,
    provisional: options.provisional !== undefined ? [options.provisional] : undefined,
    ledger: figures.days,
    billedName,
    thresholdPct: options.threshold ?? 5,
  });
}

const billing = (costs: Billing["costs"], extra: Partial<Billing> = {}): Billing => ({
  source: "test",
  days: DAYS,
  costs,
  ...extra,
});
const parts = (diff: Diff, day: string, model: string): Part[] =>
  diff.lines.find((l) => l.day === day && l.model === model)?.parts ?? [];

describe("diffSpend", () => {
  const spend = [
    settle(D1, { user: "alice", project: "bot" }, "gpt-4o", 600, 60),
    settle(D1, { user: "bob", project: "bot" }, "gpt-4o", 300, 30),
    settle(D1, { user: "bob", project: "bot" }, "gpt-4o", 100, 10),
    settle(D1, { user: "carol", project: "web", team: "blue" }, "mini", 50, 5),
    // another provider's spend is not this provider's
    { ...settle(D1, { user: "alice" }, "claude", 999), provider: "anthropic" },
  ];

  it("compares per day × billed model, and spreads each delta over who spent, in proportion", () => {
    const diff = run(
      spend,
      billing([
        { day: D1, model: "gpt-4o", cost: 1100 },
        { day: D1, model: "gpt-4o-mini", cost: 50 },
      ]),
    );
    expect(
      diff.lines.map((l) => [l.day, l.model, l.ledger_cost, l.provider_cost, l.delta, l.written]),
    ).toEqual([
      [D1, "gpt-4o", 1000, 1100, 100, 100],
      [D1, "gpt-4o-mini", 50, 50, 0, 0],
    ]);
    expect(parts(diff, D1, "gpt-4o")).toEqual([
      { identity: { user: "alice", project: "bot" }, model: "gpt-4o", cost: 60, tokens: 0 },
      { identity: { user: "bob", project: "bot" }, model: "gpt-4o", cost: 40, tokens: 0 },
    ]);
    expect(parts(diff, D1, "gpt-4o-mini")).toEqual([]);
    // D2 is covered and nobody spent or was billed: nothing to write, no drift
    expect(diff.days).toEqual([
      {
        day: D1,
        provisional: false,
        metered_cost: 1050,
        ledger_cost: 1050,
        provider_cost: 1150,
        delta: 100,
        delta_pct: (100 / 1050) * 100,
        drift: false,
      },
      {
        day: D2,
        provisional: false,
        metered_cost: 0,
        ledger_cost: 0,
        provider_cost: 0,
        delta: 0,
        delta_pct: 0,
        drift: false,
      },
    ]);
  });

  it("drift: beyond the threshold, but never under one cent, and never on a provisional day", () => {
    const cents = (n: number) => n * 1_000_000;
    const ledger = [
      settle(D1, { user: "a" }, "gpt-4o", cents(100)),
      settle(D2, { user: "a" }, "gpt-4o", cents(100)),
    ];
    const bill = (d1: number, d2: number) =>
      billing([
        { day: D1, model: "gpt-4o", cost: d1 },
        { day: D2, model: "gpt-4o", cost: d2 },
      ]);
    const drift = (b: Billing, o: { threshold?: number; provisional?: string } = {}) =>
      run(ledger, b, o).days.map((d) => d.drift);
    expect(drift(bill(cents(105), cents(94.9)))).toEqual([false, true]);
    expect(drift(bill(cents(105.01), cents(100)))).toEqual([true, false]);
    expect(drift(bill(cents(120), cents(100)), { threshold: 20 })).toEqual([false, false]);
    expect(drift(bill(cents(120), cents(200)), { provisional: D2 })).toEqual([true, false]);
    // the ledger had nothing: any cent billed is drift (delta % is unknown)
    const none = run([], bill(cents(1), cents(0.5)));
    expect(none.days.map((d) => [d.delta_pct, d.drift])).toEqual([
      [null, true],
      [null, false],
    ]);
  });

  it("a second run on the same figures writes nothing; a changed figure writes only the difference", () => {
    const b = billing([{ day: D1, model: "gpt-4o", cost: 1300 }]);
    const first = run(spend, b);
    expect(first.lines.find((l) => l.model === "gpt-4o")?.written).toBe(300);
    const afterFirst = [...spend, ...journalled(first)];
    const second = run(afterFirst, b);
    expect(second.lines.flatMap((l) => l.parts)).toEqual([]);
    expect(second.lines.find((l) => l.model === "gpt-4o")).toMatchObject({
      ledger_cost: 1300,
      delta: 0,
      corrected_cost: 300,
    });
    // the provider revises the day: the latest figure wins
    const third = run(afterFirst, billing([{ day: D1, model: "gpt-4o", cost: 1250 }]));
    const line = third.lines.find((l) => l.model === "gpt-4o");
    expect(line).toMatchObject({ ledger_cost: 1300, provider_cost: 1250, delta: -50, written: -50 });
    expect(line?.parts.reduce((s, p) => s + p.cost, 0)).toBe(-50);
    // and the end state is the same as if 1250 had been the only figure
    const direct = run(spend, billing([{ day: D1, model: "gpt-4o", cost: 1250 }]));
    const total = (entries: JournalEntry[]) => {
      const byUser = new Map<string, number>();
      for (const e of entries)
        if (e.type === "adjust") byUser.set(e.user ?? "", (byUser.get(e.user ?? "") ?? 0) + e.cost);
      return byUser;
    };
    expect(total([...journalled(first), ...journalled(third)])).toEqual(total(journalled(direct)));
  });

  it("the parts sum exactly to the delta, remainders assigned deterministically", () => {
    const three = [
      settle(D1, { user: "a" }, "gpt-4o", 1),
      settle(D1, { user: "b" }, "gpt-4o", 1),
      settle(D1, { user: "c" }, "gpt-4o", 1),
    ];
    const diff = run(three, billing([{ day: D1, model: "gpt-4o", cost: 103 }]));
    const line = diff.lines[0];
    expect(line?.parts.map((p) => [p.identity.user, p.cost])).toEqual([
      ["a", 34],
      ["b", 33],
      ["c", 33],
    ]);
    expect(line?.parts.reduce((s, p) => s + p.cost, 0)).toBe(line?.delta);
  });

  it("a model billed that nobody spent on through tokenpak is the workspace's", () => {
    const diff = run(
      spend.slice(0, 1),
      billing([
        { day: D1, model: "gpt-4o", cost: 600 },
        { day: D1, model: "o3", cost: 70 },
      ]),
    );
    expect(parts(diff, D1, "o3")).toEqual([{ identity: {}, model: "o3", cost: 70, tokens: 0 }]);
  });

  it("spend the provider did not bill is corrected to what it did bill (nothing)", () => {
    const diff = run(spend.slice(0, 1), billing([]));
    expect(diff.lines).toMatchObject([
      { day: D1, model: "gpt-4o", ledger_cost: 600, provider_cost: 0, delta: -600 },
    ]);
    expect(parts(diff, D1, "gpt-4o")).toEqual([
      { identity: { user: "alice", project: "bot" }, model: "gpt-4o", cost: -600, tokens: 0 },
    ]);
  });

  it("a source without models compares whole days, spread over every identity and model", () => {
    const diff = run(spend, billing([{ day: D1, model: "", cost: 1155 }]));
    expect(diff.lines.map((l) => [l.model, l.ledger_cost, l.provider_cost])).toEqual([["", 1050, 1155]]);
    expect(parts(diff, D1, "").map((p) => [p.identity.user, p.model, p.cost])).toEqual([
      ["alice", "gpt-4o", 60],
      ["bob", "gpt-4o", 40],
      ["carol", "mini", 5],
    ]);
    // a later run per model undoes the whole-day line and corrects per model instead
    const later = run(
      [...spend, ...journalled(diff)],
      billing([
        { day: D1, model: "gpt-4o", cost: 1100 },
        { day: D1, model: "gpt-4o-mini", cost: 55 },
      ]),
    );
    expect(later.lines.map((l) => [l.model, l.corrected_cost, l.written])).toEqual([
      ["", 105, -105],
      ["gpt-4o", 0, 100],
      ["gpt-4o-mini", 0, 5],
    ]);
    expect(later.days[0]).toMatchObject({ ledger_cost: 1155, provider_cost: 1155, delta: 0 });
  });

  it("models the source bills by name take their own line; the rest go to its whole-day line", () => {
    const diff = run(
      spend,
      billing([
        { day: D1, model: "gpt-4o", cost: 1000 },
        { day: D1, model: "", cost: 80 },
      ]),
    );
    expect(diff.lines.map((l) => [l.model, l.ledger_cost, l.provider_cost])).toEqual([
      ["", 50, 80],
      ["gpt-4o", 1000, 1000],
    ]);
  });

  it("a provisional day is only corrected upwards: the provider may not have all of it yet", () => {
    const today = [settle(D2, { user: "a" }, "gpt-4o", 500)];
    const under = run(today, billing([{ day: D2, model: "gpt-4o", cost: 400 }]), { provisional: D2 });
    expect(under.lines.find((l) => l.day === D2)).toMatchObject({ delta: -100, written: 0, parts: [] });
    const over = run(today, billing([{ day: D2, model: "gpt-4o", cost: 650 }]), { provisional: D2 });
    expect(over.lines.find((l) => l.day === D2)).toMatchObject({
      delta: 150,
      written: 150,
      provisional: true,
    });
  });

  it("only the days the source covers are compared (a CSV invoice of some days)", () => {
    const diff = run(spend, billing([{ day: D2, model: "gpt-4o", cost: 5 }], { days: [D2] }));
    expect(diff.days.map((d) => d.day)).toEqual([D2]);
    expect(diff.lines.map((l) => l.day)).toEqual([D2]);
  });

  it("tokens: corrected where the usage report has figures, spread by tokens; left alone where not", () => {
    const diff = run(
      spend,
      billing(
        [
          { day: D1, model: "gpt-4o", cost: 1000 },
          { day: D1, model: "gpt-4o-mini", cost: 50 },
        ],
        { tokens: [{ day: D1, model: "gpt-4o", tokens: 120 }] },
      ),
    );
    const l = diff.lines.find((x) => x.model === "gpt-4o");
    expect(l).toMatchObject({ provider_tokens: 120, ledger_tokens: 100, tokens_written: 20, written: 0 });
    expect(l?.parts.map((p) => [p.identity.user, p.cost, p.tokens])).toEqual([
      ["alice", 0, 12],
      ["bob", 0, 8],
    ]);
    expect(diff.lines.find((x) => x.model === "gpt-4o-mini")).toMatchObject({
      provider_tokens: null,
      tokens_written: 0,
    });
  });

  it("tokens of a day the usage report returned no bucket for are left alone, not zeroed", () => {
    const costs = [{ day: D1, model: "gpt-4o", cost: 1000 }];
    const tokens = [{ day: D1, model: "gpt-4o", tokens: 120 }];
    const diff = run(spend, billing(costs, { tokens, tokenDays: [D2] }));
    expect(diff.lines.find((x) => x.model === "gpt-4o")).toMatchObject({
      provider_tokens: null,
      tokens_written: 0,
    });
    const covered = run(spend, billing(costs, { tokens, tokenDays: [D1, D2] }));
    expect(covered.lines.find((x) => x.model === "gpt-4o")?.tokens_written).toBe(20);
  });

  it("a provisional day keeps the correction it has: a later, lower figure writes nothing", () => {
    // An earlier run raised +50 on metered 100 (provider 150); since, metered 200 and the provider says 180.
    const earlier = [settle(D2, { user: "a" }, "gpt-4o", 100)];
    const first = run(earlier, billing([{ day: D2, model: "gpt-4o", cost: 150 }]), { provisional: D2 });
    expect(first.lines[0]?.written).toBe(50);
    const later = [...earlier, ...journalled(first), settle(D2, { user: "a" }, "gpt-4o", 100)];
    const now = run(later, billing([{ day: D2, model: "gpt-4o", cost: 180 }]), { provisional: D2 });
    expect(now.lines[0]).toMatchObject({ ledger_cost: 250, delta: -70, written: 0, parts: [] });
    // once final, the latest figure wins
    const final = run(later, billing([{ day: D2, model: "gpt-4o", cost: 180 }]));
    expect(final.lines[0]).toMatchObject({ written: -70 });
  });

  it("a provisional day lowers nobody's correction when the shares move, and the parts still sum", () => {
    const morning = [settle(D2, { user: "a" }, "gpt-4o", 100)];
    const first = run(morning, billing([{ day: D2, model: "gpt-4o", cost: 150 }]), { provisional: D2 });
    expect(parts(first, D2, "gpt-4o").map((p) => [p.identity.user, p.cost])).toEqual([["a", 50]]);
    // b spends as much as a; the day's correction rises to 60, of which a's share would be 30 (< 50)
    const later = [...morning, ...journalled(first), settle(D2, { user: "b" }, "gpt-4o", 100)];
    const b = billing([{ day: D2, model: "gpt-4o", cost: 260 }]);
    const second = run(later, b, { provisional: D2 });
    expect(parts(second, D2, "gpt-4o").map((p) => [p.identity.user, p.cost])).toEqual([["b", 10]]);
    expect(second.lines[0]?.written).toBe(10);
    // and a rerun on the same figures writes nothing
    const again = run([...later, ...journalled(second)], b, { provisional: D2 });
    expect(again.lines.flatMap((l) => l.parts)).toEqual([]);
  });

  it("a ledger model and a billed model that do not match by name are compared together, not zeroed", () => {
    // The config says gpt-4-turbo-preview; the provider bills the snapshot it resolved to.
    const turbo = [
      settle(D1, { user: "alice" }, "gpt-4-turbo-preview", 600),
      settle(D1, { user: "bob" }, "gpt-4-turbo-preview", 200),
      settle(D1, { user: "carol" }, "mini", 50),
    ];
    const diff = run(
      turbo,
      billing([
        { day: D1, ...billedModel("gpt-4-0125-preview"), cost: 1000 },
        { day: D1, model: "gpt-4o-mini", cost: 50 },
      ]),
    );
    expect(diff.lines.map((l) => [l.model, l.ledger_cost, l.provider_cost, l.written])).toEqual([
      ["", 800, 1000, 200],
      ["gpt-4o-mini", 50, 50, 0],
    ]);
    // alice and bob carry the difference in proportion; nobody is corrected to $0, nothing is the workspace's
    expect(parts(diff, D1, "").map((p) => [p.identity.user, p.model, p.cost])).toEqual([
      ["alice", "gpt-4-turbo-preview", 150],
      ["bob", "gpt-4-turbo-preview", 50],
    ]);
    expect(diff.mismatches).toEqual([
      {
        day: D1,
        ledger: ["gpt-4-turbo-preview"],
        billed: ["gpt-4-preview"],
        billed_as: ["gpt-4-0125-preview"],
        compared: { "gpt-4-turbo-preview": "gpt-4-turbo-preview" },
      },
    ]);
    // a model only in the ledger, with nothing unclaimed billed, is still corrected to what was billed
    const alone = run(turbo, billing([{ day: D1, model: "gpt-4o-mini", cost: 50 }]));
    expect(alone.mismatches).toEqual([]);
    expect(alone.lines.find((l) => l.model === "gpt-4-turbo-preview")?.written).toBe(-800);
  });

  it("an OpenAI 4-digit snapshot matches its configured model: alice keeps her spend", () => {
    const ledger = [settle(D1, { user: "alice" }, "gpt-3.5-turbo", 63_375)];
    const diff = run(
      ledger,
      billing([{ day: D1, model: canonicalModel("gpt-3.5-turbo-0125"), cost: 63_375 }]),
    );
    expect(diff.lines.map((l) => [l.model, l.ledger_cost, l.provider_cost, l.written])).toEqual([
      ["gpt-3.5-turbo", 63_375, 63_375, 0],
    ]);
    expect(diff.mismatches).toEqual([]);
  });
});

describe("model names", () => {
  it.each([
    ["gpt-4o-2024-08-06", "gpt-4o"],
    ["claude-sonnet-4-20250514", "claude-sonnet-4"],
    ["claude-3-5-sonnet-latest", "claude-3-5-sonnet"],
    ["gpt-4o", "gpt-4o"],
    ["o3-mini", "o3-mini"],
    // OpenAI's older snapshots: month and day only
    ["gpt-3.5-turbo-0125", "gpt-3.5-turbo"],
    ["gpt-4-0613", "gpt-4"],
    ["gpt-4-32k-0314", "gpt-4-32k"],
    ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"],
    // a dated preview keeps "-preview": GPT-4 Turbo previews are not gpt-4
    ["gpt-4-1106-preview", "gpt-4-preview"],
    ["gpt-4-0125-preview", "gpt-4-preview"],
    ["o1-preview-2024-09-12", "o1-preview"],
    // other models stay apart
    ["gpt-4-turbo", "gpt-4-turbo"],
    ["gpt-4-turbo-2024-04-09", "gpt-4-turbo"],
    ["gpt-4", "gpt-4"],
    // four digits that are no month and day are part of the name
    ["llama3-8b-8192", "llama3-8b-8192"],
    ["mistral-large-2411", "mistral-large-2411"],
  ])("canonical %s → %s", (name, canonical) => expect(canonicalModel(name)).toBe(canonical));

  it.each([
    ["gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06"],
    ["gpt-4o-mini-2024-07-18, cached input", "gpt-4o-mini-2024-07-18"],
    ["text-embedding-3-small, input", "text-embedding-3-small"],
    ["gpt-4o", "gpt-4o"],
    ["Web search tool calls", "Web search tool calls"],
  ])("line item %s → %s", (item, model) => expect(lineItemModel(item)).toBe(model));
});
