// The Ollama section (issue #14): each Ollama box Clusterbar sees — this Mac's daemon and the
// settings' `ollama_boxes` — with its loaded models and when each unloads, the daemon's settings
// and the interface this Mac reaches it by; and the meter's extra routes (the listeners that
// replace an nginx hop) with their tokens. Pure templates over the Snapshot and the meter's stats.

import { html, nothing, type TemplateResult } from "lit-html";
import { repeat } from "lit-html/directives/repeat.js";
import { formatBytes } from "./format";
import type { OllamaBox, OllamaLoadedModel, OllamaView, RouteStats } from "./types";

/** "unloads in 3 h", "unloads in 4 min", "pinned", "unloading" — keep-alive as a person reads it. */
export function unloadWords(m: OllamaLoadedModel, nowMs: number): string {
  if (m.pinned) return "pinned";
  if (m.expires_at_unix_ms === null) return "keep-alive unknown";
  const s = Math.round((m.expires_at_unix_ms - nowMs) / 1000);
  if (s <= 0) return "unloading";
  if (s < 90) return `unloads in ${s} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `unloads in ${min} min`;
  const h = Math.round(min / 60);
  return h < 48 ? `unloads in ${h} h` : `unloads in ${Math.round(h / 24)} d`;
}

const ROUTE_WORDS = { thunderbolt: "Thunderbolt", ethernet: "Ethernet", wifi: "Wi-Fi", loopback: "this Mac", other: "another interface" };

/** The daemon's settings in one line ("keep-alive 24h · at most 2 models · listens on 0.0.0.0:11434"). */
export function envWords(box: OllamaBox): string | null {
  const env = box.env;
  if (!env) return null;
  const parts = [
    `keep-alive ${env.keep_alive ?? "5m (default)"}`,
    `at most ${env.max_loaded_models ?? "3 (default)"} models`,
    `listens on ${env.host ?? "127.0.0.1:11434 (default)"}`,
  ];
  return parts.join(" · ");
}

function modelRow(m: OllamaLoadedModel, nowMs: number): TemplateResult {
  const facts = [
    formatBytes(m.size_bytes),
    m.context_length !== null ? `context ${m.context_length.toLocaleString("en-US")}` : null,
    m.quantization,
  ].filter(Boolean);
  const unload = unloadWords(m, nowMs);
  return html`<li class="ollama-model" data-name=${m.name}>
    <span class="strong model-id" title=${m.name}>${m.name}</span>
    <span class="badge keep-alive" data-pinned=${m.pinned ? "yes" : "no"}>${unload}</span>
    <div class="muted small">${facts.join(" · ")}</div>
  </li>`;
}

function boxRow(box: OllamaBox, nowMs: number): TemplateResult {
  const route = box.route;
  const offThunderbolt = route !== null && (route.kind === "ethernet" || route.kind === "wifi");
  const env = envWords(box);
  return html`<li class="box ollama-box" data-address=${box.address} data-reachable=${box.reachable ? "yes" : "no"}>
    <div class="box-title">
      <span class="strong">${box.name}</span>
      <span class="muted small">${box.address}</span>
      ${box.version ? html`<span class="muted small">Ollama ${box.version}</span>` : nothing}
    </div>
    ${box.reachable ? nothing : html`<div class="error-line small">${box.error ?? "not answering"}</div>`}
    ${route
      ? html`<div class="small route ${offThunderbolt ? "error-line" : "muted"}" data-kind=${route.kind}>reached by ${route.interface} (${ROUTE_WORDS[route.kind]})</div>`
      : nothing}
    ${env ? html`<div class="muted small env">${env}</div>` : nothing}
    <ul class="model-list">${repeat(box.loaded, (m) => m.name, (m) => modelRow(m, nowMs))}</ul>
    ${box.reachable && box.loaded.length === 0 ? html`<div class="muted small">No model loaded (${box.installed.length} installed)</div>` : nothing}
    ${box.evictions.map(
      (e) => html`<div class="amber small eviction">${e.model} was unloaded to make room${e.by ? ` for ${e.by}` : ""}</div>`,
    )}
  </li>`;
}

/** The content of #ollama. */
export function ollamaView(view: OllamaView, nowMs: number): TemplateResult {
  return html`<h2>Ollama</h2>
    <ul id="ollama-boxes" class="node-list">${repeat(view.boxes, (b) => b.address, (b) => boxRow(b, nowMs))}</ul>`;
}

/** The meter's extra routes: "box2 :11436 → 192.168.99.2:11434 · 42 tok/s · 1,234 tokens". */
export function routesView(routes: readonly RouteStats[]): TemplateResult {
  return html`${repeat(
    routes,
    (r) => r.name,
    (r) => {
      const port = r.listen.split(":").pop() ?? r.listen;
      const figures = r.problem
        ? r.problem
        : `${r.tokens_per_s.toFixed(r.tokens_per_s < 10 ? 1 : 0)} tok/s · ${r.completion_tokens.toLocaleString("en-US")} tokens · ${r.requests} requests`;
      return html`<li class="route-row small" data-route=${r.name}>
        <span class="strong">${r.name}</span> :${port} → ${r.upstream}
        <span class=${r.problem ? "error-line" : "muted"}>${figures}</span>
        ${r.serve_lan ? html`<span class="error-line">open to the network, no authentication</span>` : nothing}
      </li>`;
    },
  )}`;
}
