// The Settings window (issue #15: settings in a window of their own, not an inline form in the
// popover). Reads the settings, writes only what the form holds, and says why a value was
// refused; stores the Porten API key (never shown again, only where it is kept).

import { invoke } from "@tauri-apps/api/core";
import { render } from "lit-html";
import { errorText } from "./errors";
import { keyWords } from "./portenview";
import type { KeySource, SettingsView } from "./types";
import { OPTIONAL, settingsView } from "./view";
import { $ } from "./dom";


function renderSettings(view: SettingsView): void {
  const problem = $("settings-problem");
  problem.hidden = view.problem === null;
  problem.textContent = view.problem ?? "";
  render(settingsView(view), $("settings-list"));
}

/** The form's values as the patch `update_settings` takes. */
export function patchFromForm(inputs: HTMLInputElement[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const input of inputs) {
    const key = input.dataset.key ?? "";
    const value = input.value.trim();
    // An empty optional field (a path, the namespace, the price) means unset: null, not "" or 0.
    if (input.dataset.kind === "bool") patch[key] = input.checked;
    else if (value === "" && OPTIONAL.has(key)) patch[key] = null;
    else if (input.dataset.kind === "number") patch[key] = Number(value);
    else patch[key] = value;
  }
  return patch;
}

async function save(): Promise<void> {
  const patch = patchFromForm(Array.from(document.querySelectorAll<HTMLInputElement>("#settings-list input")));
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

async function refreshKeyState(): Promise<void> {
  const source = await invoke<KeySource | null>("porten_api_key_source").catch((e) => {
    $("porten-key-state").textContent = `unreadable: ${errorText(e)}`;
    return undefined;
  });
  if (source !== undefined) $("porten-key-state").textContent = keyWords(source);
}

function storeKey(): void {
  const input = $("porten-key-input") as HTMLInputElement;
  const key = input.value.trim();
  if (!key) return;
  invoke<KeySource>("porten_set_api_key", { key }).then(
    (source) => {
      input.value = "";
      $("porten-key-state").textContent = `${keyWords(source)}; the catalog is checked within a minute`;
    },
    (e) => ($("porten-key-state").textContent = `not stored: ${errorText(e)}`),
  );
}

async function start(): Promise<void> {
  if (navigator.userAgent.includes("Mac")) document.body.classList.add("mac");
  $("settings-save").addEventListener("click", () => void save());
  $("porten-key-save").addEventListener("click", storeKey);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.target as HTMLElement).closest("#settings-list")) void save();
  });
  renderSettings(await invoke<SettingsView>("settings"));
  await refreshKeyState();
}

start().catch((e) => {
  const line = $("error-line");
  line.textContent = `Could not read the settings: ${errorText(e)}`;
  line.hidden = false;
});
