// What the Porten section says, as plain text from the core's figures (no DOM: unit-tested).

import type { AgentStatus, ClientStats, HubCheck, KeySource, Warming } from "./types";

/** "22 of 49 GB (45 %)" — as the core words it: the Hub counts MB, and its docs' 22272 of 49131
 * MB read as 22 of 49 GB, so a GB is 1000 MB here. */
export function warmingAmount(w: Warming): string | null {
  const gb = (mb: number): number => Math.round(mb / 1000);
  const pct = w.pct !== null ? ` (${w.pct.toFixed(0)} %)` : "";
  if (w.done_mb !== null && w.total_mb !== null && w.total_mb > 0) return `${gb(w.done_mb)} of ${gb(w.total_mb)} GB${pct}`;
  return w.pct !== null ? `${w.pct.toFixed(0)} %` : null;
}

export function warmingInProgress(w: Warming): boolean {
  return !w.ready && w.phase !== "ready";
}

/** "Porten is loading qwen3-coder-next: 22 of 49 GB (45 %)". */
export function warmingLine(id: string, w: Warming): string {
  const amount = warmingAmount(w);
  return amount ? `Porten is loading ${id}: ${amount}` : `Porten is loading ${id}`;
}

/** The information line (a missing key is no warning) and one line per model still warming. */
export function hubLines(check: HubCheck | null | undefined): { info: string | null; warming: string[] } {
  if (!check) return { info: null, warming: [] };
  const info = check.catalog === "needs_key" ? check.note : null;
  const warming = check.models.flatMap((m) => (m.warming && warmingInProgress(m.warming) ? [warmingLine(m.id, m.warming)] : []));
  return { info, warming };
}

const count = (n: number): string => n.toLocaleString("en-US");

/** "Served to Porten: 1,234 tokens today · 56,789 in total since 2026-11-01", or null without the agent's listener. */
export function tokensLine(clients: ClientStats[] | undefined): string | null {
  const porten = clients?.find((c) => c.client === "porten");
  if (!porten) return null;
  const since = porten.since ? ` since ${porten.since}` : "";
  return `Served to Porten: ${count(porten.tokens_today)} tokens today · ${count(porten.tokens_total)} in total${since}`;
}

/** Who runs the agent, when it is not Clusterbar. */
export function agentOwner(agent: AgentStatus | null): string {
  if (agent?.run_by_porten_app) return " · run by Porten's app";
  if (agent?.state === "adopted") return " · not started by Clusterbar";
  return "";
}

const KEY_WORDS: Record<KeySource, string> = {
  environment: "set (PORTEN_API_KEY)",
  keychain: "set (Keychain)",
  file: "set (key file)",
};

export function keyWords(source: KeySource | null): string {
  return source ? KEY_WORDS[source] : "not set: the catalog check needs one";
}

/** A sign-in URL for the page: an absurdly long one (the core opens none over 8 KiB) is cut,
 * with its length. */
export function shownUrl(url: string): string {
  return url.length <= 8192 ? url : `${url.slice(0, 120)}… (${url.length} bytes)`;
}
