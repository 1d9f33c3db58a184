//! The Porten stand-ins: a Hub on loopback ([`HubStandIn`]) serving the catalog and warming
//! endpoints, and (in `main.rs`) an agent executable, `porten-standin`, that tests copy or link
//! as `porten`.
//!
//! Hub endpoints:
//! - `GET /v1/models` → `{"object": "list", "data": [{"id": …, "object": "model"}, …]}`
//! - `GET /public/v1/models/warming?model=ID` → the JSON given for ID, else 404.
//!
//! Every request's path is recorded ([`HubStandIn::requests`]) so tests can check caching.

use exo_standin::Serving;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct HubStandIn {
    serving: Serving,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HubStandIn {
    /// Serves `offered` as the catalog and `warming[id]` as each model's warming answer.
    pub fn start(offered: &[&str], warming: HashMap<String, Value>) -> Result<Self, String> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let catalog = json!({
            "object": "list",
            "data": offered.iter().map(|id| json!({"id": id, "object": "model"})).collect::<Vec<_>>(),
        });
        let seen = Arc::clone(&requests);
        let serving = Serving::start("127.0.0.1", 0, move |server| {
            for request in server.incoming_requests() {
                let url = request.url().to_owned();
                if let Ok(mut seen) = seen.lock() {
                    seen.push(url.clone());
                }
                let (status, body) = answer(&url, &catalog, &warming);
                let response = tiny_http::Response::from_string(body.to_string()).with_status_code(status);
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

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn wait(self) {
        self.serving.wait();
    }
}

fn answer(url: &str, catalog: &Value, warming: &HashMap<String, Value>) -> (u16, Value) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    match path {
        "/v1/models" => (200, catalog.clone()),
        "/public/v1/models/warming" => {
            let model = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == "model")
                .map(|(_, v)| percent_decode(v))
                .unwrap_or_default();
            match warming.get(&model) {
                Some(value) => (200, value.clone()),
                None => (404, json!({"error": "not warming"})),
            }
        }
        _ => (404, json!({"error": "not found"})),
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
