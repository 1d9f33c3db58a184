import { describe, expect, it } from "vitest";
import { agentOwner, hubLines, keyWords, shownUrl, tokensLine, warmingAmount, warmingLine } from "./portenview";
import type { AgentStatus, HubCheck } from "./types";

const documented = { ready: false, phase: "downloading", done_mb: 22272, total_mb: 49131, pct: 45 };

describe("warming", () => {
  it("words the documented answer as the core does", () => {
    expect(warmingLine("qwen3-coder-next", documented)).toBe("Porten is loading qwen3-coder-next: 22 of 49 GB (45 %)");
    expect(warmingAmount({ ready: false, phase: "loading", done_mb: null, total_mb: null, pct: 80 })).toBe("80 %");
    expect(warmingLine("m", { ready: false, phase: null, done_mb: null, total_mb: null, pct: null })).toBe("Porten is loading m");
  });
});

function check(catalog: HubCheck["catalog"], note: string | null, models: HubCheck["models"]): HubCheck {
  return { hub_url: "wss://porten.ai", api_url: "https://porten.ai/v1", api_key: null, catalog, note, offered: [], models, checked_at_unix_ms: 0 };
}

describe("hubLines", () => {
  it("says a key is needed as information, and lists only models still warming", () => {
    const lines = hubLines(
      check("needs_key", "catalog check needs a Porten API key", [
        { id: "a", offered: null, closest: null, warming: documented, warming_error: null },
        { id: "b", offered: null, closest: null, warming: { ...documented, ready: true, phase: "ready" }, warming_error: null },
        { id: "c", offered: null, closest: null, warming: null, warming_error: "404" },
      ]),
    );
    expect(lines.info).toBe("catalog check needs a Porten API key");
    expect(lines.warming).toEqual(["Porten is loading a: 22 of 49 GB (45 %)"]);
  });
  it("has no info line when the catalog was read or refused (those are warnings)", () => {
    expect(hubLines(check("checked", null, [])).info).toBeNull();
    expect(hubLines(check("key_rejected", "HTTP 401", [])).info).toBeNull();
    expect(hubLines(null)).toEqual({ info: null, warming: [] });
  });
});

describe("tokensLine", () => {
  it("shows the agent's tokens today and in total", () => {
    const porten = { client: "porten", requests: 3, tokens_today: 1234, tokens_total: 56789, since: "2026-11-01", days: [] };
    expect(tokensLine([porten])).toBe("Served to Porten: 1,234 tokens today · 56,789 in total since 2026-11-01");
    expect(tokensLine([{ ...porten, since: null, tokens_today: 0, tokens_total: 0 }])).toBe("Served to Porten: 0 tokens today · 0 in total");
    expect(tokensLine([])).toBeNull();
    expect(tokensLine(undefined)).toBeNull();
  });
});

describe("agentOwner and keyWords", () => {
  it("names Porten's app when it runs the agent", () => {
    const agent = { state: "adopted", run_by_porten_app: true } as AgentStatus;
    expect(agentOwner(agent)).toBe(" · run by Porten's app");
    expect(agentOwner({ ...agent, run_by_porten_app: false })).toBe(" · not started by Clusterbar");
    expect(agentOwner(null)).toBe("");
    expect(keyWords("keychain")).toBe("set (Keychain)");
    expect(keyWords(null)).toContain("not set");
  });
});

describe("shownUrl", () => {
  it("cuts a 1 MB URL and says how long it was", () => {
    const huge = `https://porten.ai/device?pad=${"a".repeat(1 << 20)}`;
    const shown = shownUrl(huge);
    expect(shown.length).toBeLessThan(200);
    expect(shown.endsWith(`(${huge.length} bytes)`)).toBe(true);
    expect(shownUrl("https://porten.ai/d")).toBe("https://porten.ai/d");
  });
});
