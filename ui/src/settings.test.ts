// @vitest-environment jsdom
/// <reference types="vite/client" />
// The Settings window (settings.html + settings.ts) through a stand-in for Tauri's IPC: what the
// form sends, that an empty optional field is sent as unset, and that a refusal is said.

import { beforeAll, describe, expect, it, vi } from "vitest";
import settingsHtml from "../settings.html?raw";

const ipc = vi.hoisted(() => ({ patches: [] as Record<string, unknown>[], refuse: false }));

vi.mock("@tauri-apps/api/core", () => ({
  invoke: (cmd: string, args?: { patch?: Record<string, unknown> }) => {
    const view = {
      settings: { start_at_login: false, exo_path: null, porten_path: null, exo_api_port: 52415, electricity_price_per_kwh: 0.3, currency: "EUR" },
      path: "/home/me/.config/clusterbar/settings.json",
      problem: null,
    };
    if (cmd === "settings") return Promise.resolve(view);
    if (cmd === "porten_api_key_source") return Promise.resolve(null);
    if (cmd === "update_settings") {
      ipc.patches.push(args?.patch ?? {});
      if (ipc.refuse) return Promise.reject({ code: "settings_invalid", detail: "exo_api_port must be 1–65535" });
      return Promise.resolve(view);
    }
    return Promise.resolve(null);
  },
}));

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

beforeAll(async () => {
  document.body.innerHTML = new DOMParser().parseFromString(settingsHtml, "text/html").body.innerHTML;
  await import("./settings");
  await flush();
  await flush();
});

describe("the Settings window", () => {
  it("shows the settings, the tariff among them", () => {
    expect($<HTMLInputElement>("setting-exo_api_port").value).toBe("52415");
    expect($<HTMLInputElement>("setting-electricity_price_per_kwh").value).toBe("0.3");
    expect($<HTMLInputElement>("setting-currency").value).toBe("EUR");
  });

  it("sends an emptied price as unset, not 0", async () => {
    $<HTMLInputElement>("setting-electricity_price_per_kwh").value = "";
    $("settings-save").click();
    await flush();
    const patch = ipc.patches[ipc.patches.length - 1] ?? {};
    expect(patch.electricity_price_per_kwh).toBeNull();
    expect(patch.exo_api_port).toBe(52415);
    expect($("settings-status").textContent).toBe("Saved.");
  });

  it("says why a value was refused", async () => {
    ipc.refuse = true;
    $<HTMLInputElement>("setting-exo_api_port").value = "0";
    $("settings-save").click();
    await flush();
    expect($("settings-status").textContent).toBe("Not saved: exo_api_port must be 1–65535");
    expect($("settings-status").className).toContain("error-line");
  });
});
