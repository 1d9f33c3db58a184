//! `clusterbar meter` (the metering proxy on its own) and `clusterbar bench`.

use clap::Args;
use clusterbar_core::exo::{models_to_bench, ExoClient};
use clusterbar_core::format::printable;
use clusterbar_meter::bench::{render_report, run_bench, BenchOptions};
use clusterbar_meter::{Meter, MeterOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// exo's API port.
const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:52415";

#[derive(Args, Debug)]
pub struct MeterArgs {
    /// Address to listen on, e.g. 127.0.0.1:52416 (loopback only unless --allow-remote).
    #[arg(long)]
    listen: SocketAddr,
    /// The server to meter (plain http).
    #[arg(long, default_value = DEFAULT_UPSTREAM)]
    upstream: String,
    /// Allow a non-loopback --listen address: anyone who reaches it reaches the upstream.
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A meter or an upstream (OpenAI-compatible, plain http).
    #[arg(long, default_value = DEFAULT_UPSTREAM)]
    url: String,
    /// Model id to bench (repeatable); default: the models exo has loaded, or every model in
    /// /v1/models on a server that is not exo.
    #[arg(long = "model")]
    models: Vec<String>,
    /// Streamed requests per model and prompt.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// max_tokens per request.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

pub fn run_meter(args: MeterArgs) -> Result<(), String> {
    if args.allow_remote && !args.listen.ip().is_loopback() {
        eprintln!(
            "clusterbar: warning: listening on {} (not loopback): anyone who can reach it can use {}",
            args.listen, args.upstream
        );
    }
    runtime()?.block_on(async {
        let options = MeterOptions {
            allow_remote: args.allow_remote,
            ..MeterOptions::default()
        };
        let meter = Meter::start(args.listen, &args.upstream, options)
            .await
            .map_err(|e| e.to_string())?;
        let addr = meter.local_addr();
        eprintln!(
            "clusterbar: metering http://{addr} -> {} (stats: http://{addr}/_clusterbar/stats)",
            args.upstream
        );
        // History: the meter's figures every 10 s, written on the recorder's own thread.
        let recorder = crate::history_cmd::start_recording();
        let record = async {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                if let Some(recorder) = &recorder {
                    let now = clusterbar_core::clock::now_unix_ms() / 1000;
                    recorder.send(clusterbar_core::history::sample_from(None, Some(&meter.stats()), now));
                }
            }
        };
        let stopped = tokio::select! {
            result = wait_for_stop_signal() => result,
            () = record => Ok(()),
        };
        meter.shutdown().await;
        if let Some(recorder) = recorder {
            recorder.close();
        }
        stopped
    })
}

async fn wait_for_stop_signal() -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| format!("installing a SIGTERM handler: {e}"))?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(|e| format!("waiting for Ctrl-C: {e}")),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("waiting for Ctrl-C: {e}"))
    }
}

pub fn run_bench_cmd(args: BenchArgs) -> Result<(), String> {
    // exo's /v1/models lists every card it knows: bench what it has loaded instead.
    let models = if args.models.is_empty() {
        let exo = ExoClient::new(&args.url).map_err(|e| e.to_string())?;
        models_to_bench(&exo)?.unwrap_or_default()
    } else {
        args.models
    };
    let options = BenchOptions {
        url: args.url,
        models,
        runs: args.runs,
        max_tokens: args.max_tokens,
        timeout: Duration::from_secs(300),
    };
    let report = runtime()?.block_on(run_bench(&options)).map_err(|e| e.to_string())?;
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| format!("encoding the report: {e}"))?
    } else {
        // Model ids come from exo's /v1/models and failures quote the server: made printable.
        let mut shown = report.clone();
        for model in &mut shown.models {
            model.model = printable(&model.model).into_owned();
            for failure in &mut model.failures {
                *failure = printable(failure).into_owned();
            }
        }
        render_report(&shown)
    };
    crate::render::print_text(&text)?;
    let failed: usize = report.models.iter().map(|m| m.failures.len()).sum();
    if failed > 0 && report.models.iter().all(|m| m.ttft_ms.is_none()) {
        return Err(format!("every bench request failed ({failed} failures)"));
    }
    Ok(())
}
