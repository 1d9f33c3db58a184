//! `clusterbar bench --ollama` / `--engine ollama`: benchmark before routing, per box and per model,
//! against two stand-in Ollama boxes on loopback (tests/ollama-standin, built from Ollama's
//! docs/api.md) and one configured box that does not answer.

mod common;

use ollama_standin::StandIn;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Hours until each loaded model of each box unloads (`None` = pinned), from `clusterbar status`.
fn unload_hours(home: &Path) -> Vec<Vec<(String, Option<f64>)>> {
    let output = common::clusterbar(home).args(["status", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let snapshot: Value = serde_json::from_slice(&output.stdout).unwrap();
    let now = snapshot["taken_at_unix_ms"].as_f64().unwrap();
    snapshot["ollama"]["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["loaded"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let hours = m["expires_at_unix_ms"].as_f64().map(|at| (at - now) / 3_600_000.0);
                    (m["name"].as_str().unwrap().to_owned(), hours)
                })
                .collect()
        })
        .collect()
}

fn row<'a>(report: &'a Value, box_index: usize, model: &str) -> &'a Value {
    report["boxes"][box_index]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == model)
        .unwrap_or_else(|| panic!("no row for {model} on box {box_index}: {report:#}"))
}

#[test]
fn every_ollama_box_and_loaded_model_is_benched_and_left_as_found() {
    let home = tempfile::tempdir().unwrap();
    // Box 1: 50 tok/s, answers the JSON prompt as asked. Box 2: 25 tok/s, an age that is text.
    let mut fast = common::ollama_scenario("two-loaded-max-two.json");
    fast.token_delay = Duration::from_millis(20);
    fast.json_response = Some(r#"{"name": "Ada Lovelace", "age": 36}"#.into());
    let mut slow = common::ollama_scenario("one-loaded.json");
    slow.token_delay = Duration::from_millis(40);
    slow.json_response = Some(r#"Sure! {"name": "Bo", "age": "forty"}"#.into());
    let fast = StandIn::start(fast, "127.0.0.1", 0).unwrap();
    let slow = StandIn::start(slow, "127.0.0.1", 0).unwrap();
    let gone = format!("127.0.0.1:{}", closed_port());
    common::write_settings(
        home.path(),
        serde_json::json!({ "ollama_local_port": fast.port(), "ollama_boxes": [slow.address(), gone] }),
    );

    let output = common::clusterbar(home.path())
        .args(["bench", "--ollama", "--runs", "2", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["engine"], "ollama");
    let boxes = report["boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), 3, "{report:#}");
    assert_eq!(boxes[0]["address"], fast.address());
    assert_eq!(boxes[0]["is_local"], true);
    assert_eq!(boxes[1]["address"], slow.address());
    // One row per box × loaded model.
    let models = |i: usize| -> Vec<&str> {
        boxes[i]["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["model"].as_str().unwrap())
            .collect()
    };
    assert_eq!(models(0), ["llama3.2:latest", "qwen3:32b"]);
    assert_eq!(models(1), ["gpt-oss:120b"]);
    assert!(models(2).is_empty());
    assert_eq!(boxes[2]["problem"], "not answering");

    for (index, model, rate) in [
        (0, "llama3.2:latest", 50.0),
        (0, "qwen3:32b", 50.0),
        (1, "gpt-oss:120b", 25.0),
    ] {
        let m = row(&report, index, model);
        assert!(m["failures"].as_array().unwrap().is_empty(), "{m:#}");
        let ours = m["decode_tokens_per_s"]["p50"].as_f64().unwrap();
        let server = m["server_decode_tokens_per_s"]["p50"].as_f64().unwrap();
        // Sleeps only overshoot: a little below the configured rate, never far above it.
        for measured in [ours, server] {
            assert!(
                measured > rate * 0.6 && measured < rate * 1.1,
                "{model}: {measured} tok/s vs {rate}"
            );
        }
        assert!(m["ttft_ms"]["p50"].as_f64().unwrap() < 1000.0, "{m:#}");
        // The story: the scenario's answer, 8 or 12 words, one token each (eval_count).
        assert!(m["completion_tokens"]["p50"].as_f64().unwrap() >= 8.0, "{m:#}");
    }
    let judged = |index: usize, model: &str| {
        let f = &row(&report, index, model)["json_fidelity"];
        (
            f["asked"].as_u64().unwrap(),
            f["parsed"].as_u64().unwrap(),
            f["schema_ok"].as_u64().unwrap(),
        )
    };
    assert_eq!(judged(0, "llama3.2:latest"), (2, 2, 2));
    assert_eq!(judged(1, "gpt-oss:120b"), (2, 2, 0));

    // The bench sent each model's keep-alive back: llama3.2 still unloads in ~3 h (not the box's
    // default 24 h), qwen3 stays pinned, gpt-oss in ~30 min (not the default 5 min).
    let boxes = unload_hours(home.path());
    assert_eq!(boxes[0][0].0, "llama3.2:latest");
    let hours = boxes[0][0].1.unwrap();
    assert!((2.9..3.1).contains(&hours), "{hours} h");
    assert_eq!(boxes[0][1], ("qwen3:32b".to_owned(), None));
    assert_eq!(boxes[1][0].0, "gpt-oss:120b");
    let hours = boxes[1][0].1.unwrap();
    assert!((0.45..0.55).contains(&hours), "{hours} h");

    // The same in words: one line per box × model, the box named on each.
    let output = common::clusterbar(home.path())
        .args(["bench", "--ollama", "--runs", "1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let line = |model: &str| {
        lines
            .iter()
            .find(|l| l.contains(model))
            .unwrap_or_else(|| panic!("{model}: {text}"))
    };
    assert!(
        line("llama3.2:latest").starts_with(&format!("{} (this Mac)", fast.address())),
        "{text}"
    );
    assert!(line("qwen3:32b").starts_with(&fast.address()), "{text}");
    assert!(line("gpt-oss:120b").starts_with(&slow.address()), "{text}");
    assert!(
        text.contains(&gone) && text.contains("not benched: not answering"),
        "{text}"
    );
    assert!(text.contains("server tok/s"), "{text}");
}

#[test]
fn one_box_by_url_with_a_named_model_that_is_not_loaded() {
    let home = tempfile::tempdir().unwrap();
    common::write_settings(home.path(), serde_json::json!({ "ollama_local_port": 0 }));
    let mut box1 = common::ollama_scenario("two-loaded-max-two.json");
    box1.token_delay = Duration::from_millis(10);
    box1.cold_load = Duration::from_millis(1200);
    let box1 = StandIn::start(box1, "127.0.0.1", 0).unwrap();
    let output = common::clusterbar(home.path())
        .args(["bench", "--engine", "ollama", "--url", &box1.url(), "--runs", "1"])
        .args(["--model", "mistral", "--model", "gemma3:27b", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("mistral is not loaded") && stderr.contains("may unload another"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let the_box = &report["boxes"][0];
    assert_eq!(the_box["address"], box1.address());
    assert_eq!(the_box["is_local"], false);
    assert_eq!(the_box["problem"], "not installed here: gemma3:27b");
    let mistral = row(&report, 0, "mistral");
    assert!(mistral["failures"].as_array().unwrap().is_empty(), "{mistral:#}");
    // The cold load is Ollama's load_duration, and in the first request's TTFT.
    assert!(
        mistral["server_load_ms"]["max"].as_f64().unwrap() >= 1100.0,
        "{mistral:#}"
    );
    assert!(mistral["ttft_ms"]["max"].as_f64().unwrap() >= 1100.0, "{mistral:#}");

    // A box that does not answer: nothing benched, an error.
    let output = common::clusterbar(home.path())
        .args(["bench", "--engine", "ollama", "--url"])
        .arg(format!("http://127.0.0.1:{}", closed_port()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("not answering"));
    // A URL with a path is not an Ollama box's root.
    let output = common::clusterbar(home.path())
        .args(["bench", "--engine", "ollama", "--url", "http://127.0.0.1:1/ollama"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected http://HOST:PORT"));
}
