//! The commands through Tauri's IPC, on the MockRuntime: what the page would receive.

use clusterbar_core::settings::{Settings, SettingsStore};
use clusterbar_core::Snapshot;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;

use crate::popover::POPOVER;
use crate::{build_app, AppState, CommandError, ErrorCode, SettingsView};

fn invoke_with<T: serde::de::DeserializeOwned>(
    webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    args: serde_json::Value,
) -> Result<T, serde_json::Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("static url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<T>().expect("response shape"))
}

fn invoke<T: serde::de::DeserializeOwned>(
    webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
) -> Result<T, serde_json::Value> {
    invoke_with(webview, cmd, serde_json::json!({}))
}

/// The error a command sent the page, which must be exactly `{code, detail}`.
fn refusal(error: serde_json::Value) -> CommandError {
    let fields = error.as_object().expect("an object");
    assert_eq!(fields.len(), 2, "{error}");
    serde_json::from_value(error).expect("{code, detail}")
}

fn app_with(
    dir: &std::path::Path,
) -> (
    tauri::App<tauri::test::MockRuntime>,
    tauri::WebviewWindow<tauri::test::MockRuntime>,
) {
    let state = AppState::start(SettingsStore::new(dir), false).unwrap();
    let app = build_app(mock_builder(), state)
        .build(mock_context(noop_assets()))
        .unwrap();
    let webview = tauri::WebviewWindowBuilder::new(&app, POPOVER, Default::default())
        .build()
        .unwrap();
    (app, webview)
}

#[test]
fn snapshot_command_returns_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, webview) = app_with(dir.path());
    let snapshot: Snapshot = invoke(&webview, "snapshot").unwrap();
    assert_eq!(snapshot.schema, clusterbar_core::SNAPSHOT_SCHEMA);
    assert!(!snapshot.this_node.host.name.is_empty());
    #[cfg(target_os = "linux")]
    {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let expected = clusterbar_core::probes::memory::parse_meminfo(&meminfo)
            .unwrap()
            .total_bytes;
        assert_eq!(snapshot.this_node.memory.unwrap().total_bytes, expected);
    }
}

#[test]
fn corrupt_settings_are_reported_through_the_settings_command_and_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("settings.json"), "{ not json").unwrap();
    let (_app, webview) = app_with(dir.path());
    let view: SettingsView = invoke(&webview, "settings").unwrap();
    assert!(view.problem.as_deref().unwrap_or("").contains("settings.json.bad"));
    assert_eq!(view.settings, Settings::default());
    let snapshot: Snapshot = invoke(&webview, "snapshot").unwrap();
    assert!(snapshot
        .warnings
        .iter()
        .any(|w| w.code == clusterbar_core::warnings::WarningCode::SettingsReset));
}

#[test]
fn unknown_commands_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, webview) = app_with(dir.path());
    assert!(invoke::<serde_json::Value>(&webview, "plugin:shell|execute").is_err());
    assert!(invoke::<serde_json::Value>(&webview, "no_such_command").is_err());
}

#[test]
fn failing_commands_send_the_page_a_code_and_a_detail() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, webview) = app_with(dir.path());
    let file = dir.path().join("settings.json");
    let before = std::fs::read(&file).ok();

    let unknown =
        invoke_with::<serde_json::Value>(&webview, "update_settings", serde_json::json!({"patch": {"nope": 1}}));
    let unknown = refusal(unknown.unwrap_err());
    assert_eq!(unknown.code, ErrorCode::SettingsInvalid);
    assert_eq!(unknown.detail, "unknown setting \"nope\"");

    let out_of_range = invoke_with::<serde_json::Value>(
        &webview,
        "update_settings",
        serde_json::json!({"patch": {"exo_api_port": 0}}),
    );
    let out_of_range = refusal(out_of_range.unwrap_err());
    assert_eq!(out_of_range.code, ErrorCode::SettingsInvalid);
    assert!(out_of_range.detail.contains("exo_api_port"), "{}", out_of_range.detail);
    assert_eq!(std::fs::read(&file).ok(), before, "a refused change writes nothing");

    // Nothing started or adopted exo in this app, so there is nothing to stop.
    let stop = refusal(invoke::<serde_json::Value>(&webview, "exo_stop").unwrap_err());
    assert_eq!(stop.code, ErrorCode::NotStartedByClusterbar);

    let fit = invoke_with::<serde_json::Value>(&webview, "fit_popover", serde_json::json!({"height": -1.0}));
    assert_eq!(
        fit.unwrap_err(),
        serde_json::json!({"code": "invalid_argument", "detail": "invalid popover height -1"})
    );
}

#[test]
fn the_charts_history_comes_from_the_database_beside_the_settings() {
    use clusterbar_core::history::{ClusterSample, History, Recorder, Sample, Series};
    let dir = tempfile::tempdir().unwrap();
    // A database that cannot be read is set aside at start and said as a standing warning.
    std::fs::write(dir.path().join("history.db"), b"garbage, not SQLite ".repeat(100)).unwrap();
    let (app, webview) = app_with(dir.path());
    let snapshot: Snapshot = invoke(&webview, "snapshot").unwrap();
    let warning = snapshot
        .warnings
        .iter()
        .find(|w| w.code == clusterbar_core::warnings::WarningCode::HistoryUnavailable)
        .expect("a history_unavailable warning");
    assert!(warning.message.contains("history.db.bad"), "{}", warning.message);
    assert!(dir.path().join("history.db.bad").exists());

    let wrong = invoke_with::<serde_json::Value>(&webview, "history_series", serde_json::json!({"spanS": 5}));
    assert_eq!(refusal(wrong.unwrap_err()).code, ErrorCode::InvalidArgument);

    // The app's recorder holds the new file; rows written beside it are what the chart reads.
    let now = clusterbar_core::clock::now_unix_ms() / 1000;
    let (history, _) = History::open(&dir.path().join("history.db")).unwrap();
    let mut recorder = Recorder::new(history);
    for i in 0..3u64 {
        recorder
            .record(Sample {
                at_unix_s: now / 10 * 10 - 60 + i * 10,
                cluster: ClusterSample {
                    power_watts: Some(50.0 + i as f64),
                    ..ClusterSample::default()
                },
                ..Sample::default()
            })
            .unwrap();
    }
    recorder.flush(now).unwrap();
    let series: Series = invoke_with(&webview, "history_series", serde_json::json!({"spanS": 3600})).unwrap();
    let watts: Vec<Option<f64>> = series.cluster.iter().map(|r| r.power_watts).collect();
    assert_eq!(watts, vec![Some(50.0), Some(51.0), Some(52.0)]);
    assert_eq!(series.resolution_s, 10);
    drop(app);
}

#[test]
fn history_that_cannot_be_written_is_a_warning_in_the_apps_samples() {
    use clusterbar_core::history::{ClusterSample, Sample};
    use clusterbar_core::warnings::WarningCode;
    let dir = tempfile::tempdir().unwrap();
    let (app, webview) = app_with(dir.path());
    // Another process's doing, as a full disk would: every write of a cluster row fails.
    let other = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER no_room BEFORE INSERT ON cluster_samples
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
        )
        .unwrap();
    let state = tauri::Manager::state::<AppState>(&app);
    let health = {
        let recorder = state.recorder.lock().unwrap();
        let recorder = recorder.as_ref().expect("recording");
        // A batch is due after 32 samples of distinct 10 s steps.
        let now = clusterbar_core::clock::now_unix_ms() / 1000;
        for i in 0..40u64 {
            recorder.send(Sample {
                at_unix_s: now + i * 10,
                cluster: ClusterSample::default(),
                ..Sample::default()
            });
        }
        recorder.health()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while health.problem().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(health.problem().is_some(), "the failed batch is reported");
    state.sampler.sample_now();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let warning = loop {
        let snapshot: Snapshot = invoke(&webview, "snapshot").unwrap();
        if let Some(w) = snapshot
            .warnings
            .into_iter()
            .find(|w| w.code == WarningCode::HistoryUnavailable)
        {
            break w;
        }
        assert!(std::time::Instant::now() < deadline, "no history_unavailable warning");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(warning.message.contains("disk is full"), "{}", warning.message);
    drop(app);
}
