// The popover. It renders the Snapshot the app pushes over a Channel; it never polls.

import { errorText } from "./errors";
import { Channel, invoke } from "@tauri-apps/api/core";
import { html, render as renderView } from "lit-html";
import { formatAgo, shortModel } from "./format";
import { glance, GLANCE_WORDS, quitStopsServing, stopExoQuestion, subtitle } from "./glance";
import { energyWords } from "./history";
import { ollamaView } from "./ollama";
import { wireBenchmark } from "./bench";
import { isJoining, renderJoinAndPorten, renderPortenTokens, wireJoinAndPorten } from "./porten";
import type { Snapshot, ThroughputUpdate } from "./types";
import {
  clusterView,
  modelsView,
  newPageState,
  servicesView,
  thisMacView,
  warningsView,
  type Actions,
  type LoadableModel,
} from "./view";
import { $ } from "./dom";


function setText(id: string, text: string, title?: string): void {
  const el = $(id);
  el.textContent = text;
  if (title === undefined) el.removeAttribute("title");
  else el.title = title;
}

let lastSnapshot: Snapshot | null = null;
/** The history charts, loaded with the chart library (null until then). */
let history: typeof import("./historychart") | null = null;
const page = newPageState();
/** The label of the exo switch while its command runs ("Starting…"); null when idle. */
let exoBusy: string | null = null;
/** The meter's tokens/s now, for the state word (tokens flowing = something serves). */
let tokensPerS = 0;

/** Asks before an action that stops serving; `act` runs on OK. One question at a time. */
function confirmThen(question: string, okLabel: string, act: () => void): void {
  const panel = $("confirm");
  $("confirm-text").textContent = question;
  const ok = $("confirm-ok") as HTMLButtonElement;
  ok.textContent = okLabel;
  panel.hidden = false;
  const close = () => {
    panel.hidden = true;
    ok.onclick = null;
    $("confirm-cancel").onclick = null;
  };
  ok.onclick = () => {
    close();
    act();
  };
  $("confirm-cancel").onclick = close;
  (($("confirm-cancel") as HTMLButtonElement)).focus();
}

function copyText(text: string): void {
  navigator.clipboard?.writeText(text).catch(() => showError("Could not copy: select the text and press ⌘C"));
}

const actions: Actions = {
  boxToggled(name, open) {
    if (open) page.openBoxes.add(name);
    else page.openBoxes.delete(name);
  },
  unload(instanceId) {
    const model = lastSnapshot?.cluster?.models.find((m) => m.instance_id === instanceId);
    const name = model ? shortModel(model.id) : "the model";
    const boxes = new Set(model?.shards.map((sh) => sh.node) ?? []).size;
    const question = `Unload ${name}${boxes > 1 ? ` from ${boxes} boxes` : ""}? Requests for it fail until it is loaded again.`;
    confirmThen(question, "Unload", () => {
      page.unloading.add(instanceId);
      paint();
      // On success the row stays "Unloading…" until a Snapshot no longer lists the instance.
      invoke("model_unload", { instanceId }).catch((e) => {
        page.unloading.delete(instanceId);
        paint();
        showError(`Unload: ${errorText(e)}`);
      });
    });
  },
  toggleFix(key) {
    if (page.openFixes.has(key)) page.openFixes.delete(key);
    else page.openFixes.add(key);
    paint();
  },
  toggleAllWarnings() {
    page.allWarnings = !page.allWarnings;
    paint();
  },
  copy(text) {
    copyText(text);
  },
  openBox(name) {
    page.openBoxes.add(name);
    paint();
    const row = Array.from(document.querySelectorAll<HTMLElement>("#node-list li.node")).find((li) => li.dataset.name === name);
    row?.scrollIntoView({ block: "nearest" });
    row?.querySelector<HTMLElement>("summary")?.focus();
  },
  toggleLoadable() {
    toggleLoadable().catch((e) => showError(`Models: ${errorText(e)}`));
  },
  load(id) {
    page.loading.add(id);
    paint();
    invoke("model_load", { id })
      .then(() => {
        page.loadable = null;
      })
      .catch((e) => showError(`Load: ${errorText(e)}`))
      .finally(() => {
        page.loading.delete(id);
        paint();
      });
  },
};

/** Renders the last Snapshot with the page's own state. Every part updates in place (view.ts),
 * so calling this again, for a new Snapshot or a button press, loses no focus or state. */
function paint(): void {
  const s = lastSnapshot;
  if (!s) return;
  const state = glance(s, { tokensPerS, joining: isJoining() });
  document.body.dataset.glance = state;
  document.body.dataset.broken = s.warnings.some((w) => w.severity === "error") ? "yes" : "no";
  document.body.dataset.state = s.state;
  setText("state-word", GLANCE_WORDS[state]);
  paintAge();
  const c = s.cluster;
  // The subtitle's first part is the box count (a span of its own for scripts and tests).
  const sub = subtitle(s);
  const [first, ...rest] = sub.split(" · ");
  renderView(html`<span id="box-count">${first}</span>${rest.length ? ` · ${rest.join(" · ")}` : ""}`, $("subtitle"));

  $("attention").hidden = s.warnings.length === 0;
  renderView(warningsView(s.warnings, page, actions), $("warnings"));
  // This Mac is one of the boxes when it is in a cluster; on its own it gets its card.
  const inCluster = c !== null && c.nodes.some((n) => n.is_this_node);
  $("boxes").hidden = inCluster;
  renderView(thisMacView(s.this_node), $("boxes"));

  $("cluster").hidden = c === null;
  $("models").hidden = c === null;
  if (c) {
    // An instance gone from the cluster no longer needs its "Unloading…" remembered.
    const live = new Set(c.models.map((m) => m.instance_id));
    for (const id of page.unloading) if (!live.has(id)) page.unloading.delete(id);
    renderView(clusterView(c, page, actions), $("cluster"));
    renderView(modelsView(c.models, page, actions), $("models"));
  }
  const ollama = s.ollama ?? null;
  $("ollama").hidden = ollama === null || ollama.boxes.length === 0;
  $("bench-ollama-btn").hidden = !(ollama?.boxes.some((b) => b.reachable && b.loaded.length > 0) ?? false);
  if (ollama) renderView(ollamaView(ollama, Date.now()), $("ollama"));
  $("services").hidden = false;
  renderView(servicesView(s.services), $("services"));
  renderEnergy(s);
  renderExoAction(s);
}

/** "updated 12 s ago" only when the last sample is late (a fresh one needs no clock ticking in
 * the header's best slot). */
function paintAge(): void {
  if (!lastSnapshot) return;
  const age = Date.now() - lastSnapshot.taken_at_unix_ms;
  setText("header-detail", age > 5000 ? `updated ${formatAgo(age)}` : "");
}

/** The energy-per-token lines under the throughput figures, from the Snapshot's history read. */
function renderEnergy(s: Snapshot): void {
  const words = energyWords(s.energy);
  const line = $("energy-line");
  const cost = $("energy-cost");
  line.hidden = words === null;
  line.textContent = words?.perToken ?? "";
  const rest = [words?.cost, words?.porten].filter((w): w is string => typeof w === "string");
  cost.hidden = rest.length === 0;
  cost.textContent = rest.join(" · ");
}

function render(s: Snapshot): void {
  lastSnapshot = s;
  paint();
  renderJoinAndPorten(s);
  reportFirstPaint();
}

/** Once per opening, the first frame on screen with a snapshot in it goes to the app, which
 * logs the time since the show request (the time-to-open figure of scripts/bench-idle.sh). */
let paintReported = false;
function reportFirstPaint(): void {
  if (paintReported || !lastSnapshot || document.visibilityState !== "visible") return;
  paintReported = true;
  // The second frame callback runs once the first frame has been painted.
  requestAnimationFrame(() => requestAnimationFrame(() => void invoke("popover_painted").catch(() => {})));
}

function renderExoAction(s: Snapshot): void {
  const button = $("exo-action") as HTMLButtonElement;
  const exo = s.services.exo;
  button.hidden = exo.state === "not_installed" && !exo.supervised;
  const running = exo.state === "running";
  button.setAttribute("aria-checked", running ? "true" : "false");
  button.dataset.action = running ? "stop" : "start";
  // While a start or stop runs, the switch is disabled and says what it does.
  button.disabled = exoBusy !== null;
  button.title = exoBusy ?? (running ? "exo runs on this Mac: switch off to stop it" : "Start exo on this Mac");
  const label = button.querySelector(".switch-label");
  if (label) label.textContent = exoBusy ?? "exo";
}

function showError(text: string): void {
  const line = $("error-line");
  line.textContent = text;
  line.hidden = false;
}

/** Opens the "Load…" list with what fits now, or closes it. */
async function toggleLoadable(): Promise<void> {
  if (page.loadable !== null) {
    page.loadable = null;
    paint();
    return;
  }
  page.loadable = await invoke<LoadableModel[]>("models_loadable");
  paint();
}

function wire(): void {
  wireJoinAndPorten(showError);
  wireBenchmark(showError);
  $("exo-action").addEventListener("click", () => {
    const button = $("exo-action") as HTMLButtonElement;
    const stop = button.dataset.action === "stop";
    const run = () => {
      exoBusy = stop ? "Stopping…" : "Starting…";
      if (lastSnapshot) renderExoAction(lastSnapshot);
      invoke<string>(stop ? "exo_stop" : "exo_start")
        .catch((e) => showError(`exo: ${errorText(e)}`))
        .finally(() => {
          exoBusy = null;
          if (lastSnapshot) renderExoAction(lastSnapshot);
        });
    };
    // Stopping exo stops serving: say what it costs first.
    if (stop && lastSnapshot) confirmThen(stopExoQuestion(lastSnapshot), "Stop exo", run);
    else run();
  });
  $("api-copy").addEventListener("click", () => copyText($("api-address").textContent ?? ""));
  // Settings open in a window of their own; the popover steps aside, as a menu does.
  $("settings-btn").addEventListener("click", () => {
    invoke("open_settings").catch((e) => showError(`Settings: ${errorText(e)}`));
  });
  $("logs-btn").addEventListener("click", () => {
    invoke("open_logs").catch((e) => showError(`Logs: ${errorText(e)}`));
  });
  $("quit-btn").addEventListener("click", () => {
    const quit = () => invoke("quit").catch((e) => showError(`Quit: ${errorText(e)}`));
    // Quit asks only when it would stop what serves (exo Clusterbar started, the Porten agent).
    if (lastSnapshot && quitStopsServing(lastSnapshot)) {
      confirmThen("Quit Clusterbar? It stops exo and the Porten agent it started: the cluster stops serving.", "Quit", quit);
    } else quit();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") invoke("hide_popover").catch((e) => showError(`${errorText(e)}`));
    else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") moveThroughRows(ev);
  });
  // The window follows the content's height (the app clamps it to the popover's maximum).
  let lastHeight = 0;
  new ResizeObserver(() => {
    const height = Math.ceil($("popover").getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      invoke("fit_popover", { height }).catch((e) => showError(`${errorText(e)}`));
    }
  }).observe($("popover"));
  // "3 s ago" keeps counting between snapshots without asking the app, and only while the
  // popover is on screen: a hidden popover must not wake the machine every second.
  let ticker: number | undefined;
  const tick = () => {
    paintAge();
    // At most once a minute (historychart.ts keeps the time); only while on screen.
    history?.refreshHistory().catch((e) => showError(`History: ${errorText(e)}`));
  };
  const followVisibility = () => {
    if (document.visibilityState === "visible") {
      reportFirstPaint();
      history?.refreshHistory().catch((e) => showError(`History: ${errorText(e)}`));
    }
    else paintReported = false;
    if (document.visibilityState === "visible" && ticker === undefined) ticker = window.setInterval(tick, 1000);
    if (document.visibilityState !== "visible" && ticker !== undefined) {
      window.clearInterval(ticker);
      ticker = undefined;
    }
  };
  document.addEventListener("visibilitychange", followVisibility);
  followVisibility();
}

/** ↓ and ↑ move between the rows of a list (boxes, models, attention): the row buttons are in
 * the Tab order too, but a list of six boxes is quicker with arrows, as in a Mac menu. */
function moveThroughRows(ev: KeyboardEvent): void {
  const here = document.activeElement as HTMLElement | null;
  const list = here?.closest("#node-list, #model-list, #warnings, #ollama-boxes");
  if (!here || !list) return;
  const rows = Array.from(list.querySelectorAll<HTMLElement>("summary, button")).filter((el) => el.getClientRects().length > 0);
  const at = rows.indexOf(here);
  const next = rows[at + (ev.key === "ArrowDown" ? 1 : -1)];
  if (at < 0 || !next) return;
  ev.preventDefault();
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

/** A rendering bug must show up in the popover, not leave it silently stale. */
function guarded(what: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    showError(`${what}: ${e instanceof Error ? `${e.message} ${e.stack ?? ""}` : e}`);
  }
}

async function start(): Promise<void> {
  // macOS gives the popover a transparent window with the system's material behind it; the
  // page then leaves its own background off. Elsewhere the window is opaque.
  if (navigator.userAgent.includes("Mac OS X")) document.documentElement.classList.add("vibrant");
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
  history = await import("./historychart");
  history.wireHistory();
  if (document.visibilityState === "visible") void history.refreshHistory(true);
  const throughput = new Channel<ThroughputUpdate>();
  throughput.onmessage = (u) =>
    guarded("throughput", () => {
      renderThroughput(u);
      renderPortenTokens(u.stats);
      $("api-address").textContent = u.meter_url ?? "—";
      const rate = u.stats?.cluster.tokens_per_s ?? 0;
      if (rate !== tokensPerS) {
        tokensPerS = rate;
        paint();
      }
    });
  await invoke("subscribe_throughput", { onUpdate: throughput });
}

start().catch((e) => showError(`Could not reach Clusterbar's core: ${errorText(e)}`));
