// History in the popover (issue #13): throughput, power and memory per box over 1 h, 24 h, 7 d
// or 90 d, read from the history database through `history_series` (the same query as
// `clusterbar history --json --points 360`), and the energy-per-token line from the Snapshot.
//
// The pure parts (aligning rows for uPlot, the energy words) are tested in vitest; the drawing
// runs only while the popover is on screen and asks again at most once a minute.

import type { EnergyFigures, EnergyWindow, Series } from "./types";

export const SPANS: { label: string; seconds: number }[] = [
  { label: "1 h", seconds: 3600 },
  { label: "24 h", seconds: 86_400 },
  { label: "7 d", seconds: 7 * 86_400 },
  { label: "90 d", seconds: 90 * 86_400 },
];

export interface Aligned {
  /** Unix seconds of every row any series has, oldest first. */
  xs: number[];
  tokensPerS: (number | null)[];
  /** Cluster watts, and per box (box names sorted). */
  clusterWatts: (number | null)[];
  boxes: string[];
  boxWatts: (number | null)[][];
  /** Memory used per box, GB (10^9 bytes, as the chart's axis says). */
  boxMemoryGb: (number | null)[][];
  tokens: number;
}

/** The rows of every series on one time axis (a box missing at a time is a gap, not a zero). */
export function align(series: Series): Aligned {
  const times = new Set<number>();
  for (const r of series.cluster) times.add(r.at_unix_s);
  const boxes = Object.keys(series.boxes).sort();
  for (const b of boxes) for (const r of series.boxes[b] ?? []) times.add(r.at_unix_s);
  const xs = Array.from(times).sort((a, b) => a - b);
  const slot = new Map(xs.map((t, i) => [t, i] as const));
  const empty = () => new Array<number | null>(xs.length).fill(null);
  const tokensPerS = empty();
  const clusterWatts = empty();
  let tokens = 0;
  for (const r of series.cluster) {
    const i = slot.get(r.at_unix_s) ?? 0;
    tokensPerS[i] = r.tokens_per_s;
    clusterWatts[i] = r.power_watts;
    tokens += r.tokens;
  }
  const boxWatts = boxes.map(() => empty());
  const boxMemoryGb = boxes.map(() => empty());
  boxes.forEach((b, k) => {
    for (const r of series.boxes[b] ?? []) {
      const i = slot.get(r.at_unix_s) ?? 0;
      boxWatts[k][i] = r.power_watts;
      boxMemoryGb[k][i] = r.memory_used_bytes === null ? null : r.memory_used_bytes / 1e9;
    }
  });
  return { xs, tokensPerS, clusterWatts, boxes, boxWatts, boxMemoryGb, tokens };
}

function whPerMillion(w: EnergyWindow): string | null {
  if (w.wh_per_million_tokens === null) return null;
  const v = w.wh_per_million_tokens;
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function money(value: number, currency: string): string {
  return `${value < 1 ? value.toFixed(3) : value.toFixed(2)} ${currency}`;
}

/** The energy line's parts: "per 1M tokens: now 333 Wh · today 300 Wh · 7 d 320 Wh" and, with
 * a price, "cost per 1M tokens 0.100 EUR · today 0.42 EUR"; null when nothing is recorded. */
export function energyWords(energy: EnergyFigures | null): { perToken: string; cost: string | null; porten: string | null } | null {
  // Nothing to say without power on record (a machine with no power sensor) and no tokens.
  if (!energy || (energy.week.covered_s === 0 && energy.week.tokens === 0)) return null;
  const parts = (
    [
      ["now", energy.now],
      ["today", energy.today],
      ["7 d", energy.week],
    ] as const
  )
    .map(([label, w]) => {
      const v = whPerMillion(w);
      return v === null ? null : `${label} ${v}`;
    })
    .filter((p): p is string => p !== null);
  const perToken =
    parts.length > 0
      ? `Wh per 1M tokens: ${parts.join(" · ")}`
      : `Energy: ${energy.today.energy_wh.toFixed(1)} Wh today, no tokens served yet`;
  let cost: string | null = null;
  const currency = energy.currency;
  if (currency !== null && energy.today.cost !== null) {
    const per = [energy.now, energy.today, energy.week].find((w) => w.cost_per_million_tokens !== null)?.cost_per_million_tokens ?? null;
    cost = `${per !== null ? `Electricity ${money(per, currency)} per 1M tokens · ` : "Electricity "}${money(energy.today.cost, currency)} today`;
  }
  const porten =
    energy.today.porten_tokens > 0
      ? `${energy.today.porten_tokens.toLocaleString("en-US")} of today's ${energy.today.tokens.toLocaleString("en-US")} tokens went to Porten`
      : null;
  return { perToken, cost, porten };
}
