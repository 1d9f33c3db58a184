//! `exo-standin`: a stand-in for exo's HTTP API that plays a scenario file through time, so
//! Clusterbar's exo reader can be tested without a cluster of Macs.
//!
//! ```text
//! exo-standin --scenario FILE [--port N]     (port 0 = any free port; default 0)
//! ```
//! The first line on stdout is always the bound port.
//!
//! Scenario file (JSON):
//! ```jsonc
//! {
//!   "node_id": "…",                  // what GET /node_id answers (a step may change it)
//!   "models": { "object": "list", "data": [ … ] },   // GET /v1/models, verbatim
//!   "place_progress_ms": [300, 600, 900],  // placed instance: downloading → loading → ready at these ms
//!   "steps": [
//!     { "at_ms": 0, "state": { … } },      // full /state from this time on
//!     { "at_ms": 500, "merge": { … } },    // RFC 7396 merge patch over the previous step's state
//!     { "at_ms": 900, "state": {}, "node_id": "…" }
//!   ]
//! }
//! ```
//! The step in force is the last one whose `at_ms` has passed since the server started.
//! `POST /place_instance` adds an instance on the first `min_nodes` topology nodes whose runners
//! progress through `place_progress_ms`; `DELETE /instance/{id}` removes a placed or scripted one.

use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Requests larger than this are refused; a placement request is a few hundred bytes.
const MAX_REQUEST_BYTES: u64 = 1 << 20;

struct Step {
    at: Duration,
    state: Value,
    node_id: String,
    /// From this step on, exo's view stops moving (see `Server::state`); `Some(ms)`: it had
    /// already stood still that long when the step began.
    frozen: Option<Duration>,
}

/// What a route answers: JSON, or a raw event stream (`/instance/await`).
enum Reply {
    Json(Value),
    EventStream(String),
}

/// `%2F` → `/` and the like, for query values (a model id carries a slash).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || {
            std::str::from_utf8(bytes.get(i + 1..i + 3)?)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        match (bytes[i], hex()) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Placed {
    instance_id: String,
    model_id: String,
    card: Value,
    nodes: Vec<String>,
    placed_at: Instant,
}

pub struct Scenario {
    steps: Vec<Step>,
    models: Value,
    /// Cards `POST /models/add` finds (as if in exo's model folders).
    local_models: Vec<Value>,
    progress: [Duration; 3],
    /// exo's `lastEventAppliedIdx` at the start; it then moves as a live exo's does.
    first_event_idx: u64,
}

struct Server {
    scenario: Scenario,
    started: Instant,
    placed: Vec<Placed>,
    deleted: HashSet<String>,
    next_id: u64,
}

/// A tiny_http server answering on a thread of this process until dropped (shared with the
/// Porten Hub stand-in).
pub struct Serving {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Serving {
    /// Binds `bind:port` (port 0 = any free port) and runs `answer` over the server on a thread.
    pub fn start(
        bind: &str,
        port: u16,
        answer: impl FnOnce(&tiny_http::Server) + Send + 'static,
    ) -> Result<Self, String> {
        let server = tiny_http::Server::http((bind, port)).map_err(|e| format!("binding {bind}:{port}: {e}"))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or("the server is not on an IP socket")?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || answer(&serving));
        Ok(Self {
            port,
            server,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running stand-in, serving on 127.0.0.1 (or the address given) in a thread of this process.
pub struct StandIn {
    serving: Serving,
}

impl StandIn {
    /// Serves `scenario_path` on `bind:port` (port 0 = any free port).
    pub fn start(scenario_path: &std::path::Path, bind: &str, port: u16) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(scenario_path).map_err(|e| format!("reading {}: {e}", scenario_path.display()))?;
        let scenario = parse_scenario(&text).map_err(|e| format!("{}: {e}", scenario_path.display()))?;
        let serving = Serving::start(bind, port, move |server| serve(server, scenario))?;
        Ok(Self { serving })
    }

    pub fn port(&self) -> u16 {
        self.serving.port()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Serves until the process ends.
    pub fn wait(self) {
        self.serving.wait();
    }
}

fn serve(server: &tiny_http::Server, scenario: Scenario) {
    let mut state = Server {
        scenario,
        started: Instant::now(),
        placed: Vec::new(),
        deleted: HashSet::new(),
        next_id: 1,
    };
    for mut request in server.incoming_requests() {
        let mut body = String::new();
        let read = request.as_reader().take(MAX_REQUEST_BYTES).read_to_string(&mut body);
        let (status, reply) = match read {
            Ok(_) => state.answer(request.method(), request.url(), &body),
            Err(e) => (400, Reply::Json(error_body(400, &format!("unreadable body: {e}")))),
        };
        let (content_type, text) = match reply {
            Reply::EventStream(stream) => (&b"text/event-stream"[..], stream),
            Reply::Json(value) => (&b"application/json"[..], value.to_string()),
        };
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type);
        let mut response = tiny_http::Response::from_string(text).with_status_code(status);
        if let Ok(header) = header {
            response = response.with_header(header);
        }
        if let Err(e) = request.respond(response) {
            eprintln!("exo-standin: answering: {e}");
        }
    }
}

pub fn parse_scenario(text: &str) -> Result<Scenario, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut node_id = root.get("node_id").and_then(Value::as_str).unwrap_or("").to_owned();
    let raw_steps = root
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("\"steps\" must be a list")?;
    let mut steps = Vec::new();
    let mut previous = json!({});
    for (index, raw) in raw_steps.iter().enumerate() {
        let at_ms = raw
            .get("at_ms")
            .and_then(Value::as_u64)
            .ok_or(format!("step {index}: \"at_ms\" must be a whole number"))?;
        let state = if let Some(state) = raw.get("state") {
            state.clone()
        } else if let Some(patch) = raw.get("merge") {
            let mut state = previous.clone();
            merge_patch(&mut state, patch);
            state
        } else {
            return Err(format!("step {index}: needs \"state\" or \"merge\""));
        };
        if let Some(id) = raw.get("node_id").and_then(Value::as_str) {
            node_id = id.to_owned();
        }
        previous = state.clone();
        steps.push(Step {
            at: Duration::from_millis(at_ms),
            state,
            node_id: node_id.clone(),
            frozen: (raw.get("frozen").and_then(Value::as_bool) == Some(true))
                .then(|| Duration::from_millis(raw.get("frozen_ago_ms").and_then(Value::as_u64).unwrap_or(0))),
        });
    }
    if steps.is_empty() {
        return Err("\"steps\" is empty".into());
    }
    let progress_ms: Vec<u64> = root
        .get("place_progress_ms")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_else(|| vec![300, 600, 900]);
    let [downloading, loading, ready] = progress_ms[..] else {
        return Err("\"place_progress_ms\" must be three numbers".into());
    };
    let first_event_idx = steps
        .first()
        .and_then(|s| s.state.get("lastEventAppliedIdx"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(Scenario {
        steps,
        models: root
            .get("models")
            .cloned()
            .unwrap_or_else(|| json!({"object": "list", "data": []})),
        local_models: root
            .get("local_models")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        first_event_idx,
        progress: [
            Duration::from_millis(downloading),
            Duration::from_millis(loading),
            Duration::from_millis(ready),
        ],
    })
}

/// RFC 7396: objects merge key by key, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn error_body(code: u16, message: &str) -> Value {
    json!({"error": {"message": message, "type": "error", "code": code}})
}

impl Server {
    fn current_step(&self) -> &Step {
        let elapsed = self.started.elapsed();
        let mut current = &self.scenario.steps[0];
        for step in &self.scenario.steps {
            if step.at <= elapsed {
                current = step;
            }
        }
        current
    }

    fn answer(&mut self, method: &tiny_http::Method, url: &str, body: &str) -> (u16, Reply) {
        let path = url.split('?').next().unwrap_or(url);
        if (method, path) == (&tiny_http::Method::Get, "/instance/await") {
            return (200, Reply::EventStream(self.await_instance(url)));
        }
        let (status, json) = match (method, path) {
            (tiny_http::Method::Get, "/node_id") => (200, Value::String(self.current_step().node_id.clone())),
            (tiny_http::Method::Get, "/state") => (200, self.state()),
            (tiny_http::Method::Get, "/v1/models") | (tiny_http::Method::Get, "/models") => {
                (200, self.scenario.models.clone())
            }
            (tiny_http::Method::Post, "/place_instance") => self.place(body),
            (tiny_http::Method::Post, "/models/add") => self.add_model(body),
            (tiny_http::Method::Delete, _) if path.starts_with("/instance/") => {
                self.delete(&path["/instance/".len()..])
            }
            _ => (404, json!({"detail": "Not Found"})),
        };
        (status, Reply::Json(json))
    }

    /// `POST /models/add`: exo reads the model from its model folders (or Hugging Face) and
    /// answers with a `/v1/models` entry; here, a model listed under the scenario's
    /// `local_models` is found, anything else is what real exo says offline (a 400).
    fn add_model(&mut self, body: &str) -> (u16, Value) {
        let Some(model_id) = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("model_id").and_then(Value::as_str).map(str::to_owned))
        else {
            return (422, json!({"detail": "model_id is required"}));
        };
        let Some(card) = self
            .scenario
            .local_models
            .iter()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(model_id.as_str()))
            .cloned()
        else {
            return (
                400,
                json!({"detail": format!("Failed to fetch model: {model_id} is not in any model directory")}),
            );
        };
        if let Some(Value::Array(data)) = self.scenario.models.get_mut("data") {
            if !data.iter().any(|c| c.get("id") == card.get("id")) {
                data.push(card.clone());
            }
        }
        (200, card)
    }

    /// `GET /instance/await?model_id=…`: exo streams one SSE message once an instance of the model
    /// exists. The stand-in answers at once (its placed instances exist from the request on)
    /// rather than holding its one serving thread.
    fn await_instance(&self, url: &str) -> String {
        let model_id = url
            .split_once('?')
            .map(|(_, query)| query)
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("model_id="))
            .map(percent_decode)
            .unwrap_or_default();
        let placed = self.placed.iter().find(|p| p.model_id == model_id);
        let message = match placed {
            Some(p) => json!({"type": "ready", "instance": {"MlxRingInstance": {"instance_id": p.instance_id}}}),
            None => json!({"type": "timeout", "message": format!("No instance found for model {model_id}")}),
        };
        format!(": keep-alive\n\ndata: {message}\n\n")
    }

    fn place(&mut self, body: &str) -> (u16, Value) {
        let Ok(params) = serde_json::from_str::<Value>(body) else {
            return (422, json!({"detail": "body is not JSON"}));
        };
        let Some(model_id) = params.get("model_id").and_then(Value::as_str) else {
            return (422, json!({"detail": "model_id is required"}));
        };
        let min_nodes = params.get("min_nodes").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
        let card = self
            .scenario
            .models
            .get("data")
            .and_then(Value::as_array)
            .and_then(|models| {
                models
                    .iter()
                    .find(|m| m.get("id").and_then(Value::as_str) == Some(model_id))
            })
            .cloned();
        let Some(card) = card else {
            return (
                400,
                error_body(400, &format!("Failed to load model card: unknown model {model_id}")),
            );
        };
        let nodes: Vec<String> = self
            .current_step()
            .state
            .pointer("/topology/nodes")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if nodes.len() < min_nodes {
            return (
                400,
                error_body(
                    400,
                    &format!("No cycles found with sufficient memory ({min_nodes} nodes needed)"),
                ),
            );
        }
        let instance_id = format!("00000000-0000-4000-8000-{:012x}", self.next_id);
        let command_id = format!("00000000-0000-4000-9000-{:012x}", self.next_id);
        self.next_id += 1;
        self.placed.push(Placed {
            instance_id,
            model_id: model_id.to_owned(),
            card: card.clone(),
            nodes: nodes.into_iter().take(min_nodes).collect(),
            placed_at: Instant::now(),
        });
        (
            200,
            json!({"message": "Command received.", "command_id": command_id, "model_card": card}),
        )
    }

    fn delete(&mut self, instance_id: &str) -> (u16, Value) {
        let placed_before = self.placed.len();
        self.placed.retain(|p| p.instance_id != instance_id);
        let scripted = self
            .current_step()
            .state
            .get("instances")
            .and_then(|i| i.get(instance_id))
            .is_some();
        if self.placed.len() == placed_before && (!scripted || self.deleted.contains(instance_id)) {
            return (404, error_body(404, "Instance not found"));
        }
        self.deleted.insert(instance_id.to_owned());
        (
            200,
            json!({"message": "Command received.", "command_id": format!("delete-{instance_id}"), "instance_id": instance_id}),
        )
    }

    /// The scripted state, less deleted instances, plus the placed ones at their current stage.
    fn state(&self) -> Value {
        let mut state = self.current_step().state.clone();
        let Some(root) = state.as_object_mut() else {
            return state;
        };
        // An empty state (election gap) stays empty, as exo's does.
        if root.is_empty() {
            return state;
        }
        let mut removed_runners = Vec::new();
        if let Some(Value::Object(instances)) = root.get_mut("instances") {
            for id in &self.deleted {
                if let Some(instance) = instances.remove(id) {
                    collect_runner_ids(&instance, &mut removed_runners);
                }
            }
        }
        if let Some(Value::Object(runners)) = root.get_mut("runners") {
            for runner in &removed_runners {
                runners.remove(runner);
            }
        }
        for (index, placed) in self.placed.iter().enumerate() {
            self.add_placed(root, index, placed);
        }
        // A live exo applies events several times a second, idle or not (real captures: ~5/s),
        // and each box reports itself every couple of seconds; a step marked `"frozen": true`
        // stops both, as on the survivor of a killed master.
        let step = self.current_step();
        let (live_for, frozen_before) = match step.frozen {
            Some(ago) => (step.at, ago),
            None => (self.started.elapsed(), Duration::ZERO),
        };
        root.insert(
            "lastEventAppliedIdx".into(),
            json!(self.scenario.first_event_idx + live_for.as_millis() as u64 / 200),
        );
        if let Some(Value::Object(last_seen)) = root.get_mut("lastSeen") {
            let stood_still = self.started.elapsed().saturating_sub(live_for) + frozen_before;
            let now = std::time::SystemTime::now()
                .checked_sub(stood_still)
                .unwrap_or_else(std::time::SystemTime::now);
            freshen_last_seen(last_seen, now);
        }
        state
    }

    fn add_placed(&self, root: &mut Map<String, Value>, index: usize, placed: &Placed) {
        let age = placed.placed_at.elapsed();
        let [downloading, loading, ready] = self.scenario.progress;
        let layers = placed.card.get("n_layers").and_then(Value::as_u64).unwrap_or(16);
        let world = placed.nodes.len().max(1) as u64;
        let bytes = placed
            .card
            .get("storage_size_megabytes")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .saturating_mul(1 << 20);
        let mut runner_to_shard = Map::new();
        let mut node_to_runner = Map::new();
        for (rank, node) in placed.nodes.iter().enumerate() {
            let rank = rank as u64;
            let runner_id = format!("00000000-0000-4000-a{:03x}-{:012x}", index, rank);
            let (start, end) = (layers * rank / world, layers * (rank + 1) / world);
            let shard = json!({"PipelineShardMetadata": {
                "modelCard": {"modelId": placed.model_id, "storageSize": {"inBytes": bytes}, "nLayers": layers},
                "deviceRank": rank, "worldSize": world, "startLayer": start, "endLayer": end, "nLayers": layers
            }});
            runner_to_shard.insert(runner_id.clone(), shard.clone());
            node_to_runner.insert(node.clone(), Value::String(runner_id.clone()));
            let status = if age < downloading {
                json!({"RunnerIdle": {}})
            } else if age < loading {
                json!({"RunnerLoading": {"layersLoaded": 0, "totalLayers": end - start}})
            } else if age < ready {
                // The real runner's sequence: Idle → Loading → Loaded → WarmingUp → Ready.
                json!({"RunnerWarmingUp": {}})
            } else {
                json!({"RunnerReady": {"prefillServerPort": null}})
            };
            insert_into(root, "runners", &runner_id, status);
            let download = if age < downloading {
                json!({"DownloadOngoing": {"nodeId": node, "shardMetadata": shard, "downloadProgress": {
                    "total": {"inBytes": bytes}, "downloaded": {"inBytes": bytes / 2},
                    "downloadedThisSession": {"inBytes": bytes / 2}, "completedFiles": 1, "totalFiles": 2,
                    "speed": 104857600.0, "etaMs": downloading.saturating_sub(age).as_millis() as u64, "files": {}
                }}})
            } else {
                json!({"DownloadCompleted": {"nodeId": node, "shardMetadata": shard, "total": {"inBytes": bytes}}})
            };
            let downloads = root.entry("downloads").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(downloads) = downloads {
                if let Value::Array(list) = downloads.entry(node.clone()).or_insert_with(|| json!([])) {
                    list.push(download);
                }
            }
        }
        let instance = json!({"MlxRingInstance": {
            "instanceId": placed.instance_id,
            "shardAssignments": {"modelId": placed.model_id, "runnerToShard": runner_to_shard, "nodeToRunner": node_to_runner},
            "hostsByNode": {}, "ephemeralPort": 52416
        }});
        insert_into(root, "instances", &placed.instance_id, instance);
    }
}

/// Scenario timestamps are fixed; shift them so the newest is "now" and the others keep their
/// age relative to it (a node scripted 60 s behind stays 60 s stale).
fn freshen_last_seen(last_seen: &mut Map<String, Value>, now: std::time::SystemTime) {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    let Some(newest) = last_seen.values().filter_map(parse).max() else {
        return;
    };
    let now = chrono::DateTime::<chrono::Utc>::from(now);
    for value in last_seen.values_mut() {
        if let Some(at) = parse(value) {
            let shifted = now - chrono::TimeDelta::milliseconds(newest - at);
            *value = Value::String(shifted.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
    }
}

fn insert_into(root: &mut Map<String, Value>, table: &str, key: &str, value: Value) {
    let entry = root.entry(table).or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(map) = entry {
        map.insert(key.to_owned(), value);
    }
}

fn collect_runner_ids(instance: &Value, out: &mut Vec<String>) {
    let Some(inner) = instance.as_object().and_then(|o| o.values().next()) else {
        return;
    };
    if let Some(Value::Object(map)) = inner.pointer("/shardAssignments/runnerToShard") {
        out.extend(map.keys().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_replaces_merges_and_deletes() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 5});
        merge_patch(&mut target, &json!({"a": {"b": 9, "c": null}, "d": [3], "f": "new"}));
        assert_eq!(target, json!({"a": {"b": 9}, "d": [3], "e": 5, "f": "new"}));
    }

    #[test]
    fn scenario_needs_steps_and_three_progress_times() {
        assert!(parse_scenario("{}").is_err());
        assert!(parse_scenario(r#"{"steps": []}"#).is_err());
        assert!(parse_scenario(r#"{"steps": [{"at_ms": 0}]}"#).is_err());
        assert!(parse_scenario(r#"{"steps": [{"at_ms": 0, "state": {}}], "place_progress_ms": [1]}"#).is_err());
        let ok = parse_scenario(
            r#"{"node_id": "n", "steps": [{"at_ms": 0, "state": {"x": 1}}, {"at_ms": 5, "merge": {"y": 2}}]}"#,
        )
        .unwrap();
        assert_eq!(ok.steps[1].state, json!({"x": 1, "y": 2}));
        assert_eq!(ok.steps[1].node_id, "n");
    }

    #[test]
    fn last_seen_is_shifted_to_now_keeping_relative_ages() {
        let mut map = json!({"a": "2026-06-22T14:00:01Z", "b": "2026-06-22T14:00:00.5Z", "c": 5})
            .as_object()
            .unwrap()
            .clone();
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        freshen_last_seen(&mut map, now);
        assert_eq!(map["a"], json!("1970-01-12T13:46:40.000000Z"));
        assert_eq!(map["b"], json!("1970-01-12T13:46:39.500000Z"));
        assert_eq!(map["c"], json!(5));
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                parse_scenario(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                count += 1;
            }
        }
        assert!(count >= 7, "expected the seven scenarios, found {count}");
    }
}
