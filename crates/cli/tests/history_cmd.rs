//! `clusterbar history` (issue #13): clear errors without a readable database, and history that
//! survives a restart of `clusterbar meter`.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn run(home: &Path, args: &[&str]) -> std::process::Output {
    common::clusterbar(home).args(args).output().unwrap()
}

#[test]
fn a_missing_or_corrupt_database_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let output = run(home.path(), &["history"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no history database at"), "{stderr}");

    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/history.db"),
        b"not a database at all ".repeat(100),
    )
    .unwrap();
    let output = run(home.path(), &["history", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be read"), "{stderr}");
    assert!(output.stdout.is_empty());

    let output = run(home.path(), &["history", "--since", "5y"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("s, m, h, d, w"));
}

/// Runs `clusterbar meter` until it has recorded its first sample, then stops it with SIGTERM.
fn meter_once(home: &Path) {
    let mut meter = common::clusterbar(home)
        .args(["meter", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = home.join("config/history.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !db.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first sample is taken at once; give the recorder a moment to queue it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(common::stop_with_sigterm(&mut meter).success());
}

#[test]
fn what_the_meter_recorded_survives_its_restart() {
    let home = tempfile::tempdir().unwrap();
    let rows = |home: &Path| {
        let output = run(home, &["history", "--json", "--since", "1h"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(value["energy"]["today"].is_object(), "{value}");
        value["cluster"].as_array().unwrap().len()
    };
    meter_once(home.path());
    let first = rows(home.path());
    assert!(first >= 1, "the sample taken before SIGTERM was flushed at the stop");
    // 10 s steps: the second run's sample lands in another step.
    std::thread::sleep(Duration::from_secs(10));
    meter_once(home.path());
    assert!(
        rows(home.path()) > first,
        "the first run's rows are still there, with the second's"
    );
    let csv = run(home.path(), &["history", "--csv", "--since", "1h"]);
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(csv.starts_with("time_unix_s,scope,"), "{csv}");
    assert!(
        csv.lines().skip(1).all(|l| l.split(',').nth(1) == Some("cluster")),
        "{csv}"
    );
}

/// Energy per token in `status --json` and the text status, from a history written here: a
/// constant 120 W against 1,000 tokens per 10 s, priced at 0.30 EUR per kWh.
#[test]
fn status_shows_energy_per_token_from_the_history() {
    use clusterbar_core::history::{ClusterSample, History, Recorder, Sample};
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("settings.json"),
        r#"{"electricity_price_per_kwh": 0.30, "currency": "EUR"}"#,
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Ten raw rows from a minute boundary 2–3 minutes ago (the "now" window is 15 min). On a
    // boundary, the first minute's average row starts where the raw rows do and is not
    // counted beside them; recording that begins mid-minute counts that minute's average from
    // its start (documented in history::energy).
    let start = now / 60 * 60 - 120;
    let (history, _) = History::open(&config.join("history.db")).unwrap();
    let mut recorder = Recorder::new(history);
    for i in 0..10u64 {
        recorder
            .record(Sample {
                at_unix_s: start + i * 10,
                cluster: ClusterSample {
                    power_watts: Some(120.0),
                    tokens_served: Some(5_000 + i * 1_000),
                    ..ClusterSample::default()
                },
                ..Sample::default()
            })
            .unwrap();
    }
    recorder.flush(start + 90).unwrap();
    drop(recorder);

    let output = run(home.path(), &["status", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let window = &value["energy"]["now"];
    // By hand: 9 intervals × 10 s × 120 W = 3 Wh; 9 × 1,000 tokens (the first row's counter is
    // what was served before recording began); 3 Wh / 9,000 × 10^6 = 333.3 Wh per 1M tokens;
    // × 0.30 EUR / 1,000 = 0.1 EUR per 1M tokens.
    assert!((window["energy_wh"].as_f64().unwrap() - 3.0).abs() < 1e-9, "{value}");
    assert_eq!(window["tokens"], 9_000, "{value}");
    let per_million = window["wh_per_million_tokens"].as_f64().unwrap();
    assert!((per_million - 3.0 / 9_000.0 * 1e6).abs() < 1e-6, "{per_million}");
    let cost = window["cost_per_million_tokens"].as_f64().unwrap();
    assert!((cost - 0.1).abs() < 1e-9, "{cost}");
    assert_eq!(value["energy"]["currency"], "EUR");

    let text = run(home.path(), &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("now 333.3 Wh per 1M tokens (0.100 EUR)"), "{text}");
}
