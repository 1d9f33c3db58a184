import { describe, expect, it } from "vitest";
import { agoLabel, chartWindow } from "./chartwindow";

describe("chartWindow", () => {
  it("pads a short history with zeros to the whole window, ending at the newest second", () => {
    const data = chartWindow({ end_unix_s: 1000, interval_s: 1, models: { b: [3, 4], a: [1] } }, 5);
    expect(data.xs).toEqual([996, 997, 998, 999, 1000]);
    expect(data.models).toEqual(["a", "b"]);
    expect(data.perModel).toEqual([
      [0, 0, 0, 0, 1],
      [0, 0, 0, 3, 4],
    ]);
  });

  it("keeps only the window's newest points and reports tokens per second", () => {
    const data = chartWindow({ end_unix_s: 100, interval_s: 2, models: { m: [2, 4, 6, 8] } }, 6);
    expect(data.xs).toEqual([96, 98, 100]);
    expect(data.perModel).toEqual([[2, 3, 4]]);
  });
});

describe("agoLabel", () => {
  it("reads now, seconds, then minutes", () => {
    expect(agoLabel(2)).toBe("now");
    expect(agoLabel(30)).toBe("−30 s");
    expect(agoLabel(300)).toBe("−5 min");
  });
});
