//! `clusterbar join` (preflight, start or adopt exo, wait for a peer) and `clusterbar leave`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use clusterbar_core::exo::launch::ExoLaunch;
use clusterbar_core::exo::ExoClient;
use clusterbar_core::format::printable;
use clusterbar_core::join::{join, preflight, preflight_passes, CheckStatus, JoinError, JoinOptions, JoinProgress};
use clusterbar_core::settings::SettingsStore;
use clusterbar_core::snapshot::Collector;
use clusterbar_core::supervise::process::stop_recorded;
use clusterbar_core::supervise::{locate, ServiceKind, StopOutcome, Supervisor, SupervisorSpec};

use crate::porten_cmd::signal_flag;

fn line(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        eprintln!("{text}");
    }
}

/// Runs the checklist, then joins. When Clusterbar started exo, the command stays to supervise
/// it (Ctrl-C, SIGTERM or `clusterbar leave` stops it); an adopted exo is left as it was.
pub fn run_join(json: bool, timeout: u64, exo_url: Option<String>, namespace: Option<String>) -> Result<(), String> {
    let loaded = SettingsStore::platform().load();
    let settings = loaded.settings;
    let mut collector = match exo_url.as_deref() {
        Some(url) => Collector::with_exo_url(url).map_err(|e| e.to_string())?,
        None => Collector::default(),
    };
    let snapshot = collector.collect(&settings, &[], None);
    let items = preflight(&snapshot, &locate(ServiceKind::Exo, &settings));
    for item in &items {
        let mark = match item.status {
            CheckStatus::Pass => "ok  ",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
        };
        let fix = item
            .fix
            .as_deref()
            .map(|f| format!("\n       fix: {f}"))
            .unwrap_or_default();
        line(
            json,
            serde_json::json!({"preflight": item}),
            &format!("[{mark}] {}: {}{}", item.id, printable(&item.message), printable(&fix)),
        );
    }
    if !preflight_passes(&items) {
        return Err("preflight failed; fix the items marked FAIL and try again".into());
    }
    let url = exo_url.unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.exo_api_port));
    let client = ExoClient::new(&url).map_err(|e| e.to_string())?;
    let stop = signal_flag()?;
    let launch = ExoLaunch {
        namespace,
        ..ExoLaunch::default()
    };
    let options = JoinOptions {
        timeout: Duration::from_secs(timeout),
        ..JoinOptions::default()
    };
    let start = || {
        let spec = SupervisorSpec::exo(&settings, &launch).map_err(|e| e.to_string())?;
        Supervisor::start(spec).map_err(|e| e.to_string())
    };
    let result = join(&client, start, &options, &stop, |step| {
        let text = match step {
            JoinProgress::StartingExo => "starting exo (or adopting the one running)…".to_owned(),
            JoinProgress::ExoRunning { pid, adopted } => format!(
                "exo running{} ({})",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                if *adopted { "adopted" } else { "started by Clusterbar" }
            ),
            JoinProgress::ApiAnswering { node_id } => format!("exo answers; node id {}", printable(node_id)),
            JoinProgress::WaitingForPeers { members } => {
                format!("in exo's topology ({members} member(s)); waiting for a peer…")
            }
            JoinProgress::Joined { peers } => format!("joined; peers: {}", printable(&peers.join(", "))),
        };
        line(json, serde_json::json!({"progress": step}), &text);
    });
    let (joined, supervisor) = match result {
        Ok(done) => done,
        Err(JoinError::Cancelled) => return Err("cancelled".into()),
        Err(e) => return Err(e.to_string()),
    };
    line(json, serde_json::json!({"joined": joined}), "");
    if joined.adopted {
        eprintln!("clusterbar: exo was already running and keeps running on its own");
        return Ok(());
    }
    eprintln!("clusterbar: supervising exo; Ctrl-C, SIGTERM or `clusterbar leave` stops it");
    while !stop.load(Ordering::SeqCst) {
        let status = supervisor.status();
        if status.state == clusterbar_core::supervise::SupervisedState::GaveUp {
            return Err(format!(
                "exo gave up: {}",
                status.gave_up_reason.unwrap_or_else(|| "it kept crashing".into())
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let outcome = supervisor.stop(false).map_err(|e| e.to_string())?;
    supervisor.shutdown();
    if let StopOutcome::Stopped { pid, .. } = outcome {
        eprintln!("clusterbar: stopped exo (pid {pid})");
    }
    Ok(())
}

/// Stops the exo Clusterbar started (its pid file); an exo someone else started is left alone.
pub fn run_leave() -> Result<(), String> {
    let settings = SettingsStore::platform().load().settings;
    let spec = SupervisorSpec::exo(&settings, &ExoLaunch::default()).unwrap_or_else(|_| SupervisorSpec {
        adopt: SupervisorSpec::exo_adopt_rule(),
        ..SupervisorSpec::new("exo", std::path::PathBuf::from("exo"))
    });
    match stop_recorded(&spec, false).map_err(|e| e.to_string())? {
        StopOutcome::Stopped { pid, .. } => {
            println!("left the cluster: stopped exo (pid {pid})");
            Ok(())
        }
        StopOutcome::LeftAdoptedRunning { pid } => Err(format!(
            "exo (pid {pid}) was not started by Clusterbar; quit it where it was started (e.g. EXO.app)"
        )),
        StopOutcome::NotRunning => {
            println!("exo is not running");
            Ok(())
        }
    }
}
