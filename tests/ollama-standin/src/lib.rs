//! `ollama-standin`: a stand-in for the Ollama daemon's HTTP API, so Clusterbar's Ollama reader
//! (and anything that talks to Ollama through it) can be tested without Ollama or a Mac.
//!
//! **Built from Ollama's own API documentation**, `docs/api.md` (with `docs/faq.mdx` for the
//! daemon's settings, `docs/api/errors.mdx` for error bodies, `docs/api/openai-compatibility.mdx`
//! for `/v1/chat/completions` and `docs/openapi.yaml` for `context_length` in `/api/ps`) at
//! commit `fb30760996871fa9460115c753afd2c60d4ab0f7` of github.com/ollama/ollama — read, not
//! copied: no Ollama code. What those pages leave open is marked "not documented" below.
//!
//! ```text
//! ollama-standin --scenario FILE [--port N] [--bind ADDR]
//!                [--max-loaded N] [--cold-load-ms MS] [--token-delay-ms MS] [--keep-alive DUR]
//! ```
//! Port 0 (the default) = any free port; the first line on stdout is the bound port.
//!
//! Routes: `GET /api/version`, `GET /api/tags`, `GET /api/ps`, `POST /api/generate`,
//! `POST /api/chat` (NDJSON streams with one object per token, `token_delay_ms` apart, and a
//! final `done: true` object with `total_duration`, `load_duration`, `prompt_eval_count`,
//! `prompt_eval_duration`, `eval_count`, `eval_duration` in nanoseconds; `"stream": false` for
//! one object; an empty prompt / empty `messages` only loads, with `keep_alive: 0` unloads),
//! and `POST /v1/chat/completions` (OpenAI-style SSE `data:` chunks and `data: [DONE]`, or one
//! `chat.completion` object).
//!
//! Scenario file (JSON):
//! ```jsonc
//! {
//!   "version": "0.12.6",            // GET /api/version
//!   "max_loaded_models": 2,         // like OLLAMA_MAX_LOADED_MODELS: loading one more first
//!                                   // unloads the least recently used
//!   "keep_alive": "5m",             // like OLLAMA_KEEP_ALIVE (a request's keep_alive wins);
//!                                   // a negative value keeps models loaded for good
//!   "cold_load_ms": 300,            // a model not in memory loads this long first
//!   "token_delay_ms": 20,           // between streamed tokens
//!   "response": "…",                // the answer, streamed a word at a time
//!   "json_response": "{…}",         // the answer instead when the prompt says "JSON" (default:
//!                                   // the same `response`; a model that follows the instruction)
//!   "installed": [ { "name": "llama3.2:latest", "size": 2019393189, "family": "llama",
//!                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M",
//!                    "context_length": 8192 } ],
//!   "loaded": [ { "name": "llama3.2:latest", "keep_alive": "3h" },   // loaded at start
//!               { "name": "qwen3:32b", "pinned": true } ]            // = keep_alive -1
//! }
//! ```
//! Not documented by Ollama, so chosen here: a pinned model's `expires_at` (this sends a date
//! ~292 years ahead, the longest Go duration); whether a model still loading is listed by
//! `/api/ps` (here it is not: it appears once loaded); the eviction happens when the load
//! starts. Expired models leave `/api/ps` when their time is up.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_REQUEST_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    pub size: u64,
    pub family: String,
    pub parameter_size: String,
    pub quantization_level: String,
    pub context_length: u64,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub version: String,
    pub max_loaded_models: usize,
    /// Seconds; negative = forever.
    pub keep_alive_s: i64,
    pub cold_load: Duration,
    pub token_delay: Duration,
    pub response: String,
    /// Answered instead of `response` to a prompt that mentions "JSON".
    pub json_response: Option<String>,
    pub installed: Vec<Installed>,
    /// (name, keep-alive seconds; negative = pinned).
    pub loaded: Vec<(String, i64)>,
}

/// A keep-alive as Ollama's docs describe it: a duration string ("10m", "24h", "1h30m"), a
/// number of seconds, or a negative number (forever). Seconds; negative = forever.
pub fn parse_duration_s(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_f64() {
        return Some(if n < 0.0 { -1 } else { n as i64 });
    }
    let text = value.as_str()?.trim();
    if let Ok(n) = text.parse::<f64>() {
        return Some(if n < 0.0 { -1 } else { n as i64 });
    }
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut total = 0.0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        total += number
            * match &rest[..unit_end] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
        rest = &rest[unit_end..];
    }
    Some(if negative { -1 } else { total as i64 })
}

pub fn parse_scenario(text: &str) -> Result<Scenario, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let ms = |key: &str, default: u64| Duration::from_millis(root.get(key).and_then(Value::as_u64).unwrap_or(default));
    let mut installed = Vec::new();
    for (index, model) in root
        .get("installed")
        .and_then(Value::as_array)
        .ok_or("\"installed\" must be a list")?
        .iter()
        .enumerate()
    {
        let text = |key: &str, default: &str| model.get(key).and_then(Value::as_str).unwrap_or(default).to_owned();
        installed.push(Installed {
            name: model
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("installed model {index} needs a \"name\""))?
                .to_owned(),
            size: model.get("size").and_then(Value::as_u64).unwrap_or(1 << 30),
            family: text("family", "llama"),
            parameter_size: text("parameter_size", "7B"),
            quantization_level: text("quantization_level", "Q4_K_M"),
            context_length: model.get("context_length").and_then(Value::as_u64).unwrap_or(4096),
        });
    }
    let keep_alive_s = match root.get("keep_alive") {
        Some(value) => parse_duration_s(value).ok_or("\"keep_alive\" is not a duration")?,
        None => 300,
    };
    let mut loaded = Vec::new();
    for entry in root
        .get("loaded")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a loaded model needs a \"name\"")?;
        if !installed.iter().any(|m| m.name == name) {
            return Err(format!("loaded model {name} is not installed"));
        }
        let keep = if entry.get("pinned").and_then(Value::as_bool) == Some(true) {
            -1
        } else {
            match entry.get("keep_alive") {
                Some(value) => parse_duration_s(value).ok_or(format!("{name}: \"keep_alive\" is not a duration"))?,
                None => keep_alive_s,
            }
        };
        loaded.push((name.to_owned(), keep));
    }
    Ok(Scenario {
        version: root
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("0.12.6")
            .to_owned(),
        max_loaded_models: root
            .get("max_loaded_models")
            .and_then(Value::as_u64)
            .unwrap_or(3)
            .max(1) as usize,
        keep_alive_s,
        cold_load: ms("cold_load_ms", 300),
        token_delay: ms("token_delay_ms", 20),
        response: root
            .get("response")
            .and_then(Value::as_str)
            .unwrap_or("The sky is blue because of Rayleigh scattering.")
            .to_owned(),
        json_response: root.get("json_response").and_then(Value::as_str).map(str::to_owned),
        installed,
        loaded,
    })
}

struct Loaded {
    name: String,
    /// `None` = pinned.
    expires: Option<chrono::DateTime<chrono::Utc>>,
    last_used: Instant,
}

struct State {
    scenario: Scenario,
    loaded: Vec<Loaded>,
}

fn expiry(keep_alive_s: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    (keep_alive_s >= 0).then(|| chrono::Utc::now() + chrono::Duration::seconds(keep_alive_s))
}

impl State {
    fn drop_expired(&mut self) {
        let now = chrono::Utc::now();
        self.loaded.retain(|m| m.expires.is_none_or(|at| at > now));
    }

    fn installed(&self, name: &str) -> Option<&Installed> {
        let full = if name.contains(':') {
            name.to_owned()
        } else {
            format!("{name}:latest")
        };
        self.scenario
            .installed
            .iter()
            .find(|m| m.name == name || m.name == full)
    }
}

/// A running stand-in: a tiny_http server whose requests are answered on threads of their own
/// (a streamed answer takes time), until dropped.
pub struct StandIn {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    pub fn start_file(path: &std::path::Path, bind: &str, port: u16) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let scenario = parse_scenario(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::start(scenario, bind, port)
    }

    pub fn start(scenario: Scenario, bind: &str, port: u16) -> Result<Self, String> {
        let server = tiny_http::Server::http((bind, port)).map_err(|e| format!("binding {bind}:{port}: {e}"))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or("the server is not on an IP socket")?;
        let loaded = scenario
            .loaded
            .iter()
            .map(|(name, keep)| Loaded {
                name: name.clone(),
                expires: expiry(*keep),
                last_used: Instant::now(),
            })
            .collect();
        let state = Arc::new(Mutex::new(State { scenario, loaded }));
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let state = Arc::clone(&state);
                std::thread::spawn(move || answer(request, &state));
            }
        });
        Ok(Self {
            port,
            server,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as Clusterbar's `ollama_boxes` take it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn details(model: &Installed) -> Value {
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    })
}

/// A stable fake digest per name (64 hex digits).
fn digest(name: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}").repeat(4)
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "error": message }))
}

fn answer(mut request: tiny_http::Request, state: &Mutex<State>) {
    let mut body = String::new();
    if request
        .as_reader()
        .take(MAX_REQUEST_BYTES)
        .read_to_string(&mut body)
        .is_err()
    {
        respond_json(request, error(400, "unreadable body"));
        return;
    }
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let method = request.method().clone();
    use tiny_http::Method::{Get, Head, Post};
    let reply = match (&method, path.as_str()) {
        (Get | Head, "/") => (200, Value::String("Ollama is running".into())),
        (Get | Head, "/api/version") => (200, json!({ "version": lock(state).scenario.version })),
        (Get, "/api/tags") => (200, tags(state)),
        (Get, "/api/ps") => (200, ps(state)),
        (Post, "/api/generate" | "/api/chat" | "/v1/chat/completions") => {
            let Ok(parsed) = serde_json::from_str::<Value>(&body) else {
                respond_json(request, error(400, "invalid JSON body"));
                return;
            };
            return complete(request, &path, &parsed, state);
        }
        _ => error(404, "404 page not found"),
    };
    respond_json(request, reply);
}

fn respond_json(request: tiny_http::Request, (status, value): (u16, Value)) {
    let text = match value {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let mut response = tiny_http::Response::from_string(text).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json; charset=utf-8"[..]) {
        response = response.with_header(header);
    }
    let _ = request.respond(response);
}

fn tags(state: &Mutex<State>) -> Value {
    let state = lock(state);
    let models: Vec<Value> = state
        .scenario
        .installed
        .iter()
        .map(|m| {
            json!({
                "name": m.name, "model": m.name, "modified_at": "2025-05-10T08:06:48.639712648-07:00",
                "size": m.size, "digest": digest(&m.name), "details": details(m),
            })
        })
        .collect();
    json!({ "models": models })
}

fn ps(state: &Mutex<State>) -> Value {
    let mut state = lock(state);
    state.drop_expired();
    let models: Vec<Value> = state
        .loaded
        .iter()
        .filter_map(|m| {
            let installed = state.installed(&m.name)?;
            // Pinned: ~292 years ahead (not documented; see the crate docs).
            let expires = m
                .expires
                .unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::days(292 * 365));
            Some(json!({
                "name": m.name, "model": m.name, "size": installed.size, "digest": digest(&m.name),
                "details": details(installed),
                "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "size_vram": installed.size, "context_length": installed.context_length,
            }))
        })
        .collect();
    json!({ "models": models })
}

/// Makes `name` loaded (evicting the least recently used when full, then waiting the cold
/// load) or refreshes it; returns the load time. `keep_alive_s`: the request's, else the default.
fn ensure_loaded(state: &Mutex<State>, name: &str, keep_alive_s: Option<i64>) -> Duration {
    let (cold, keep) = {
        let mut state = lock(state);
        state.drop_expired();
        let keep = keep_alive_s.unwrap_or(state.scenario.keep_alive_s);
        if let Some(model) = state.loaded.iter_mut().find(|m| m.name == name) {
            model.last_used = Instant::now();
            model.expires = expiry(keep);
            return Duration::ZERO;
        }
        while state.loaded.len() >= state.scenario.max_loaded_models {
            let Some(oldest) = state
                .loaded
                .iter()
                .enumerate()
                .min_by_key(|(_, m)| m.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            state.loaded.remove(oldest);
        }
        (state.scenario.cold_load, keep)
    };
    std::thread::sleep(cold);
    let mut state = lock(state);
    state.loaded.retain(|m| m.name != name);
    state.loaded.push(Loaded {
        name: name.to_owned(),
        expires: expiry(keep),
        last_used: Instant::now(),
    });
    cold
}

fn complete(request: tiny_http::Request, path: &str, body: &Value, state: &Mutex<State>) {
    let Some(requested) = body.get("model").and_then(Value::as_str) else {
        respond_json(request, error(400, "model is required"));
        return;
    };
    let asks_json = match body.get("prompt") {
        Some(prompt) => prompt.as_str().is_some_and(|p| p.contains("JSON")),
        None => body.get("messages").and_then(Value::as_array).is_some_and(|messages| {
            messages
                .iter()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .any(|c| c.contains("JSON"))
        }),
    };
    let (name, response_text, token_delay) = {
        let state = lock(state);
        match state.installed(requested) {
            Some(model) => (
                model.name.clone(),
                match &state.scenario.json_response {
                    Some(json) if asks_json => json.clone(),
                    _ => state.scenario.response.clone(),
                },
                state.scenario.token_delay,
            ),
            None => {
                drop(state);
                respond_json(request, error(404, &format!("model '{requested}' not found")));
                return;
            }
        }
    };
    let keep_alive = body.get("keep_alive").and_then(parse_duration_s);
    let openai = path == "/v1/chat/completions";
    let prompt_words = match path {
        "/api/generate" => body
            .get("prompt")
            .and_then(Value::as_str)
            .map(|p| p.split_whitespace().count()),
        _ => body.get("messages").and_then(Value::as_array).and_then(|messages| {
            (!messages.is_empty()).then(|| {
                messages
                    .iter()
                    .filter_map(|m| m.get("content").and_then(Value::as_str))
                    .map(|c| c.split_whitespace().count())
                    .sum()
            })
        }),
    };
    let is_chat = path == "/api/chat";
    // docs/api.md: an empty prompt (or messages) loads the model; with keep_alive 0 it unloads.
    let load_only = match path {
        "/api/generate" => body.get("prompt").and_then(Value::as_str).is_none_or(str::is_empty),
        "/api/chat" => prompt_words.is_none(),
        _ => false,
    };
    if load_only {
        let reason = if keep_alive == Some(0) {
            lock(state).loaded.retain(|m| m.name != name);
            "unload"
        } else {
            ensure_loaded(state, &name, keep_alive);
            "load"
        };
        let mut done = json!({ "model": name, "created_at": now_text(), "done": true, "done_reason": reason });
        if is_chat {
            done["message"] = json!({ "role": "assistant", "content": "" });
        } else {
            done["response"] = json!("");
        }
        respond_json(request, (200, done));
        return;
    }
    let started = Instant::now();
    let load = ensure_loaded(state, &name, keep_alive);
    let mut tokens: Vec<String> = response_text.split_inclusive(' ').map(str::to_owned).collect();
    // docs/api.md: `options.num_predict` caps the tokens (OpenAI's `max_tokens` on /v1); -1 = no cap.
    let cap = if openai {
        body.get("max_tokens").and_then(Value::as_u64)
    } else {
        body.pointer("/options/num_predict").and_then(Value::as_u64)
    };
    if let Some(cap) = cap {
        tokens.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(!openai);
    let prompt_eval_count = prompt_words.unwrap_or(1).max(1) as u64 + 10;
    let prompt_eval = Duration::from_millis(2);
    let piece = |token: &str, done: bool| -> Value {
        let mut value = json!({ "model": name, "created_at": now_text(), "done": done });
        if is_chat {
            value["message"] = json!({ "role": "assistant", "content": token });
        } else {
            value["response"] = json!(token);
        }
        value
    };
    let finals = |value: &mut Value, eval: Duration, total: Duration| {
        value["done_reason"] = json!("stop");
        value["total_duration"] = json!(total.as_nanos() as u64);
        value["load_duration"] = json!(load.as_nanos() as u64);
        value["prompt_eval_count"] = json!(prompt_eval_count);
        value["prompt_eval_duration"] = json!(prompt_eval.as_nanos() as u64);
        value["eval_count"] = json!(tokens.len());
        value["eval_duration"] = json!(eval.as_nanos() as u64);
    };
    if !stream {
        std::thread::sleep(token_delay * tokens.len() as u32);
        let text: String = tokens.concat();
        let value = if openai {
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": chrono::Utc::now().timestamp(),
                "model": name, "system_fingerprint": "fp_ollama",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": prompt_eval_count, "completion_tokens": tokens.len(),
                           "total_tokens": prompt_eval_count + tokens.len() as u64 },
            })
        } else {
            let mut value = piece(&text, true);
            finals(&mut value, token_delay * tokens.len() as u32, started.elapsed());
            value
        };
        respond_json(request, (200, value));
        return;
    }
    let content_type = if openai {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    let mut writer = request.into_writer();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = writer.write_all(head.as_bytes()) {
        eprintln!("ollama-standin: answering: {e}");
        return;
    }
    let mut send = |text: &str| -> std::io::Result<()> {
        write!(writer, "{:x}\r\n{text}\r\n", text.len())?;
        writer.flush()
    };
    let result = (|| -> std::io::Result<()> {
        let eval_started = Instant::now();
        for (index, token) in tokens.iter().enumerate() {
            std::thread::sleep(token_delay);
            let line = if openai {
                let mut delta = json!({ "content": token });
                if index == 0 {
                    delta["role"] = json!("assistant");
                }
                format!(
                    "data: {}\n\n",
                    json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk",
                            "created": chrono::Utc::now().timestamp(), "model": name,
                            "system_fingerprint": "fp_ollama",
                            "choices": [{ "index": 0, "delta": delta, "finish_reason": null }] })
                )
            } else {
                format!("{}\n", piece(token, false))
            };
            send(&line)?;
        }
        let last = if openai {
            format!(
                "data: {}\n\ndata: [DONE]\n\n",
                json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk",
                        "created": chrono::Utc::now().timestamp(), "model": name,
                        "system_fingerprint": "fp_ollama",
                        "choices": [{ "index": 0, "delta": { "content": "" }, "finish_reason": "stop" }] })
            )
        } else {
            let mut value = piece("", true);
            finals(&mut value, eval_started.elapsed(), started.elapsed());
            format!("{value}\n")
        };
        send(&last)?;
        send("")
    })();
    if let Err(e) = result {
        eprintln!("ollama-standin: streaming: {e}");
    }
}

/// A minimal HTTP/1.1 POST for tests (no client library needed): the whole answer body, with
/// chunked transfer decoded.
pub fn post(address: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| format!("connecting to {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}
