// Draws the history charts (uPlot, loaded with the throughput chart) from `history_series`.
// Asked for when the popover opens, when a span is picked, and at most once a minute while it
// stays open; a hidden popover asks nothing.

import { invoke } from "@tauri-apps/api/core";
import uPlot from "uplot";
import { errorText } from "./errors";
import { align, SPANS, type Aligned } from "./history";
import type { Series } from "./types";

const PALETTE = ["#30a46c", "#0a84ff", "#ff9f0a", "#bf5af2", "#ff375f", "#64d2ff"];
export const REFRESH_MS = 60_000;

let span = SPANS[0].seconds;
let fetchedAt = 0;
let inFlight = false;
const charts = new Map<string, { chart: uPlot; key: string }>();

let drawn: Aligned | null = null;

// The page's small-text font; canvas text cannot inherit it.
const AXIS_FONT = "11px -apple-system, BlinkMacSystemFont, system-ui, sans-serif";

/** The page's muted text colour, which style.css keeps at 4.5:1 in light and dark (a fixed grey
 * was 3.3:1 on the dark background, less on a card). Read when a chart is made: canvas has no CSS variables. */
function mutedColour(): string {
  return getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#6a6a70";
}

function axes(unit: string, timeAxis: boolean): uPlot.Axis[] {
  const stroke = mutedColour();
  return [
    { show: timeAxis, stroke, grid: { show: false }, size: 24, font: AXIS_FONT },
    { stroke, size: 44, space: 18, font: AXIS_FONT, grid: { stroke: "rgba(128,128,128,0.2)" }, label: unit, labelSize: 14, labelFont: AXIS_FONT },
  ];
}

function draw(id: string, xs: number[], series: { label: string; values: (number | null)[] }[], unit: string, timeAxis = false): void {
  const host = document.getElementById(id);
  if (!host) return;
  const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
  const key = `${unit}\n${series.map((s) => s.label).join("\n")}`;
  const known = charts.get(id);
  if (known && known.key === key) {
    known.chart.setData(data);
    return;
  }
  known?.chart.destroy();
  const chart = new uPlot(
    {
      width: Math.max(200, host.clientWidth || 340),
      height: timeAxis ? 84 : 64,
      // One legend for all three charts (#history-legend): uPlot's own repeats per chart.
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.1)] } },
      axes: axes(unit, timeAxis),
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: false,
          points: { show: false },
        })),
      ],
    },
    data,
    host,
  );
  charts.set(id, { chart, key });
}

export function renderHistory(a: Aligned): void {
  drawn = a;
  const empty = a.xs.length === 0;
  for (const id of ["history-tps", "history-power", "history-memory"]) {
    const el = document.getElementById(id);
    if (el) el.hidden = empty;
  }
  const status = document.getElementById("history-status");
  const label = SPANS.find((s) => s.seconds === span)?.label ?? "";
  if (status) {
    status.textContent = empty
      ? `Nothing recorded in the last ${label} yet: history is kept while the app runs.`
      : `${a.tokens.toLocaleString("en-US")} tokens served in the last ${label}`;
  }
  if (empty) return;
  draw("history-tps", a.xs, [{ label: "tok/s", values: a.tokensPerS }], "tok/s");
  const power = a.boxes.length > 0 ? a.boxes.map((b, k) => ({ label: b, values: a.boxWatts[k] })) : [{ label: "cluster", values: a.clusterWatts }];
  draw("history-power", a.xs, power, "W");
  draw("history-memory", a.xs, a.boxes.map((b, k) => ({ label: b, values: a.boxMemoryGb[k] })), "GB", true);
  renderLegend(a.boxes);
}

/** "● mini-2 ● mini-3 ● studio-1" in the charts' colours, once under the three charts. */
function renderLegend(boxes: string[]): void {
  const legend = document.getElementById("history-legend");
  if (!legend) return;
  legend.hidden = boxes.length === 0;
  legend.replaceChildren(
    ...boxes.map((b, i) => {
      const item = document.createElement("span");
      const dot = document.createElement("span");
      dot.className = "legend-dot";
      // CSSOM, which the page's CSP allows (a style="" attribute it does not).
      dot.style.background = PALETTE[i % PALETTE.length];
      item.append(dot, b);
      return item;
    }),
  );
}

/** Asks for the current span's rows unless they were fetched less than a minute ago. */
export async function refreshHistory(force = false): Promise<void> {
  if (inFlight || (!force && Date.now() - fetchedAt < REFRESH_MS)) return;
  inFlight = true;
  try {
    const series = await invoke<Series>("history_series", { spanS: span });
    fetchedAt = Date.now();
    renderHistory(align(series));
  } catch (e) {
    fetchedAt = Date.now();
    const status = document.getElementById("history-status");
    if (status) status.textContent = `History: ${errorText(e)}`;
    for (const id of ["history-tps", "history-power", "history-memory"]) {
      const el = document.getElementById(id);
      if (el) el.hidden = true;
    }
  } finally {
    inFlight = false;
  }
}

export function wireHistory(): void {
  // Light ↔ dark while open: the axes' colour is baked into each chart, so they are made anew.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    for (const { chart } of charts.values()) chart.destroy();
    charts.clear();
    if (drawn) renderHistory(drawn);
  });
  // Drawn when opened (its charts need their width), then kept fresh at most once a minute.
  document.getElementById("history-details")?.addEventListener("toggle", (e) => {
    if ((e.currentTarget as HTMLDetailsElement).open) void refreshHistory(true);
  });
  for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>("#history-spans button"))) {
    button.addEventListener("click", () => {
      span = Number(button.dataset.span);
      for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>("#history-spans button"))) {
        b.setAttribute("aria-selected", String(b === button));
      }
      void refreshHistory(true);
    });
  }
}
