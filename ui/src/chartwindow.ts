// What the throughput chart plots: always the same span of time ending at the newest second, so
// its axis reads the same in the first minute after start as after an hour (a short history is
// padded with zeros; the meter only keeps 15 min).

export const CHART_WINDOW_S = 15 * 60;

export interface History {
  end_unix_s: number;
  interval_s: number;
  models: Record<string, number[]>;
}

export interface ChartData {
  /** Unix seconds, oldest first, ending at `end_unix_s`. */
  xs: number[];
  /** Model ids, sorted; `perModel[i]` is tokens per second for `models[i]`, aligned with `xs`. */
  models: string[];
  perModel: number[][];
}

export function chartWindow(h: History, windowS: number = CHART_WINDOW_S): ChartData {
  const step = Math.max(1, h.interval_s);
  const points = Math.max(1, Math.floor(windowS / step));
  const xs = Array.from({ length: points }, (_, i) => h.end_unix_s - (points - 1 - i) * step);
  const models = Object.keys(h.models).sort();
  const perModel = models.map((m) => {
    const series = h.models[m].slice(-points).map((v) => v / step);
    return [...new Array<number>(points - series.length).fill(0), ...series];
  });
  return { xs, models, perModel };
}

/** An axis label: how long ago, in the units a glance reads best. */
export function agoLabel(secondsAgo: number): string {
  const s = Math.round(secondsAgo);
  if (s < 5) return "now";
  return s < 90 ? `−${s} s` : `−${Math.round(s / 60)} min`;
}
