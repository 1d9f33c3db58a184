// @vitest-environment jsdom
// The cluster picture: one box per node and one cable per linked pair, coloured by what the
// cable is, for 1–6 boxes inside the popover's width; a click opens the box's row.

import { render } from "lit-html";
import { beforeEach, describe, expect, it } from "vitest";
import { cluster, node } from "./testdata";
import { edgeClass, edgeLabel, pictureHeight, ringLayout, topologyView, WIDTH } from "./topology";
import type { LinkView } from "./types";

let root: HTMLElement;
beforeEach(() => {
  document.body.innerHTML = "";
  root = document.createElement("div");
  document.body.append(root);
});

const link = (from: string, to: string, kind: LinkView["kind"], speed: number | null, slow = false): LinkView => ({
  from,
  to,
  kind,
  kinds: [kind],
  speed_gbps: speed,
  slow,
});

describe("the layout", () => {
  it.each([1, 2, 3, 4, 5, 6])("keeps %i boxes inside the picture, apart from each other", (n) => {
    const points = ringLayout(n);
    expect(points).toHaveLength(n);
    const height = pictureHeight(n);
    const boxW = n <= 4 ? 100 : 84;
    for (const p of points) {
      expect(p.x - boxW / 2).toBeGreaterThanOrEqual(0);
      expect(p.x + boxW / 2).toBeLessThanOrEqual(WIDTH);
      expect(p.y - 23).toBeGreaterThanOrEqual(0);
      expect(p.y + 23).toBeLessThanOrEqual(height);
    }
    // No two boxes overlap (46 px tall, at least 84 wide).
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const dx = Math.abs(points[i].x - points[j].x);
        const dy = Math.abs(points[i].y - points[j].y);
        expect(dx >= boxW || dy >= 46, `boxes ${i} and ${j} of ${n} overlap`).toBe(true);
      }
  });
});

describe("the cables", () => {
  it("are green at full speed, amber when slow, red without Thunderbolt", () => {
    expect(edgeClass(link("a", "b", "rdma", 80))).toBe("good");
    expect(edgeClass(link("a", "b", "thunderbolt", 40, true))).toBe("slow");
    expect(edgeClass(link("a", "b", "ethernet", 10))).toBe("fallback");
    expect(edgeClass(link("a", "b", "wifi", null))).toBe("fallback");
    expect(edgeLabel(link("a", "b", "rdma", 80))).toBe("RDMA 80 Gb/s");
    expect(edgeLabel(link("a", "b", "thunderbolt", 40, true))).toBe("TB 40 Gb/s");
    expect(edgeLabel(link("a", "b", "wifi", null))).toBe("Wi-Fi");
  });

  it("draws every box and every linked pair, and a click opens the box", () => {
    const c = cluster([node("studio-1", 40, { is_this_node: true }), node("mini-2", 50), node("mini-3", 60, { stale: true, last_seen_s: 42 })]);
    c.links = [
      link("studio-1", "mini-2", "rdma", 80),
      link("mini-2", "mini-3", "thunderbolt", 40, true),
      link("studio-1", "mini-3", "ethernet", 10),
      // A link to a box exo no longer lists is not drawn.
      link("studio-1", "gone", "rdma", 80),
    ];
    const opened: string[] = [];
    render(topologyView(c, { openBox: (n) => opened.push(n) }), root);
    const boxes = root.querySelectorAll(".topo-box");
    expect(boxes).toHaveLength(3);
    expect(root.querySelectorAll(".topo-edge")).toHaveLength(3);
    expect(root.querySelector('.topo-edge[data-kind="rdma"]')?.classList.contains("good")).toBe(true);
    expect(root.querySelector('.topo-edge[data-kind="thunderbolt"]')?.classList.contains("slow")).toBe(true);
    expect(root.querySelector('.topo-edge[data-kind="ethernet"]')?.classList.contains("fallback")).toBe(true);
    expect(root.querySelector(".topo-box.this")?.getAttribute("data-name")).toBe("studio-1");
    const stale = root.querySelector(".topo-box.stale");
    expect(stale?.getAttribute("data-name")).toBe("mini-3");
    expect(stale?.textContent).toContain("seen 42 s ago");
    expect(root.querySelector("svg")?.getAttribute("aria-label")).toBe("Cluster picture: 3 boxes, 3 links");
    (boxes[1] as SVGGElement).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    boxes[2].dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(opened).toEqual(["mini-2", "mini-3"]);
  });

  it("keeps the same elements when the same cluster renders again", () => {
    const c = cluster([node("studio-1", 40), node("mini-2", 50)]);
    render(topologyView(c, { openBox: () => {} }), root);
    const before = Array.from(root.querySelectorAll("*"));
    render(topologyView(cluster([node("studio-1", 40), node("mini-2", 50)]), { openBox: () => {} }), root);
    Array.from(root.querySelectorAll("*")).forEach((el, i) => expect(el).toBe(before[i]));
  });
});
