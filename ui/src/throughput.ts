// The Throughput section: the live tokens/s figure, a sparkline from the first activity (uPlot), TTFT,
// requests in flight and tokens served today, from the meter's pushed stats.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { render } from "lit-html";
import { agoLabel, sparkWindow } from "./chartwindow";
import { routesView } from "./ollama";
import type { ThroughputUpdate } from "./types";

const PALETTE = ["#30a46c", "#0a84ff", "#ff9f0a", "#bf5af2", "#ff375f", "#64d2ff"];

let chart: uPlot | null = null;

function text(id: string, value: string): void {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

function ms(v: number | null): string {
  return v === null ? "—" : `${Math.round(v)} ms`;
}

export function renderThroughput(update: ThroughputUpdate): void {
  const stats = update.stats;
  if (!stats) {
    text("tps-now", "—");
    const header = document.getElementById("header-tps");
    if (header) header.hidden = true;
    text("meter-line", update.error ?? "The token meter is not running.");
    return;
  }
  const c = stats.cluster;
  const rate = `${c.tokens_per_s.toFixed(c.tokens_per_s < 10 ? 1 : 0)} tok/s`;
  const now = document.getElementById("tps-now");
  if (now) {
    now.textContent = rate;
    now.dataset.value = String(c.tokens_per_s);
  }
  // The header carries the live figure only while tokens flow: a glance says "serving, this fast".
  const header = document.getElementById("header-tps");
  if (header) {
    header.textContent = rate;
    header.hidden = c.tokens_per_s <= 0 && c.in_flight === 0;
  }
  text("ttft-p50", ms(c.ttft_p50_ms));
  text("ttft-p95", ms(c.ttft_p95_ms));
  text("in-flight", String(c.in_flight));
  text("tokens-today", c.tokens_today.toLocaleString("en-US"));
  const today = document.getElementById("tokens-today");
  if (today) today.dataset.value = String(c.tokens_today);
  text("req-per-min", String(c.requests_per_min));
  text("meter-errors", String(c.errors));
  const unmetered = c.unmetered ? ` · ${c.unmetered} unmetered` : "";
  text("meter-line", `Clients and the Porten agent: ${update.meter_url} → ${stats.upstream}${unmetered}`);
  const routes = stats.routes ?? [];
  const list = document.getElementById("meter-routes");
  if (list) {
    list.hidden = routes.length === 0;
    render(routesView(routes), list);
  }
  drawChart(update);
}

function drawChart(update: ThroughputUpdate): void {
  const stats = update.stats;
  const host = document.getElementById("tps-chart");
  if (!stats || !host) return;
  const spark = sparkWindow(stats.history);
  text("spark-start", agoLabel(spark.spanS));
  text("spark-max", spark.max > 0 ? `peak ${spark.max.toFixed(spark.max < 10 ? 1 : 0)} tok/s` : "idle");
  const data: uPlot.AlignedData = [spark.xs, spark.total];
  if (!chart) {
    chart = new uPlot(
      {
        width: Math.max(200, host.clientWidth || 340),
        height: 36,
        legend: { show: false },
        cursor: { show: false },
        // No axes: the labels under it say the span, the peak and "now".
        axes: [{ show: false }, { show: false }],
        // A little below 0, so an idle baseline shows as a line rather than the chart's edge.
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [-0.06 * Math.max(1, max), Math.max(1, max * 1.1)] } },
        series: [{}, { stroke: PALETTE[0], fill: `${PALETTE[0]}33`, width: 1.5, points: { show: false } }],
      },
      data,
      host,
    );
  } else {
    chart.setData(data);
  }
}
