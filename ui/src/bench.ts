// The popover's "Benchmark before routing": the same measurement as `clusterbar bench`, run by
// the core through the token meter, with its progress pushed over a Channel.

import { Channel, invoke } from "@tauri-apps/api/core";
import { errorText } from "./errors";
import { shortModel } from "./format";
import type { BenchProgress, BenchReport, BoxesBenchReport, ModelBench } from "./types";

/** Runs per model the popover asks for (each run is a story and a JSON answer). */
export const POPOVER_BENCH_RUNS = 3;

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

/** The Ollama report as rows: each box × model, the model cell naming the box ("this Mac ·
 * llama3.2:latest"); a box with no rows says why in one row. */
export function ollamaRows(report: BoxesBenchReport): { key: string; cells: string[]; title?: string }[] {
  return report.boxes.flatMap((b) => {
    const box = b.is_local ? "this Mac" : b.address;
    if (b.models.length === 0) return [{ key: b.address, cells: [box, "—", "—", "—", b.problem ?? "not benched"], title: b.problem }];
    return b.models.map((m) => {
      const cells = benchCells(m);
      cells[0] = `${box} · ${cells[0]}`;
      return { key: `${b.address} ${m.model}`, cells, title: m.failures[0] };
    });
  });
}

function renderRows(rows: { key: string; cells: string[]; title?: string }[]): void {
  const table = document.getElementById("bench-results") as HTMLTableElement | null;
  const body = table?.tBodies[0];
  if (!table || !body) return;
  body.replaceChildren(
    ...rows.map((r) => {
      const row = document.createElement("tr");
      row.dataset.model = r.key;
      if (r.title) row.title = r.title;
      for (const text of r.cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  table.hidden = rows.length === 0;
}

function renderReport(report: BenchReport): void {
  renderRows(report.models.map((m) => ({ key: m.model, cells: benchCells(m), title: m.failures[0] })));
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
  const ollama = document.getElementById("bench-ollama-btn") as HTMLButtonElement | null;
  ollama?.addEventListener("click", () => {
    ollama.disabled = true;
    status.textContent = "Benchmarking each Ollama box in turn…";
    invoke<BoxesBenchReport>("run_ollama_benchmark", { runs: POPOVER_BENCH_RUNS })
      .then((report) => {
        const rows = ollamaRows(report);
        renderRows(rows);
        const failed = report.boxes.reduce((n, b) => n + b.models.reduce((k, m) => k + m.failures.length, 0), 0);
        status.textContent = `${POPOVER_BENCH_RUNS} runs per model on each Ollama box` + (failed ? ` · ${failed} requests failed` : "");
      })
      .catch((e) => {
        status.textContent = `Benchmark failed: ${errorText(e)}`;
        showError(`Benchmark: ${errorText(e)}`);
      })
      .finally(() => {
        ollama.disabled = false;
      });
  });
}
