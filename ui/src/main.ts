// The popover. It renders the Snapshot the app pushes over a Channel; it never polls.

import { Channel, invoke } from "@tauri-apps/api/core";
import { formatAgo, formatBytes } from "./format";
import type { ServiceStatus, SettingsView, Snapshot } from "./types";

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
  setText("header-detail", `updated ${formatAgo(Date.now() - s.taken_at_unix_ms)}`);

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

  renderService("exo", s.services.exo);
  renderService("porten", s.services.porten);
}

function renderService(id: "exo" | "porten", status: ServiceStatus): void {
  const badge = $(`${id}-state`);
  badge.textContent = SERVICE_WORDS[status.state];
  badge.dataset.state = status.state;
  const parts: string[] = [];
  if (status.pids.length > 0) parts.push(`pid ${status.pids.join(", ")}`);
  if (status.executable) parts.push(status.executable);
  if (status.detail) parts.push(status.detail);
  setText(`${id}-detail`, parts.join(" · "));
}

function showError(text: string): void {
  const line = $("error-line");
  line.textContent = text;
  line.hidden = false;
}

async function toggleSettings(): Promise<void> {
  const panel = $("settings-panel");
  const button = $("settings-btn");
  if (!panel.hidden) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const view = await invoke<SettingsView>("settings");
  const problem = $("settings-problem");
  problem.hidden = view.problem === null;
  problem.textContent = view.problem ?? "";
  const rows: [string, string][] = [
    ["Start at login", view.settings.start_at_login ? "on" : "off (menu: Start at Login)"],
    ["exo path", view.settings.exo_path ?? "automatic (PATH, EXO.app)"],
    ["Porten agent path", view.settings.porten_path ?? "automatic (PATH)"],
    ["exo API port", String(view.settings.exo_api_port)],
    ["Settings file", view.path],
  ];
  $("settings-list").replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  panel.hidden = false;
  button.setAttribute("aria-expanded", "true");
}

function wire(): void {
  $("settings-btn").addEventListener("click", () => {
    toggleSettings().catch((e) => showError(`Settings: ${e}`));
  });
  $("logs-btn").addEventListener("click", () => {
    invoke("open_logs").catch((e) => showError(`Logs: ${e}`));
  });
  $("quit-btn").addEventListener("click", () => {
    invoke("quit").catch((e) => showError(`Quit: ${e}`));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") invoke("hide_popover").catch((e) => showError(`${e}`));
  });
  // The window follows the content's height (the app clamps it to the popover's maximum).
  let lastHeight = 0;
  new ResizeObserver(() => {
    const height = Math.ceil($("popover").getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      invoke("fit_popover", { height }).catch((e) => showError(`${e}`));
    }
  }).observe($("popover"));
  // "updated 3 s ago" keeps counting between snapshots without any polling of the app.
  window.setInterval(() => {
    if (lastSnapshot) setText("header-detail", `updated ${formatAgo(Date.now() - lastSnapshot.taken_at_unix_ms)}`);
  }, 1000);
}

async function start(): Promise<void> {
  wire();
  const channel = new Channel<Snapshot>();
  channel.onmessage = render;
  await invoke("subscribe", { onSnapshot: channel });
}

start().catch((e) => showError(`Could not reach Clusterbar's core: ${e}`));
