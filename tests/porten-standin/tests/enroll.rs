//! The join driver, the login driver, the agent controller and the catalog check against the
//! stand-ins: exo (`exo-standin`), the Porten agent (`porten-standin`, started through a
//! wrapper script named `porten`) and the Hub (`HubStandIn`).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clusterbar_core::exo::{ClusterView, ExoClient};
use clusterbar_core::join::{join, JoinError, JoinOptions, JoinProgress};
use clusterbar_core::porten::login::{login, CancelHandle, LoginOptions, LoginResult, OPENER_ENV};
use clusterbar_core::porten::{AgentAction, AgentController, AgentFactory, CatalogChecker};
use clusterbar_core::settings::Settings;
use clusterbar_core::supervise::{Supervisor, SupervisorSpec};
use exo_standin::StandIn;
use porten_standin::HubStandIn;
use serde_json::{json, Value};

const STANDIN: &str = env!("CARGO_BIN_EXE_porten-standin");

/// Tests that set process-wide environment variables (the opener) run one at a time.
static ENV_LOCK: Mutex<()> = Mutex::new(());

fn script(path: &Path, body: &str) -> PathBuf {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_owned()
}

/// A `porten` that runs the stand-in with `vars` set. `exec` keeps the pid; the process then
/// runs as `porten-standin`, so parallel tests never adopt each other's agent.
fn porten_wrapper(dir: &Path, vars: &[(&str, String)]) -> PathBuf {
    let exports: String = vars.iter().map(|(k, v)| format!("export {k}='{v}'\n")).collect();
    script(&dir.join("porten"), &format!("{exports}exec {STANDIN} \"$@\""))
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../exo-standin/scenarios")
        .join(name)
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn env_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// login

fn run_login(
    dir: &Path,
    vars: &[(&str, String)],
    timeout: Duration,
) -> (clusterbar_core::porten::LoginOutcome, Vec<String>) {
    let program = porten_wrapper(dir, vars);
    let opened = dir.join("opened.txt");
    let _ = std::fs::remove_file(&opened);
    let opener = script(&dir.join("opener"), &format!("echo \"$1\" >> '{}'", opened.display()));
    std::env::set_var(OPENER_ENV, &opener);
    let options = LoginOptions::new(program, "wss://porten.ai", timeout);
    let mut events = Vec::new();
    let outcome = login(&options, &CancelHandle::new(), |e| events.push(e.clone()));
    std::env::remove_var(OPENER_ENV);
    assert!(matches!(
        events.last(),
        Some(clusterbar_core::porten::LoginEvent::Finished { .. })
    ));
    let calls = std::fs::read_to_string(&opened)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    (outcome, calls)
}

#[test]
fn login_reads_every_wording_and_opens_only_the_hubs_url() {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    for wording in 0..=4 {
        let (outcome, calls) = run_login(
            dir.path(),
            &[
                ("PORTEN_STANDIN_WORDING", wording.to_string()),
                ("PORTEN_STANDIN_KEY", key.display().to_string()),
                ("PORTEN_STANDIN_DELAY_MS", "50".into()),
            ],
            Duration::from_secs(10),
        );
        assert_eq!(outcome.result, LoginResult::Success, "wording {wording}");
        assert_eq!(outcome.code.as_deref(), Some("WDJB-MJHT"), "wording {wording}");
        assert!(outcome.url.as_deref().unwrap().starts_with("https://porten.ai/device"));
        assert!(outcome.opened);
        assert_eq!(calls, vec![outcome.url.clone().unwrap()], "opened exactly once");
    }
    assert!(key.exists());

    for (mode, expected) in [("denied", LoginResult::Denied), ("expired", LoginResult::Expired)] {
        let (outcome, _) = run_login(
            dir.path(),
            &[("PORTEN_STANDIN_LOGIN", mode.into())],
            Duration::from_secs(10),
        );
        assert_eq!(outcome.result, expected);
    }
    let started = Instant::now();
    let (outcome, _) = run_login(
        dir.path(),
        &[("PORTEN_STANDIN_LOGIN", "hang".into())],
        Duration::from_millis(700),
    );
    assert_eq!(outcome.result, LoginResult::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_hostile_login_url_is_never_opened() {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    for hostile in [
        "https://porten.ai@evil.com/device",
        "https://porten.ai.evil.com/device",
        "http://porten.ai/device",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://evil.com/device",
    ] {
        for wording in [0, 1, 2] {
            let (outcome, calls) = run_login(
                dir.path(),
                &[
                    ("PORTEN_STANDIN_URL", hostile.into()),
                    ("PORTEN_STANDIN_WORDING", wording.to_string()),
                    ("PORTEN_STANDIN_DELAY_MS", "10".into()),
                ],
                Duration::from_secs(10),
            );
            assert!(calls.is_empty(), "{hostile} was opened: {calls:?}");
            assert!(!outcome.opened);
            assert!(outcome.suspicious.is_some(), "{hostile} not flagged");
        }
    }
}

#[test]
fn cancelling_a_login_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let program = porten_wrapper(dir.path(), &[("PORTEN_STANDIN_LOGIN", "hang".into())]);
    let mut options = LoginOptions::new(program, "wss://porten.ai", Duration::from_secs(60));
    options.open_browser = false;
    let cancel = CancelHandle::new();
    let trigger = cancel.clone();
    let outcome = login(&options, &cancel, move |event| {
        if matches!(event, clusterbar_core::porten::LoginEvent::Prompt { code: Some(_), .. }) {
            trigger.cancel();
        }
    });
    assert_eq!(outcome.result, LoginResult::Cancelled);
    assert_eq!(outcome.code.as_deref(), Some("WDJB-MJHT"));
}

// ---------------------------------------------------------------------------------------------
// the agent

fn agent_factory(dir: &Path, program: PathBuf) -> AgentFactory {
    let dir = dir.to_owned();
    Box::new(move |env| {
        let settings = Settings {
            porten_path: Some(program.clone()),
            ..Settings::default()
        };
        let mut spec = SupervisorSpec::porten(&settings, env, vec!["run".into()])?;
        spec.pid_file = dir.join("porten.pid.json");
        spec.log = clusterbar_core::supervise::logfile::LogConfig::new(dir.join("porten.log"));
        spec.adopt.process_name = None;
        spec.timings.backoff_initial = Duration::from_millis(200);
        spec.timings.interrupt_grace = Duration::from_secs(1);
        Supervisor::start(spec).map_err(|e| e.to_string())
    })
}

fn cluster_of(client: &ExoClient) -> ClusterView {
    let mut view = client.cluster_view(0).unwrap();
    view.pool = Some(clusterbar_core::exo::Pool::from_view(&view, &Default::default()));
    view
}

#[test]
fn budget_and_model_changes_restart_the_agent_with_the_new_env() {
    let dir = tempfile::tempdir().unwrap();
    let exo = StandIn::start(&scenario("two-nodes.json"), "127.0.0.1", 0).unwrap();
    let client = ExoClient::new(&exo.url()).unwrap();
    let env_to = dir.path().join("env.jsonl");
    let program = porten_wrapper(dir.path(), &[("PORTEN_STANDIN_ENV_TO", env_to.display().to_string())]);
    let debounce = Duration::from_millis(400);
    let mut controller = AgentController::new(
        &exo.url(),
        "wss://porten.ai",
        debounce,
        agent_factory(dir.path(), program),
    );

    // The scenario's model is still loading: nothing to offer, so no agent.
    let loading = cluster_of(&client);
    assert_eq!(controller.observe(Some(&loading), Instant::now()), AgentAction::Nothing);
    let status = controller.status(&Settings::default(), Instant::now());
    assert!(status.hold_reason.unwrap().contains("no model"));

    // Load one model through exo; once ready the agent starts at once with it.
    client.place_instance("mlx-community/Qwen3-235B-A22B-4bit", 1).unwrap();
    wait_for("the first start", Duration::from_secs(10), || {
        controller.observe(Some(&cluster_of(&client)), Instant::now()) == AgentAction::Started
    });
    wait_for("the agent's env", Duration::from_secs(5), || {
        env_lines(&env_to).len() == 1
    });
    let first = &env_lines(&env_to)[0];
    assert_eq!(first["env"]["PORTEN_ENGINE"], "openai");
    assert_eq!(
        first["env"]["PORTEN_ENGINE_MODELS"],
        "mlx-community/Qwen3-235B-A22B-4bit"
    );
    assert_eq!(first["env"]["PORTEN_ENGINE_URL"], exo.url());
    assert_eq!(first["health"], "ok", "the agent reached the engine URL");
    let budget = first["env"]["PORTEN_VRAM_BUDGET_MB"].as_str().unwrap().to_owned();

    // A second model (the scenario's own copy of it never finishes loading; this one does):
    // restarted once, only after the change held for the debounce.
    client
        .place_instance("mlx-community/Llama-3.2-1B-Instruct-4bit", 1)
        .unwrap();
    let mut actions = Vec::new();
    wait_for("the restart", Duration::from_secs(10), || {
        let action = controller.observe(Some(&cluster_of(&client)), Instant::now());
        actions.push(action.clone());
        action == AgentAction::Restarted
    });
    let waited = actions.iter().filter(|a| **a == AgentAction::Waiting).count();
    assert!(waited >= 1, "restarted without waiting: {actions:?}");
    wait_for("the restarted agent's env", Duration::from_secs(5), || {
        env_lines(&env_to).len() == 2
    });
    let second = &env_lines(&env_to)[1];
    assert_eq!(
        second["env"]["PORTEN_ENGINE_MODELS"],
        "mlx-community/Llama-3.2-1B-Instruct-4bit,mlx-community/Qwen3-235B-A22B-4bit"
    );

    // The budget changes (a box's memory halves): restarted with the new budget.
    let mut smaller = cluster_of(&client);
    let mut pool = smaller.pool.clone().unwrap();
    pool.vram_budget_mb /= 2;
    smaller.pool = Some(pool);
    let t0 = Instant::now();
    assert_eq!(controller.observe(Some(&smaller), t0), AgentAction::Waiting);
    assert_eq!(
        controller.observe(Some(&smaller), t0 + debounce),
        AgentAction::Restarted
    );
    wait_for("the third env", Duration::from_secs(5), || {
        env_lines(&env_to).len() == 3
    });
    let third = &env_lines(&env_to)[2];
    let halved: u64 = budget.parse::<u64>().unwrap() / 2;
    assert_eq!(third["env"]["PORTEN_VRAM_BUDGET_MB"], halved.to_string());
    controller.stop().unwrap();
}

#[test]
fn a_crashed_agent_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let exo = StandIn::start(&scenario("model-progress.json"), "127.0.0.1", 0).unwrap();
    let client = ExoClient::new(&exo.url()).unwrap();
    let env_to = dir.path().join("env.jsonl");
    let program = porten_wrapper(
        dir.path(),
        &[
            ("PORTEN_STANDIN_ENV_TO", env_to.display().to_string()),
            (
                "PORTEN_STANDIN_CRASH_ONCE",
                dir.path().join("crashed").display().to_string(),
            ),
        ],
    );
    let mut controller = AgentController::new(
        &exo.url(),
        "wss://porten.ai",
        Duration::from_secs(10),
        agent_factory(dir.path(), program),
    );
    wait_for(
        "the model to be ready and the agent started",
        Duration::from_secs(10),
        || controller.observe(Some(&cluster_of(&client)), Instant::now()) == AgentAction::Started,
    );
    wait_for("the restart after the crash", Duration::from_secs(10), || {
        env_lines(&env_to).len() == 2
    });
    let supervisor = controller.supervisor().unwrap();
    wait_for("running again", Duration::from_secs(5), || {
        let status = supervisor.status();
        status.restarts == 1 && status.state == clusterbar_core::supervise::SupervisedState::Running
    });
    let lines = env_lines(&env_to);
    assert_eq!(lines[0]["env"], lines[1]["env"], "restarted with the same env");
    controller.stop().unwrap();
}

// ---------------------------------------------------------------------------------------------
// the catalog

#[test]
fn the_catalog_check_suggests_the_offered_id_and_reports_warming() {
    let warming = HashMap::from([(
        "org/Warm-Model".to_owned(),
        json!({"warming": true, "progress": 0.4, "eta_s": 30}),
    )]);
    let hub = HubStandIn::start(&["org/Qwen3-30B-A3B-4bit", "org/Warm-Model"], warming).unwrap();
    let mut checker = CatalogChecker::new(&hub.hub_url());
    let loaded = vec!["org/Qwen3-30B-A3B-4bi".to_owned(), "org/Warm-Model".to_owned()];
    let now = Instant::now();
    let warnings = checker.check(&loaded, now);
    let codes: Vec<&str> = warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, vec!["model_not_offered", "model_warming"], "{warnings:?}");
    assert!(warnings[0].fix.contains("org/Qwen3-30B-A3B-4bit"));
    assert!(warnings[1].message.contains("40 %"));
    let asked = hub.requests().len();
    assert_eq!(checker.check(&loaded, now + Duration::from_secs(60)), warnings);
    assert_eq!(hub.requests().len(), asked, "cached for 5 minutes");
    checker.check(&loaded, now + Duration::from_secs(301));
    assert!(hub.requests().len() > asked, "asked again after 5 minutes");

    let mut unreachable = CatalogChecker::new("ws://127.0.0.1:1");
    let warnings = unreachable.check(&loaded, now);
    assert_eq!(warnings[0].code, "porten_hub_unreachable");
}

// ---------------------------------------------------------------------------------------------
// join

fn placeholder_exo(dir: &Path) -> impl FnOnce() -> Result<Supervisor, String> {
    // The stand-in exo API runs in this test; the supervised "exo" is a process that just lives.
    let mut spec = SupervisorSpec::new("exo", PathBuf::from(STANDIN));
    spec.args = vec!["run".into()];
    spec.pid_file = dir.join("exo.pid.json");
    spec.log = clusterbar_core::supervise::logfile::LogConfig::new(dir.join("exo.log"));
    spec.timings.interrupt_grace = Duration::from_secs(1);
    move || Supervisor::start(spec).map_err(|e| e.to_string())
}

#[test]
fn join_succeeds_when_this_mac_and_a_peer_are_in_the_topology() {
    let dir = tempfile::tempdir().unwrap();
    let exo = StandIn::start(&scenario("two-nodes.json"), "127.0.0.1", 0).unwrap();
    let client = ExoClient::new(&exo.url()).unwrap();
    let mut steps = Vec::new();
    let options = JoinOptions {
        timeout: Duration::from_secs(10),
        poll: Duration::from_millis(50),
    };
    let (joined, supervisor) = join(
        &client,
        placeholder_exo(dir.path()),
        &options,
        &AtomicBool::new(false),
        |s| steps.push(s.clone()),
    )
    .unwrap();
    assert_eq!(joined.peers.len(), 1);
    assert!(!joined.adopted);
    assert!(matches!(steps.first(), Some(JoinProgress::StartingExo)));
    assert!(steps.iter().any(|s| matches!(s, JoinProgress::ApiAnswering { .. })));
    assert!(matches!(steps.last(), Some(JoinProgress::Joined { .. })));
    let pid = supervisor.status().pid.unwrap();
    supervisor.stop(false).unwrap();
    supervisor.shutdown();
    assert!(!clusterbar_core::supervise::group::process_alive(pid));
}

#[test]
fn join_without_a_peer_times_out_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let alone = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alone.json");
    let exo = StandIn::start(&alone, "127.0.0.1", 0).unwrap();
    let client = ExoClient::new(&exo.url()).unwrap();
    let options = JoinOptions {
        timeout: Duration::from_millis(800),
        poll: Duration::from_millis(50),
    };
    let mut steps = Vec::new();
    let error = join(
        &client,
        placeholder_exo(dir.path()),
        &options,
        &AtomicBool::new(false),
        |s| steps.push(s.clone()),
    )
    .err()
    .unwrap();
    let JoinError::Timeout(reason) = error else {
        panic!("expected a timeout, got {error:?}");
    };
    assert!(reason.contains("no peer seen"), "{reason}");
    assert!(
        reason.contains("Local Network") && reason.contains("namespace"),
        "{reason}"
    );
    assert!(steps.contains(&JoinProgress::WaitingForPeers { members: 1 }));

    // No exo at all: the reason says exo never answered.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = ExoClient::new(&format!("http://127.0.0.1:{closed}")).unwrap();
    let error = join(
        &nobody,
        placeholder_exo(dir.path()),
        &options,
        &AtomicBool::new(false),
        |_| {},
    )
    .err()
    .unwrap();
    assert!(error.to_string().contains("did not answer"), "{error}");
}
