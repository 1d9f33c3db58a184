//! The stand-in against its own contract (docs/api.md): routes, streams, keep-alive, eviction.

use ollama_standin::{parse_scenario, post, StandIn};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn scenario(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn get(address: &str, path: &str) -> Value {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

fn loaded_names(address: &str) -> Vec<String> {
    get(address, "/api/ps")["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn version_tags_and_ps_have_the_documented_fields() {
    let standin = StandIn::start_file(&scenario("two-loaded-max-two.json"), "127.0.0.1", 0).unwrap();
    let address = standin.address();
    assert_eq!(get(&address, "/api/version")["version"], "0.12.6");
    let tags = get(&address, "/api/tags");
    assert_eq!(tags["models"].as_array().unwrap().len(), 3);
    assert_eq!(tags["models"][0]["details"]["quantization_level"], "Q4_K_M");
    let ps = get(&address, "/api/ps");
    let first = &ps["models"][0];
    for key in [
        "name",
        "model",
        "size",
        "size_vram",
        "digest",
        "details",
        "expires_at",
        "context_length",
    ] {
        assert!(!first[key].is_null(), "{key} missing in {first}");
    }
    assert_eq!(first["context_length"], 8192);
    // Pinned: an expiry centuries away.
    let pinned = ps["models"][1]["expires_at"].as_str().unwrap();
    assert!(pinned.starts_with("23"), "{pinned}");
}

#[test]
fn generate_streams_timed_tokens_and_ends_with_the_statistics() {
    let mut s = parse_scenario(&std::fs::read_to_string(scenario("two-loaded-max-two.json")).unwrap()).unwrap();
    s.token_delay = Duration::from_millis(30);
    let standin = StandIn::start(s, "127.0.0.1", 0).unwrap();
    let started = Instant::now();
    let (status, body) = post(
        &standin.address(),
        "/api/generate",
        r#"{"model": "llama3.2", "prompt": "Why is the sky blue?"}"#,
    )
    .unwrap();
    assert_eq!(status, 200);
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let tokens = lines.len() - 1;
    assert!(tokens > 5, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(30) * tokens as u32);
    assert_eq!(lines[0]["done"], false);
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["eval_count"], tokens);
    assert!(last["eval_duration"].as_u64().unwrap() >= 30_000_000 * tokens as u64);
    assert_eq!(last["load_duration"], 0, "already loaded: no cold load");
    for key in ["prompt_eval_count", "prompt_eval_duration", "total_duration"] {
        assert!(last[key].as_u64().is_some(), "{key}");
    }
    // Chat, not streamed: one object.
    let (_, chat) = post(
        &standin.address(),
        "/api/chat",
        r#"{"model": "llama3.2:latest", "messages": [{"role": "user", "content": "hi"}], "stream": false}"#,
    )
    .unwrap();
    let chat: Value = serde_json::from_str(&chat).unwrap();
    assert_eq!(chat["done"], true);
    assert!(chat["message"]["content"].as_str().unwrap().starts_with("The sky"));
    // OpenAI-compatible SSE.
    let (_, sse) = post(
        &standin.address(),
        "/v1/chat/completions",
        r#"{"model": "llama3.2:latest", "messages": [{"role": "user", "content": "hi"}], "stream": true}"#,
    )
    .unwrap();
    assert!(sse.contains("\"object\":\"chat.completion.chunk\""), "{sse}");
    assert!(sse.trim_end().ends_with("data: [DONE]"));
    let (status, _) = post(
        &standin.address(),
        "/api/generate",
        r#"{"model": "nope", "prompt": "x"}"#,
    )
    .unwrap();
    assert_eq!(status, 404);
}

#[test]
fn a_third_model_evicts_the_least_recently_used_after_a_cold_load() {
    let standin = StandIn::start_file(&scenario("two-loaded-max-two.json"), "127.0.0.1", 0).unwrap();
    let address = standin.address();
    // Use the pinned one so llama3.2 is the least recent.
    post(&address, "/api/generate", r#"{"model": "qwen3:32b", "prompt": "hi"}"#).unwrap();
    let started = Instant::now();
    let (_, body) = post(
        &address,
        "/api/generate",
        r#"{"model": "mistral", "prompt": "hi", "stream": false}"#,
    )
    .unwrap();
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(answer["load_duration"].as_u64().unwrap() >= 300_000_000, "{answer}");
    let mut names = loaded_names(&address);
    names.sort();
    assert_eq!(names, ["mistral:latest", "qwen3:32b"]);
    // Unload with keep_alive 0 and an empty prompt.
    let (_, body) = post(&address, "/api/generate", r#"{"model": "mistral", "keep_alive": 0}"#).unwrap();
    assert!(body.contains("\"done_reason\":\"unload\""), "{body}");
    assert_eq!(loaded_names(&address), ["qwen3:32b"]);
}

#[test]
fn keep_alive_runs_out() {
    let standin = StandIn::start_file(&scenario("one-loaded.json"), "127.0.0.1", 0).unwrap();
    let address = standin.address();
    post(
        &address,
        "/api/generate",
        r#"{"model": "gpt-oss:120b", "prompt": "x", "keep_alive": "1s", "stream": false}"#,
    )
    .unwrap();
    assert_eq!(loaded_names(&address), ["gpt-oss:120b"]);
    std::thread::sleep(Duration::from_millis(1300));
    assert!(loaded_names(&address).is_empty());
}

/// The stand-in's `/api/chat` stream has the shape of a real implementation of the same API:
/// exo's Ollama-compatible `/ollama/api/chat`, captured on Linux (see
/// crates/core/tests/fixtures/ollama/SOURCES.md). Every key the real stream carries, the
/// stand-in carries too (the real one leaves out the durations; docs/api.md has them).
#[test]
fn chat_stream_has_the_shape_of_exos_real_ollama_api() {
    let real = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/core/tests/fixtures/ollama/exo_real_linux_ollama_chat.ndjson"),
    )
    .unwrap();
    let real: Vec<Value> = real.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let standin = StandIn::start_file(&scenario("two-loaded-max-two.json"), "127.0.0.1", 0).unwrap();
    let (_, body) = post(
        &standin.address(),
        "/api/chat",
        r#"{"model": "llama3.2:latest", "messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .unwrap();
    let ours: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let keys = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        if let Some(message) = v["message"].as_object() {
            keys.extend(message.keys().map(|k| format!("message.{k}")));
        }
        keys
    };
    for (real, ours) in [(&real[0], &ours[0]), (real.last().unwrap(), ours.last().unwrap())] {
        let ours_keys = keys(ours);
        for key in keys(real) {
            assert!(ours_keys.contains(&key), "{key} is in exo's {real} but not in {ours}");
        }
        assert_eq!(real["done"], ours["done"]);
    }
}

#[test]
fn num_predict_caps_the_tokens_and_a_json_prompt_gets_the_json_answer() {
    let mut s = parse_scenario(&std::fs::read_to_string(scenario("two-loaded-max-two.json")).unwrap()).unwrap();
    s.token_delay = Duration::from_millis(1);
    s.json_response = Some(r#"{"name": "Ada", "age": 36}"#.into());
    let standin = StandIn::start(s, "127.0.0.1", 0).unwrap();
    let chat = |content: &str, extra: &str| {
        let body =
            format!(r#"{{"model": "llama3.2", "messages": [{{"role": "user", "content": "{content}"}}]{extra}}}"#);
        let (status, text) = post(&standin.address(), "/api/chat", &body).unwrap();
        assert_eq!(status, 200, "{text}");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let answer: String = lines.iter().filter_map(|l| l["message"]["content"].as_str()).collect();
        (answer, lines.last().unwrap()["eval_count"].as_u64().unwrap())
    };
    let (answer, count) = chat("Why is the sky blue?", r#", "options": {"num_predict": 3}"#);
    assert_eq!((answer.as_str(), count), ("The sky is ", 3));
    let (answer, count) = chat("Reply with only a JSON object", "");
    assert_eq!(answer, r#"{"name": "Ada", "age": 36}"#);
    assert_eq!(count, 4);
    // -1 = no cap.
    let (_, count) = chat("Why?", r#", "options": {"num_predict": -1}"#);
    assert!(count > 5);
}
