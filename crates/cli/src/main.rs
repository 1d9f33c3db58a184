//! `clusterbar`: the headless twin of the menu-bar app.
//!
//! Exit codes: 0 ok, 1 failure (one-line reason on stderr), 2 usage error.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cluster;
mod exo_cmd;
mod history_cmd;
mod join_cmd;
mod meter_cmd;
mod models;
mod ollama_view;
mod porten_cmd;
mod render;
mod report;

#[derive(Parser)]
#[command(
    name = "clusterbar",
    version,
    about = "Run a Thunderbolt cluster of Macs as one LLM inference node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the token meter: a transparent proxy in front of exo that measures tokens/s and TTFT.
    Meter(meter_cmd::MeterArgs),
    /// Stream a fixed prompt to each model: TTFT, decode tok/s, end-to-end time and JSON fidelity.
    Bench(meter_cmd::BenchArgs),
    /// Sign the Porten agent in, run it with what the cluster offers, stop it, show it.
    Porten {
        #[command(subcommand)]
        command: porten_cmd::PortenCommand,
    },
    /// Join the cluster: preflight checklist, start (or adopt) exo, wait until a peer is seen.
    Join {
        /// One JSON object per line: preflight items, progress, the result.
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds without a peer.
        #[arg(long, value_name = "S", default_value_t = 120)]
        timeout: u64,
        /// exo's API (default http://127.0.0.1:<exo_api_port from Settings>).
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
        /// exo's discovery namespace (`exo --namespace`) for an exo Clusterbar starts.
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Leave the cluster: stop the exo Clusterbar started.
    Leave,
    /// Headless head node: exo, the token meter and the Porten agent until SIGINT/SIGTERM.
    Serve {
        /// Use the exo at this URL instead of starting one.
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
        /// The token meter's loopback port (default: the meter_port setting, 52480; 0 = any
        /// free port, the agent's listener too). The agent's own is the porten_meter_port setting.
        #[arg(long)]
        meter_port: Option<u16>,
    },
    /// What was recorded (by the app, `serve` or `meter`): per box and for the cluster, with
    /// energy per token; survives restarts.
    History(history_cmd::HistoryArgs),
    /// Run exo under Clusterbar's supervisor, stop it, and show its status and log.
    Exo {
        #[command(subcommand)]
        command: exo_cmd::ExoCommand,
    },
    /// Show this machine, exo and the Porten agent (the same Snapshot the app shows).
    Status {
        /// Print the Snapshot as JSON (a stable interface; see README "Snapshot JSON").
        #[arg(long)]
        json: bool,
        /// exo's API (default http://127.0.0.1:<exo_api_port from Settings>).
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
        /// Keep sampling: one Snapshot every --interval seconds (with --json, one JSON object
        /// per line), with the events between samples (a box joined or left, a model ready).
        #[arg(long)]
        watch: bool,
        /// Seconds between samples with --watch.
        #[arg(long, value_name = "S", default_value_t = 2.0, requires = "watch")]
        interval: f64,
    },
    /// Save a diagnostics bundle: the raw outputs the probes read, the Snapshot and exo's /state.
    Report {
        /// A new (or empty) directory for the bundle.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// exo's API (default http://127.0.0.1:<exo_api_port from Settings>).
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
    },
    /// Diagnose a bundle saved by `clusterbar report` (from any machine): status and warnings.
    Doctor {
        /// The bundle directory.
        #[arg(long, value_name = "DIR")]
        from: std::path::PathBuf,
        /// Print the Snapshot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The models exo knows and runs: list, load, unload, and whether one fits the cluster.
    Models {
        #[command(subcommand)]
        action: models::ModelsCommand,
        /// exo's API (default http://127.0.0.1:<exo_api_port from Settings>).
        #[arg(long, value_name = "URL", global = true)]
        exo_url: Option<String>,
    },
}

fn main() -> ExitCode {
    clusterbar_core::logging::init_cli();
    let cli = Cli::parse(); // exits 2 on usage errors, 0 for --help/--version
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            // Reasons quote exo, Porten and the Hub: one printable line, whatever they sent.
            eprintln!("clusterbar: {}", clusterbar_core::format::printable(&reason));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Exo { command } => exo_cmd::run(command),
        Command::Porten { command } => porten_cmd::run(command),
        Command::Join {
            json,
            timeout,
            exo_url,
            namespace,
        } => join_cmd::run_join(json, timeout, exo_url, namespace),
        Command::Leave => join_cmd::run_leave(),
        Command::Serve { exo_url, meter_port } => porten_cmd::serve(exo_url, meter_port),
        Command::Report { out, exo_url } => {
            let settings = clusterbar_core::settings::SettingsStore::platform().load().settings;
            let summary = report::save(&out, &settings, exo_url.as_deref())?;
            render::print_text(&summary)
        }
        Command::Doctor { from, json } => print_snapshot(&report::diagnose(&from)?, json),
        Command::History(args) => history_cmd::run(args),
        Command::Meter(args) => meter_cmd::run_meter(args),
        Command::Bench(args) => meter_cmd::run_bench_cmd(args),
        Command::Models { action, exo_url } => {
            let settings = clusterbar_core::settings::SettingsStore::platform().load().settings;
            let client = cluster::client(exo_url.as_deref(), &settings)?;
            render::print_text(&models::run(action, &client, &settings)?)
        }
        Command::Status {
            json,
            exo_url,
            watch,
            interval,
        } => {
            if !(interval.is_finite() && (0.2..=3600.0).contains(&interval)) {
                return Err(format!("--interval {interval}: give seconds between 0.2 and 3600"));
            }
            let loaded = clusterbar_core::settings::SettingsStore::platform().load();
            let standing = loaded.standing_warnings();
            let mut collector = match exo_url.as_deref() {
                Some(url) => clusterbar_core::snapshot::Collector::with_exo_url(url).map_err(|e| e.to_string())?,
                None => clusterbar_core::snapshot::Collector::default(),
            };
            // The agent's tokens live in the meter (the app's or `serve`'s), else in its ledger;
            // the running meter's own warnings (a route open to the LAN) join the others.
            let sample = |collector: &mut clusterbar_core::snapshot::Collector| {
                use clusterbar_core::porten::tokens;
                let mut snapshot = collector.collect(&loaded.settings, &standing, None);
                let stats = tokens::fetch_meter_stats(&loaded.settings);
                snapshot.porten_tokens = tokens::read_with(stats.as_ref());
                for warning in stats.as_ref().map(tokens::meter_warnings).unwrap_or_default() {
                    clusterbar_core::warnings::add_warning(&mut snapshot.warnings, warning);
                }
                snapshot.derive_state();
                snapshot
            };
            if !watch {
                return print_snapshot(&sample(&mut collector), json);
            }
            loop {
                let snapshot = sample(&mut collector);
                let text = if json {
                    serde_json::to_string(&snapshot).map_err(|e| format!("encoding the snapshot: {e}"))?
                } else {
                    let mut text = format!("{}\n", human(&snapshot));
                    for event in &snapshot.events {
                        let (title, body) = event.describe();
                        text.push_str(&format!("event: {title} — {body}\n"));
                    }
                    text
                };
                if !render::write_line(&text)? {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_secs_f64(interval));
            }
        }
    }
}

/// The Snapshot as JSON (the stable interface) or as the human table with the cluster after it.
fn print_snapshot(snapshot: &clusterbar_core::Snapshot, json: bool) -> Result<(), String> {
    let text = if json {
        serde_json::to_string_pretty(snapshot).map_err(|e| format!("encoding the snapshot: {e}"))?
    } else {
        human(snapshot)
    };
    render::print_text(&text)
}

/// The status table, the cluster and the Ollama boxes (when there are any).
fn human(snapshot: &clusterbar_core::Snapshot) -> String {
    let mut text = format!(
        "{}\n{}",
        render::status(snapshot),
        cluster::render(snapshot.cluster.as_ref())
    );
    if let Some(view) = &snapshot.ollama {
        text.push('\n');
        text.push_str(&ollama_view::render(view, snapshot.taken_at_unix_ms));
    }
    text
}
