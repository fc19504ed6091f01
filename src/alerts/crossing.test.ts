import { describe, expect, it } from "vitest";
import { claim, crossings, type Fired, type Level, type Reading } from "./crossing.js";

const T = [50, 80, 100];
const day = (spent: number, instance = "d:2026-03-25", limit = 1000, cap = 1000): Reading => ({
  spent,
  limit,
  cap,
  instance,
  rolling: false,
});
const rolling = (spent: number): Reading => ({
  spent,
  limit: 1000,
  cap: 1000,
  instance: "r:24h",
  rolling: true,
});
const fired = (instance: string, ...levels: Level[]): Fired => ({ instance, levels });

describe("crossings (thresholds 50/80/100, limit 1000, cap 1000)", () => {
  it.each<[string, Reading, Fired | undefined, Level[], Fired | undefined]>([
    ["nothing reached", day(499), undefined, [], undefined],
    ["exactly 50%", day(500), undefined, [50], fired("d:2026-03-25", 50)],
    ["50% again", day(700), fired("d:2026-03-25", 50), [], fired("d:2026-03-25", 50)],
    ["50 → 80", day(800), fired("d:2026-03-25", 50), [80], fired("d:2026-03-25", 50, 80)],
    ["a jump over two thresholds fires both", day(850), undefined, [50, 80], fired("d:2026-03-25", 50, 80)],
    [
      "100% and the hard stop",
      day(1000),
      fired("d:2026-03-25", 50, 80),
      [100, "stop"],
      fired("d:2026-03-25", 50, 80, 100, "stop"),
    ],
    [
      "a refusal's stop already fired: only 100",
      day(1000),
      fired("d:2026-03-25", 50, 80, "stop"),
      [100],
      fired("d:2026-03-25", 50, 80, "stop", 100),
    ],
    [
      "a new day fires again",
      day(600, "d:2026-03-26"),
      fired("d:2026-03-25", 50, 80),
      [50],
      fired("d:2026-03-26", 50),
    ],
    [
      "a new day below every threshold forgets the old one",
      day(10, "d:2026-03-26"),
      fired("d:2026-03-25", 50),
      [],
      undefined,
    ],
    [
      "spend lowered by a credit: what fired stays fired",
      day(100),
      fired("d:2026-03-25", 50),
      [],
      fired("d:2026-03-25", 50),
    ],
    ["a limit of 0 fires nothing", day(5, "d:2026-03-25", 0, 0), undefined, [], undefined],
  ])("%s", (_name, reading, before, fire, after) => {
    const out = crossings(reading, T, before);
    expect(out.fire).toEqual(fire);
    expect(out.fired).toEqual(after);
  });

  it("hands back the very object when nothing changed (no allocation on the request path)", () => {
    const f = fired("d:2026-03-25", 50);
    expect(crossings(day(600), T, f).fired).toBe(f);
  });

  it("a hard stop above the limit (hard_stop_pct 120): 100% fires before the stop", () => {
    expect(crossings(day(1100, "d:1", 1000, 1200), T, undefined).fire).toEqual([50, 80, 100]);
    expect(crossings(day(1200, "d:1", 1000, 1200), T, fired("d:1", 50, 80, 100)).fire).toEqual(["stop"]);
  });

  it("thresholds above 100 and fractional ones", () => {
    expect(crossings(day(1250, "d:1", 1000, 2000), [33.3, 125], undefined).fire).toEqual([33.3, 125]);
    expect(crossings(day(332, "d:1"), [33.3], undefined).fire).toEqual([]);
    expect(crossings(day(333, "d:1"), [33.3], undefined).fire).toEqual([33.3]);
  });

  it("a rolling window re-arms only once it drains below the lowest threshold (no flapping around 80%)", () => {
    let f: Fired | undefined;
    const step = (spent: number) => {
      const out = crossings(rolling(spent), T, f);
      f = out.fired;
      return out.fire;
    };
    expect(step(820)).toEqual([50, 80]);
    expect(step(790)).toEqual([]); // dipped below 80: not re-armed
    expect(step(810)).toEqual([]);
    expect(step(400)).toEqual([]); // drained below 50: re-armed
    expect(f).toBeUndefined();
    expect(step(810)).toEqual([50, 80]);
  });
});

describe("claim (a level raised by an event: a refusal, a fallback)", () => {
  it("fires once per instance", () => {
    const first = claim(day(990), "stop", undefined);
    expect(first).toEqual({ fire: ["stop"], fired: fired("d:2026-03-25", "stop") });
    expect(claim(day(990), "stop", first.fired)).toEqual({ fire: [], fired: first.fired });
    expect(claim(day(990), "fallback", first.fired).fire).toEqual(["fallback"]);
  });

  it("fires again in a new instance", () => {
    expect(claim(day(990, "d:2026-03-26"), "stop", fired("d:2026-03-25", "stop")).fire).toEqual(["stop"]);
  });

  it("a spend crossing does not repeat a claimed stop", () => {
    const claimed = claim(day(990), "stop", fired("d:2026-03-25", 50, 80)).fired;
    expect(crossings(day(1000), T, claimed).fire).toEqual([100]);
  });

  it("in a rolling window a refusal while little is settled still fires once", () => {
    const first = claim(rolling(100), "stop", undefined);
    expect(first.fire).toEqual(["stop"]);
    expect(claim(rolling(100), "stop", first.fired).fire).toEqual([]);
  });
});
