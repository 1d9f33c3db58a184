// @vitest-environment jsdom
/// <reference types="vite/client" />
// The popover's sections update in place: the same Snapshot twice leaves every element object
// as it was, a changed figure is rewritten in its element, and focus and busy buttons survive.

import { render } from "lit-html";
import indexHtml from "../index.html?raw";
import { beforeEach, describe, expect, it } from "vitest";
import { GB, cluster, model, node, thisNode } from "./testdata";
import type { ModelView, Warning, WarningCode } from "./types";
import { clusterView, modelsView, newPageState, thisMacView, uniqueKeys, warningsView, type Actions, type PageState } from "./view";

/** Actions that do what main.ts's do to the page state, then re-render as main.ts's paint does. */
function recorder(page: PageState, repaint: () => void): Actions & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    boxToggled: (name, open) => (open ? page.openBoxes.add(name) : page.openBoxes.delete(name)),
    unload: (id) => {
      calls.push(`unload ${id}`);
      page.unloading.add(id);
      repaint();
    },
    toggleLoadable: () => calls.push("toggleLoadable"),
    load: (id) => calls.push(`load ${id}`),
    toggleFix: (key) => {
      calls.push(`toggleFix ${key}`);
      if (page.openFixes.has(key)) page.openFixes.delete(key);
      else page.openFixes.add(key);
      repaint();
    },
    toggleAllWarnings: () => {
      page.allWarnings = !page.allWarnings;
      repaint();
    },
    copy: (text) => calls.push(`copy ${text}`),
    openBox: (name) => {
      calls.push(`openBox ${name}`);
      page.openBoxes.add(name);
      repaint();
    },
  };
}

const elements = (root: Element) => Array.from(root.querySelectorAll("*"));

let root: HTMLElement;
beforeEach(() => {
  document.body.innerHTML = "";
  root = document.createElement("section");
  document.body.append(root);
});

describe("the cluster's boxes", () => {
  const page = newPageState();
  const act = recorder(page, () => {});
  const three = () => cluster([node("studio-1", 40, { is_this_node: true }), node("mini-2", 50), node("mini-3", 60)]);

  it("keeps every element object when the same snapshot renders twice", () => {
    render(clusterView(three(), page, act), root);
    const before = elements(root);
    expect(before.length).toBeGreaterThan(20);
    render(clusterView(three(), page, act), root);
    const after = elements(root);
    expect(after).toHaveLength(before.length);
    after.forEach((el, i) => expect(el).toBe(before[i]));
  });

  it("marks slow links and stale boxes from the snapshot's flags, never from its own thresholds", () => {
    const c = three();
    c.links = [
      { from: "studio-1", to: "mini-2", kind: "thunderbolt", kinds: ["thunderbolt"], speed_gbps: 40, slow: true },
      { from: "mini-2", to: "mini-3", kind: "thunderbolt", kinds: ["thunderbolt"], speed_gbps: 40, slow: false },
    ];
    c.nodes[2] = { ...c.nodes[2], last_seen_s: 5, stale: true };
    render(clusterView(c, page, act), root);
    const chips = Array.from(root.querySelectorAll("li[data-name='mini-2'] .chip[data-kind='thunderbolt']"));
    expect(chips.map((chip) => chip.classList.contains("slow"))).toEqual([true, false]);
    expect(root.querySelector("li[data-name='mini-3'] summary .tag.amber")?.textContent).toContain("seen");
    expect(root.querySelector("li[data-name='mini-2'] summary .tag.amber")).toBeNull();
  });

  it("rewrites a changed box's memory in its own element", () => {
    render(clusterView(three(), page, act), root);
    const row = root.querySelector("li[data-name='mini-2']");
    const memory = row?.querySelector(".box-memory");
    expect(memory?.textContent).toBe("14 of 64 GB");
    const changed = three();
    changed.nodes[1] = node("mini-2", 30);
    render(clusterView(changed, page, act), root);
    expect(root.querySelector("li[data-name='mini-2']")).toBe(row);
    expect(root.querySelector("li[data-name='mini-2'] .box-memory")).toBe(memory);
    expect(memory?.textContent).toBe("34 of 64 GB");
  });

  it("drops a removed box and keeps the others' elements", () => {
    render(clusterView(three(), page, act), root);
    const studio = root.querySelector("li[data-name='studio-1']");
    const mini3 = root.querySelector("li[data-name='mini-3']");
    const fewer = three();
    fewer.nodes.splice(1, 1);
    render(clusterView(fewer, page, act), root);
    const names = Array.from(root.querySelectorAll<HTMLElement>("#node-list li.node")).map((li) => li.dataset.name);
    expect(names).toEqual(["studio-1", "mini-3"]);
    expect(root.querySelector("li[data-name='studio-1']")).toBe(studio);
    expect(root.querySelector("li[data-name='mini-3']")).toBe(mini3);
  });

  it("keeps a box the user opened open", () => {
    render(clusterView(three(), page, act), root);
    const details = root.querySelector<HTMLDetailsElement>("li[data-name='mini-3'] details");
    if (!details) throw new Error("no details");
    details.open = true;
    page.openBoxes.add("mini-3"); // what the toggle event does (jsdom fires it asynchronously)
    render(clusterView(three(), page, act), root);
    expect(details.open).toBe(true);
    expect(root.querySelector("li[data-name='mini-3'] details")).toBe(details);
  });
});

describe("models", () => {
  it("keeps focus on a button and its busy state across snapshots", () => {
    const page = newPageState();
    const first = [model("mlx-community/Llama-3.2-1B-Instruct-4bit", "inst-a"), model("mlx-community/Qwen3-0.6B-4bit", "inst-b")];
    const paint = (models: ModelView[]) => render(modelsView(models, page, act), root);
    let current = first;
    const act = recorder(page, () => paint(current));
    paint(current);
    const unload = root.querySelector<HTMLButtonElement>("#model-list li:nth-child(2) button.unload");
    if (!unload) throw new Error("no Unload button");
    unload.focus();
    expect(document.activeElement).toBe(unload);

    // A new snapshot (the first model's progress moved; a third model arrived first in the list).
    current = [model("other/New-Model", "inst-c"), { ...first[0], state: "running" }, first[1]];
    paint(current);
    expect(document.activeElement).toBe(unload);

    unload.click();
    expect(act.calls).toEqual(["unload inst-b"]);
    expect(unload.disabled).toBe(true);
    expect(unload.textContent).toBe("Unloading…");
    paint([...current]);
    expect(root.querySelector("#model-list li:nth-child(3) button.unload")).toBe(unload);
    expect(unload.disabled).toBe(true);
    expect(unload.textContent).toBe("Unloading…");
    expect(document.activeElement).toBe(unload);
  });

  it("shows the empty line only without models", () => {
    const page = newPageState();
    render(modelsView([], page, recorder(page, () => {})), root);
    expect(root.querySelector<HTMLElement>("#models-empty")?.hidden).toBe(false);
    expect(root.querySelector<HTMLElement>("#loadable")?.hidden).toBe(true);
  });
});

describe("this Mac and warnings", () => {
  it("updates the memory figures in place and keeps data-bytes for the e2e tests", () => {
    render(thisMacView(thisNode), root);
    const used = root.querySelector<HTMLElement>("#mem-used");
    expect(used?.dataset.bytes).toBe(String(10 * GB));
    const fill = root.querySelector<HTMLElement>("#mem-meter .meter-fill");
    expect(fill?.style.width).toBe("15.6%");
    const before = elements(root);
    const memory = thisNode.memory;
    if (!memory) throw new Error("fixture has memory");
    render(thisMacView({ ...thisNode, memory: { ...memory, used_bytes: 20 * GB } }), root);
    expect(elements(root)).toEqual(before);
    expect(root.querySelector("#mem-used")).toBe(used);
    expect(used?.textContent).toBe("20.0 GB");
    expect(root.querySelector("#tb-ports li")?.textContent).toBe("Port 1: 80 Gb/s · 2 lanes → mini-2 · RDMA");
  });

  it("keys warnings by code and scope", () => {
    const w = (code: WarningCode, message: string): Warning => ({ code, scope: "this_mac", severity: "warning", message, fix: "fix it" });
    const list = document.createElement("ul");
    root.append(list);
    render(warningsView([w("rdma_disabled", "RDMA is off on mini-2"), w("tb_link_slow", "slow link")]), list);
    const slow = list.querySelector("li[data-code='tb_link_slow']");
    render(warningsView([w("tb_link_slow", "slow link")]), list);
    expect(list.querySelectorAll("li")).toHaveLength(1);
    expect(list.querySelector("li[data-code='tb_link_slow']")).toBe(slow);
    // A message that changes (a countdown, another box named) is rewritten in the same row.
    render(warningsView([w("tb_link_slow", "slow link, now at 20 Gb/s")]), list);
    expect(list.querySelector("li[data-code='tb_link_slow']")).toBe(slow);
    expect(slow?.textContent).toContain("now at 20 Gb/s");
  });

  it("shows two warnings, errors first, one line each; Fix… opens the fix with its command as code", () => {
    const page = newPageState();
    const list = document.createElement("ul");
    root.append(list);
    const act = recorder(page, () => render(warningsView(all, page, act), list));
    const all: Warning[] = [
      { code: "tb_link_slow", scope: "this_mac", severity: "warning", message: "slow link", fix: "use a TB5 cable" },
      { code: "rdma_disabled", scope: "cluster", severity: "warning", message: "RDMA is off on mini-2", fix: "Run `rdma_ctl enable` in Recovery, then restart." },
      { code: "exo_unreachable", scope: "this_mac", severity: "error", message: "exo is not answering", fix: "Start exo" },
    ];
    render(warningsView(all, page, act), list);
    const codes = () => Array.from(list.querySelectorAll("li.attention-item")).map((li) => li.getAttribute("data-code"));
    expect(codes()).toEqual(["exo_unreachable", "tb_link_slow"]);
    expect(list.querySelector(".attention-more button")?.textContent).toBe("1 more…");
    list.querySelector<HTMLButtonElement>(".attention-more button")?.click();
    expect(codes()).toEqual(["exo_unreachable", "tb_link_slow", "rdma_disabled"]);
    list.querySelector<HTMLButtonElement>("li[data-code='rdma_disabled'] button")?.click();
    const fix = list.querySelector("li[data-code='rdma_disabled'] .attention-fix");
    expect(fix?.querySelector("code")?.textContent).toBe("rdma_ctl enable");
    expect(fix?.textContent).not.toContain("`");
    fix?.querySelector<HTMLButtonElement>("button")?.click();
    expect(act.calls).toContain("copy rdma_ctl enable");
  });

  it("makes repeated keys unique", () => {
    expect(uniqueKeys(["a", "b", "a", "a"], (x) => x)).toEqual(["a", "b", "a#1", "a#2"]);
  });
});

describe("index.html", () => {
  it("has one live region: the status line (state word and tok/s), not the whole popover", () => {
    const doc = new DOMParser().parseFromString(indexHtml, "text/html");
    const live = Array.from(doc.querySelectorAll("[aria-live]"));
    expect(live.map((el) => el.id)).toEqual(["status-line"]);
    expect(live[0]?.getAttribute("aria-live")).toBe("polite");
    expect(live[0]?.querySelector("#state-word")).not.toBeNull();
    expect(live[0]?.querySelector("#header-tps")).not.toBeNull();
    expect(doc.getElementById("popover")?.hasAttribute("aria-live")).toBe(false);
  });
});
