import { describe, expect, it } from "vitest";
import { benchCells, progressLine, shortModel } from "./bench";
import type { ModelBench } from "./types";

const summary = (p50: number) => ({ n: 3, min: p50, p50, p95: p50, max: p50 });

describe("benchCells", () => {
  it("shows TTFT, decode and JSON fidelity of a model", () => {
    const m: ModelBench = {
      model: "mlx-community/Qwen3-30B-A3B-4bit",
      runs: 3,
      failures: [],
      ttft_ms: summary(281.6),
      decode_tokens_per_s: summary(83.24),
      e2e_ms: summary(1050),
      completion_tokens: summary(64),
      json_fidelity: { asked: 3, parsed: 3, schema_ok: 2, parsed_share: 1, schema_share: 2 / 3 },
    };
    expect(benchCells(m)).toEqual(["Qwen3-30B-A3B-4bit", "282 ms", "83.2 tok/s", "2/3 valid", ""]);
  });

  it("shows dashes and the failure count when every run failed", () => {
    const m: ModelBench = {
      model: "smollm2",
      runs: 1,
      failures: ["HTTP 503", "HTTP 503"],
      ttft_ms: null,
      decode_tokens_per_s: null,
      e2e_ms: null,
      completion_tokens: null,
      json_fidelity: { asked: 1, parsed: 0, schema_ok: 0, parsed_share: 0, schema_share: 0 },
    };
    expect(benchCells(m)).toEqual(["smollm2", "—", "—", "0/1 valid", "2 failed"]);
  });
});

describe("progress", () => {
  it("names the model briefly", () => {
    expect(shortModel("a/b/c")).toBe("c");
    expect(progressLine({ model: "org/m", request: 2, requests: 6 })).toBe("m: request 2 of 6…");
  });
});
