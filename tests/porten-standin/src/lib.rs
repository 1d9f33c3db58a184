//! The Porten stand-ins: a Hub on loopback ([`HubStandIn`]) that speaks the shapes Porten's
//! public docs give, and (in `main.rs`) an agent executable, `porten-standin`, that tests copy
//! or link as `porten`.
//!
//! Hub endpoints (the API base is `http://127.0.0.1:PORT/v1`):
//! - `GET /v1/models` — needs `Authorization: Bearer <key>` when a key is set: no or another
//!   key → 401 `{"error": {"code": "invalid_api_key", …}}`, the forbidden key → 403
//!   `model_not_allowed`; else `{"object": "list", "data": [{"id", "object": "model"}, …]}`.
//! - `GET /public/v1/models/warming?model=ID` — public: `{"model", "ready", "phase", "done_mb",
//!   "total_mb", "pct"}`, the phase moving `downloading → loading → ready` through time as the
//!   model's [`WarmPlan`] says; an offered model without a plan is ready; an unknown id is 404
//!   `model_not_found`. A raw answer can be given instead ([`HubConfig::warming_json`]).
//! - `POST /v1/chat/completions` — the key as above; a model still warming → 503
//!   `model_warming` ("retry"), an unknown one → 404 `model_not_found`, else a short answer.
//!
//! Every request is recorded with its `Authorization` header ([`HubStandIn::requests`]).

use exo_standin::Serving;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a model warms on the stand-in Hub, from the Hub's start.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmPlan {
    pub total_mb: u64,
    /// The download phase; `done_mb` grows evenly over it.
    pub download: Duration,
    /// Then the load phase (all MB done, not ready yet); then ready.
    pub load: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct HubConfig {
    pub offered: Vec<String>,
    /// The key `/v1/models` requires; `None` = no key needed.
    pub key: Option<String>,
    /// A key that is known but not allowed to read the catalog (403).
    pub forbidden_key: Option<String>,
    pub warming: HashMap<String, WarmPlan>,
    /// A raw warming answer per id, served as is (for shapes other than the documented one).
    pub warming_json: HashMap<String, Value>,
}

/// One request as the Hub saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub url: String,
    pub authorization: Option<String>,
}

pub struct HubStandIn {
    serving: Serving,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
}

impl HubStandIn {
    /// A Hub that needs no key and serves `warming` as raw answers (the old constructor).
    pub fn start(offered: &[&str], warming: HashMap<String, Value>) -> Result<Self, String> {
        Self::serve(HubConfig {
            offered: offered.iter().map(|s| s.to_string()).collect(),
            warming_json: warming,
            ..HubConfig::default()
        })
    }

    pub fn serve(config: HubConfig) -> Result<Self, String> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let started = Instant::now();
        let serving = Serving::start("127.0.0.1", 0, move |server| {
            for mut request in server.incoming_requests() {
                let authorization = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.as_str().to_owned());
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(&mut request.as_reader(), &mut body);
                let seen_request = SeenRequest {
                    method: request.method().as_str().to_owned(),
                    url: request.url().to_owned(),
                    authorization,
                };
                let (status, answer) = respond(&config, &seen_request, &body, started.elapsed());
                if let Ok(mut seen) = seen.lock() {
                    seen.push(seen_request);
                }
                let header = tiny_http::Header::from_bytes("Content-Type", "application/json").ok();
                let mut response = tiny_http::Response::from_string(answer.to_string()).with_status_code(status);
                if let Some(header) = header {
                    response.add_header(header);
                }
                let _ = request.respond(response);
            }
        })?;
        Ok(Self { serving, requests })
    }

    pub fn port(&self) -> u16 {
        self.serving.port()
    }

    /// The Hub as the agent is told it: `ws://127.0.0.1:PORT`.
    pub fn hub_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port())
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn wait(self) {
        self.serving.wait();
    }
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"error": {"code": code, "message": message}}))
}

/// The key check of the authenticated API: `None` = allowed.
fn refused(config: &HubConfig, request: &SeenRequest) -> Option<(u16, Value)> {
    let key = config.key.as_deref()?;
    let bearer = request.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer "));
    match bearer {
        Some(given) if given == key => None,
        Some(given) if Some(given) == config.forbidden_key.as_deref() => Some(error(
            403,
            "model_not_allowed",
            "this key may not use the catalog in this region",
        )),
        Some(_) => Some(error(401, "invalid_api_key", "the API key is not valid")),
        None => Some(error(
            401,
            "missing_api_key",
            "authenticate with Authorization: Bearer sk-porten-…",
        )),
    }
}

/// The documented warming answer for `model` at `elapsed` after the Hub started.
pub fn warming_answer(model: &str, plan: Option<&WarmPlan>, elapsed: Duration) -> Value {
    let Some(plan) = plan else {
        return json!({"model": model, "ready": true, "phase": "ready", "done_mb": 0, "total_mb": 0, "pct": 100});
    };
    let (phase, done_mb) = if elapsed < plan.download {
        let share = elapsed.as_secs_f64() / plan.download.as_secs_f64().max(f64::MIN_POSITIVE);
        ("downloading", (plan.total_mb as f64 * share) as u64)
    } else if elapsed < plan.download + plan.load {
        ("loading", plan.total_mb)
    } else {
        ("ready", plan.total_mb)
    };
    let pct = (done_mb * 100).checked_div(plan.total_mb).unwrap_or(100);
    json!({"model": model, "ready": phase == "ready", "phase": phase, "done_mb": done_mb,
           "total_mb": plan.total_mb, "pct": pct})
}

fn respond(config: &HubConfig, request: &SeenRequest, body: &str, elapsed: Duration) -> (u16, Value) {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    let known = |id: &str| config.offered.iter().any(|o| o == id) || config.warming_json.contains_key(id);
    match (request.method.as_str(), path) {
        ("GET", "/v1/models") => {
            if let Some(refusal) = refused(config, request) {
                return refusal;
            }
            let data: Vec<Value> = config
                .offered
                .iter()
                .map(|id| json!({"id": id, "object": "model"}))
                .collect();
            (200, json!({"object": "list", "data": data}))
        }
        ("GET", "/public/v1/models/warming") => {
            let model = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == "model")
                .map(|(_, v)| percent_decode(v))
                .unwrap_or_default();
            if let Some(raw) = config.warming_json.get(&model) {
                return (200, raw.clone());
            }
            if !known(&model) {
                return error(404, "model_not_found", "no such model in the catalog");
            }
            (200, warming_answer(&model, config.warming.get(&model), elapsed))
        }
        ("POST", "/v1/chat/completions") => {
            if let Some(refusal) = refused(config, request) {
                return refusal;
            }
            let model = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            if !known(&model) {
                return error(404, "model_not_found", "no such model in the catalog");
            }
            let warming = warming_answer(&model, config.warming.get(&model), elapsed);
            if warming["ready"] != json!(true) {
                return error(
                    503,
                    "model_warming",
                    "the model is warming up longer than this request's budget; retry",
                );
            }
            (
                200,
                json!({"object": "chat.completion", "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}),
            )
        }
        _ => error(404, "not_found", "not found"),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warming_moves_through_the_documented_phases() {
        let plan = WarmPlan {
            total_mb: 49131,
            download: Duration::from_secs(10),
            load: Duration::from_secs(5),
        };
        let at = |s: f64| warming_answer("m", Some(&plan), Duration::from_secs_f64(s));
        assert_eq!(at(4.5)["phase"], "downloading");
        assert_eq!(at(4.5)["pct"], 44);
        assert_eq!(at(4.5)["done_mb"], 22108);
        assert_eq!(at(12.0)["phase"], "loading");
        assert_eq!(at(12.0)["ready"], false);
        assert_eq!(at(15.0)["phase"], "ready");
        assert_eq!(at(15.0)["ready"], true);
        assert_eq!(warming_answer("m", None, Duration::ZERO)["ready"], true);
    }
}
