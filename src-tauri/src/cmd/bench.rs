//! "Benchmark before routing", run from the popover.

use std::sync::atomic::{AtomicBool, Ordering};

use clusterbar_core::exo::models_to_bench;
use clusterbar_meter::bench::{
    run_bench_boxes, run_bench_observed, BenchOptions, BenchProgress, BenchReport, BoxesBenchReport, Engine,
};
use tauri::ipc::Channel;
use tauri::State;

use super::blocking;
use crate::error::{CommandError, ErrorCode};
use crate::state::AppState;

/// Clears the "benchmark running" flag however the benchmark ends.
struct BenchSlot<'a>(&'a AtomicBool);

impl Drop for BenchSlot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// `runs` streamed requests per loaded model (a story and a small JSON object each) through
/// the token meter, as `clusterbar bench` does; progress is pushed before every request.
#[tauri::command]
pub(crate) async fn run_benchmark(
    state: State<'_, AppState>,
    runs: u32,
    on_progress: Channel<BenchProgress>,
) -> Result<BenchReport, CommandError> {
    if !(1..=20).contains(&runs) {
        return Err(CommandError::new(
            ErrorCode::InvalidArgument,
            format!("runs must be between 1 and 20, not {runs}"),
        ));
    }
    let meter_url = state.meter_url()?;
    if state.bench_running.swap(true, Ordering::SeqCst) {
        return Err(CommandError::new(ErrorCode::Busy, "A benchmark is already running."));
    }
    let _slot = BenchSlot(&state.bench_running);
    let exo = state.exo_client();
    // The core says why in a sentence; its only refusal is exo running with no model loaded.
    let models = blocking("listing the models to benchmark", move || {
        models_to_bench(&exo).map_err(|why| CommandError::new(ErrorCode::NoModelLoaded, why))
    })
    .await?
    .unwrap_or_default();
    let options = BenchOptions {
        url: meter_url,
        models,
        runs,
        ..BenchOptions::default()
    };
    tracing::info!(runs, models = ?options.models, "benchmark started");
    let report = run_bench_observed(&options, |progress| {
        let _ = on_progress.send(progress);
    })
    .await?;
    tracing::info!(models = report.models.len(), "benchmark finished");
    Ok(report)
}

/// Benchmark before routing, for the Ollama boxes the latest Snapshot shows (this Mac's and the
/// settings' `ollama_boxes`): each box's loaded models, one box after the other, over Ollama's
/// own `/api/chat` (as `clusterbar bench --ollama`), keep-alives left as found.
#[tauri::command]
pub(crate) async fn run_ollama_benchmark(
    state: State<'_, AppState>,
    runs: u32,
) -> Result<BoxesBenchReport, CommandError> {
    if !(1..=20).contains(&runs) {
        return Err(CommandError::new(
            ErrorCode::InvalidArgument,
            format!("runs must be between 1 and 20, not {runs}"),
        ));
    }
    let snapshot = state.sampler.latest();
    let boxes = snapshot.ollama.map(|view| view.boxes).unwrap_or_default();
    if boxes.is_empty() {
        return Err(CommandError::new(
            ErrorCode::NoModelLoaded,
            "No Ollama box: this Mac's does not answer and Settings name none.",
        ));
    }
    if state.bench_running.swap(true, Ordering::SeqCst) {
        return Err(CommandError::new(ErrorCode::Busy, "A benchmark is already running."));
    }
    let _slot = BenchSlot(&state.bench_running);
    let targets = clusterbar_core::ollama::bench::targets(&boxes, &[], clusterbar_core::clock::now_unix_ms());
    let options = BenchOptions {
        runs,
        engine: Engine::Ollama,
        timeout: std::time::Duration::from_secs(300),
        ..BenchOptions::default()
    };
    tracing::info!(runs, boxes = targets.len(), "Ollama benchmark started");
    let report = run_bench_boxes(&targets, &options).await;
    tracing::info!(boxes = report.boxes.len(), "Ollama benchmark finished");
    Ok(report)
}
