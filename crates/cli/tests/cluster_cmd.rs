//! `clusterbar status --exo-url` and `clusterbar models …` against the stand-in exo server.

use assert_cmd::Command;
use exo_standin::StandIn;
use serde_json::Value;
use std::path::Path;

fn scenario(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/exo-standin/scenarios")
        .join(name)
}

fn clusterbar(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("clusterbar").unwrap();
    cmd.env("CLUSTERBAR_CONFIG_DIR", home.join("config"))
        .env("CLUSTERBAR_LOG_DIR", home.join("logs"))
        // An Ollama running on this machine is not this test's.
        .env("CLUSTERBAR_OLLAMA_LOCAL_PORT", "0");
    cmd
}

fn run_json(cmd: &mut Command) -> Value {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn status_json_shows_the_three_node_cluster() {
    let home = tempfile::tempdir().unwrap();
    let exo = StandIn::start(&scenario("three-nodes-rdma.json"), "127.0.0.1", 0).unwrap();
    let snapshot = run_json(clusterbar(home.path()).args(["status", "--json", "--exo-url", &exo.url()]));
    assert_eq!(snapshot["schema"], 1);
    let cluster = &snapshot["cluster"];
    let names: Vec<&str> = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["studio-1", "mini-2", "mini-3"]);
    assert_eq!(cluster["nodes"][0]["is_this_node"], true);
    assert_eq!(cluster["nodes"][0]["memory_total_bytes"], 549755813888u64);
    assert_eq!(cluster["memory_total_bytes"], 549755813888u64 + 2 * 68719476736);
    assert_eq!(cluster["links"][1]["kind"], "rdma");
    assert_eq!(cluster["links"][2]["kind"], "thunderbolt");
    assert_eq!(cluster["links"][2]["speed_gbps"], 40.0);
    let codes: Vec<&str> = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"rdma_disabled") && codes.contains(&"tb_link_slow"),
        "{codes:?}"
    );
    assert!(!codes.contains(&"exo_unreachable"));
}

#[test]
fn status_says_why_when_exo_is_not_answering() {
    let home = tempfile::tempdir().unwrap();
    let url = StandIn::start(&scenario("two-nodes.json"), "127.0.0.1", 0)
        .unwrap()
        .url(); // dropped: closed
    let snapshot = run_json(clusterbar(home.path()).args(["status", "--json", "--exo-url", &url]));
    assert!(snapshot["cluster"].is_null());
    let warning = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "exo_unreachable")
        .expect("an exo_unreachable warning");
    let port = url.rsplit(':').next().unwrap();
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains(&format!("exo is not answering on 127.0.0.1:{port}")),
        "{warning}"
    );
    // The human form says it too, and exits 0: exo being down is a state, not a CLI failure.
    let output = clusterbar(home.path())
        .args(["status", "--exo-url", &url])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("not answering"));
}

#[test]
fn models_list_load_fit_unload() {
    let home = tempfile::tempdir().unwrap();
    let exo = StandIn::start(&scenario("three-nodes-rdma.json"), "127.0.0.1", 0).unwrap();
    let url = exo.url();
    let list = run_json(clusterbar(home.path()).args(["models", "list", "--json", "--exo-url", &url]));
    assert_eq!(list["loaded"].as_array().unwrap().len(), 0);
    assert_eq!(list["available"].as_array().unwrap().len(), 2);
    // Nothing loaded: the bench says so instead of asking for every card in /v1/models.
    let bench = clusterbar(home.path())
        .args(["bench", "--url", &url, "--runs", "1"])
        .output()
        .unwrap();
    assert_eq!(bench.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bench.stderr);
    assert!(stderr.contains("has no model loaded"), "{stderr}");

    let id = "mlx-community/Llama-3.2-1B-Instruct-4bit";
    let output = clusterbar(home.path())
        .args([
            "models",
            "load",
            id,
            "--min-nodes",
            "2",
            "--wait",
            "10",
            "--exo-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("is ready"));
    let list = run_json(clusterbar(home.path()).args(["models", "list", "--json", "--exo-url", &url]));
    assert_eq!(list["loaded"][0]["state"], "ready");
    assert_eq!(list["loaded"][0]["shards"].as_array().unwrap().len(), 2);
    // Now the bench asks for the loaded model only (the stand-in serves no completions, so
    // every request fails, and the report says which model it tried).
    let bench = clusterbar(home.path())
        .args(["bench", "--url", &url, "--runs", "1", "--json"])
        .output()
        .unwrap();
    assert_eq!(bench.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&bench.stdout).unwrap();
    let benched: Vec<&str> = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(benched, [id]);

    let fit = run_json(clusterbar(home.path()).args(["models", "fit", id, "--json", "--exo-url", &url]));
    assert_eq!(fit["verdict"]["fits"], true);
    assert_eq!(fit["verdict"]["weights_bytes"], 696u64 << 20);
    let fit = run_json(clusterbar(home.path()).args([
        "models",
        "fit",
        "--params-b",
        "1000",
        "--bits",
        "4",
        "--json",
        "--exo-url",
        &url,
    ]));
    assert_eq!(fit["verdict"]["fits"], false);
    assert_eq!(fit["pool"]["per_box"].as_array().unwrap().len(), 3);

    clusterbar(home.path())
        .args(["models", "unload", id, "--exo-url", &url])
        .assert()
        .success();
    let list = run_json(clusterbar(home.path()).args(["models", "list", "--json", "--exo-url", &url]));
    assert_eq!(list["loaded"].as_array().unwrap().len(), 0);
    let output = clusterbar(home.path())
        .args(["models", "unload", id, "--exo-url", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no loaded model"));
    // Usage errors exit 2.
    clusterbar(home.path())
        .args(["models", "fit", "--bits", "4"])
        .assert()
        .code(2);
}

/// Replaces every string equal to `from` anywhere in `value`.
fn replace_strings(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s == from => *s = to.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, from, to)),
        _ => {}
    }
}

/// Issue #11: node names and model ids from exo's /state reached the terminal raw (escape
/// sequences, CR/LF forging lines, bidi overrides). The text form escapes them; JSON stays exact.
#[test]
fn status_text_escapes_names_from_exo_and_json_keeps_them_exact() {
    let home = tempfile::tempdir().unwrap();
    let evil_name = "mini-2\r\nForged line\u{1b}[2J\u{9b}31m\u{202e}";
    let evil_model = "evil\u{1b}]0;pwned\u{7}\nmodel";
    let mut scenario_json: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario("two-nodes.json")).unwrap()).unwrap();
    replace_strings(&mut scenario_json, "mini-2", evil_name);
    replace_strings(
        &mut scenario_json,
        "mlx-community/Llama-3.2-1B-Instruct-4bit",
        evil_model,
    );
    let path = home.path().join("evil.json");
    std::fs::write(&path, scenario_json.to_string()).unwrap();
    let exo = StandIn::start(&path, "127.0.0.1", 0).unwrap();

    let output = clusterbar(home.path())
        .args(["status", "--exo-url", &exo.url()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for bad in ['\u{1b}', '\r', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!text.contains(bad), "{bad:?} reached the terminal: {text:?}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("Forged line")),
        "a forged line: {text}"
    );
    assert!(
        text.contains(r"mini-2\u{d}\u{a}Forged line\u{1b}[2J\u{9b}31m\u{202e}"),
        "{text}"
    );
    assert!(text.contains(r"evil\u{1b}]0;pwned\u{7}\u{a}model"), "{text}");

    let snapshot = run_json(clusterbar(home.path()).args(["status", "--json", "--exo-url", &exo.url()]));
    let names: Vec<&str> = snapshot["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&evil_name), "{names:?}");
    assert_eq!(snapshot["cluster"]["models"][0]["id"], evil_model);
}

/// Issue #11: `models fit --params-b NaN` "fitted". Non-finite, zero and negative sizes are usage
/// errors (exit 2), refused before exo is asked.
#[test]
fn models_fit_refuses_nan_infinite_and_non_positive_sizes() {
    let home = tempfile::tempdir().unwrap();
    let exo = StandIn::start(&scenario("three-nodes-rdma.json"), "127.0.0.1", 0).unwrap();
    let url = exo.url();
    for (params, bits) in [
        ("NaN", "4"),
        ("inf", "4"),
        ("-inf", "4"),
        ("0", "4"),
        ("-5", "4"),
        ("70", "NaN"),
        ("70", "0"),
        ("70", "-4"),
    ] {
        let output = clusterbar(home.path())
            .args([
                "models",
                "fit",
                &format!("--params-b={params}"),
                &format!("--bits={bits}"),
            ])
            .args(["--exo-url", &url])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "--params-b {params} --bits {bits}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not a finite number above 0"), "{stderr}");
    }
    let fit = run_json(clusterbar(home.path()).args([
        "models",
        "fit",
        "--params-b",
        "1",
        "--bits",
        "4",
        "--json",
        "--exo-url",
        &url,
    ]));
    assert_eq!(fit["verdict"]["fits"], true);
}
