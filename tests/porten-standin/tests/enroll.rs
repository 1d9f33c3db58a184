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
use clusterbar_core::porten::catalog::{classify_response, HubError};
use clusterbar_core::porten::login::{login, CancelHandle, LoginOptions, LoginResult, OPENER_ENV};
use clusterbar_core::porten::{
    AgentAction, AgentController, AgentFactory, ApiKey, CatalogChecker, CatalogState, KeySource,
};
use clusterbar_core::settings::Settings;
use clusterbar_core::supervise::{Secret, Supervisor, SupervisorSpec};
use exo_standin::StandIn;
use porten_standin::{HubConfig, HubStandIn, WarmPlan};
use serde_json::Value;

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
    for wording in 0..=9 {
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

/// Issue #12: a 1 MB URL was neither opened nor explained.
#[test]
fn a_huge_login_url_is_not_opened_and_the_reason_says_why() {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (outcome, calls) = run_login(
        dir.path(),
        &[
            ("PORTEN_STANDIN_URL_PAD", (1 << 20).to_string()),
            ("PORTEN_STANDIN_WORDING", "5".into()),
            ("PORTEN_STANDIN_DELAY_MS", "10".into()),
        ],
        Duration::from_secs(20),
    );
    assert!(calls.is_empty(), "opened");
    assert!(!outcome.opened);
    let reason = outcome.not_opened.expect("a reason");
    assert!(reason.contains("bytes long"), "{reason}");
    assert!(outcome.url.unwrap().len() > 1 << 20);
    assert_eq!(outcome.code.as_deref(), Some("WDJB-MJHT"));
    assert_eq!(outcome.result, LoginResult::Success);
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
        let mut spec = SupervisorSpec::porten(&settings, env, vec!["run".into()]).map_err(|e| e.to_string())?;
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

/// A stand-in for Porten's desktop app: `sleep` copied to `<dir>/Porten.app/Contents/MacOS/Porten`
/// (so its executable lies inside the bundle), running.
fn fake_porten_app(dir: &Path) -> (PathBuf, std::process::Child) {
    let bundle = dir.join("Porten.app");
    let exe = bundle.join("Contents/MacOS/Porten");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    std::fs::copy("/bin/sleep", &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = std::process::Command::new(&exe).arg("60").spawn().unwrap();
    (bundle, child)
}

/// Issue #12: on a Mac, Porten's installer installs its desktop app, which runs the agent
/// itself. Clusterbar adopts that agent and never starts a second one with the same key.
#[test]
fn the_agent_of_portens_app_is_adopted_never_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, mut app) = fake_porten_app(dir.path());
    let env_to = dir.path().join("env.jsonl");
    let settings = Settings {
        porten_path: Some(porten_wrapper(
            dir.path(),
            &[("PORTEN_STANDIN_ENV_TO", env_to.display().to_string())],
        )),
        porten_app_paths: vec![bundle.clone()],
        ..Settings::default()
    };
    let rules = clusterbar_core::porten::app::AppRules::from_settings(&settings);
    let found = clusterbar_core::porten::app::find_app_agent(&rules).expect("the app's agent");
    assert_eq!(found.pid, app.id());
    assert_eq!(found.how, clusterbar_core::porten::AppMatch::ExecutablePath);
    assert!(
        found.detail.ends_with("Porten.app/Contents/MacOS/Porten"),
        "{}",
        found.detail
    );

    let mut spec = SupervisorSpec::porten(&settings, Default::default(), vec!["run".into()]).unwrap();
    spec.pid_file = dir.path().join("porten.pid.json");
    spec.log = clusterbar_core::supervise::logfile::LogConfig::new(dir.path().join("porten.log"));
    let supervisor = Supervisor::start(spec).unwrap();
    wait_for("the adoption", Duration::from_secs(5), || {
        supervisor.status().state == clusterbar_core::supervise::SupervisedState::Adopted
    });
    assert_eq!(supervisor.status().pid, Some(app.id()));
    assert!(!supervisor.status().started_by_us);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!env_to.exists(), "a second agent was started");
    // A new environment cannot be given to someone else's agent: said, not forced.
    let refused = supervisor.restart_with_env(Default::default()).unwrap_err();
    assert!(refused.to_string().contains("not started by Clusterbar"), "{refused}");
    // Stopping leaves the app's agent running.
    supervisor.stop(false).unwrap();
    supervisor.shutdown();
    assert!(app.try_wait().unwrap().is_none(), "the app's agent was stopped");

    // The sampler shows who runs it.
    let snapshot = clusterbar_core::snapshot::Collector::default().collect(&settings, &[], None);
    let shown = snapshot.porten_app.expect("porten_app in the snapshot");
    assert_eq!(shown.pid, app.id());
    assert!(snapshot.services.porten.pids.contains(&app.id()));
    assert_eq!(
        snapshot.services.porten.state,
        clusterbar_core::supervise::ServiceState::Running
    );
    assert!(snapshot
        .services
        .porten
        .detail
        .unwrap()
        .starts_with("run by Porten's app"));
    let _ = app.kill();
    let _ = app.wait();
}

// ---------------------------------------------------------------------------------------------
// the catalog

const KEY: &str = "sk-porten-standin-0001";

/// A checker that uses `key` (never the environment, the Keychain or a file).
fn checker(hub: &HubStandIn, key: Option<&str>) -> CatalogChecker {
    let key = key.map(|k| ApiKey {
        secret: Secret::new(k),
        source: KeySource::Environment,
    });
    CatalogChecker::new(&hub.hub_url(), None, Box::new(move || Ok(key.clone())))
}

fn keyed_hub(offered: &[&str], warming: HashMap<String, WarmPlan>) -> HubStandIn {
    HubStandIn::serve(HubConfig {
        offered: offered.iter().map(|s| s.to_string()).collect(),
        key: Some(KEY.into()),
        forbidden_key: Some("sk-porten-elsewhere".into()),
        warming,
        ..HubConfig::default()
    })
    .unwrap()
}

fn asked(hub: &HubStandIn, path: &str) -> Vec<porten_standin::SeenRequest> {
    hub.requests().into_iter().filter(|r| r.url.starts_with(path)).collect()
}

#[test]
fn with_the_key_the_catalog_suggests_the_offered_id() {
    let hub = keyed_hub(&["org/Qwen3-30B-A3B-4bit", "org/Llama"], HashMap::new());
    let mut checker = checker(&hub, Some(KEY));
    let loaded = vec!["org/Qwen3-30B-A3B-4bi".to_owned(), "org/Llama".to_owned()];
    let now = Instant::now();
    let check = checker.check(&loaded, now);
    assert_eq!(check.catalog, CatalogState::Checked, "{check:?}");
    assert_eq!(check.api_key, Some(KeySource::Environment));
    assert_eq!(
        check.api_url.as_deref(),
        Some(format!("http://127.0.0.1:{}/v1", hub.port()).as_str())
    );
    assert_eq!(check.offered, vec!["org/Llama", "org/Qwen3-30B-A3B-4bit"]);
    assert_eq!(check.models[0].offered, Some(false));
    assert_eq!(check.models[0].closest.as_deref(), Some("org/Qwen3-30B-A3B-4bit"));
    assert_eq!(check.models[1].offered, Some(true));
    assert_eq!(check.models[1].warming.as_ref().map(|w| w.ready), Some(true));
    let codes: Vec<String> = check.warnings().into_iter().map(|w| w.code.to_string()).collect();
    assert_eq!(codes, vec!["model_not_offered"]);
    let catalog_asks = asked(&hub, "/v1/models");
    assert_eq!(catalog_asks.len(), 1);
    assert_eq!(
        catalog_asks[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    // The public warming endpoint gets no key.
    assert!(asked(&hub, "/public/").iter().all(|r| r.authorization.is_none()));
    // Only the offered id's warming is asked.
    assert_eq!(asked(&hub, "/public/").len(), 1);

    let before = hub.requests().len();
    assert_eq!(
        checker.check(&loaded, now + Duration::from_secs(60)).models,
        check.models
    );
    assert_eq!(hub.requests().len(), before, "cached for 5 minutes");
    checker.check(&loaded, now + Duration::from_secs(301));
    assert_eq!(asked(&hub, "/v1/models").len(), 2, "asked again after 5 minutes");
}

#[test]
fn without_a_key_the_check_says_so_and_never_calls_the_hub_unreachable() {
    let hub = keyed_hub(&["org/Llama"], HashMap::new());
    let check = checker(&hub, None).check(&["org/Llama".to_owned()], Instant::now());
    assert_eq!(check.catalog, CatalogState::NeedsKey);
    assert_eq!(check.note.as_deref(), Some("catalog check needs a Porten API key"));
    assert_eq!(check.api_key, None);
    assert!(check.warnings().is_empty(), "{:?}", check.warnings());
    assert!(
        asked(&hub, "/v1/models").is_empty(),
        "the catalog is not asked without a key"
    );
    // Warming is public: still read.
    assert_eq!(check.models[0].offered, None);
    assert_eq!(check.models[0].warming.as_ref().map(|w| w.ready), Some(true));
}

/// A key stored while Clusterbar runs is used within 30 s, not only after the 5-minute cache.
#[test]
fn a_key_stored_later_is_picked_up_soon() {
    let hub = keyed_hub(&["org/Llama"], HashMap::new());
    let key = std::sync::Arc::new(std::sync::Mutex::new(None::<ApiKey>));
    let lookup = key.clone();
    let mut checker = CatalogChecker::new(
        &hub.hub_url(),
        None,
        Box::new(move || Ok(lookup.lock().unwrap().clone())),
    );
    let loaded = ["org/Llama".to_owned()];
    let t0 = Instant::now();
    assert_eq!(checker.check(&loaded, t0).catalog, CatalogState::NeedsKey);
    *key.lock().unwrap() = Some(ApiKey {
        secret: Secret::new(KEY),
        source: KeySource::Keychain,
    });
    assert_eq!(
        checker.check(&loaded, t0 + Duration::from_secs(5)).catalog,
        CatalogState::NeedsKey
    );
    let later = checker.check(&loaded, t0 + Duration::from_secs(31));
    assert_eq!(later.catalog, CatalogState::Checked);
    assert_eq!(later.api_key, Some(KeySource::Keychain));
}

#[test]
fn a_wrong_key_is_a_401_and_a_forbidden_one_a_403_never_unreachable() {
    let hub = keyed_hub(&["org/Llama"], HashMap::new());
    let loaded = ["org/Llama".to_owned()];
    let wrong = checker(&hub, Some("sk-porten-wrong")).check(&loaded, Instant::now());
    assert_eq!(wrong.catalog, CatalogState::KeyRejected);
    let note = wrong.note.clone().unwrap();
    assert!(note.contains("401") && note.contains("wrong or revoked"), "{note}");
    assert!(!note.contains("sk-porten-wrong"), "the key is never repeated: {note}");
    let warnings = wrong.warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].code, "porten_key_rejected");

    let forbidden = checker(&hub, Some("sk-porten-elsewhere")).check(&loaded, Instant::now());
    assert_eq!(forbidden.catalog, CatalogState::Forbidden);
    assert!(forbidden.note.as_deref().unwrap().contains("403 model_not_allowed"));
    assert_eq!(forbidden.warnings()[0].code, "porten_key_rejected");

    // Nobody listening: that one is unreachable.
    let mut nobody = CatalogChecker::new(
        "ws://127.0.0.1:1",
        None,
        Box::new(|| {
            Ok(Some(ApiKey {
                secret: Secret::new(KEY),
                source: KeySource::File,
            }))
        }),
    );
    let down = nobody.check(&loaded, Instant::now());
    assert_eq!(down.catalog, CatalogState::Unreachable);
    assert_eq!(down.warnings()[0].code, "porten_hub_unreachable");
}

#[test]
fn warming_moves_from_downloading_to_loading_to_ready() {
    let plan = WarmPlan {
        total_mb: 49131,
        download: Duration::from_secs(3),
        load: Duration::from_secs(2),
    };
    let hub = keyed_hub(
        &["qwen3-coder-next"],
        HashMap::from([("qwen3-coder-next".to_owned(), plan)]),
    );
    let mut checker = checker(&hub, Some(KEY)).with_ttl(Duration::from_secs(300), Duration::ZERO);
    let loaded = ["qwen3-coder-next".to_owned()];
    let mut phases: Vec<String> = Vec::new();
    let mut first_warning = None;
    wait_for("the model to be ready", Duration::from_secs(20), || {
        let check = checker.check(&loaded, Instant::now());
        let warming = check.models[0].warming.clone().expect("warming state");
        let phase = warming.phase.clone().unwrap_or_default();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        if first_warning.is_none() {
            first_warning = check
                .warnings()
                .into_iter()
                .find(|w| w.code == clusterbar_core::warnings::WarningCode::ModelWarming);
        }
        warming.ready
    });
    assert_eq!(phases, vec!["downloading", "loading", "ready"]);
    let message = first_warning.expect("a model_warming warning while it warmed").message;
    assert!(message.starts_with("Porten is loading qwen3-coder-next: "), "{message}");
    assert!(message.contains(" of 49 GB (") && message.ends_with(" %)"), "{message}");
    // Only the catalog's cache holds (5 min); warming was asked at every check.
    assert_eq!(asked(&hub, "/v1/models").len(), 1);
    assert!(asked(&hub, "/public/").len() >= 3);
}

/// The Hub answers a request for a model that is still loading with 503 `model_warming`.
#[test]
fn a_503_model_warming_is_understood() {
    let plan = WarmPlan {
        total_mb: 1000,
        download: Duration::from_secs(60),
        load: Duration::from_secs(60),
    };
    let hub = keyed_hub(&["m"], HashMap::from([("m".to_owned(), plan)]));
    let (status, body) = post(
        hub.port(),
        "/v1/chat/completions",
        r#"{"model":"m","messages":[]}"#,
        Some(KEY),
    );
    assert_eq!(status, 503);
    assert_eq!(
        classify_response("hub", status, &body),
        Err(HubError::Warming {
            message: Some("the model is warming up longer than this request's budget; retry".into())
        })
    );
    let (status, body) = post(hub.port(), "/v1/chat/completions", r#"{"model":"m"}"#, None);
    assert!(matches!(
        classify_response("hub", status, &body),
        Err(HubError::Unauthorized { .. })
    ));
    let (status, body) = post(hub.port(), "/v1/chat/completions", r#"{"model":"nope"}"#, Some(KEY));
    assert_eq!(status, 404);
    assert!(body.contains("model_not_found"));
}

/// A plain HTTP/1.0 POST (the stand-in is loopback http).
fn post(port: u16, path: &str, body: &str, key: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
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
