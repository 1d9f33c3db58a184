//! `clusterbar report` then `clusterbar doctor` on this machine, and `doctor` on a Mac's bundle
//! assembled from real captured outputs: a Linux box diagnoses a Mac.

use std::path::Path;
use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_clusterbar");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures/macos");

fn run(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(CLI)
        .args(args)
        .env("CLUSTERBAR_CONFIG_DIR", config)
        .output()
        .expect("running clusterbar")
}

/// `clusterbar report` of this machine into `bundle` (exo asked on a port nobody serves).
fn save_bundle(bundle: &Path, config: &Path) {
    let saved = run(
        &[
            "report",
            "--out",
            bundle.to_str().unwrap(),
            "--exo-url",
            "http://127.0.0.1:9",
        ],
        config,
    );
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
}

#[test]
fn report_then_doctor_round_trips_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    save_bundle(&bundle, dir.path());
    assert!(bundle.join("snapshot.json").is_file());
    let again = run(&["report", "--out", bundle.to_str().unwrap()], dir.path());
    assert_eq!(
        again.status.code(),
        Some(1),
        "a non-empty bundle directory is never overwritten"
    );
    let doctor = run(&["doctor", "--from", bundle.to_str().unwrap(), "--json"], dir.path());
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stderr));
    let snapshot: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(snapshot["schema"], 1);
    assert!(snapshot["this_node"]["memory"]["total_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn doctor_reads_a_mac_bundle_on_any_machine() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("mac");
    // Start from this machine's bundle (for snapshot.json), then replace the raw sources with a Mac's.
    save_bundle(&bundle, dir.path());
    for entry in std::fs::read_dir(&bundle).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "snapshot.json" {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    std::fs::write(bundle.join("os"), "macos").unwrap();
    std::fs::copy(
        Path::new(FIXTURES)
            .join("ioreg-IOThunderboltSwitch-M5Pro-t6050-host-TB5-asym-excerpt-whatcable-issue52-NoFr1ends.txt"),
        bundle.join("ioreg_thunderbolt"),
    )
    .unwrap();
    std::fs::write(bundle.join("rdma_ctl_status"), "disabled\n").unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("sysctl-iogpu.wired_limit_mb-raised-86016.txt"),
        bundle.join("sysctl_iogpu_wired_limit_mb"),
    )
    .unwrap();

    let doctor = run(&["doctor", "--from", bundle.to_str().unwrap(), "--json"], dir.path());
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stderr));
    let snapshot: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let node = &snapshot["this_node"];
    assert_eq!(node["rdma"]["status"], "disabled");
    assert_eq!(node["gpu_wired_limit_bytes"].as_u64(), Some(86016 * 1024 * 1024));
    let ports = node["thunderbolt"].as_array().unwrap();
    assert!(
        ports.iter().any(|p| p["speed_gbps"].as_f64() == Some(120.0)),
        "ports: {ports:?}"
    );
    let codes: Vec<&str> = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"rdma_disabled"), "warnings: {codes:?}");

    let human = run(&["doctor", "--from", bundle.to_str().unwrap()], dir.path());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("RDMA          disabled"), "{text}");
    assert!(text.contains("120 Gb/s"), "{text}");
}

#[test]
fn doctor_on_something_that_is_not_a_bundle_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["doctor", "--from", dir.path().to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snapshot.json"), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
}

/// `report` with two Ollama boxes configured (one answering, one not), then `doctor` once the
/// answering one is gone: what the bundle recorded for Ollama is shown — the boxes, the loaded
/// model and its unload time as of the report, and the warnings (the remote box's too).
#[test]
fn doctor_shows_what_the_bundle_recorded_for_ollama() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ollama-standin/scenarios/one-loaded.json");
    let standin = ollama_standin::StandIn::start_file(&scenario, "127.0.0.1", 0).unwrap();
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    let settings = serde_json::json!({ "ollama_local_port": 0, "ollama_boxes": [standin.address(), gone] });
    std::fs::write(dir.path().join("settings.json"), settings.to_string()).unwrap();
    let bundle = dir.path().join("bundle");
    save_bundle(&bundle, dir.path());
    drop(standin);

    let doctor = run(&["doctor", "--from", bundle.to_str().unwrap(), "--json"], dir.path());
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stderr));
    let snapshot: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let boxes = snapshot["ollama"]["boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), 2, "{snapshot:#}");
    assert_eq!(boxes[0]["reachable"], true);
    assert_eq!(boxes[0]["loaded"][0]["name"], "gpt-oss:120b");
    assert_eq!(boxes[1]["reachable"], false);
    let unreachable = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "ollama_unreachable")
        .unwrap_or_else(|| panic!("no ollama_unreachable: {:#}", snapshot["warnings"]));
    assert_eq!(unreachable["scope"], "cluster");
    assert!(unreachable["message"].as_str().unwrap().contains(&gone));
    // An Ollama box answered when the report was taken, with a warning: degraded, not stopped.
    assert_eq!(snapshot["state"], "degraded");

    let human = run(&["doctor", "--from", bundle.to_str().unwrap()], dir.path());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("gpt-oss:120b") && text.contains("unloads in 30 min"),
        "{text}"
    );
}
