// What the throughput sparkline plots (throughput.ts): the meter's per-second history, from the
// first activity to the newest second.

export interface History {
  end_unix_s: number;
  interval_s: number;
  models: Record<string, number[]>;
}

/** An axis label: how long ago, in the units a glance reads best. */
export function agoLabel(secondsAgo: number): string {
  const s = Math.round(secondsAgo);
  if (s < 5) return "now";
  return s < 90 ? `−${s} s` : `−${Math.round(s / 60)} min`;
}

/** The least the sparkline shows, so a first burst is not one bar across the whole width. */
export const MIN_SPARK_S = 60;

export interface Spark {
  /** Unix seconds, oldest first, from just before the first activity to the newest second. */
  xs: number[];
  /** All models' tokens per second together, aligned with `xs`. */
  total: number[];
  /** The peak in the window (0 when idle). */
  max: number;
  /** Seconds the window spans (what its left label says). */
  spanS: number;
}

/** The throughput sparkline: the window starts at the first second with tokens (a little
 * before, and at least [`MIN_SPARK_S`] wide) rather than 15 zero-padded minutes, so a session
 * fills the chart instead of being a spike at its right edge. Idle: the last minute, flat. */
export function sparkWindow(h: History): Spark {
  const step = Math.max(1, h.interval_s);
  const length = Math.max(0, ...Object.values(h.models).map((v) => v.length));
  const total = Array.from({ length }, (_, i) =>
    Object.values(h.models).reduce((sum, v) => sum + (v[i - (length - v.length)] ?? 0), 0) / step,
  );
  const first = total.findIndex((v) => v > 0);
  const minPoints = Math.ceil(MIN_SPARK_S / step);
  const start = first < 0 ? Math.max(0, length - minPoints) : Math.max(0, Math.min(first - 2, length - minPoints));
  const shown = total.slice(start);
  // A history shorter than the minimum is padded at the left (the meter just started).
  const padded = [...new Array<number>(Math.max(0, minPoints - shown.length)).fill(0), ...shown];
  const xs = padded.map((_, i) => h.end_unix_s - (padded.length - 1 - i) * step);
  return { xs, total: padded, max: Math.max(0, ...padded), spanS: (padded.length - 1) * step };
}
