import { describe, expect, it } from "vitest";
import { benchCells, ollamaRows, progressLine } from "./bench";
import { shortModel } from "./format";
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

describe("the Ollama benchmark's rows", () => {
  it("names the box in each row, and says why a box has none", () => {
    const model = {
      model: "llama3.2:latest",
      runs: 3,
      failures: [],
      ttft_ms: { n: 3, min: 50, p50: 60, p95: 70, max: 70 },
      decode_tokens_per_s: { n: 3, min: 40, p50: 48.5, p95: 50, max: 50 },
      e2e_ms: null,
      completion_tokens: null,
      json_fidelity: { asked: 3, parsed: 3, schema_ok: 3, parsed_share: 1, schema_share: 1 },
    };
    const rows = ollamaRows({
      engine: "ollama",
      runs: 3,
      boxes: [
        { address: "127.0.0.1:11434", url: "http://127.0.0.1:11434", is_local: true, models: [model] },
        { address: "192.168.99.2:11434", url: "http://192.168.99.2:11434", is_local: false, problem: "not answering", models: [] },
      ],
    });
    expect(rows.map((r) => r.cells)).toEqual([
      ["this Mac · llama3.2:latest", "60 ms", "48.5 tok/s", "3/3 valid", ""],
      ["192.168.99.2:11434", "—", "—", "—", "not answering"],
    ]);
  });
});
