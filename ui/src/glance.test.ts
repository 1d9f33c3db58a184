// The state word, the subtitle and the attention rows: the cases where the old popover
// contradicted itself (issue #15) are pinned here.

import { describe, expect, it } from "vitest";
import { shortModel } from "./format";
import { attention, fixParts, glance, quitStopsServing, stopExoQuestion, subtitle } from "./glance";
import { GB, model, snapshot } from "./testdata";
import type { Snapshot, Warning } from "./types";

const idle = { tokensPerS: 0, joining: false };
const warning = (severity: Warning["severity"], code: Warning["code"] = "tb_link_slow"): Warning => ({
  code,
  scope: "this_mac",
  severity,
  message: code,
  fix: "fix",
});

function running(extra: Partial<Snapshot> = {}): Snapshot {
  const s = snapshot();
  s.services.exo = { ...s.services.exo, state: "running" };
  s.warnings = [];
  return { ...s, ...extra };
}

describe("the state word", () => {
  it("says Serving only with a model that answers and nothing wrong", () => {
    expect(glance(running(), idle)).toBe("serving");
    const none = running();
    none.cluster!.models = [];
    expect(glance(none, idle)).toBe("idle");
  });

  it("never says Not serving (or Stopped) while tokens flow", () => {
    const stopped = snapshot();
    stopped.cluster = null;
    stopped.services.exo = { ...stopped.services.exo, state: "stopped" };
    stopped.warnings = [];
    expect(glance(stopped, idle)).toBe("not_serving");
    expect(glance(stopped, { tokensPerS: 26, joining: false })).toBe("serving");
  });

  it("says Not serving, not Degraded, when an error stands (exo not answering)", () => {
    const broken = running({ warnings: [warning("warning"), warning("error", "exo_unreachable")] });
    expect(glance(broken, idle)).toBe("not_serving");
    expect(glance(running({ warnings: [warning("warning")] }), idle)).toBe("degraded");
  });

  it("says Joining while a join runs, whatever else is true", () => {
    expect(glance(running({ warnings: [warning("error")] }), { tokensPerS: 0, joining: true })).toBe("joining");
  });

  it("counts Ollama as an engine that serves", () => {
    const s = snapshot();
    s.cluster = null;
    s.warnings = [];
    s.ollama = {
      boxes: [
        {
          address: "127.0.0.1:11434",
          name: "this Mac",
          is_local: true,
          reachable: true,
          error: null,
          version: "0.12.6",
          loaded: [{ name: "llama3.2:latest", size_bytes: GB, vram_bytes: GB, context_length: 4096, parameter_size: null, quantization: null, expires_at_unix_ms: null, pinned: true }],
          installed: [],
          env: null,
          route: null,
          evictions: [],
        },
      ],
    };
    expect(glance(s, idle)).toBe("serving");
    expect(subtitle(s)).toBe("1 Ollama box · 1 model");
  });
});

describe("the subtitle", () => {
  it("says boxes, usable of total, models and watts in one line, in GB", () => {
    const s = running();
    s.cluster!.power_watts = 164.4;
    s.cluster!.pool = {
      memory_total_bytes: 640 * GB,
      memory_usable_bytes: 480 * GB,
      vram_budget_mb: 491520,
      per_box: [],
    } as unknown as NonNullable<Snapshot["cluster"]>["pool"];
    expect(subtitle(s)).toBe("3 boxes · 480.0 GB usable of 640.0 GB · 1 model · 164 W");
    expect(subtitle(s)).not.toMatch(/MB/);
  });
});

describe("attention", () => {
  it("shows errors first, at most two, and counts the rest", () => {
    const all = [warning("warning", "tb_link_slow"), warning("warning", "rdma_disabled"), warning("error", "exo_unreachable")];
    const { shown, more } = attention(all);
    expect(shown.map((w) => w.code)).toEqual(["exo_unreachable", "tb_link_slow"]);
    expect(more).toBe(1);
  });

  it("turns `commands` into code, and leaves an unpaired backtick as written", () => {
    expect(fixParts("Run `rdma_ctl enable` in Recovery.")).toEqual([{ text: "Run " }, { code: "rdma_ctl enable" }, { text: " in Recovery." }]);
    expect(fixParts("It's a `typo")).toEqual([{ text: "It's a `typo" }]);
  });
});

describe("confirmations", () => {
  it("say what stopping exo unloads and from how many boxes", () => {
    const s = running();
    s.cluster!.models = [{ ...model("mlx-community/Qwen3-235B-A22B-4bit", "i1"), shards: [1, 2, 3].map((k) => ({ node: `box-${k}`, runner_id: `r${k}`, start_layer: 0, end_layer: 1, state: "ready" as const, progress: null, runner_status: null, error: null })) }];
    expect(stopExoQuestion(s)).toBe("Stop exo on studio-1? Qwen3-235B-A22B-4bit unloads from 3 boxes.");
    s.cluster!.models = [];
    expect(stopExoQuestion(s)).toBe("Stop exo on studio-1? No model is loaded.");
  });

  it("Quit asks only when it would stop what serves", () => {
    const s = running();
    expect(quitStopsServing(s)).toBe(false);
    s.services.exo = { ...s.services.exo, supervised: { state: "running", pid: 1, started_by_us: true, uptime_s: 5 } as NonNullable<typeof s.services.exo.supervised> };
    expect(quitStopsServing(s)).toBe(true);
  });

  it("short model names keep the full id for the tooltip's sake", () => {
    expect(shortModel("mlx-community/Qwen3-0.6B-4bit")).toBe("Qwen3-0.6B-4bit");
    expect(shortModel("llama3.2:latest")).toBe("llama3.2:latest");
  });
});

