// @vitest-environment jsdom
/// <reference types="vite/client" />
// The whole popover page (index.html + main.ts) fed Snapshots through a stand-in for Tauri's
// IPC: a Snapshot repeated leaves every element object in place, and a busy exo button keeps
// its label, disabled state and focus while snapshots arrive.

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import indexHtml from "../index.html?raw";
import { contradictions } from "./consistency";
import { snapshot } from "./testdata";
import type { Snapshot } from "./types";

const ipc = vi.hoisted(() => ({
  onSnapshot: null as ((s: unknown) => void) | null,
  calls: [] as string[],
  /** Settles the pending exo_start. */
  finishExo: null as (() => void) | null,
}));

vi.mock("@tauri-apps/api/core", () => ({
  Channel: class {
    onmessage: (m: unknown) => void = () => {};
  },
  invoke: (cmd: string, args?: Record<string, { onmessage: (m: unknown) => void }>) => {
    ipc.calls.push(cmd);
    if (cmd === "subscribe") ipc.onSnapshot = (s) => args?.onSnapshot?.onmessage(s);
    if (cmd === "exo_start") return new Promise<void>((resolve) => (ipc.finishExo = resolve));
    if (cmd === "settings") {
      const settings = { start_at_login: false, exo_path: null, porten_path: null, exo_api_port: 52415 };
      return Promise.resolve({ settings, path: "/home/me/.config/clusterbar/settings.json", problem: null });
    }
    return Promise.resolve(null);
  },
}));
// The chart needs a real layout engine; it is not what these tests are about.
vi.mock("./throughput", () => ({ renderThroughput: () => {} }));
vi.mock("./historychart", () => ({ wireHistory: () => {}, refreshHistory: async () => {} }));

const send = (s: Snapshot) => {
  if (!ipc.onSnapshot) throw new Error("the page never subscribed");
  ipc.onSnapshot(structuredClone(s));
  // Whatever arrives, no two parts of the page may disagree.
  expect(contradictions(document)).toEqual([]);
};
const $ = (id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

beforeAll(async () => {
  document.body.innerHTML = new DOMParser().parseFromString(indexHtml, "text/html").body.innerHTML;
  globalThis.ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
  await import("./main");
  await flush();
});

// The page's 1 s ticker runs while it is "visible": hide it at the end, as the app does, so no
// timer outlives the test environment.
afterAll(() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
});

describe("the popover page", () => {
  it("renders a Snapshot, and the same Snapshot again changes no element", () => {
    const s = snapshot();
    send(s);
    expect($("error-line").hidden).toBe(true);
    expect($("state-word").textContent).toBe("Degraded");
    expect($("box-count").textContent).toBe("3 boxes");
    expect(document.querySelectorAll("#node-list li.node")).toHaveLength(3);
    expect($("mem-total").dataset.bytes).toBeDefined();
    const before = Array.from($("popover").querySelectorAll("*"));
    send(s);
    const after = Array.from($("popover").querySelectorAll("*"));
    expect(after).toHaveLength(before.length);
    after.forEach((el, i) => expect(el).toBe(before[i]));
  });

  it("keeps the exo switch busy, and focused, across snapshots until its command ends", async () => {
    const button = $("exo-action") as HTMLButtonElement;
    expect(button.getAttribute("aria-checked")).toBe("false");
    expect(button.textContent?.trim()).toBe("exo");
    button.focus();
    button.click();
    expect(ipc.calls).toContain("exo_start");
    expect(button.textContent?.trim()).toBe("Starting…");
    send({ ...snapshot(), taken_at_unix_ms: Date.now() + 1000 });
    send({ ...snapshot(), taken_at_unix_ms: Date.now() + 2000 });
    expect(button.textContent?.trim()).toBe("Starting…");
    expect(button.disabled).toBe(true);
    expect(document.activeElement).toBe(button);
    ipc.finishExo?.();
    await flush();
    expect(button.textContent?.trim()).toBe("exo");
    expect(button.disabled).toBe(false);
  });

  it("asks before stopping exo, saying what unloads, and stops only on OK", () => {
    const running = snapshot();
    running.services.exo = { ...running.services.exo, state: "running" };
    running.cluster!.models[0].state = "ready";
    send(running);
    const button = $("exo-action") as HTMLButtonElement;
    expect(button.getAttribute("aria-checked")).toBe("true");
    const before = ipc.calls.length;
    button.click();
    expect($("confirm").hidden).toBe(false);
    expect($("confirm-text").textContent).toBe("Stop exo on studio-1? one unloads.");
    $("confirm-cancel").click();
    expect($("confirm").hidden).toBe(true);
    expect(ipc.calls.slice(before)).not.toContain("exo_stop");
    button.click();
    $("confirm-ok").click();
    expect(ipc.calls.slice(before)).toContain("exo_stop");
  });

  it("never contradicts itself across the states the old page got wrong", () => {
    // An error stands: the header says Not serving, not Degraded.
    const broken = snapshot();
    broken.warnings = [...broken.warnings, { code: "exo_unreachable", scope: "this_mac", severity: "error", message: "exo is not answering", fix: "Start exo" }];
    send(broken);
    expect($("state-word").textContent).toBe("Not serving");
    // An Ollama-only Mac with a pinned model serves, with no cluster and no exo.
    const ollama = snapshot();
    ollama.cluster = null;
    ollama.warnings = [];
    ollama.ollama = {
      boxes: [{ address: "127.0.0.1:11434", name: "this Mac", is_local: true, reachable: true, error: null, version: "0.12.6", loaded: [{ name: "llama3.2:latest", size_bytes: 1, vram_bytes: 1, context_length: null, parameter_size: null, quantization: null, expires_at_unix_ms: null, pinned: true }], installed: [], env: null, route: null, evictions: [] }],
    };
    send(ollama);
    expect($("state-word").textContent).toBe("Serving");
    // This Mac alone gets its card; in the cluster it is one of the rows, never both.
    expect($("boxes").hidden).toBe(false);
    send(snapshot());
    expect($("boxes").hidden).toBe(true);
  });

  it("opens Settings in a window of their own", () => {
    $("settings-btn").click();
    expect(ipc.calls).toContain("open_settings");
    expect(document.getElementById("settings-list")).toBeNull();
  });
});
