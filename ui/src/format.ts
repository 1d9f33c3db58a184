// Human formatting, the same rules as clusterbar-core's `format` module.

/** Memory in binary units labelled "GB", as macOS shows memory. */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "12 s ago", "3 min ago": time as people read it in a glance. */
export function formatAgo(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  return `${Math.round(m / 60)} h ago`;
}

/** A model's short name for a row ("Qwen3-235B-A22B-4bit" for "mlx-community/Qwen3-235B-A22B-4bit");
 * the full id goes in its tooltip. */
export function shortModel(id: string): string {
  return id.split("/").pop() || id;
}
