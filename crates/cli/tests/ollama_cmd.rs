//! Ollama as a second engine, end to end: `clusterbar status` against two stand-in Ollama boxes
//! on loopback (tests/ollama-standin, built from Ollama's docs/api.md), the eviction warning,
//! and `models fit --boxes` without any cluster.

mod common;

use ollama_standin::{post, StandIn};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

fn status_json(home: &Path) -> Value {
    let output = common::clusterbar(home).args(["status", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn codes(snapshot: &Value) -> Vec<String> {
    snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_owned())
        .collect()
}

fn names(models: &Value) -> Vec<&str> {
    models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn status_shows_both_boxes_their_models_and_keep_alive() {
    let home = tempfile::tempdir().unwrap();
    let first = StandIn::start(common::ollama_scenario("two-loaded-max-two.json"), "127.0.0.1", 0).unwrap();
    let second = StandIn::start(common::ollama_scenario("one-loaded.json"), "127.0.0.1", 0).unwrap();
    let gone = format!("127.0.0.1:{}", closed_port());
    // The first box is "this Mac's" daemon (on its own port, never 11434), the others configured.
    common::write_settings(
        home.path(),
        serde_json::json!({
            "ollama_local_port": first.port(),
            "ollama_boxes": [second.address(), gone],
        }),
    );
    let snapshot = status_json(home.path());
    let now = snapshot["taken_at_unix_ms"].as_u64().unwrap();
    let boxes = snapshot["ollama"]["boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), 3, "{boxes:?}");

    let local = &boxes[0];
    assert_eq!(local["is_local"], true);
    assert_eq!(local["address"], first.address());
    assert_eq!(local["reachable"], true);
    assert_eq!(local["version"], "0.12.6");
    assert_eq!(names(&local["loaded"]), ["llama3.2:latest", "qwen3:32b"]);
    assert_eq!(local["installed"].as_array().unwrap().len(), 3);
    let llama = &local["loaded"][0];
    assert_eq!(llama["pinned"], false);
    assert_eq!(llama["context_length"], 8192);
    assert_eq!(llama["vram_bytes"], 2019393189u64);
    let expires = llama["expires_at_unix_ms"].as_u64().unwrap();
    let three_hours = 3 * 3600 * 1000;
    assert!(expires.abs_diff(now + three_hours) < 60_000, "{expires} vs {now}");
    let pinned = &local["loaded"][1];
    assert_eq!(pinned["pinned"], true);
    assert!(pinned["expires_at_unix_ms"].is_null());

    let remote = &boxes[1];
    assert_eq!(remote["is_local"], false);
    assert_eq!(names(&remote["loaded"]), ["gpt-oss:120b"]);
    let expires = remote["loaded"][0]["expires_at_unix_ms"].as_u64().unwrap();
    assert!(expires.abs_diff(now + 30 * 60 * 1000) < 60_000);
    assert_eq!(remote["route"]["kind"], "loopback");

    // A configured box that does not answer is shown with the reason, and warned about.
    assert_eq!(boxes[2]["reachable"], false);
    assert_eq!(boxes[2]["error"], "not answering");
    let unreachable = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "ollama_unreachable")
        .expect("ollama_unreachable");
    assert!(unreachable["message"]
        .as_str()
        .unwrap()
        .contains(boxes[2]["address"].as_str().unwrap()));
    assert!(!codes(&snapshot).contains(&"ollama_model_evicted".to_owned()));

    // The same in words.
    let output = common::clusterbar(home.path()).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("llama3.2:latest") && text.contains("unloads in 3 h"),
        "{text}"
    );
    assert!(text.contains("qwen3:32b") && text.contains("pinned"), "{text}");
    assert!(
        text.contains("gpt-oss:120b") && text.contains("unloads in 30 min"),
        "{text}"
    );
    assert!(text.contains("version 0.12.6"), "{text}");
}

#[test]
fn loading_a_third_model_on_a_full_box_warns_of_the_eviction() {
    let home = tempfile::tempdir().unwrap();
    let mut full = common::ollama_scenario("two-loaded-max-two.json");
    full.cold_load = Duration::from_millis(400);
    let full = StandIn::start(full, "127.0.0.1", 0).unwrap();
    let other = StandIn::start(common::ollama_scenario("one-loaded.json"), "127.0.0.1", 0).unwrap();
    common::write_settings(
        home.path(),
        serde_json::json!({ "ollama_local_port": 0, "ollama_boxes": [full.address(), other.address()] }),
    );
    // Use the pinned model, so llama3.2 is the least recently used.
    post(
        &full.address(),
        "/api/generate",
        r#"{"model": "qwen3:32b", "prompt": "hi", "stream": false}"#,
    )
    .unwrap();
    let mut child = common::clusterbar(home.path())
        .args(["status", "--json", "--watch", "--interval", "0.3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let before = next();
    assert!(
        !codes(&before).contains(&"ollama_model_evicted".to_owned()),
        "{:?}",
        codes(&before)
    );
    let address = full.address();
    let loader = std::thread::spawn(move || {
        post(
            &address,
            "/api/generate",
            r#"{"model": "mistral", "prompt": "hi", "stream": false}"#,
        )
        .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let warned = loop {
        let snapshot = next();
        if codes(&snapshot).contains(&"ollama_model_evicted".to_owned()) {
            break snapshot;
        }
        assert!(Instant::now() < deadline, "no eviction warning: {snapshot}");
    };
    let _ = child.kill();
    let _ = child.wait();
    let (status, _) = loader.join().unwrap();
    assert_eq!(status, 200);
    let warning = warned["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "ollama_model_evicted")
        .unwrap();
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains("llama3.2:latest"), "{message}");
    assert!(warning["fix"].as_str().unwrap().contains("OLLAMA_MAX_LOADED_MODELS"));
    let evictions = &warned["ollama"]["boxes"][0]["evictions"];
    assert_eq!(evictions[0]["model"], "llama3.2:latest", "{evictions}");
    // The other box lost nothing.
    assert!(warned["ollama"]["boxes"][1]["evictions"].as_array().unwrap().is_empty());
}

#[test]
fn models_fit_with_boxes_needs_no_cluster() {
    let home = tempfile::tempdir().unwrap();
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let output = common::clusterbar(home.path())
        .args([
            "models",
            "fit",
            "1T-int4",
            "--boxes",
            "256,256",
            "--json",
            "--exo-url",
            &nowhere,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["verdict"]["fits"], false);
    assert_eq!(answer["verdict"]["weights_bytes"], 500_000_000_000u64);
    assert_eq!(answer["pool"]["memory_usable_bytes"], 384u64 << 30);
    let short = -answer["verdict"]["headroom_bytes"].as_i64().unwrap();
    assert!((100i64 << 30..130i64 << 30).contains(&short), "{short}");

    let text = common::clusterbar(home.path())
        .args(["models", "fit", "1T-int4", "--boxes", "256,256", "--exo-url", &nowhere])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("Does not fit") && text.contains("short by 117.8 GB"),
        "{text}"
    );

    let fits = common::clusterbar(home.path())
        .args(["models", "fit", "70b-q4_K_M", "--boxes", "128", "--exo-url", &nowhere])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&fits.stdout).starts_with("Fits"));

    let bad = common::clusterbar(home.path())
        .args(["models", "fit", "1T-int4", "--boxes", "256,lots", "--exo-url", &nowhere])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"lots\""));
    let no_bits = common::clusterbar(home.path())
        .args(["models", "fit", "qwen3:32b", "--boxes", "64", "--exo-url", &nowhere])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&no_bits.stderr).contains("bits per weight"));
}

/// This Mac's daemon settings, read from the running `ollama`'s environment (Linux: a captured
/// /proc tree with one `ollama` process), raise `ollama_exposed` and `ollama_keep_alive_short`.
#[cfg(target_os = "linux")]
#[test]
fn the_local_daemons_settings_are_shown_and_checked() {
    let home = tempfile::tempdir().unwrap();
    let local = StandIn::start(common::ollama_scenario("one-loaded.json"), "127.0.0.1", 0).unwrap();
    common::write_settings(home.path(), serde_json::json!({ "ollama_local_port": local.port() }));
    let proc = home.path().join("proc");
    let ollama = proc.join("4242");
    std::fs::create_dir_all(&ollama).unwrap();
    std::fs::write(ollama.join("comm"), "ollama\n").unwrap();
    let exposed =
        b"HOME=/usr/share/ollama\0OLLAMA_HOST=0.0.0.0:11434\0OLLAMA_KEEP_ALIVE=5m\0OLLAMA_MAX_LOADED_MODELS=2\0";
    std::fs::write(ollama.join("environ"), exposed).unwrap();
    let status = |home: &Path| -> Value {
        let output = common::clusterbar(home)
            .args(["status", "--json"])
            .env("CLUSTERBAR_PROCFS_ROOT", &proc)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let snapshot = status(home.path());
    let env = &snapshot["ollama"]["boxes"][0]["env"];
    assert_eq!(env["host"], "0.0.0.0:11434");
    assert_eq!(env["keep_alive_s"], 300);
    assert_eq!(env["max_loaded_models"], 2);
    assert_eq!(env["source"], "process_environ");
    let found = codes(&snapshot);
    assert!(found.contains(&"ollama_exposed".to_owned()), "{found:?}");
    assert!(found.contains(&"ollama_keep_alive_short".to_owned()), "{found:?}");
    let exposed = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "ollama_exposed")
        .unwrap();
    assert!(exposed["fix"].as_str().unwrap().contains("OLLAMA_HOST"));

    // Bound to the Thunderbolt address with a long keep-alive: neither.
    std::fs::write(
        ollama.join("environ"),
        b"OLLAMA_HOST=192.168.99.2:11434\0OLLAMA_KEEP_ALIVE=24h\0",
    )
    .unwrap();
    let found = codes(&status(home.path()));
    assert!(
        !found
            .iter()
            .any(|c| c == "ollama_exposed" || c == "ollama_keep_alive_short"),
        "{found:?}"
    );
}

#[test]
fn a_cluster_running_only_ollama_is_running_not_stopped() {
    let home = tempfile::tempdir().unwrap();
    let only = StandIn::start(common::ollama_scenario("one-loaded.json"), "127.0.0.1", 0).unwrap();
    // No exo anywhere; one configured Ollama box that answers.
    common::write_settings(
        home.path(),
        serde_json::json!({ "ollama_local_port": 0, "ollama_boxes": [only.address()] }),
    );
    let snapshot = status_json(home.path());
    assert_ne!(snapshot["services"]["exo"]["state"], "running", "{snapshot:#}");
    let expected = if codes(&snapshot).is_empty() {
        "running"
    } else {
        "degraded"
    };
    assert_eq!(snapshot["state"], expected, "{:?}", codes(&snapshot));

    // With a box that does not answer besides: a warning, so degraded.
    let gone = format!("127.0.0.1:{}", closed_port());
    common::write_settings(
        home.path(),
        serde_json::json!({ "ollama_local_port": 0, "ollama_boxes": [only.address(), gone] }),
    );
    let snapshot = status_json(home.path());
    assert!(codes(&snapshot).contains(&"ollama_unreachable".to_owned()));
    assert_eq!(snapshot["state"], "degraded");

    // Only boxes that do not answer: no engine runs.
    drop(only);
    let snapshot = status_json(home.path());
    assert_eq!(snapshot["state"], "stopped", "{:?}", codes(&snapshot));
}

/// An Ollama on this machine is this Mac's only when the test's settings say so: without the port
/// named, `common::clusterbar` sets `CLUSTERBAR_OLLAMA_LOCAL_PORT=0` and it is not looked for.
#[test]
fn an_ollama_the_test_did_not_name_is_not_seen() {
    let home = tempfile::tempdir().unwrap();
    let local = StandIn::start(common::ollama_scenario("one-loaded.json"), "127.0.0.1", 0).unwrap();
    let port = local.port().to_string();
    // The variable alone points the probe at it: seen.
    common::write_settings(home.path(), serde_json::json!({ "currency": "EUR" }));
    let output = common::clusterbar(home.path())
        .env("CLUSTERBAR_OLLAMA_LOCAL_PORT", &port)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["ollama"]["boxes"][0]["is_local"], true, "{seen:#}");
    // Settings that do not name the port: the helper's default keeps it out.
    let unseen = status_json(home.path());
    assert!(unseen["ollama"].is_null(), "{:#}", unseen["ollama"]);
    // Settings that name it: seen, the variable unset by the helper.
    common::write_settings(home.path(), serde_json::json!({ "ollama_local_port": local.port() }));
    let named = status_json(home.path());
    assert_eq!(named["ollama"]["boxes"][0]["address"], format!("127.0.0.1:{port}"));
}
