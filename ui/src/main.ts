// The popover. It renders the Snapshot the app pushes over a Channel; it never polls.

import { Channel, invoke } from "@tauri-apps/api/core";
import { errorText } from "./errors";
import { formatAgo, formatBytes } from "./format";
import { wireBenchmark } from "./bench";
import { refreshKeyState, renderJoinAndPorten, renderPortenTokens, wireJoinAndPorten } from "./porten";
import type { ThroughputUpdate } from "./types";
import type { ClusterView, LinkView, ModelView, NodeView, ServiceStatus, SettingsView, Snapshot, ThisNode } from "./types";

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

function setText(id: string, text: string, title?: string): void {
  const el = $(id);
  el.textContent = text;
  if (title === undefined) el.removeAttribute("title");
  else el.title = title;
}

const STATE_WORDS: Record<Snapshot["state"], string> = {
  running: "Running",
  degraded: "Degraded",
  stopped: "Stopped",
};

const SERVICE_WORDS: Record<ServiceStatus["state"], string> = {
  running: "Running",
  stopped: "Stopped",
  not_installed: "Not installed",
};

let lastSnapshot: Snapshot | null = null;

function render(s: Snapshot): void {
  lastSnapshot = s;
  document.body.dataset.state = s.state;
  setText("state-word", STATE_WORDS[s.state]);
  setText("header-detail", formatAgo(Date.now() - s.taken_at_unix_ms));

  const warnings = $("warnings");
  warnings.replaceChildren(
    ...s.warnings.map((w) => {
      const li = document.createElement("li");
      li.className = `warning-row ${w.severity}`;
      li.dataset.code = w.code;
      const msg = document.createElement("div");
      msg.className = "strong";
      msg.textContent = w.message;
      const fix = document.createElement("div");
      fix.className = "small";
      fix.textContent = w.fix;
      li.append(msg, fix);
      return li;
    }),
  );
  $("attention").hidden = s.warnings.length === 0;

  const node = s.this_node;
  setText("host-name", node.name);
  setText("chip", node.chip ?? "—", node.chip ? undefined : "The OS does not report the chip");
  setText("os", node.os_build ? `${node.os} (${node.os_build})` : node.os);

  const m = node.memory;
  const used = $("mem-used");
  const total = $("mem-total");
  if (m) {
    used.textContent = formatBytes(m.used_bytes);
    used.dataset.bytes = String(m.used_bytes);
    total.textContent = formatBytes(m.total_bytes);
    total.dataset.bytes = String(m.total_bytes);
    const pct = m.total_bytes > 0 ? (100 * m.used_bytes) / m.total_bytes : 0;
    $("mem-fill").style.width = `${pct.toFixed(1)}%`;
    $("mem-meter").setAttribute("aria-valuenow", pct.toFixed(0));
    const pressure = m.pressure ?? null;
    setText(
      "mem-pressure",
      pressure ? `pressure ${pressure}` : "pressure —",
      pressure ? undefined : "This OS does not report memory pressure",
    );
    $("mem-pressure").className = pressure && pressure !== "normal" ? "amber" : "muted";
    const extra = [`swap ${formatBytes(m.swap_used_bytes)} of ${formatBytes(m.swap_total_bytes)}`];
    if (m.wired_bytes !== null) extra.push(`wired ${formatBytes(m.wired_bytes)}`);
    if (m.compressed_bytes !== null) extra.push(`compressed ${formatBytes(m.compressed_bytes)}`);
    setText("mem-extra", extra.join(" · "));
  } else {
    for (const el of [used, total]) {
      el.textContent = "—";
      el.title = "Memory could not be read; see Needs attention";
      delete el.dataset.bytes;
    }
    $("mem-fill").style.width = "0";
    setText("mem-pressure", "");
    setText("mem-extra", "");
  }

  renderHardware(node);
  renderService("exo", s.services.exo);
  renderService("porten", s.services.porten);
  renderCluster(s.cluster);
  renderExoAction(s);
  renderJoinAndPorten(s);
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function gbps(v: number | null): string {
  return v === null ? "— Gb/s" : `${Number.isInteger(v) ? v : v.toFixed(1)} Gb/s`;
}

function renderHardware(node: ThisNode): void {
  if (node.power_watts !== null) {
    setText("power", `${node.power_watts.toFixed(1)} W`, node.power_source ?? undefined);
  } else {
    setText("power", "—", node.power_unavailable_reason ?? "Power is not reported on this machine");
  }
  if (node.gpu_wired_limit_bytes !== null) {
    const how = node.gpu_wired_limit_estimated ? " (est.)" : "";
    setText("gpu-limit", `GPU up to ${formatBytes(node.gpu_wired_limit_bytes)}${how}`);
  } else {
    setText("gpu-limit", "");
  }
  const rdmaWords = { enabled: "enabled", disabled: "disabled", unsupported: "not supported here", unknown: "unknown" };
  setText("rdma", rdmaWords[node.rdma.status], node.rdma.detail ?? undefined);
  $("rdma").className = node.rdma.status === "disabled" ? "amber" : "";
  const ports = $("tb-ports");
  if (node.thunderbolt.length === 0) {
    ports.replaceChildren(el("li", "muted small", "No Thunderbolt ports found"));
    return;
  }
  ports.replaceChildren(
    ...node.thunderbolt.map((p) => {
      const name = p.socket ? `Port ${p.socket}` : "Port";
      let text: string;
      if (!p.link_up) text = `${name}: no link`;
      else {
        const lanes = p.lanes !== null ? ` · ${p.lanes} lane${p.lanes === 1 ? "" : "s"}` : "";
        text = `${name}: ${gbps(p.speed_gbps)}${lanes}${p.peer ? ` → ${p.peer}` : ""}${p.rdma_active ? " · RDMA" : ""}`;
      }
      const chip = el("li", "chip", text);
      if (p.link_up && p.peer_is_host && p.speed_gbps !== null && p.speed_gbps < 80) chip.classList.add("slow");
      if (!p.link_up) chip.classList.add("idle");
      return chip;
    }),
  );
}

function linkChip(node: string, link: LinkView): HTMLElement {
  const peer = link.from === node ? link.to : link.from;
  const kind = { rdma: "RDMA", thunderbolt: "TB", ethernet: "Ethernet", wifi: "Wi-Fi", unknown: "?" }[link.kind];
  const speed = link.speed_gbps !== null ? `${gbps(link.speed_gbps)} · ` : "";
  const chip = el("li", "chip", `↔ ${peer} ${speed}${kind}`);
  chip.dataset.kind = link.kind;
  if ((link.kind === "rdma" || link.kind === "thunderbolt") && link.speed_gbps !== null && link.speed_gbps < 80) {
    chip.classList.add("slow");
  }
  return chip;
}

/** Boxes the user opened: kept open across the re-render each Snapshot brings. */
const openBoxes = new Set<string>();

function nodeRow(n: NodeView, links: LinkView[]): HTMLElement {
  const li = el("li", "box node");
  li.dataset.name = n.name;
  const details = document.createElement("details");
  details.open = openBoxes.has(n.name);
  details.addEventListener("toggle", () => {
    if (details.open) openBoxes.add(n.name);
    else openBoxes.delete(n.name);
  });
  const summary = document.createElement("summary");
  summary.title = "Details";
  const title = el("div", "box-title");
  title.append(el("span", "strong", n.name));
  if (n.is_this_node) title.append(el("span", "tag", "this Mac"));
  if (n.last_seen_s !== null && n.last_seen_s > 30) title.append(el("span", "tag amber", `seen ${formatAgo(n.last_seen_s * 1000)}`));
  summary.append(title);
  summary.append(el("div", "muted small", [n.chip ?? "—", n.os_build ? `macOS ${n.os_build}` : null].filter(Boolean).join(" · ")));
  const total = n.memory_total_bytes;
  const used = total !== null && n.memory_available_bytes !== null ? total - n.memory_available_bytes : null;
  const meter = el("div", "meter");
  const fill = el("div", "meter-fill");
  fill.style.width = total && used !== null ? `${((100 * used) / total).toFixed(1)}%` : "0";
  meter.append(fill);
  summary.append(meter);
  const figures = el("div", "figures small");
  figures.append(
    el("span", "", total !== null && used !== null ? `${formatBytes(used)} of ${formatBytes(total)}` : "memory —"),
    el("span", "", n.power_watts !== null ? `${n.power_watts.toFixed(0)} W` : "— W"),
    el("span", "", n.gpu_usage !== null ? `GPU ${(n.gpu_usage * 100).toFixed(0)}%` : "GPU —"),
  );
  summary.append(figures);
  const chips = el("ul", "chips");
  chips.append(...links.filter((l) => l.from === n.name || l.to === n.name).map((l) => linkChip(n.name, l)));
  if (n.rdma_enabled === false) chips.append(el("li", "chip slow", "RDMA off"));
  summary.append(chips);
  details.append(summary, nodeDetail(n));
  li.append(details);
  return li;
}

/** What a box says when opened: the facts behind its one-line summary. */
function nodeDetail(n: NodeView): HTMLElement {
  const list = el("ul", "box-detail small");
  // exo reports macOS as a bare version ("26.2"); other systems by name ("Linux").
  const osName = n.os_version && /^\d/.test(n.os_version) ? `macOS ${n.os_version}` : n.os_version;
  const os = osName ? `${osName}${n.os_build ? ` (${n.os_build})` : ""}` : n.os_build ? `macOS ${n.os_build}` : null;
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
  list.append(...lines.map((line) => el("li", "", line)));
  return list;
}

function modelRow(m: ModelView): HTMLElement {
  const li = el("li", "box model");
  li.dataset.state = m.state;
  const title = el("div", "figures");
  title.append(el("span", "strong model-id", m.id));
  const pct = m.progress !== null && (m.state === "downloading" || m.state === "loading") ? ` ${(m.progress * 100).toFixed(0)}%` : "";
  const badge = el("span", "badge", `${m.state}${pct}`);
  badge.dataset.state = m.state === "failed" ? "failed" : m.state === "ready" || m.state === "running" ? "running" : "busy";
  title.append(badge);
  li.append(title);
  if (m.progress !== null && m.state !== "ready" && m.state !== "running") {
    const meter = el("div", "meter");
    const fill = el("div", "meter-fill");
    fill.style.width = `${(m.progress * 100).toFixed(1)}%`;
    meter.append(fill);
    li.append(meter);
  }
  if (m.state === "downloading" && m.download_speed_bytes_per_s !== null) {
    const eta = m.eta_ms !== null ? ` · ${Math.ceil(m.eta_ms / 1000)} s left` : "";
    li.append(el("div", "muted small", `${formatBytes(m.download_speed_bytes_per_s)}/s${eta}`));
  }
  const shards = m.shards
    .map((sh) => (sh.start_layer !== null && sh.end_layer !== null ? `${sh.node} ${sh.start_layer}–${sh.end_layer}` : sh.node))
    .join(" · ");
  if (shards) li.append(el("div", "muted small", `layers: ${shards}`));
  if (m.error) li.append(el("div", "error-line small", m.error));
  const unload = el("button", "small-btn unload", "Unload");
  unload.type = "button";
  unload.addEventListener("click", () => {
    unload.disabled = true;
    unload.textContent = "Unloading…";
    invoke("model_unload", { instanceId: m.instance_id }).catch((e) => showError(`Unload: ${errorText(e)}`));
  });
  li.append(unload);
  return li;
}

function renderCluster(c: ClusterView | null): void {
  $("cluster").hidden = c === null;
  $("models").hidden = c === null;
  setText("box-count", c ? `${c.nodes.length} box${c.nodes.length === 1 ? "" : "es"}` : "");
  if (!c) return;
  const held = $("cluster-held");
  held.hidden = c.held_ms === null && c.frozen_for_s === null;
  held.textContent =
    c.frozen_for_s !== null
      ? `(frozen: exo's view has not moved for ${Math.round(c.frozen_for_s)} s)`
      : c.held_ms !== null
        ? `(electing a master: last view ${Math.round(c.held_ms / 1000)} s old)`
        : "";
  const pool = c.pool;
  const watts = c.power_watts !== null ? `${c.power_watts.toFixed(0)} W` : "— W";
  setText(
    "pool-line",
    pool
      ? `Pool ${formatBytes(pool.memory_usable_bytes)} usable of ${formatBytes(pool.memory_total_bytes)} · budget ${pool.vram_budget_mb} MB · ${watts}`
      : `${formatBytes(c.memory_total_bytes)} in all · ${watts}`,
    pool ? pool.per_box.map((b) => `${b.name}: ${formatBytes(b.usable_bytes)} (${b.source === "gpu_ceiling" ? "GPU ceiling" : "share of RAM"})`).join("\n") : undefined,
  );
  $("node-list").replaceChildren(...c.nodes.map((n) => nodeRow(n, c.links)));
  $("model-list").replaceChildren(...c.models.map(modelRow));
  $("models-empty").hidden = c.models.length > 0;
}

let exoBusy = false;

function renderExoAction(s: Snapshot): void {
  const button = $("exo-action") as HTMLButtonElement;
  const exo = s.services.exo;
  button.hidden = exo.state === "not_installed" && !exo.supervised;
  const running = exo.state === "running";
  button.textContent = running ? "Stop exo" : "Start exo";
  button.dataset.action = running ? "stop" : "start";
  button.disabled = exoBusy;
}

function renderService(id: "exo" | "porten", status: ServiceStatus): void {
  const badge = $(`${id}-state`);
  badge.textContent = SERVICE_WORDS[status.state];
  badge.dataset.state = status.state;
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
  setText(`${id}-detail`, parts.join(" · "));
}

function showError(text: string): void {
  const line = $("error-line");
  line.textContent = text;
  line.hidden = false;
}

/** Editable settings: [key, label, kind, help]. Ports and paths apply at once except the
 * meter's port, which the meter binds at launch. */
const EDITABLE: [string, string, "text" | "number" | "bool", string][] = [
  ["exo_path", "exo path", "text", "empty = automatic (PATH, EXO.app)"],
  ["exo_api_port", "exo API port", "number", "the same on every Mac of the cluster"],
  ["exo_namespace", "exo namespace", "text", "empty = exo's default (its version); the same on every Mac"],
  ["meter_port", "Token meter port", "number", "applies at the next launch"],
  ["show_tokens_in_menu_bar", "Show tok/s in the menu bar", "bool", ""],
  ["porten_path", "Porten agent path", "text", "empty = automatic (PATH)"],
  ["porten_hub_url", "Porten Hub", "text", "sign-in pages must be on this host"],
  ["porten_api_url", "Porten Hub API", "text", "empty = https://<Hub host>/v1"],
  ["porten_meter_port", "Meter port for the agent", "number", "applies at the next launch"],
];

function renderSettings(view: SettingsView): void {
  const problem = $("settings-problem");
  problem.hidden = view.problem === null;
  problem.textContent = view.problem ?? "";
  const rows = EDITABLE.flatMap(([key, label, kind, help]) => {
    const dt = document.createElement("dt");
    const input = document.createElement("input");
    input.id = `setting-${key}`;
    input.dataset.key = key;
    input.dataset.kind = kind;
    const value = view.settings[key];
    if (kind === "bool") {
      input.type = "checkbox";
      input.checked = value === true;
    } else {
      input.type = kind === "number" ? "number" : "text";
      input.value = value === null || value === undefined ? "" : String(value);
      if (help) input.placeholder = help;
    }
    const labelEl = document.createElement("label");
    labelEl.htmlFor = input.id;
    labelEl.textContent = label;
    dt.append(labelEl);
    const dd = document.createElement("dd");
    dd.append(input);
    if (help && kind !== "text") dd.append(el("span", "muted small", ` ${help}`));
    return [dt, dd];
  });
  const fileDt = el("dt", "", "Settings file");
  const fileDd = el("dd", "", view.path);
  const loginDt = el("dt", "", "Start at login");
  const loginDd = el("dd", "", view.settings.start_at_login ? "on (menu: Start at Login)" : "off (menu: Start at Login)");
  $("settings-list").replaceChildren(...rows, loginDt, loginDd, fileDt, fileDd);
}

async function saveSettings(): Promise<void> {
  const patch: Record<string, unknown> = {};
  for (const input of Array.from(document.querySelectorAll<HTMLInputElement>("#settings-list input"))) {
    const key = input.dataset.key ?? "";
    if (input.dataset.kind === "bool") patch[key] = input.checked;
    else if (input.dataset.kind === "number") patch[key] = Number(input.value);
    // Empty optional text (a path, the namespace) means "automatic": null, not "".
    else patch[key] = input.value.trim() === "" && (key.endsWith("_path") || key === "exo_namespace" || key === "porten_api_url") ? null : input.value.trim();
  }
  const status = $("settings-status");
  try {
    renderSettings(await invoke<SettingsView>("update_settings", { patch }));
    status.textContent = "Saved.";
    status.className = "small";
  } catch (e) {
    status.textContent = `Not saved: ${errorText(e)}`;
    status.className = "small error-line";
  }
}

async function toggleSettings(): Promise<void> {
  const panel = $("settings-panel");
  const button = $("settings-btn");
  if (!panel.hidden) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    return;
  }
  renderSettings(await invoke<SettingsView>("settings"));
  void refreshKeyState();
  $("settings-status").textContent = "";
  panel.hidden = false;
  button.setAttribute("aria-expanded", "true");
}

interface LoadableModel {
  id: string;
  name: string | null;
  storage_size_bytes: number | null;
  fit: { summary: string; need_bytes: number; min_boxes: number | null } | null;
}

async function toggleLoadable(): Promise<void> {
  const list = $("loadable");
  if (!list.hidden) {
    list.hidden = true;
    return;
  }
  const models = await invoke<LoadableModel[]>("models_loadable");
  list.replaceChildren(
    ...(models.length === 0
      ? [el("li", "muted small", "No model exo knows fits this cluster's usable memory.")]
      : models.map((m) => {
          const li = el("li", "box loadable");
          li.dataset.id = m.id;
          const row = el("div", "figures");
          row.append(el("span", "strong model-id", m.id));
          const load = el("button", "small-btn", "Load");
          load.type = "button";
          load.addEventListener("click", () => {
            load.disabled = true;
            load.textContent = "Loading…";
            invoke("model_load", { id: m.id })
              .then(() => (list.hidden = true))
              .catch((e) => showError(`Load: ${errorText(e)}`));
          });
          row.append(load);
          li.append(row);
          const size = m.fit ? `needs ${formatBytes(m.fit.need_bytes)}${m.fit.min_boxes ? ` · ${m.fit.min_boxes} box${m.fit.min_boxes > 1 ? "es" : ""}` : ""}` : "size unknown";
          li.append(el("div", "muted small", size));
          return li;
        })),
  );
  list.hidden = false;
}

function wire(): void {
  $("settings-save").addEventListener("click", () => {
    saveSettings().catch((e) => showError(`Settings: ${errorText(e)}`));
  });
  $("load-btn").addEventListener("click", () => {
    toggleLoadable().catch((e) => showError(`Models: ${errorText(e)}`));
  });
  wireJoinAndPorten(showError);
  wireBenchmark(showError);
  $("exo-action").addEventListener("click", () => {
    const button = $("exo-action") as HTMLButtonElement;
    const command = button.dataset.action === "stop" ? "exo_stop" : "exo_start";
    exoBusy = true;
    button.disabled = true;
    button.textContent = command === "exo_stop" ? "Stopping…" : "Starting…";
    invoke<string>(command)
      .catch((e) => showError(`exo: ${errorText(e)}`))
      .finally(() => {
        exoBusy = false;
        if (lastSnapshot) renderExoAction(lastSnapshot);
      });
  });
  $("settings-btn").addEventListener("click", () => {
    toggleSettings().catch((e) => showError(`Settings: ${errorText(e)}`));
  });
  $("logs-btn").addEventListener("click", () => {
    invoke("open_logs").catch((e) => showError(`Logs: ${errorText(e)}`));
  });
  $("quit-btn").addEventListener("click", () => {
    invoke("quit").catch((e) => showError(`Quit: ${errorText(e)}`));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") invoke("hide_popover").catch((e) => showError(errorText(e)));
  });
  // The window follows the content's height (the app clamps it to the popover's maximum).
  let lastHeight = 0;
  new ResizeObserver(() => {
    const height = Math.ceil($("popover").getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      invoke("fit_popover", { height }).catch((e) => showError(errorText(e)));
    }
  }).observe($("popover"));
  // "3 s ago" keeps counting between snapshots without asking the app, and only while the
  // popover is on screen: a hidden popover must not wake the machine every second.
  let ticker: number | undefined;
  const tick = () => {
    if (lastSnapshot) setText("header-detail", formatAgo(Date.now() - lastSnapshot.taken_at_unix_ms));
  };
  const followVisibility = () => {
    if (document.visibilityState === "visible" && ticker === undefined) ticker = window.setInterval(tick, 1000);
    if (document.visibilityState !== "visible" && ticker !== undefined) {
      window.clearInterval(ticker);
      ticker = undefined;
    }
  };
  document.addEventListener("visibilitychange", followVisibility);
  followVisibility();
}

/** A rendering bug must show up in the popover, not leave it silently stale. */
function guarded(what: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    showError(`${what}: ${e instanceof Error ? `${e.message} ${e.stack ?? ""}` : errorText(e)}`);
  }
}

async function start(): Promise<void> {
  wire();
  const channel = new Channel<Snapshot>();
  channel.onmessage = (s) => guarded("render", () => render(s));
  await invoke("subscribe", { onSnapshot: channel });
  // The chart library loads on its own: if it fails, the rest of the popover still works and
  // the failure is shown.
  // WebKitGTK reports the POSIX locale "C" as navigator.language, which Intl (and so the
  // chart's date axis) rejects; fall back to a valid tag rather than lose the chart.
  try {
    new Intl.DateTimeFormat(navigator.language);
  } catch {
    Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
  }
  const { renderThroughput } = await import("./throughput");
  const throughput = new Channel<ThroughputUpdate>();
  throughput.onmessage = (u) =>
    guarded("throughput", () => {
      renderThroughput(u);
      renderPortenTokens(u.stats);
    });
  await invoke("subscribe_throughput", { onUpdate: throughput });
}

start().catch((e) => showError(`Could not reach Clusterbar's core: ${errorText(e)}`));
