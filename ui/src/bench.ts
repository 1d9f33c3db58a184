// The popover's "Benchmark before routing": the same measurement as `clusterbar bench`, run by
// the core through the token meter, with its progress pushed over a Channel.

import { Channel, invoke } from "@tauri-apps/api/core";
import { errorText } from "./errors";
import type { BenchProgress, BenchReport, ModelBench } from "./types";

/** Runs per model the popover asks for (each run is a story and a JSON answer). */
export const POPOVER_BENCH_RUNS = 3;

/** The last path part of a model id: what fits a popover row. */
export function shortModel(id: string): string {
  return id.split("/").pop() || id;
}

/** One result row's cells: model, TTFT p50, decode p50, JSON fidelity, failures. */
export function benchCells(m: ModelBench): string[] {
  const f = m.json_fidelity;
  const failed = m.failures.length ? `${m.failures.length} failed` : "";
  return [
    shortModel(m.model),
    m.ttft_ms ? `${Math.round(m.ttft_ms.p50)} ms` : "—",
    m.decode_tokens_per_s ? `${m.decode_tokens_per_s.p50.toFixed(1)} tok/s` : "—",
    f.asked ? `${f.schema_ok}/${f.asked} valid` : "—",
    failed,
  ];
}

export function progressLine(p: BenchProgress): string {
  return `${shortModel(p.model)}: request ${p.request} of ${p.requests}…`;
}

function renderReport(report: BenchReport): void {
  const table = document.getElementById("bench-results") as HTMLTableElement | null;
  const body = table?.tBodies[0];
  if (!table || !body) return;
  body.replaceChildren(
    ...report.models.map((m) => {
      const row = document.createElement("tr");
      row.dataset.model = m.model;
      const firstFailure = m.failures[0];
      if (firstFailure) row.title = firstFailure;
      for (const text of benchCells(m)) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  table.hidden = report.models.length === 0;
}

export function wireBenchmark(showError: (text: string) => void): void {
  const button = document.getElementById("bench-btn") as HTMLButtonElement | null;
  const status = document.getElementById("bench-status");
  if (!button || !status) return;
  button.addEventListener("click", () => {
    button.disabled = true;
    status.textContent = "Starting…";
    const progress = new Channel<BenchProgress>();
    progress.onmessage = (p) => {
      status.textContent = progressLine(p);
    };
    invoke<BenchReport>("run_benchmark", { runs: POPOVER_BENCH_RUNS, onProgress: progress })
      .then((report) => {
        renderReport(report);
        const failed = report.models.reduce((n, m) => n + m.failures.length, 0);
        status.textContent =
          `${POPOVER_BENCH_RUNS} runs per model through the meter` + (failed ? ` · ${failed} requests failed` : "");
      })
      .catch((e) => {
        // Kept on screen (not only in the error bar): the reason is what the user acts on.
        status.textContent = `Benchmark failed: ${errorText(e)}`;
        showError(`Benchmark: ${errorText(e)}`);
      })
      .finally(() => {
        button.disabled = false;
      });
  });
}
