// The cluster as a picture (issue #13): every box with its memory bar and watts, every cable
// between two boxes coloured and labelled by what it is — RDMA or Thunderbolt at full speed
// (green), a slow Thunderbolt link (amber: a TB4 cable or port), Ethernet or Wi-Fi fallback
// (red). A box exo has not heard from lately is greyed with how long ago it was seen.
//
// Boxes sit on a ring (a chain or a star reads as well on it: only the edges differ), starting
// at the top, so 1–6 boxes fit the popover's 340 px. Pure: a function of the ClusterView, tested
// in jsdom and counted in the e2e.

import { svg, type SVGTemplateResult } from "lit-html";
import { repeat } from "lit-html/directives/repeat.js";
import { formatAgo, formatBytes } from "./format";
import type { ClusterView, LinkKind, LinkView, NodeView } from "./types";

export const WIDTH = 340;

/** Box size by how many share the ring: six boxes need narrower ones to leave room for cables. */
function boxSize(n: number): { w: number; h: number } {
  return n <= 4 ? { w: 100, h: 46 } : { w: 84, h: 46 };
}

/** The picture's height: one row for 1–2 boxes, a ring beyond. */
export function pictureHeight(n: number): number {
  if (n <= 2) return 64;
  if (n === 3) return 156;
  return 176;
}

export interface Point {
  x: number;
  y: number;
}

/** Box centres on an ellipse, the first at the top (for an even count, a flat top edge). */
export function ringLayout(n: number): Point[] {
  const height = pictureHeight(n);
  const { w, h } = boxSize(n);
  const cx = WIDTH / 2;
  const cy = height / 2;
  if (n === 1) return [{ x: cx, y: cy }];
  const rx = cx - w / 2 - 2;
  const ry = n <= 2 ? 0 : cy - h / 2 - 2;
  const offset = n % 2 === 0 ? Math.PI / n : 0;
  return Array.from({ length: n }, (_, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / n + offset;
    return { x: cx + rx * Math.cos(angle), y: cy + ry * Math.sin(angle) };
  });
}

const KIND_SHORT: Record<LinkKind, string> = {
  rdma: "RDMA",
  thunderbolt: "TB",
  ethernet: "Ethernet",
  wifi: "Wi-Fi",
  unknown: "?",
};

const KIND_LONG: Record<LinkKind, string> = {
  rdma: "RDMA over Thunderbolt",
  thunderbolt: "Thunderbolt (TCP/IP)",
  ethernet: "Ethernet",
  wifi: "Wi-Fi",
  unknown: "an unknown path",
};

/** What the cable's colour says: full speed, slow Thunderbolt, or no Thunderbolt at all. */
export function edgeClass(link: LinkView): "good" | "slow" | "fallback" | "unknown" {
  if (link.kind === "ethernet" || link.kind === "wifi") return "fallback";
  if (link.kind === "unknown") return "unknown";
  return link.slow ? "slow" : "good";
}

/** "RDMA 80 Gb/s", "TB 40 Gb/s", "Wi-Fi". */
export function edgeLabel(link: LinkView): string {
  const speed = link.speed_gbps !== null ? ` ${Number.isInteger(link.speed_gbps) ? link.speed_gbps : link.speed_gbps.toFixed(1)} Gb/s` : "";
  return `${KIND_SHORT[link.kind]}${speed}`;
}

function edgeTitle(link: LinkView): string {
  const others = link.kinds.filter((k) => k !== link.kind).map((k) => KIND_LONG[k]);
  const also = others.length ? `; also ${others.join(", ")}` : "";
  const why =
    edgeClass(link) === "fallback"
      ? " — no Thunderbolt path: traffic goes over the network"
      : edgeClass(link) === "slow"
        ? " — below Thunderbolt 5's 80 Gb/s (a TB4 cable or port)"
        : "";
  return `${link.from} ↔ ${link.to}: ${KIND_LONG[link.kind]}${link.speed_gbps !== null ? ` at ${link.speed_gbps} Gb/s` : ""}${why}${also}`;
}

function shortName(name: string, max: number): string {
  return name.length <= max ? name : `${name.slice(0, max - 1)}…`;
}

/** Where an edge's label sits: mid-way between ring neighbours, nearer one end for a chord
 * (chords of a ring cross at the centre, where their labels would pile up). */
function labelPoint(a: Point, b: Point, neighbours: boolean): Point {
  const t = neighbours ? 0.5 : 0.32;
  return { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
}

export interface TopologyActions {
  openBox(name: string): void;
}

function memoryFraction(n: NodeView): number | null {
  const total = n.memory_total_bytes;
  if (total === null || total <= 0 || n.memory_available_bytes === null) return null;
  return Math.min(1, Math.max(0, (total - n.memory_available_bytes) / total));
}

function boxView(n: NodeView, p: Point, size: { w: number; h: number }, act: TopologyActions): SVGTemplateResult {
  const x = p.x - size.w / 2;
  const y = p.y - size.h / 2;
  const fraction = memoryFraction(n);
  const barWidth = size.w - 12;
  const seen = n.stale ? `seen ${formatAgo((n.last_seen_s ?? 0) * 1000)}` : null;
  const watts = n.power_watts !== null ? `${n.power_watts.toFixed(0)} W` : "— W";
  const memory =
    n.memory_total_bytes !== null && fraction !== null
      ? `${formatBytes(n.memory_total_bytes - (n.memory_available_bytes ?? 0))} of ${formatBytes(n.memory_total_bytes)}`
      : "memory unknown";
  const label = `${n.name}${n.is_this_node ? " (this Mac)" : ""}: ${memory}, ${watts}${seen ? `, ${seen}` : ""}. Open its details.`;
  const open = () => act.openBox(n.name);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      open();
    }
  };
  return svg`<g class="topo-box${n.stale ? " stale" : ""}${n.is_this_node ? " this" : ""}" data-name=${n.name}
      role="button" tabindex="0" aria-label=${label} @click=${open} @keydown=${onKey}>
    <title>${label}</title>
    <rect class="topo-frame" x=${x} y=${y} width=${size.w} height=${size.h} rx="8"></rect>
    <text class="topo-name" x=${p.x} y=${y + 14} text-anchor="middle">${n.is_this_node ? "● " : ""}${shortName(n.name, size.w > 90 ? 14 : 11)}</text>
    <rect class="topo-bar" x=${x + 6} y=${y + 20} width=${barWidth} height="5" rx="2.5"></rect>
    <rect class="topo-bar-fill" x=${x + 6} y=${y + 20} width=${fraction === null ? 0 : (barWidth * fraction).toFixed(1)} height="5" rx="2.5"></rect>
    <text class="topo-figure" x=${p.x} y=${y + 38} text-anchor="middle">${seen ?? watts}</text>
  </g>`;
}

/** The <svg> for the cluster: boxes keyed by node id, edges by the pair they join. */
export function topologyView(c: ClusterView, act: TopologyActions): SVGTemplateResult {
  const nodes = c.nodes;
  const points = ringLayout(nodes.length);
  const size = boxSize(nodes.length);
  const index = new Map(nodes.map((n, i) => [n.name, i] as const));
  const height = pictureHeight(nodes.length);
  const drawn = c.links.filter((l) => index.has(l.from) && index.has(l.to) && l.from !== l.to);
  const edge = (l: LinkView) => {
    const i = index.get(l.from) ?? 0;
    const j = index.get(l.to) ?? 0;
    const a = points[i];
    const b = points[j];
    const apart = Math.abs(i - j);
    const neighbours = apart === 1 || apart === nodes.length - 1;
    const at = labelPoint(a, b, neighbours);
    const cls = edgeClass(l);
    const stale = nodes[i].stale || nodes[j].stale;
    return svg`<g class="topo-edge ${cls}${stale ? " stale" : ""}" data-kind=${l.kind} data-from=${l.from} data-to=${l.to}>
      <title>${edgeTitle(l)}</title>
      <line x1=${a.x} y1=${a.y} x2=${b.x} y2=${b.y}></line>
      <text class="topo-edge-label" x=${at.x} y=${at.y + 3} text-anchor="middle">${edgeLabel(l)}</text>
    </g>`;
  };
  return svg`<svg id="topology" class="topology" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="group"
      aria-label=${`Cluster picture: ${nodes.length} box${nodes.length === 1 ? "" : "es"}, ${drawn.length} link${drawn.length === 1 ? "" : "s"}`}>
    <g class="topo-edges">${repeat(drawn, (l) => `${l.from}\u0000${l.to}`, edge)}</g>
    <g class="topo-boxes">${repeat(
      nodes.map((n, i) => [n, points[i]] as const),
      ([n]) => n.node_id,
      ([n, p]) => boxView(n, p, size, act),
    )}</g>
  </svg>`;
}
