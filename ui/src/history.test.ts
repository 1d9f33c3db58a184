import { describe, expect, it } from "vitest";
import { align, energyWords } from "./history";
import type { EnergyWindow, Series } from "./types";

const window = (extra: Partial<EnergyWindow>): EnergyWindow => ({
  from_unix_s: 0,
  to_unix_s: 900,
  energy_wh: 3,
  covered_s: 90,
  tokens: 9000,
  porten_tokens: 0,
  wh_per_million_tokens: 333.33,
  cost: null,
  cost_per_million_tokens: null,
  ...extra,
});

describe("aligning the history for the charts", () => {
  it("puts every series on one time axis, a missing row a gap and never a zero", () => {
    const series: Series = {
      from_unix_s: 0,
      to_unix_s: 3600,
      resolution_s: 10,
      cluster: [
        { at_unix_s: 10, power_watts: 100, tokens_per_s: 5, ttft_p50_ms: null, ttft_p95_ms: null, requests: 1, errors: 0, tokens: 50, porten_tokens: 0, tokens_served_total: 50 },
        { at_unix_s: 20, power_watts: 110, tokens_per_s: 6, ttft_p50_ms: null, ttft_p95_ms: null, requests: 1, errors: 0, tokens: 60, porten_tokens: 0, tokens_served_total: 110 },
      ],
      boxes: {
        "mini-2": [{ at_unix_s: 20, memory_used_bytes: 2e9, memory_total_bytes: 8e9, power_watts: 40, gpu_usage: null, temp_c: null }],
        "studio-1": [
          { at_unix_s: 0, memory_used_bytes: 1e9, memory_total_bytes: 8e9, power_watts: 60, gpu_usage: null, temp_c: null },
          { at_unix_s: 10, memory_used_bytes: null, memory_total_bytes: 8e9, power_watts: 70, gpu_usage: null, temp_c: null },
        ],
      },
      models: {},
    };
    const a = align(series);
    expect(a.xs).toEqual([0, 10, 20]);
    expect(a.tokensPerS).toEqual([null, 5, 6]);
    expect(a.boxes).toEqual(["mini-2", "studio-1"]);
    expect(a.boxWatts).toEqual([
      [null, null, 40],
      [60, 70, null],
    ]);
    expect(a.boxMemoryGb).toEqual([
      [null, null, 2],
      [1, null, null],
    ]);
    expect(a.tokens).toBe(110);
  });
});

describe("the energy line", () => {
  it("says Wh per 1M tokens per window, and the cost with a tariff", () => {
    const words = energyWords({
      now: window({ cost: 0.001, cost_per_million_tokens: 0.1 }),
      today: window({ wh_per_million_tokens: 41.25, cost: 0.42, cost_per_million_tokens: 0.0124, porten_tokens: 1200, tokens: 5000 }),
      week: window({ wh_per_million_tokens: null }),
      currency: "EUR",
    });
    expect(words?.perToken).toBe("Wh per 1M tokens: now 333 · today 41.3");
    expect(words?.cost).toBe("Electricity 0.100 EUR per 1M tokens · 0.420 EUR today");
    expect(words?.porten).toBe("1,200 of today's 5,000 tokens went to Porten");
  });

  it("says so when no token was served, and shows no cost without a price", () => {
    const none = window({ tokens: 0, wh_per_million_tokens: null, energy_wh: 12.5 });
    const words = energyWords({ now: none, today: none, week: none, currency: null });
    expect(words).toEqual({ perToken: "Energy: 12.5 Wh today, no tokens served yet", cost: null, porten: null });
    expect(energyWords(null)).toBeNull();
  });
});
