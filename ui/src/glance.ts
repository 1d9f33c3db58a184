// The popover at a glance (issue #15): one state word from the worst condition, a subtitle of
// the cluster's size, at most two one-line attention rows, and the words of a confirmation.
// Pure functions of the Snapshot (and what the page knows: tokens flowing, a join running), so
// no two parts of the page can disagree — the contradiction tests run over these.

import { formatBytes, shortModel } from "./format";
import type { ModelView, Snapshot, Warning } from "./types";

export type Glance = "serving" | "joining" | "idle" | "degraded" | "not_serving";

export const GLANCE_WORDS: Record<Glance, string> = {
  serving: "Serving",
  joining: "Joining",
  idle: "Idle",
  degraded: "Degraded",
  not_serving: "Not serving",
};

export interface PageFacts {
  /** The meter's tokens/s now (0 when idle or unknown). */
  tokensPerS: number;
  /** A join runs. */
  joining: boolean;
}

/** exo's instances that answer now (ready, or running a request). */
function answeringExoModels(s: Snapshot): ModelView[] {
  return (s.cluster?.models ?? []).filter((m) => m.state === "ready" || m.state === "running");
}

/** Models that answer now: exo's ready/running instances and every model loaded in a reachable Ollama. */
export function servingModels(s: Snapshot): number {
  const exo = answeringExoModels(s).length;
  const ollama = (s.ollama?.boxes ?? []).filter((b) => b.reachable).reduce((n, b) => n + b.loaded.length, 0);
  return exo + ollama;
}

/** The one word the header shows: the worst condition wins, and tokens flowing always mean
 * something serves (so "Not serving" never sits beside a tok/s figure). */
export function glance(s: Snapshot, page: PageFacts): Glance {
  if (page.joining) return "joining";
  const flowing = page.tokensPerS > 0;
  // exo's API answering (a cluster view) counts, wherever that exo runs (`--exo-url`).
  const engineUp = s.services.exo.state === "running" || s.cluster !== null || (s.ollama?.boxes ?? []).some((b) => b.reachable);
  const broken = s.warnings.some((w) => w.severity === "error");
  if (!flowing && (!engineUp || broken)) return "not_serving";
  const anyWarning = s.warnings.length > 0;
  if (!flowing && servingModels(s) === 0) return anyWarning ? "degraded" : "idle";
  return anyWarning ? "degraded" : "serving";
}

/** "3 boxes · 480 GB usable of 640 GB · 1 model · 164 W": the cluster's size in one line. */
export function subtitle(s: Snapshot): string {
  const c = s.cluster;
  const parts: string[] = [];
  const ollamaBoxes = (s.ollama?.boxes ?? []).length;
  if (c) {
    parts.push(`${c.nodes.length} box${c.nodes.length === 1 ? "" : "es"}`);
    if (c.pool) parts.push(`${formatBytes(c.pool.memory_usable_bytes)} usable of ${formatBytes(c.pool.memory_total_bytes)}`);
    else if (c.memory_total_bytes > 0) parts.push(`${formatBytes(c.memory_total_bytes)} in all`);
  } else if (ollamaBoxes > 0) {
    parts.push(`${ollamaBoxes} Ollama box${ollamaBoxes === 1 ? "" : "es"}`);
  } else {
    parts.push("This Mac alone");
  }
  const models = servingModels(s);
  parts.push(`${models} model${models === 1 ? "" : "s"}`);
  const watts = c?.power_watts ?? s.this_node.power_watts;
  if (watts !== null && watts !== undefined) parts.push(`${watts.toFixed(0)} W`);
  return parts.join(" · ");
}

/** Errors before warnings, then as the Snapshot lists them; at most `max` shown. */
export function attention(warnings: readonly Warning[], max = 2): { shown: Warning[]; more: number } {
  const ordered = [...warnings].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1));
  return { shown: ordered.slice(0, max), more: Math.max(0, ordered.length - max) };
}

export type FixPart = { text: string } | { code: string };

/** A fix's words with its `commands` apart, so they show as code with a Copy button and never
 * as literal backticks. An unmatched backtick stays text. */
export function fixParts(fix: string): FixPart[] {
  const pieces = fix.split("`");
  // An odd number of backticks: nothing is paired for sure, so it stays as written.
  if (pieces.length % 2 === 0) return [{ text: fix }];
  return pieces.flatMap((piece, i): FixPart[] => (piece === "" ? [] : i % 2 === 1 ? [{ code: piece }] : [{ text: piece }]));
}

/** "Stop exo on studio-1? Qwen3-235B unloads from 3 boxes." — what stopping costs, in words. */
export function stopExoQuestion(s: Snapshot): string {
  const host = s.this_node.name;
  const models = answeringExoModels(s);
  const boxes = new Set(models.flatMap((m) => m.shards.map((sh) => sh.node))).size;
  if (models.length === 0) return `Stop exo on ${host}? No model is loaded.`;
  const names = models.map((m) => shortModel(m.id)).join(", ");
  const where = boxes > 1 ? ` from ${boxes} boxes` : "";
  return `Stop exo on ${host}? ${names} ${models.length === 1 ? "unloads" : "unload"}${where}.`;
}

/** Whether quitting stops something that serves (exo Clusterbar started, or the Porten agent):
 * only then does Quit ask first. */
export function quitStopsServing(s: Snapshot): boolean {
  const exoOurs = s.services.exo.state === "running" && s.services.exo.supervised?.started_by_us === true;
  const agent = s.porten_agent !== null && (s.porten_agent.state === "running" || s.porten_agent.state === "restarting");
  return exoOurs || agent;
}
