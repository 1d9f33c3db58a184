//! `clusterbar porten login|start|stop|status|check` and `clusterbar serve` (exo + meter + agent,
//! headless, until SIGINT/SIGTERM).

use crate::render::print_text;
use clap::Subcommand;
use clusterbar_core::format::printable;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterbar_core::exo::launch::ExoLaunch;
use clusterbar_core::exo::ExoClient;
use clusterbar_core::porten::login::{login, shown_url, CancelHandle, LoginEvent, LoginOptions, LoginResult};
use clusterbar_core::porten::tokens::PORTEN_CLIENT;
use clusterbar_core::porten::{loaded_model_ids, CatalogChecker, CatalogState, HubCheck};
use clusterbar_core::runtime::{ExoStart, HeadNode};
use clusterbar_core::sampler::Sampler;
use clusterbar_core::settings::{Settings, SettingsStore};
use clusterbar_core::snapshot::Collector;
use clusterbar_core::supervise::process::{inspect, stop_recorded, tail_log};
use clusterbar_core::supervise::{locate, Env, ServiceKind, StopOutcome, SupervisorSpec};
use clusterbar_core::Snapshot;
use tokio::sync::watch;

#[derive(Subcommand)]
pub enum PortenCommand {
    /// Sign the agent in: shows a code and opens the Hub's sign-in page; approve it on any device.
    Login {
        /// Show the URL but do not open it.
        #[arg(long)]
        no_browser: bool,
        /// Print {"url", "code", "opened", "not_opened", "result"} at the end.
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds, 1–86400 (default: the porten_login_timeout_s setting, 900).
        #[arg(
            long,
            value_name = "S",
            value_parser = clap::value_parser!(u64).range(1..=clusterbar_core::settings::MAX_PORTEN_LOGIN_TIMEOUT_S)
        )]
        timeout: Option<u64>,
    },
    /// Run the agent with what the cluster offers (restarted when that changes) until Ctrl-C/SIGTERM.
    Start {
        /// The token meter's listener the agent sends requests through (default
        /// http://127.0.0.1:<porten_meter_port from Settings>: the app's or `serve`'s, which
        /// counts what the agent is served).
        #[arg(long, value_name = "URL")]
        meter_url: Option<String>,
        /// exo's API (default http://127.0.0.1:<exo_api_port from Settings>).
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
    },
    /// Stop the agent Clusterbar started.
    Stop {
        /// Also stop an agent Clusterbar did not start (e.g. Porten's own app's).
        #[arg(long)]
        force: bool,
    },
    /// The loaded models against the Hub: API key present, offered ids, each model's warming.
    Check {
        #[arg(long)]
        json: bool,
        /// exo's API, for the loaded models (default http://127.0.0.1:<exo_api_port from Settings>).
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
    },
    /// Logged in or not, whether the agent runs, with what, and its last log lines.
    Status {
        #[arg(long)]
        json: bool,
        /// exo's API, to show the environment the agent would get.
        #[arg(long, value_name = "URL")]
        exo_url: Option<String>,
        /// Also check the loaded models against the Hub's catalog.
        #[arg(long)]
        catalog: bool,
    },
}

fn load_settings() -> Settings {
    let loaded = SettingsStore::platform().load();
    if let Some(problem) = &loaded.problem {
        eprintln!("clusterbar: {problem}");
    }
    loaded.settings
}

/// A flag raised by SIGINT, SIGTERM or SIGHUP (watched by a small thread with its own runtime).
pub fn signal_flag() -> Result<Arc<AtomicBool>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the signal watcher: {e}"))?;
    // Registered here, before returning, so no signal can slip in between.
    let (mut int, mut term, mut hup) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
            ))
        })
        .map_err(|e| format!("watching signals: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            });
            raised.store(true, Ordering::SeqCst);
        })
        .map_err(|e| format!("starting the signal watcher: {e}"))?;
    Ok(flag)
}

/// The spec for commands that only read files and signal processes.
fn files_only_spec(settings: &Settings) -> SupervisorSpec {
    SupervisorSpec::porten(settings, Env::new(), settings.porten_run_args.clone()).unwrap_or_else(|_| {
        let mut spec = SupervisorSpec::new("porten", PathBuf::from("porten"));
        spec.adopt = SupervisorSpec::porten_adopt_rule(settings);
        spec
    })
}

pub fn run(command: PortenCommand) -> Result<(), String> {
    let settings = load_settings();
    match command {
        PortenCommand::Login {
            no_browser,
            json,
            timeout,
        } => run_login(&settings, no_browser, json, timeout),
        PortenCommand::Start { meter_url, exo_url } => {
            let meter_url = meter_url.unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.porten_meter_port));
            let stop = signal_flag()?;
            // One settings channel for the runtime and the sampler (the CLI's settings never change).
            let settings_rx = watch::channel(settings.clone()).1;
            let head = HeadNode::new(settings_rx.clone());
            head.enroll(&meter_url);
            eprintln!("clusterbar: running the Porten agent alongside exo; Ctrl-C stops it");
            let followed = follow_cluster(settings_rx, head.clone(), exo_url.as_deref(), &stop, &mut |_| {});
            head.unenroll().map_err(|e| e.to_string())?;
            followed
        }
        PortenCommand::Stop { force } => match stop_recorded(&files_only_spec(&settings), force).map_err(|e| e.to_string())? {
            StopOutcome::Stopped { pid, .. } => print_text(&format!("stopped the Porten agent (pid {pid})")),
            StopOutcome::LeftAdoptedRunning { pid } => Err(format!(
                "the Porten agent (pid {pid}) was not started by Clusterbar (Porten's app?); use --force to stop it anyway"
            )),
            StopOutcome::NotRunning => print_text("the Porten agent is not running"),
        },
        PortenCommand::Status {
            json,
            exo_url,
            catalog,
        } => run_status(&settings, json, exo_url.as_deref(), catalog),
        PortenCommand::Check { json, exo_url } => run_check(&settings, json, exo_url.as_deref()),
    }
}

/// `porten check`: fails (exit 1, after the report) only when the Hub could not be asked or
/// refused the key; a missing key is information.
fn run_check(settings: &Settings, json: bool, exo_url: Option<&str>) -> Result<(), String> {
    let client = match exo_url {
        Some(url) => ExoClient::new(url).map_err(|e| e.to_string())?,
        None => ExoClient::local(settings.exo_api_port),
    };
    let (loaded, exo_problem) = match client.cluster_view(clusterbar_core::snapshot::now_unix_ms()) {
        Ok(view) => (loaded_model_ids(&view.models), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let check = CatalogChecker::from_settings(settings).check(&loaded, Instant::now());
    let warnings = check.warnings();
    if json {
        let mut value = serde_json::to_value(&check).map_err(|e| e.to_string())?;
        if let Some(fields) = value.as_object_mut() {
            fields.insert("api_key_present".into(), check.api_key.is_some().into());
            fields.insert("exo_problem".into(), exo_problem.clone().into());
            fields.insert(
                "warnings".into(),
                serde_json::to_value(&warnings).map_err(|e| e.to_string())?,
            );
        }
        print_text(&serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?)?;
    } else {
        print_text(&check_text(&check, exo_problem.as_deref()).join("\n"))?;
    }
    match check.catalog {
        CatalogState::Checked | CatalogState::NeedsKey => Ok(()),
        _ => Err(check.note.unwrap_or_else(|| "the Hub could not be asked".into())),
    }
}

/// The text form of a check. The Hub's words and model ids are made printable.
fn check_text(check: &HubCheck, exo_problem: Option<&str>) -> Vec<String> {
    let mut lines = vec![format!(
        "hub:      {}{}",
        printable(&check.hub_url),
        check
            .api_url
            .as_deref()
            .map(|api| format!(" (API {})", printable(api)))
            .unwrap_or_default()
    )];
    lines.push(match check.api_key {
        Some(source) => format!("API key:  present ({})", source.describe()),
        None => "API key:  none".to_owned(),
    });
    match (check.catalog, &check.note) {
        (CatalogState::Checked, _) => {
            lines.push(format!("catalog:  {} offered ids", check.offered.len()));
            lines.extend(check.offered.iter().map(|id| format!("  {}", printable(id))));
        }
        (_, Some(note)) => lines.push(format!("catalog:  not checked: {}", printable(note))),
        (_, None) => lines.push("catalog:  not checked".to_owned()),
    }
    match exo_problem {
        Some(problem) => lines.push(format!("loaded:   unknown (exo: {})", printable(problem))),
        None if check.models.is_empty() => lines.push("loaded:   no model is ready in exo".to_owned()),
        None => lines.push("loaded:".to_owned()),
    }
    for model in &check.models {
        let mut parts = Vec::new();
        match (model.offered, &model.closest) {
            (Some(true), _) => parts.push("offered".to_owned()),
            (Some(false), Some(close)) => parts.push(format!("NOT offered (did you mean {}?)", printable(close))),
            (Some(false), None) => parts.push("NOT offered".to_owned()),
            (None, _) => {}
        }
        match (&model.warming, &model.warming_error) {
            (Some(w), _) if !w.in_progress() => parts.push("ready on the Hub".to_owned()),
            (Some(w), _) => {
                let phase = w.phase.as_deref().map(printable).unwrap_or("warming".into());
                match w.amount() {
                    Some(amount) => parts.push(format!("{phase}: {amount}")),
                    None => parts.push(phase.into_owned()),
                }
            }
            (None, Some(error)) => parts.push(format!("warming unknown: {}", printable(error))),
            (None, None) => {}
        }
        lines.push(format!("  {}  {}", printable(&model.id), parts.join(" · ")));
    }
    lines.extend(
        check
            .warnings()
            .iter()
            .map(|w| format!("warning: {} — {}", printable(&w.message), printable(&w.fix))),
    );
    lines
}

fn collector(exo_url: Option<&str>) -> Result<Collector, String> {
    match exo_url {
        Some(url) => Collector::with_exo_url(url).map_err(|e| e.to_string()),
        None => Ok(Collector::default()),
    }
}

fn run_login(settings: &Settings, no_browser: bool, json: bool, timeout: Option<u64>) -> Result<(), String> {
    let program = locate(ServiceKind::Porten, settings).map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(timeout.unwrap_or(settings.porten_login_timeout_s));
    let mut options = LoginOptions::new(program, &settings.porten_hub_url, timeout);
    options.open_browser = !no_browser;
    let cancel = CancelHandle::new();
    let stop = signal_flag()?;
    {
        // Ctrl-C cancels the login (and stops `porten login`).
        let cancel = cancel.clone();
        std::thread::spawn(move || loop {
            if stop.load(Ordering::SeqCst) {
                cancel.cancel();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    }
    // Text mode prints the URL and the code as each appears (in whatever order porten prints
    // them), and why the URL was not opened; both come from porten's output: made printable.
    let mut url_shown = false;
    let mut code_shown: Option<String> = None;
    let outcome = login(&options, &cancel, |event| {
        if json {
            return;
        }
        match event {
            LoginEvent::Prompt { url, code } => {
                if let (Some(url), false) = (url, url_shown) {
                    url_shown = true;
                    eprintln!("Sign in at: {}", printable(&shown_url(url)));
                    if no_browser {
                        eprintln!("(not opened: --no-browser; open it on any device)");
                    }
                }
                if let Some(code) = code.as_ref().filter(|c| code_shown.as_ref() != Some(*c)) {
                    code_shown = Some(code.clone());
                    eprintln!("Code: {}", printable(code));
                }
            }
            LoginEvent::SuspiciousUrl { reason, .. } => {
                eprintln!("clusterbar: NOT opening that sign-in URL: {}", printable(reason))
            }
            LoginEvent::BrowserOpened { .. } => {
                eprintln!("Opened in your browser; approve it there (or on any device).")
            }
            LoginEvent::BrowserFailed { reason, .. } => {
                eprintln!(
                    "clusterbar: could not open the browser ({}); open the URL yourself",
                    printable(reason)
                )
            }
            LoginEvent::Finished { .. } => {
                if !url_shown {
                    eprintln!("clusterbar: porten login printed no sign-in URL");
                } else if code_shown.is_none() {
                    eprintln!("clusterbar: porten login printed no code; approve the machine on the page above");
                }
            }
        }
    });
    if json {
        let value = serde_json::json!({
            "url": outcome.url,
            "code": outcome.code,
            "opened": outcome.opened,
            "result": outcome.result.word(),
            "detail": match &outcome.result { LoginResult::Failed(d) => Some(d.clone()), _ => None },
            "suspicious": outcome.suspicious,
            "not_opened": outcome.not_opened,
        });
        print_text(&value.to_string())?;
    }
    match outcome.result {
        LoginResult::Success => {
            if !json {
                print_text("Logged in to Porten.")?;
            }
            Ok(())
        }
        LoginResult::Denied => Err("the sign-in was denied".into()),
        LoginResult::Expired => Err("the code expired before it was approved; run the login again".into()),
        LoginResult::Timeout => Err(format!("no approval within {} s", timeout.as_secs())),
        LoginResult::Cancelled => Err("cancelled".into()),
        LoginResult::Failed(reason) => Err(reason),
    }
}

fn run_status(settings: &Settings, json: bool, exo_url: Option<&str>, catalog: bool) -> Result<(), String> {
    let spec = files_only_spec(settings);
    let supervised = inspect(&spec);
    let app =
        clusterbar_core::porten::app::find_app_agent(&clusterbar_core::porten::app::AppRules::from_settings(settings));
    let run_by_app = app
        .as_ref()
        .zip(supervised.pid)
        .is_some_and(|(app, pid)| app.pids.contains(&pid));
    let logged_in = clusterbar_core::porten::agent::logged_in(settings);
    let snapshot = collector(exo_url)?.collect(settings, &[], None);
    let meter_url = format!("http://127.0.0.1:{}", settings.porten_meter_port);
    let plan = clusterbar_core::porten::plan_agent(snapshot.cluster.as_ref(), &meter_url, &settings.porten_hub_url);
    let (env, hold): (Vec<(String, String)>, Option<String>) = match &plan {
        clusterbar_core::porten::AgentPlan::Run(env) => (
            env.iter()
                .map(|(k, v)| {
                    let shown = match v {
                        clusterbar_core::supervise::EnvValue::Plain(p) => p.clone(),
                        clusterbar_core::supervise::EnvValue::Secret(_) => "(hidden)".into(),
                    };
                    (k.clone(), shown)
                })
                .collect(),
            None,
        ),
        clusterbar_core::porten::AgentPlan::Hold(reason) => (Vec::new(), Some(reason.clone())),
    };
    let warnings = if catalog {
        let loaded = snapshot
            .cluster
            .as_ref()
            .map(|c| loaded_model_ids(&c.models))
            .unwrap_or_default();
        CatalogChecker::from_settings(settings)
            .check(&loaded, Instant::now())
            .warnings()
    } else {
        Vec::new()
    };
    let last_lines = tail_log(&spec, 10);
    if json {
        let value = serde_json::json!({
            "logged_in": logged_in,
            "agent": supervised,
            "run_by_porten_app": run_by_app,
            "porten_app": app,
            "env": env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "hold_reason": hold,
            "warnings": warnings,
            "last_lines": last_lines,
        });
        return print_text(&serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
    }
    let mut lines = vec![format!(
        "logged in:  {}",
        match logged_in {
            Some(true) => "yes",
            Some(false) => "no (run `clusterbar porten login`)",
            None => "unknown",
        }
    )];
    lines.push(format!(
        "agent:      {}",
        match (supervised.state, supervised.pid) {
            (clusterbar_core::supervise::SupervisedState::Running, Some(pid)) =>
                format!("running (pid {pid}, started by Clusterbar)"),
            (clusterbar_core::supervise::SupervisedState::Adopted, Some(pid)) if run_by_app =>
                format!("running (pid {pid}, run by Porten's app)"),
            (clusterbar_core::supervise::SupervisedState::Adopted, Some(pid)) =>
                format!("running (pid {pid}, not started by Clusterbar)"),
            _ => "stopped".into(),
        }
    ));
    // Reasons, model ids, the Hub's warnings and the agent's log come from elsewhere: printable.
    match hold {
        Some(reason) => lines.push(format!("would run:  no — {}", printable(&reason))),
        None => lines.extend(env.iter().map(|(k, v)| format!("  {k}={}", printable(v)))),
    }
    lines.extend(
        warnings
            .iter()
            .map(|w| format!("warning: {} — {}", printable(&w.message), printable(&w.fix))),
    );
    if !last_lines.is_empty() {
        lines.push(format!("log ({}):", supervised.log_path.display()));
        lines.extend(last_lines.iter().map(|l| format!("  {}", printable(l))));
    }
    print_text(&lines.join("\n"))
}

/// Keeps the agent in step with the cluster through the runtime the app uses too (sampled every
/// second) and tells what it does, until `stop` is raised.
fn follow_cluster(
    settings: watch::Receiver<Settings>,
    head: Arc<HeadNode>,
    exo_url: Option<&str>,
    stop: &AtomicBool,
    on_snapshot: &mut dyn FnMut(&Snapshot),
) -> Result<(), String> {
    let sampler = Sampler::start_with(collector(exo_url)?, settings, Vec::new(), Some(head))
        .map_err(|e| format!("starting the sampler: {e}"))?;
    // Headless, but following the cluster: the fast cadence an open popover gets.
    sampler.set_visible(true);
    let mut snapshots = sampler.subscribe();
    let mut last_report: Option<(String, Option<String>, Option<String>)> = None;
    let mut last_hub: Option<Vec<String>> = None;
    while !stop.load(Ordering::SeqCst) {
        let snapshot = snapshots.borrow_and_update().clone();
        on_snapshot(&snapshot);
        if let Some(status) = &snapshot.porten_agent {
            let report = (
                format!("{:?} {:?}", status.state, status.models),
                status.hold_reason.clone(),
                status.last_error.clone(),
            );
            if last_report.as_ref() != Some(&report) {
                match (&status.hold_reason, &status.last_error) {
                    (_, Some(error)) => eprintln!("clusterbar: agent: {}", printable(error)),
                    (Some(reason), None) => eprintln!("clusterbar: agent not running: {}", printable(reason)),
                    (None, None) => eprintln!(
                        "clusterbar: agent {:?} offering {} with {} MB",
                        status.state,
                        printable(&status.models.join(", ")),
                        status.budget.as_ref().map(|b| b.vram_budget_mb).unwrap_or(0)
                    ),
                }
                last_report = Some(report);
            }
        }
        if let Some(hub) = &snapshot.porten_hub {
            let mut lines: Vec<String> = hub
                .warnings()
                .iter()
                .map(|w| format!("clusterbar: warning: {} — {}", printable(&w.message), printable(&w.fix)))
                .collect();
            if let Some(note) = hub.note.as_ref().filter(|_| hub.catalog == CatalogState::NeedsKey) {
                lines.insert(0, format!("clusterbar: {}", printable(note)));
            }
            if last_hub.as_ref() != Some(&lines) {
                lines.iter().for_each(|line| eprintln!("{line}"));
                last_hub = Some(lines);
            }
        }
        for _ in 0..10 {
            if stop.load(Ordering::SeqCst) || snapshots.has_changed().unwrap_or(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// `clusterbar serve`: exo (started, adopted, or the one at `--exo-url`), the token meter in
/// front of it, and the agent behind the meter — until SIGINT/SIGTERM, then a clean stop.
pub fn serve(exo_url: Option<String>, meter_port: Option<u16>) -> Result<(), String> {
    let settings = load_settings();
    let meter_port = meter_port.unwrap_or(settings.meter_port);
    let stop = signal_flag()?;
    let settings_rx = watch::channel(settings.clone()).1;
    let head = HeadNode::new(settings_rx.clone());
    if exo_url.is_none() {
        match head.start_exo(&ExoLaunch::default()).map_err(|e| e.to_string())? {
            ExoStart::Adopted => eprintln!("clusterbar: adopted the exo already running"),
            _ => eprintln!("clusterbar: exo starting"),
        }
    }
    let upstream = exo_url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.exo_api_port));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the meter's runtime: {e}"))?;
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], meter_port));
    // The agent gets a listener of its own, so what it is served is counted apart (what the
    // Hub pays for); any free port when the meter's own is.
    let agent_port = if meter_port == 0 { 0 } else { settings.porten_meter_port };
    // The settings' meter_routes: more listeners with upstreams of their own (issue #14).
    let mut reserved = settings.reserved_ports();
    reserved.push((meter_port, "the meter's port"));
    let (routes, route_problems) = clusterbar_core::settings::meter_routes::extra_routes(&settings, &[], &reserved);
    route_problems
        .iter()
        .for_each(|problem| eprintln!("clusterbar: {problem}"));
    let options = clusterbar_meter::MeterOptions {
        clients: vec![(
            std::net::SocketAddr::from(([127, 0, 0, 1], agent_port)),
            PORTEN_CLIENT.to_owned(),
        )],
        ledger: Some(clusterbar_core::porten::tokens::ledger_path()),
        routes: routes.clone(),
        ..clusterbar_meter::MeterOptions::default()
    };
    let meter = runtime.block_on(clusterbar_meter::Meter::start(listen, &upstream, options));
    let (meter, meter_url) = match meter {
        Ok(handle) => {
            let url = format!("http://{}", handle.local_addr());
            let (agent_url, shared) = handle.client_url(PORTEN_CLIENT);
            eprintln!("clusterbar: token meter on {url} in front of {upstream}; the Porten agent's on {agent_url}");
            if let Some(why) = shared {
                eprintln!("clusterbar: the agent shares the meter's port, so its tokens are not counted apart: {why}");
            }
            crate::meter_cmd::print_routes(&handle, &routes);
            (Some(handle), agent_url)
        }
        Err(e) => {
            // The agent still runs (straight to exo), and the user is told why nothing is metered.
            eprintln!("clusterbar: the token meter is not running ({e}); the agent talks to exo directly");
            (None, upstream.clone())
        }
    };
    head.enroll(&meter_url);
    eprintln!("clusterbar: serving; Ctrl-C or SIGTERM stops everything");
    // History: one sample per 10 s step, handed to the recorder's thread (never blocks).
    let recorder = crate::history_cmd::start_recording();
    let mut last_step = None;
    let mut health = crate::history_cmd::HealthReport::default();
    let mut record = |snapshot: &Snapshot| {
        let now = snapshot.taken_at_unix_ms / 1000;
        // The energy figures (read from the history once a minute) on the metrics page too.
        if let (Some(meter), Some(energy)) = (meter.as_ref(), snapshot.energy.as_ref()) {
            meter.set_external_gauges(clusterbar_core::history::energy::prometheus_gauges(energy));
        }
        if let Some(recorder) = recorder.as_ref().filter(|_| last_step != Some(now / 10)) {
            last_step = Some(now / 10);
            let stats = meter.as_ref().map(|m| m.stats());
            recorder.send(clusterbar_core::history::sample_from(
                Some(snapshot),
                stats.as_ref(),
                now,
            ));
            health.check(recorder);
        }
    };
    let followed = follow_cluster(settings_rx, head.clone(), exo_url.as_deref(), &stop, &mut record);
    if let Some(recorder) = recorder {
        recorder.close();
    }

    eprintln!("clusterbar: stopping");
    // The agent first (it talks to exo through the meter), then the meter, then exo.
    let mut problems = Vec::new();
    if let Err(e) = head.unenroll() {
        problems.push(format!("agent: {e}"));
    }
    if let Some(meter) = meter {
        runtime.block_on(meter.shutdown());
    }
    problems.extend(head.shutdown());
    problems.extend(followed.err());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
