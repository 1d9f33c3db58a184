import { describe, expect, it } from "vitest";
import { agoLabel, MIN_SPARK_S, sparkWindow } from "./chartwindow";

describe("agoLabel", () => {
  it("reads now, seconds, then minutes", () => {
    expect(agoLabel(2)).toBe("now");
    expect(agoLabel(30)).toBe("−30 s");
    expect(agoLabel(300)).toBe("−5 min");
  });
});

describe("sparkWindow", () => {
  it("starts just before the first activity, not 15 zero-padded minutes back", () => {
    const idle = new Array<number>(800).fill(0);
    const burst = [5, 10, 20, 20, 10];
    const after = new Array<number>(100).fill(0);
    const s = sparkWindow({ end_unix_s: 10_000, interval_s: 1, models: { a: [...idle, ...burst, ...after] } });
    expect(s.xs[s.xs.length - 1]).toBe(10_000);
    expect(s.total.slice(0, 2)).toEqual([0, 0]);
    expect(s.total[2]).toBe(5);
    expect(s.spanS).toBe(106);
    expect(s.max).toBe(20);
  });

  it("adds the models together and is at least a minute wide", () => {
    const s = sparkWindow({ end_unix_s: 500, interval_s: 1, models: { a: [1, 2], b: [3] } });
    expect(s.total.slice(-2)).toEqual([1, 5]);
    expect(s.xs).toHaveLength(MIN_SPARK_S);
    expect(s.max).toBe(5);
  });

  it("shows the last minute flat when idle", () => {
    const s = sparkWindow({ end_unix_s: 500, interval_s: 1, models: {} });
    expect(s.total).toHaveLength(MIN_SPARK_S);
    expect(s.max).toBe(0);
  });
});
