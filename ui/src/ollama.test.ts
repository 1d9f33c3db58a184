// @vitest-environment jsdom
import { render } from "lit-html";
import { describe, expect, it } from "vitest";
import { envWords, ollamaView, routesView, unloadWords } from "./ollama";
import type { OllamaBox, OllamaLoadedModel } from "./types";

const NOW = 1_800_000_000_000;
const model = (name: string, extra: Partial<OllamaLoadedModel> = {}): OllamaLoadedModel => ({
  name,
  size_bytes: 4 * 2 ** 30,
  vram_bytes: 4 * 2 ** 30,
  context_length: 8192,
  parameter_size: "8B",
  quantization: "Q4_K_M",
  expires_at_unix_ms: NOW + 3 * 3600 * 1000,
  pinned: false,
  ...extra,
});
const box = (extra: Partial<OllamaBox>): OllamaBox => ({
  address: "127.0.0.1:11434",
  name: "this Mac",
  is_local: true,
  reachable: true,
  error: null,
  version: "0.12.3",
  loaded: [],
  installed: [],
  env: null,
  route: null,
  evictions: [],
  ...extra,
});

describe("keep-alive in words", () => {
  it("says when a model unloads, or that it is pinned", () => {
    expect(unloadWords(model("a"), NOW)).toBe("unloads in 3 h");
    expect(unloadWords(model("a", { expires_at_unix_ms: NOW + 240_000 }), NOW)).toBe("unloads in 4 min");
    expect(unloadWords(model("a", { expires_at_unix_ms: NOW + 30_000 }), NOW)).toBe("unloads in 30 s");
    expect(unloadWords(model("a", { expires_at_unix_ms: NOW - 1 }), NOW)).toBe("unloading");
    expect(unloadWords(model("a", { pinned: true, expires_at_unix_ms: null }), NOW)).toBe("pinned");
  });

  it("names Ollama's defaults where the daemon sets nothing", () => {
    const env = { host: "0.0.0.0:11434", keep_alive: "24h", keep_alive_s: 86400, max_loaded_models: null, source: "launchctl" as const };
    expect(envWords(box({ env }))).toBe("keep-alive 24h · at most 3 (default) models · listens on 0.0.0.0:11434");
    expect(envWords(box({}))).toBeNull();
  });
});

describe("the Ollama section", () => {
  it("shows both boxes, their models and keep-alive, and a route off Thunderbolt in red", () => {
    const root = document.createElement("section");
    const view = {
      boxes: [
        box({ loaded: [model("llama3.2:latest"), model("qwen3:32b", { pinned: true, expires_at_unix_ms: null })] }),
        box({
          address: "192.168.99.2:11434",
          name: "192.168.99.2",
          is_local: false,
          loaded: [model("gpt-oss:120b")],
          route: { interface: "en0", kind: "ethernet" },
          evictions: [{ model: "mistral:7b", by: "gpt-oss:120b", at_unix_ms: NOW - 1000 }],
        }),
        box({ address: "192.168.99.3:11434", name: "192.168.99.3", is_local: false, reachable: false, error: "not answering", version: null }),
      ],
    };
    render(ollamaView(view, NOW), root);
    expect(root.querySelectorAll(".ollama-box")).toHaveLength(3);
    const names = Array.from(root.querySelectorAll(".ollama-model")).map((m) => m.getAttribute("data-name"));
    expect(names).toEqual(["llama3.2:latest", "qwen3:32b", "gpt-oss:120b"]);
    const badges = Array.from(root.querySelectorAll(".keep-alive")).map((b) => b.textContent);
    expect(badges).toEqual(["unloads in 3 h", "pinned", "unloads in 3 h"]);
    const route = root.querySelector('.ollama-box[data-address="192.168.99.2:11434"] .route');
    expect(route?.classList.contains("error-line")).toBe(true);
    expect(route?.textContent).toContain("en0 (Ethernet)");
    expect(root.textContent).toContain("mistral:7b was unloaded to make room for gpt-oss:120b");
    expect(root.querySelector('.ollama-box[data-reachable="no"] .error-line')?.textContent).toBe("not answering");
  });

  it("lists the meter's routes with their tokens, and says so loudly when one serves the network", () => {
    const root = document.createElement("ul");
    const aggregate = { requests: 3, completion_tokens: 1234, tokens_per_s: 42, in_flight: 0, requests_per_min: 1, ttft_p50_ms: null, ttft_p95_ms: null, tokens_today: 1234, errors: 0, unmetered: 0, client_closed: 0 };
    render(
      routesView([
        { ...aggregate, name: "box2", listen: "127.0.0.1:11436", upstream: "http://192.168.99.2:11434", serve_lan: false },
        { ...aggregate, name: "lan", listen: "0.0.0.0:11437", upstream: "http://192.168.99.2:11434", serve_lan: true },
      ]),
      root,
    );
    const rows = root.querySelectorAll(".route-row");
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain(":11436 → http://192.168.99.2:11434");
    expect(rows[0].textContent).toContain("42 tok/s · 1,234 tokens · 3 requests");
    expect(rows[1].textContent).toContain("open to the network, no authentication");
  });
});
