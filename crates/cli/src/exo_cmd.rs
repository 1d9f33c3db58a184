//! `clusterbar exo …`: run exo under the supervisor in the foreground (the headless way on an
//! SSH box), stop it, show its status and its log.

use crate::render::print_text;
use clap::Subcommand;
use clusterbar_core::format::printable;
use std::path::PathBuf;

use clusterbar_core::exo::launch::ExoLaunch;
use clusterbar_core::settings::{Settings, SettingsStore};
use clusterbar_core::supervise::process::{find_existing, inspect, stop_recorded, tail_log};
use clusterbar_core::supervise::secret::keychain_secret;
use clusterbar_core::supervise::{ForegroundEnd, StopOutcome, SupervisedState, Supervisor, SupervisorSpec};

#[derive(Subcommand)]
pub enum ExoCommand {
    /// Start exo (or watch the copy already running) and keep it running until Ctrl-C or
    /// SIGTERM, then stop what was started.
    Run {
        /// exo's discovery namespace (`exo --namespace`): only boxes with the same one form a cluster (exo's default: its version).
        #[arg(long)]
        namespace: Option<String>,
        /// An extra models directory (EXO_MODELS_DIRS); repeat for more.
        #[arg(long = "models-dir")]
        models_dirs: Vec<PathBuf>,
        /// Read HF_TOKEN from this macOS keychain item (`security find-generic-password -s NAME`).
        #[arg(long, value_name = "NAME")]
        hf_token_service: Option<String>,
        /// Do not copy exo's output to stderr (it is always in the log).
        #[arg(long)]
        quiet: bool,
    },
    /// Stop the exo Clusterbar started.
    Stop {
        /// Also stop an exo Clusterbar did not start (e.g. EXO.app's).
        #[arg(long)]
        force: bool,
    },
    /// Whether exo runs, who started it, and where its log is.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The last lines of exo's log.
    Logs {
        #[arg(short = 'n', long = "lines", default_value_t = 50)]
        lines: usize,
    },
}

/// The spec for commands that only read files and signal processes: works even when exo is
/// not installed (there may still be a log, or a copy running from elsewhere).
fn files_only_spec(settings: &Settings) -> SupervisorSpec {
    SupervisorSpec::exo(settings, &ExoLaunch::default()).unwrap_or_else(|_| SupervisorSpec {
        adopt: SupervisorSpec::exo_adopt_rule(),
        ..SupervisorSpec::new("exo", PathBuf::from("exo"))
    })
}

pub fn run(command: ExoCommand) -> Result<(), String> {
    let loaded = SettingsStore::platform().load();
    if let Some(problem) = &loaded.problem {
        eprintln!("clusterbar: {problem}");
    }
    let settings = loaded.settings;
    match command {
        ExoCommand::Run {
            namespace,
            models_dirs,
            hf_token_service,
            quiet,
        } => {
            let hf_token = match hf_token_service {
                Some(service) => {
                    let token = keychain_secret(&service).map_err(|e| e.to_string())?;
                    if token.is_none() {
                        eprintln!("clusterbar: no keychain item {service:?}; exo runs without HF_TOKEN");
                    }
                    token
                }
                None => None,
            };
            let launch = ExoLaunch {
                namespace,
                models_dirs,
                hf_token,
            };
            let mut spec = SupervisorSpec::exo(&settings, &launch).map_err(|e| e.to_string())?;
            spec.echo_output = !quiet;
            // Nothing to adopt: exo is about to start, so its port must be free.
            if find_existing(&spec, None).is_none() {
                clusterbar_core::exo::check_api_port(settings.exo_api_port).map_err(|e| e.to_string())?;
            }
            run_foreground(spec)
        }
        ExoCommand::Stop { force } => {
            let spec = files_only_spec(&settings);
            match stop_recorded(&spec, force).map_err(|e| e.to_string())? {
                StopOutcome::Stopped { pid, signal } => {
                    let how = signal.map(|s| format!(" with {s}")).unwrap_or_default();
                    print_text(&format!("stopped exo (pid {pid}){how}"))
                }
                StopOutcome::LeftAdoptedRunning { pid } => Err(format!(
                    "exo (pid {pid}) was not started by Clusterbar; use --force to stop it anyway"
                )),
                StopOutcome::NotRunning => print_text("exo is not running"),
            }
        }
        ExoCommand::Status { json } => {
            let spec = files_only_spec(&settings);
            let status = inspect(&spec);
            if json {
                let text = serde_json::to_string_pretty(&status).map_err(|e| format!("encoding the status: {e}"))?;
                return print_text(&text);
            }
            let state = match (status.state, status.pid) {
                (SupervisedState::Running, Some(pid)) => format!("running (pid {pid}, started by Clusterbar)"),
                (SupervisedState::Adopted, Some(pid)) => format!("running (pid {pid}, not started by Clusterbar)"),
                (SupervisedState::GaveUp, _) => format!(
                    "gave up: {}",
                    printable(status.gave_up_reason.as_deref().unwrap_or("it kept crashing"))
                ),
                _ => "stopped".to_owned(),
            };
            let uptime = status
                .uptime_s
                .map(|s| format!("\nuptime: {}", human_duration(s)))
                .unwrap_or_default();
            print_text(&format!("exo: {state}{uptime}\nlog: {}", status.log_path.display()))
        }
        ExoCommand::Logs { lines } => {
            let spec = files_only_spec(&settings);
            let tail = tail_log(&spec, lines);
            if tail.is_empty() {
                eprintln!("clusterbar: no exo log yet at {}", spec.log.path.display());
                return Ok(());
            }
            // exo's output, which quotes names and model ids from other machines.
            let tail: Vec<_> = tail.iter().map(|l| printable(l)).collect();
            print_text(&tail.join("\n"))
        }
    }
}

fn run_foreground(spec: SupervisorSpec) -> Result<(), String> {
    let (program, log) = (spec.program.clone(), spec.log.path.clone());
    let supervisor = Supervisor::start(spec).map_err(|e| e.to_string())?;
    eprintln!(
        "clusterbar: supervising {} (log: {}); Ctrl-C stops it",
        program.display(),
        log.display()
    );
    let end = supervisor
        .wait_in_foreground()
        .map_err(|e| format!("waiting for signals: {e}"))?;
    match end {
        ForegroundEnd::GaveUp(reason) => {
            let lines = supervisor.status().last_lines;
            match clusterbar_core::exo::lock_held_reason(&lines) {
                Some(lock) => Err(format!("exo could not start: {lock}")),
                None => Err(format!("gave up: {reason}")),
            }
        }
        ForegroundEnd::Signal(signal) => {
            eprintln!("clusterbar: {signal} received, stopping exo");
            match supervisor.stop(false).map_err(|e| e.to_string())? {
                StopOutcome::Stopped { pid, .. } => eprintln!("clusterbar: stopped exo (pid {pid})"),
                StopOutcome::LeftAdoptedRunning { pid } => {
                    eprintln!("clusterbar: left exo (pid {pid}) running: Clusterbar did not start it")
                }
                StopOutcome::NotRunning => {}
            }
            supervisor.shutdown();
            Ok(())
        }
    }
}

/// "3 d 4 h", "2 h 5 m", "4 m 10 s", "12 s".
fn human_duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} m {s} s"),
        (0, _, _) => format!("{h} h {m} m"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_naturally() {
        assert_eq!(super::human_duration(12), "12 s");
        assert_eq!(super::human_duration(250), "4 m 10 s");
        assert_eq!(super::human_duration(7500), "2 h 5 m");
        assert_eq!(super::human_duration(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }
}
