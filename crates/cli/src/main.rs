//! `clusterbar`: the headless twin of the menu-bar app.
//!
//! Exit codes: 0 ok, 1 failure (one-line reason on stderr), 2 usage error.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

mod render;

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
    /// Show this machine, exo and the Porten agent (the same Snapshot the app shows).
    Status {
        /// Print the Snapshot as JSON (a stable interface; see README "Snapshot JSON").
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    clusterbar_core::logging::init_cli();
    let cli = Cli::parse(); // exits 2 on usage errors, 0 for --help/--version
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("clusterbar: {reason}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Status { json } => {
            let loaded = clusterbar_core::settings::SettingsStore::platform().load();
            let standing: Vec<_> = loaded
                .problem
                .iter()
                .map(|p| clusterbar_core::warnings::Warning::settings_reset(p))
                .collect();
            let snapshot = clusterbar_core::collect_snapshot(&loaded.settings, &standing);
            let text = if json {
                serde_json::to_string_pretty(&snapshot).map_err(|e| format!("encoding the snapshot: {e}"))?
            } else {
                render::status(&snapshot)
            };
            let mut out = std::io::stdout().lock();
            // A closed pipe (`clusterbar status | head -1`) is not a failure worth a message.
            match writeln!(out, "{text}") {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(format!("writing to stdout: {e}")),
            }
        }
    }
}
