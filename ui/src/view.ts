// The popover's snapshot-driven sections as lit-html templates. Rendering a template into the
// same container again only writes the parts whose values changed, and keyed lists (`repeat`)
// move or drop rows by id, so element objects, focus, an open <details> and a busy button all
// survive the Snapshot that arrives every second. Pure functions of their inputs (no Tauri), so
// the vitest tests render them into jsdom.
//
// No `style="…"` attributes: the page's CSP (style-src 'self') blocks them; `styleMap` writes
// through the CSSOM, which the CSP allows.

import { html, nothing, type TemplateResult } from "lit-html";
import { ifDefined } from "lit-html/directives/if-defined.js";
import { live } from "lit-html/directives/live.js";
import { repeat } from "lit-html/directives/repeat.js";
import { styleMap } from "lit-html/directives/style-map.js";
import { formatAgo, formatBytes, shortModel } from "./format";
import { attention, fixParts } from "./glance";
import { topologyView } from "./topology";
import type { ClusterView, LinkView, ModelView, NodeView, ServiceStatus, SettingsView, Snapshot, ThisNode, Warning } from "./types";

/** A model exo could load here (the `models_loadable` command). */
export interface LoadableModel {
  id: string;
  name: string | null;
  storage_size_bytes: number | null;
  fit: { summary: string; need_bytes: number; min_boxes: number | null } | null;
}

/** What the page remembers between snapshots (the Snapshot itself knows none of it). */
export interface PageState {
  /** Boxes the user opened, by name: kept open even if the list is rebuilt (cluster gone and back). */
  openBoxes: Set<string>;
  /** instance ids whose Unload is in flight. */
  unloading: Set<string>;
  /** The "Load…" list; null while it is closed. */
  loadable: LoadableModel[] | null;
  /** Model ids whose Load is in flight. */
  loading: Set<string>;
  /** Attention rows whose fix is open, by code + scope. */
  openFixes: Set<string>;
  /** Every warning shown, not just the first two. */
  allWarnings: boolean;
}

export function newPageState(): PageState {
  return { openBoxes: new Set(), unloading: new Set(), loadable: null, loading: new Set(), openFixes: new Set(), allWarnings: false };
}

/** What the templates' buttons do; main.ts supplies the real ones, tests record calls. */
export interface Actions {
  boxToggled(name: string, open: boolean): void;
  unload(instanceId: string): void;
  toggleLoadable(): void;
  load(id: string): void;
  /** A box in the cluster picture was clicked: open its row. */
  openBox(name: string): void;
  /** Fix… on an attention row (open or close its fix). */
  toggleFix(key: string): void;
  /** "+N more" under the attention rows. */
  toggleAllWarnings(): void;
  /** Copy a command or an address to the clipboard. */
  copy(text: string): void;
}

/** Keys for `repeat`, which needs them unique: a repeated key gets its occurrence appended. */
export function uniqueKeys<T>(items: readonly T[], key: (item: T) => string): string[] {
  const seen = new Map<string, number>();
  return items.map((item) => {
    const k = key(item);
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    return n === 0 ? k : `${k}#${n}`;
  });
}

/** `repeat` over items keyed by `key` (made unique). */
function keyed<T>(items: readonly T[], key: (item: T) => string, row: (item: T) => TemplateResult): unknown {
  const keys = uniqueKeys(items, key);
  return repeat(
    items.map((item, i) => [keys[i], item] as const),
    ([k]) => k,
    ([, item]) => row(item),
  );
}

export function gbps(v: number | null): string {
  return v === null ? "— Gb/s" : `${Number.isInteger(v) ? v : v.toFixed(1)} Gb/s`;
}

const width = (pct: number | null) => styleMap({ width: pct === null ? "0" : `${pct.toFixed(1)}%` });

// ---- Needs attention ------------------------------------------------------------------------

const warningKey = (w: Warning) => `${w.code}\u0000${w.scope}`;

/** A fix's words, its `commands` as code with a Copy button each. */
function fixView(fix: string, act: Actions): unknown {
  return fixParts(fix).map((part) =>
    "code" in part
      ? html`<span class="command"><code>${part.code}</code><button type="button" class="small-btn" aria-label=${`Copy ${part.code}`} @click=${() => act.copy(part.code)}>Copy</button></span>`
      : html`<span>${part.text}</span>`,
  );
}

/** The rows of #warnings: at most two one-line rows (errors first) unless all are asked for,
 * each with Fix… that opens its fix; keyed by code and scope. */
export function warningsView(warnings: readonly Warning[], page: PageState = newPageState(), act?: Actions): unknown {
  const { shown, more } = attention(warnings, page.allWarnings ? warnings.length : 2);
  const rows = keyed(shown, warningKey, (w) => {
    const key = warningKey(w);
    const open = page.openFixes.has(key);
    return html`<li class="attention-item" data-code=${w.code} data-scope=${w.scope}>
      <div class="attention-row ${w.severity}">
        <span class="symbol" aria-hidden="true">${w.severity === "error" ? "✗" : "!"}</span>
        <span class="message" title=${w.message}>${w.message}</span>
        <button type="button" class="small-btn" aria-expanded=${open ? "true" : "false"} @click=${() => act?.toggleFix(key)}>Fix…</button>
      </div>
      ${open ? html`<div class="attention-fix small">${act ? fixView(w.fix, act) : w.fix}</div>` : nothing}
    </li>`;
  });
  const toggle =
    more > 0 || page.allWarnings
      ? html`<li class="attention-more"><button type="button" class="small-btn" @click=${() => act?.toggleAllWarnings()}>${page.allWarnings ? "Show fewer" : `${more} more…`}</button></li>`
      : nothing;
  return html`${rows}${toggle}`;
}

// ---- This Mac -------------------------------------------------------------------------------

const RDMA_WORDS = { enabled: "enabled", disabled: "disabled", unsupported: "not supported here", unknown: "unknown" };

/** The content of #boxes: this Mac's figures and its Thunderbolt ports. */
export function thisMacView(node: ThisNode): TemplateResult {
  const m = node.memory;
  const unread = m ? undefined : "Memory could not be read; see Needs attention";
  const pressure = m?.pressure ?? null;
  const extra: string[] = [];
  if (m) {
    // No swap configured is not worth a line ("swap 0 B of 0 B").
    if (m.swap_total_bytes > 0) extra.push(`swap ${formatBytes(m.swap_used_bytes)} of ${formatBytes(m.swap_total_bytes)}`);
    if (m.wired_bytes !== null) extra.push(`wired ${formatBytes(m.wired_bytes)}`);
    if (m.compressed_bytes !== null) extra.push(`compressed ${formatBytes(m.compressed_bytes)}`);
  }
  const power =
    node.power_watts !== null
      ? { text: `${node.power_watts.toFixed(1)} W`, title: node.power_source ?? undefined }
      : { text: "—", title: node.power_unavailable_reason ?? "Power is not reported on this machine" };
  const gpu =
    node.gpu_wired_limit_bytes !== null
      ? `GPU up to ${formatBytes(node.gpu_wired_limit_bytes)}${node.gpu_wired_limit_estimated ? " (est.)" : ""}`
      : "";
  return html`<h2>This Mac</h2>
    <div class="box" id="this-node">
      <div class="box-title">
        <span id="host-name" class="strong">${node.name}</span>
        <span class="tag">this Mac</span>
      </div>
      <div class="muted"><span id="chip" title=${ifDefined(node.chip ? undefined : "The OS does not report the chip")}>${node.chip ?? "—"}</span> · <span id="os" title=${ifDefined(node.os_build ? `build ${node.os_build}` : undefined)}>${node.os}</span></div>
      <div id="mem-meter">${memoryBar(m ? m.used_bytes : null, m ? m.total_bytes : null, node.gpu_wired_limit_bytes, "Memory used")}</div>
      <div class="figures">
        <span>Memory <span id="mem-used" title=${ifDefined(unread)} data-bytes=${ifDefined(m ? String(m.used_bytes) : undefined)}>${m ? formatBytes(m.used_bytes) : "—"}</span> of <span id="mem-total" title=${ifDefined(unread)} data-bytes=${ifDefined(m ? String(m.total_bytes) : undefined)}>${m ? formatBytes(m.total_bytes) : "—"}</span></span>
        <span id="mem-pressure" class=${pressure && pressure !== "normal" ? "amber" : "muted"} title=${ifDefined(m && !pressure ? "This OS does not report memory pressure" : undefined)}>${m ? (pressure ? `pressure ${pressure}` : "pressure —") : ""}</span>
      </div>
      <div class="figures muted" id="mem-extra">${extra.join(" · ")}</div>
      <div class="figures"><span>Power <span id="power" title=${ifDefined(power.title)}>${power.text}</span></span><span id="gpu-limit" class="muted">${gpu}</span></div>
      <div class="figures"><span>RDMA <span id="rdma" class=${node.rdma.status === "disabled" ? "amber" : ""} title=${ifDefined(node.rdma.detail ?? undefined)}>${RDMA_WORDS[node.rdma.status]}</span></span></div>
      <ul id="tb-ports" class="chips" aria-label="Thunderbolt ports">${tbPorts(node)}</ul>
    </div>`;
}

function tbPorts(node: ThisNode): unknown {
  if (node.thunderbolt.length === 0) return html`<li class="muted small">No Thunderbolt ports found</li>`;
  return keyed(
    node.thunderbolt,
    (p) => p.socket ?? p.interface ?? "port",
    (p) => {
      const name = p.socket ? `Port ${p.socket}` : "Port";
      let text: string;
      if (!p.link_up) text = `${name}: no link`;
      else {
        const lanes = p.lanes !== null ? ` · ${p.lanes} lane${p.lanes === 1 ? "" : "s"}` : "";
        text = `${name}: ${gbps(p.speed_gbps)}${lanes}${p.peer ? ` → ${p.peer}` : ""}${p.rdma_active ? " · RDMA" : ""}`;
      }
      const slow = p.slow;
      return html`<li class="chip${slow ? " slow" : ""}${p.link_up ? "" : " idle"}">${text}</li>`;
    },
  );
}

// ---- The cluster's boxes --------------------------------------------------------------------

/** The "(frozen …)" / "(electing a master …)" note beside the Boxes heading, or null. */
function heldNote(c: ClusterView): string | null {
  if (c.frozen_for_s !== null) return `(frozen: exo's view has not moved for ${Math.round(c.frozen_for_s)} s)`;
  if (c.held_ms !== null) return `(electing a master: last view ${Math.round(c.held_ms / 1000)} s old)`;
  return null;
}

/** The content of #cluster: the picture, one keyed 28 px row per box, the pool's budget. */
export function clusterView(c: ClusterView, page: PageState, act: Actions): TemplateResult {
  const held = heldNote(c);
  const pool = c.pool;
  const poolText = pool
    ? `Pool ${formatBytes(pool.memory_usable_bytes)} usable · Porten budget ${formatBytes(pool.vram_budget_mb * 1024 * 1024)}`
    : `Pool ${formatBytes(c.memory_total_bytes)} in all`;
  const poolTitle = pool
    ? pool.per_box.map((b) => `${b.name}: ${formatBytes(b.usable_bytes)} (${b.source === "gpu_ceiling" ? "GPU ceiling" : "share of RAM"})`).join("\n")
    : undefined;
  // The build is worth a line only when the boxes' builds differ.
  const buildsDiffer = new Set(c.nodes.map((b) => b.os_build)).size > 1;
  return html`<h2>Boxes <span id="cluster-held" class="amber" ?hidden=${held === null}>${held ?? ""}</span></h2>
    ${topologyView(c, act)}
    <ul id="node-list" class="list" aria-label="Boxes">${keyed(c.nodes, (n) => n.node_id, (n) => nodeRow(n, c, buildsDiffer, page, act))}</ul>
    <div id="pool-line" class="muted small" title=${ifDefined(poolTitle)}>${poolText}</div>`;
}

function linkChip(node: string, link: LinkView): TemplateResult {
  const peer = link.from === node ? link.to : link.from;
  const kind = { rdma: "RDMA", thunderbolt: "TB", ethernet: "Ethernet", wifi: "Wi-Fi", unknown: "?" }[link.kind];
  const speed = link.speed_gbps !== null ? `${gbps(link.speed_gbps)} · ` : "";
  const slow = link.slow;
  return html`<li class="chip${slow ? " slow" : ""}" data-kind=${link.kind}>↔ ${peer} ${speed}${kind}</li>`;
}

export type MemoryLevel = "ok" | "high" | "over";

/** A memory bar's colour: by how much of the usable memory (the GPU ceiling or exo's share)
 * is in use, not of all RAM — 85 % of usable is high, past it is over. */
export function memoryLevel(used: number, usable: number | null, total: number): MemoryLevel {
  const limit = usable ?? total;
  if (limit <= 0) return "ok";
  const share = used / limit;
  return share >= 1 ? "over" : share >= 0.85 ? "high" : "ok";
}

/** A memory bar with a tick at the usable limit. */
export function memoryBar(used: number | null, total: number | null, usable: number | null, label: string): TemplateResult {
  const pct = total && used !== null ? Math.min(100, (100 * used) / total) : null;
  const level = used !== null && total ? memoryLevel(used, usable, total) : "ok";
  const tick = usable !== null && total ? Math.min(100, (100 * usable) / total) : null;
  return html`<div class="meter" role="meter" aria-label=${label} aria-valuemin="0" aria-valuemax="100"
      aria-valuenow=${ifDefined(pct === null ? undefined : pct.toFixed(0))} data-level=${level}>
    <div class="meter-fill" style=${width(pct)}></div>
    ${tick !== null ? html`<div class="meter-tick" style=${styleMap({ left: `calc(${tick.toFixed(1)}% - 1px)` })}></div>` : nothing}
  </div>`;
}

/** "48 of 512 GB": whole gigabytes in a row (the detail has the decimals). */
export function shortMemory(used: number, total: number): string {
  const gb = (n: number) => Math.round(n / 2 ** 30);
  return `${gb(used)} of ${gb(total)} GB`;
}

function nodeRow(n: NodeView, c: ClusterView, buildsDiffer: boolean, page: PageState, act: Actions): TemplateResult {
  const total = n.memory_total_bytes;
  const used = total !== null && n.memory_available_bytes !== null ? total - n.memory_available_bytes : null;
  const usable = c.pool?.per_box.find((b) => b.name === n.name)?.usable_bytes ?? null;
  const stale = n.stale;
  const mine = c.links.filter((l) => l.from === n.name || l.to === n.name);
  const onToggle = (e: Event) => act.boxToggled(n.name, (e.currentTarget as HTMLDetailsElement).open);
  const memory = total !== null && used !== null ? shortMemory(used, total) : "memory —";
  const watts = n.power_watts !== null ? `${n.power_watts.toFixed(0)} W` : "— W";
  const label = `${n.name}${n.is_this_node ? " (this Mac)" : ""}: ${memory}, ${watts}${stale ? `, seen ${formatAgo((n.last_seen_s ?? 0) * 1000)}` : ""}`;
  return html`<li class="node" data-name=${n.name}>
    <details ?open=${page.openBoxes.has(n.name)} @toggle=${onToggle}>
      <summary aria-label=${label}>
        <span class="chevron" aria-hidden="true"></span>
        <span class="row-title">
          <span class="row-name" title=${n.name}>${n.name}</span>
          ${n.is_this_node ? html`<span class="tag">this Mac</span>` : nothing}
          ${stale ? html`<span class="tag amber">seen ${formatAgo((n.last_seen_s ?? 0) * 1000)}</span>` : nothing}
        </span>
        <span class="row-meter">${memoryBar(used, total, usable, `${n.name} memory used`)}</span>
        <span class="row-figure box-memory">${memory}</span>
        <span class="row-figure">${watts}</span>
      </summary>
      <ul class="box-detail">
        <li>${[n.chip ?? "chip —", n.gpu_usage !== null ? `GPU ${(n.gpu_usage * 100).toFixed(0)}%` : null].filter(Boolean).join(" · ")}</li>
        ${mine.length || n.rdma_enabled === false
          ? html`<li><ul class="chips">
              ${keyed(mine, (l) => `${l.from}\u0000${l.to}\u0000${l.kind}`, (l) => linkChip(n.name, l))}
              ${n.rdma_enabled === false ? html`<li class="chip slow">RDMA off</li>` : nothing}
            </ul></li>`
          : nothing}
        ${nodeDetail(n, buildsDiffer).map((line) => html`<li>${line}</li>`)}
      </ul>
    </details>
  </li>`;
}

/** What a box says when opened: the facts behind its one-line summary. */
export function nodeDetail(n: NodeView, showBuild = false): string[] {
  // exo reports macOS as a bare version ("26.2"); other systems by name ("Linux"). The build
  // (25C56) only when the boxes' builds differ: then it is the point.
  const osName = n.os_version && /^\d/.test(n.os_version) ? `macOS ${n.os_version}` : n.os_version;
  const build = showBuild && n.os_build ? ` (${n.os_build})` : "";
  const os = osName ? `${osName}${build}` : n.os_build ? `macOS build ${n.os_build}` : null;
  const lines: string[] = [[n.hardware_model, os].filter(Boolean).join(" · ")].filter(Boolean);
  if (n.memory_available_bytes !== null) lines.push(`${formatBytes(n.memory_available_bytes)} memory available`);
  if (n.temp_c !== null) lines.push(`${n.temp_c.toFixed(0)} °C`);
  for (const port of n.thunderbolt_ports) {
    const name = port.rdma_interface?.replace(/^rdma_/, "") ?? "port";
    const speed = port.speed_gbps !== null ? `${port.speed_gbps} Gb/s` : (port.link_speed_text ?? "no link");
    lines.push(`Thunderbolt ${name}: ${speed}`);
  }
  if (n.rdma_enabled !== null) lines.push(`RDMA ${n.rdma_enabled ? "on" : "off"}`);
  if (n.thunderbolt_bridge_enabled !== null) lines.push(`Thunderbolt Bridge ${n.thunderbolt_bridge_enabled ? "on" : "off"}`);
  if (n.disk_available_bytes !== null) {
    const of = n.disk_total_bytes !== null ? ` of ${formatBytes(n.disk_total_bytes)}` : "";
    lines.push(`${formatBytes(n.disk_available_bytes)} disk free${of}`);
  }
  if (n.backends.length > 0) lines.push(`runs models on ${n.backends.join(", ")}`);
  if (n.last_seen_s !== null) lines.push(`seen ${formatAgo(n.last_seen_s * 1000)}`);
  lines.push(`exo node ${n.node_id}`);
  return lines;
}

// ---- Models ---------------------------------------------------------------------------------

/** The content of #models: the Load… list, then one keyed row per loaded instance. */
export function modelsView(models: readonly ModelView[], page: PageState, act: Actions): TemplateResult {
  return html`<h2>Models <button type="button" id="load-btn" class="small-btn" @click=${() => act.toggleLoadable()}>Load…</button></h2>
    <ul id="loadable" class="model-list" ?hidden=${page.loadable === null} aria-label="Models that fit">${loadableRows(page, act)}</ul>
    <ul id="model-list" class="model-list">${keyed(models, (m) => m.instance_id, (m) => modelRow(m, page, act))}</ul>
    <div id="models-empty" class="muted small" ?hidden=${models.length > 0}>No model loaded: press Load… to pick one that fits.</div>`;
}

function loadableRows(page: PageState, act: Actions): unknown {
  const list = page.loadable;
  if (list === null) return nothing;
  if (list.length === 0) return html`<li class="muted small">No model exo knows fits this cluster's usable memory.</li>`;
  return keyed(
    list,
    (m) => m.id,
    (m) => {
      const busy = page.loading.has(m.id);
      const fit = m.fit;
      const size = fit
        ? `needs ${formatBytes(fit.need_bytes)}${fit.min_boxes ? ` · ${fit.min_boxes} box${fit.min_boxes > 1 ? "es" : ""}` : ""}`
        : "size unknown";
      return html`<li class="box loadable" data-id=${m.id}>
        <div class="figures">
          <span class="model-id" title=${m.id}>${shortModel(m.id)}</span>
          <button type="button" class="small-btn" ?disabled=${busy} @click=${() => act.load(m.id)}>${busy ? "Loading…" : "Load"}</button>
        </div>
        <div class="muted small">${size}</div>
      </li>`;
    },
  );
}

function modelRow(m: ModelView, page: PageState, act: Actions): TemplateResult {
  const pct = m.progress !== null && (m.state === "downloading" || m.state === "loading") ? ` ${(m.progress * 100).toFixed(0)}%` : "";
  const badge = m.state === "failed" ? "failed" : m.state === "ready" || m.state === "running" ? "running" : "busy";
  const showMeter = m.progress !== null && m.state !== "ready" && m.state !== "running";
  const speed =
    m.state === "downloading" && m.download_speed_bytes_per_s !== null
      ? `${formatBytes(m.download_speed_bytes_per_s)}/s${m.eta_ms !== null ? ` · ${Math.ceil(m.eta_ms / 1000)} s left` : ""}`
      : null;
  const shards = m.shards
    .map((sh) => (sh.start_layer !== null && sh.end_layer !== null ? `${sh.node} ${sh.start_layer}–${sh.end_layer}` : sh.node))
    .join(" · ");
  const busy = page.unloading.has(m.instance_id);
  return html`<li class="model" data-state=${m.state} data-id=${m.id}>
    <div class="model-row">
      <span class="model-id" title=${m.id}>${shortModel(m.id)}</span>
      <span class="badge" data-state=${badge}>${m.state}${pct}</span>
      <button type="button" class="small-btn unload" ?disabled=${busy} aria-label=${`Unload ${shortModel(m.id)}`} @click=${() => act.unload(m.instance_id)}>${busy ? "Unloading…" : "Unload"}</button>
    </div>
    ${showMeter ? html`<div class="meter"><div class="meter-fill" style=${width((m.progress ?? 0) * 100)}></div></div>` : nothing}
    ${speed !== null ? html`<div class="muted small">${speed}</div>` : nothing}
    ${shards ? html`<div class="muted small">layers: ${shards}</div>` : nothing}
    ${m.error ? html`<div class="error-line small">${m.error}</div>` : nothing}
  </li>`;
}

// ---- Services -------------------------------------------------------------------------------

const SERVICE_WORDS: Record<ServiceStatus["state"], string> = {
  running: "Running",
  stopped: "Stopped",
  not_installed: "Not installed",
};

export function serviceDetail(status: ServiceStatus): string {
  const parts: string[] = [];
  const sup = status.supervised;
  if (sup) {
    const who = sup.state === "adopted" ? ["adopted"] : sup.started_by_us ? ["started by Clusterbar"] : [];
    if (sup.restarts) who.push(`${sup.restarts} restarts`);
    parts.push(`${sup.state.replace("_", " ")}${who.length ? ` (${who.join(", ")})` : ""}`);
    if (sup.gave_up_reason) parts.push(`gave up: ${sup.gave_up_reason}`);
    else if (sup.next_restart_in_s !== null) parts.push(`restarting in ${sup.next_restart_in_s} s`);
  }
  if (status.pids.length > 1) parts.push(`${status.pids.length} copies running (pids ${status.pids.join(", ")})`);
  if (status.child_processes > 0) parts.push(`${status.child_processes} worker process${status.child_processes === 1 ? "" : "es"}`);
  if (status.version) parts.push(`version ${status.version}`);
  if (status.executable) parts.push(status.executable);
  if (status.detail) parts.push(status.detail);
  return parts.join(" · ");
}

/** The content of #services. */
export function servicesView(services: Snapshot["services"]): TemplateResult {
  const row = (id: "exo" | "porten", label: string, s: ServiceStatus) =>
    html`<div class="service-row">
        <span class="strong">${label}</span>
        <span id="${id}-state" class="badge" data-state=${s.state}>${SERVICE_WORDS[s.state]}</span>
      </div>
      <div id="${id}-detail" class="muted small">${serviceDetail(s)}</div>`;
  return html`<h2>Services</h2>
    ${row("exo", "exo", services.exo)}
    ${row("porten", "Porten agent", services.porten)}`;
}

// ---- Settings -------------------------------------------------------------------------------

/** Editable settings: [key, label, kind, help]. Ports and paths apply at once except the
 * meter's port, which the meter binds at launch. */
export const EDITABLE: [string, string, "text" | "number" | "bool", string][] = [
  ["exo_path", "exo path", "text", "empty = automatic (PATH, EXO.app)"],
  ["exo_api_port", "exo API port", "number", "the same on every Mac of the cluster"],
  ["exo_namespace", "exo namespace", "text", "empty = exo's default (its version); the same on every Mac"],
  ["meter_port", "Token meter port", "number", "applies at the next launch"],
  ["show_tokens_in_menu_bar", "Show tok/s in the menu bar", "bool", ""],
  ["porten_path", "Porten agent path", "text", "empty = automatic (PATH)"],
  ["porten_hub_url", "Porten Hub", "text", "sign-in pages must be on this host"],
  ["porten_api_url", "Porten Hub API", "text", "empty = https://<Hub host>/v1"],
  ["porten_meter_port", "Meter port for the agent", "number", "applies at the next launch"],
  ["electricity_price_per_kwh", "Electricity price per kWh", "number", "empty = no costs shown"],
  ["currency", "Currency", "text", "as you write it, e.g. EUR or $"],
];

/** Settings that may be unset: an empty field saves as null (automatic, or not shown). */
export const OPTIONAL: ReadonlySet<string> = new Set(["exo_path", "exo_namespace", "porten_path", "porten_api_url", "electricity_price_per_kwh"]);

/** The rows of #settings-list. `live` compares with the input's current value, so a re-render
 * after Save writes only what the core changed (a value being typed elsewhere is left alone). */
export function settingsView(view: SettingsView): TemplateResult {
  const rows = EDITABLE.map(([key, label, kind, help]) => {
    const id = `setting-${key}`;
    const value = view.settings[key];
    const input =
      kind === "bool"
        ? html`<input id=${id} data-key=${key} data-kind=${kind} type="checkbox" .checked=${live(value === true)}>`
        : html`<input id=${id} data-key=${key} data-kind=${kind} type=${kind} step=${ifDefined(kind === "number" ? "any" : undefined)} placeholder=${ifDefined(kind === "text" && help ? help : undefined)}
            .value=${live(value === null || value === undefined ? "" : String(value))}>`;
    return html`<dt><label for=${id}>${label}</label></dt><dd>${input}${help && kind !== "text" ? html`<span class="muted small"> ${help}</span>` : nothing}</dd>`;
  });
  const login = view.settings.start_at_login ? "on (menu: Start at Login)" : "off (menu: Start at Login)";
  return html`${rows}<dt>Start at login</dt><dd>${login}</dd><dt>Settings file</dt><dd>${view.path}</dd>`;
}
