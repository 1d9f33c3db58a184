// Joining the cluster and enrolling it in Porten: the two actions that take time. Each shows
// its progress inline and can be cancelled.

import { errorText } from "./errors";
import { Channel, invoke } from "@tauri-apps/api/core";
import { html, render } from "lit-html";
import { fixParts } from "./glance";
import { agentOwner, hubLines, shownUrl, tokensLine } from "./portenview";
import type { AgentStatus, JoinUpdate, LoginEvent, MeterStats, PreflightItem, Snapshot } from "./types";
import { $ } from "./dom";


let joining = false;
/** The last join's outcome stays on screen until dismissed, even once the cluster shows. */
let joinOutcomeShown = false;
let signingIn = false;
/** This run's sign-in succeeded: said in the state line even before an agent reports it. */
let signedIn = false;

const STEP_WORDS: Record<string, string> = {
  starting_exo: "Starting exo…",
  exo_running: "exo is running; waiting for its API…",
  api_answering: "exo answers; waiting for this Mac to appear…",
  waiting_for_peers: "In the topology; waiting for a peer…",
  joined: "Joined.",
};

/** A join runs (the header says Joining). */
export function isJoining(): boolean {
  return joining;
}

export function renderJoinAndPorten(s: Snapshot): void {
  const inCluster = s.cluster !== null && s.cluster.nodes.length > 1;
  $("join").hidden = !joining && !joinOutcomeShown && (inCluster || s.services.exo.state === "not_installed");
  // One place for each state: the lead and its button only while this Mac is not in a cluster
  // and no join runs; a running join shows its progress, a finished one its one-line outcome.
  $("join-lead").hidden = joining || joinOutcomeShown || inCluster;
  renderAgent(s.porten_agent, s.services.porten.state);
  const hub = hubLines(s.porten_hub);
  const info = $("porten-hub-info");
  info.hidden = hub.info === null;
  info.textContent = hub.info ?? "";
  const warming = $("porten-warming");
  warming.hidden = hub.warming.length === 0;
  // Updated in place (rows by position): this runs on every Snapshot.
  render(hub.warming.map((line) => html`<li>${line}</li>`), warming);
}

/** What the agent was served through the meter (the meter's feed carries it). */
export function renderPortenTokens(stats: MeterStats | null): void {
  const line = tokensLine(stats?.clients);
  const el = $("porten-tokens");
  el.hidden = line === null;
  el.textContent = line ?? "";
}

function renderAgent(agent: AgentStatus | null, installed: string): void {
  const enroll = $("porten-enroll") as HTMLButtonElement;
  const signin = $("porten-signin") as HTMLButtonElement;
  const login = agent ? agent.logged_in : signedIn ? true : undefined;
  signin.hidden = signingIn || login === true;
  signin.disabled = installed === "not_installed";
  // "Stop agent" only beside an agent that runs (or waits to): a stopped one offers Enroll again.
  const active = agent !== null && ["held", "starting", "running", "adopted", "restarting"].includes(agent.state);
  enroll.textContent = active ? "Stop agent" : "Enroll cluster";
  enroll.dataset.enrolled = active ? "true" : "false";
  enroll.disabled = installed === "not_installed" && !agent;
  $("porten-login-state").textContent =
    installed === "not_installed" ? "Porten agent not installed" : login === true ? "Signed in" : login === false ? "Not signed in" : "";
  if (!agent) {
    $("porten-agent").textContent = "Not enrolled: the cluster is not offered to the Hub.";
    $("porten-agent-detail").textContent = "";
    return;
  }
  const uptime = agent.uptime_s !== null ? ` · up ${Math.round(agent.uptime_s / 60)} min` : "";
  const hold = agent.state === "held" && agent.hold_reason ? `: ${agent.hold_reason}` : "";
  const pending = agent.pending_restart_in_s !== null ? ` · restarting with new figures in ${agent.pending_restart_in_s} s` : "";
  $("porten-agent").textContent = `Agent ${agent.state.replace("_", " ")}${agentOwner(agent)}${hold}${uptime}${pending}`;
  const parts: string[] = [];
  if (agent.budget) parts.push(`budget ${agent.budget.vram_budget_mb} MB`);
  if (agent.models.length) parts.push(`models ${agent.models.join(", ")}`);
  if (agent.last_error) parts.push(`last error: ${agent.last_error}`);
  $("porten-agent-detail").textContent = parts.join(" · ");
}

function preflightRow(item: PreflightItem): HTMLElement {
  const li = document.createElement("li");
  li.className = `check ${item.status}`;
  li.dataset.id = item.id;
  // The symbol carries the colour; the words stay in text colour, commands as code.
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.textContent = { pass: "✓", warn: "!", fail: "✗" }[item.status];
  li.append(mark, ` ${item.message}`);
  if (item.fix) {
    li.append(" — ");
    for (const part of fixParts(item.fix)) {
      if ("code" in part) {
        const code = document.createElement("code");
        code.textContent = part.code;
        li.append(code);
      } else li.append(part.text);
    }
  }
  return li;
}

async function join(showError: (t: string) => void): Promise<void> {
  const items = await invoke<PreflightItem[]>("join_preflight");
  const list = $("preflight");
  list.replaceChildren(...items.map(preflightRow));
  list.hidden = false;
  if (items.some((i) => i.status === "fail")) {
    $("join-progress").textContent = "Fix the failed checks above, then try again.";
    return;
  }
  joining = true;
  $("join-cancel").hidden = false;
  $("join-lead").hidden = true;
  const channel = new Channel<JoinUpdate>();
  channel.onmessage = (u) => {
    const progress = $("join-progress");
    if (u.kind === "progress") progress.textContent = STEP_WORDS[u.progress.step] ?? u.progress.step;
    else {
      joining = false;
      $("join-cancel").hidden = true;
      // The flow collapses to its outcome: the checklist was the state before the join.
      $("preflight").hidden = u.kind === "joined";
      progress.textContent = u.kind === "joined" ? `Joined with ${u.peers.join(", ")} ✓` : `Could not join: ${u.reason}`;
      progress.className = u.kind === "joined" ? "small" : "small error-line";
      joinOutcomeShown = true;
      $("join-dismiss").hidden = false;
    }
  };
  await invoke("join_cluster", { onUpdate: channel }).catch((e) => {
    joining = false;
    showError(`Join: ${errorText(e)}`);
  });
}

async function signIn(showError: (t: string) => void): Promise<void> {
  signingIn = true;
  $("porten-login").hidden = false;
  $("porten-signin").hidden = true;
  $("porten-code").textContent = "—";
  $("porten-url").textContent = "";
  $("porten-browser").textContent = "Waiting for porten login…";
  const channel = new Channel<LoginEvent>();
  channel.onmessage = (e) => {
    const browser = $("porten-browser");
    switch (e.event) {
      case "prompt":
        if (e.code) $("porten-code").textContent = e.code;
        if (e.url) $("porten-url").textContent = shownUrl(e.url);
        break;
      case "suspicious_url":
        browser.textContent = `Not opened: ${e.reason}. The address: ${shownUrl(e.url)}`;
        browser.className = "small error-line";
        break;
      case "browser_opened":
        browser.textContent = "Approve the sign-in in your browser; this updates by itself.";
        break;
      case "browser_failed":
        browser.textContent = "Could not open the browser: open the address above on any device.";
        break;
      case "finished": {
        signingIn = false;
        const words: Record<string, string> = {
          success: "Signed in.",
          denied: "The sign-in was denied.",
          expired: "The code expired; sign in again.",
          timeout: "No approval in time; sign in again.",
          cancelled: "Cancelled.",
        };
        browser.textContent = words[e.result.kind] ?? `Sign-in failed: ${e.result.detail ?? e.result.kind}`;
        browser.className = e.result.kind === "success" ? "small" : "small error-line";
        $("porten-cancel").hidden = true;
        // Signed in: the code box has done its job; the state line says "Signed in".
        if (e.result.kind === "success") {
          signedIn = true;
          $("porten-login").hidden = true;
          $("porten-login-state").textContent = "Signed in";
        }
        break;
      }
    }
  };
  $("porten-cancel").hidden = false;
  await invoke("porten_login", { onEvent: channel }).catch((e) => {
    signingIn = false;
    showError(`Sign in: ${errorText(e)}`);
  });
}

export function wireJoinAndPorten(showError: (t: string) => void): void {
  $("join-btn").addEventListener("click", () => void join(showError).catch((e) => showError(`Join: ${errorText(e)}`)));
  $("join-cancel").addEventListener("click", () => void invoke("join_cancel"));
  $("join-dismiss").addEventListener("click", () => {
    joinOutcomeShown = false;
    $("join-dismiss").hidden = true;
    $("preflight").hidden = true;
    $("join-progress").textContent = "";
    $("join").hidden = true;
    $("join-lead").hidden = false;
  });
  $("porten-signin").addEventListener("click", () => void signIn(showError));
  $("porten-cancel").addEventListener("click", () => void invoke("porten_login_cancel"));
  $("porten-copy").addEventListener("click", () => {
    const code = $("porten-code").textContent ?? "";
    navigator.clipboard?.writeText(code).then(
      () => ($("porten-copy").textContent = "Copied"),
      () => {
        // Without clipboard access, select the code so ⌘C works.
        const range = document.createRange();
        range.selectNodeContents($("porten-code"));
        window.getSelection()?.removeAllRanges();
        window.getSelection()?.addRange(range);
      },
    );
  });
  $("porten-enroll").addEventListener("click", () => {
    const enrolled = $("porten-enroll").dataset.enrolled === "true";
    invoke("porten_enroll", { enabled: !enrolled }).catch((e) => showError(`Porten: ${errorText(e)}`));
  });
}
