//! `clusterbar bench`: streamed requests against a meter or an upstream, measured client-side with the same
//! definitions the meter uses (it feeds the bytes to a [`ResponseMeter`]), plus a JSON-fidelity check.
//!
//! Two engines: OpenAI-compatible servers (exo, llama-server, a meter) over `/v1/chat/completions` SSE, and
//! Ollama over its native `/api/chat` NDJSON stream ([`Engine::Ollama`]). Ollama also serves
//! `/v1/chat/completions`, but the native stream is used because (1) its last line carries Ollama's own
//! `eval_count` / `eval_duration`, so the server's decode rate is reported beside ours (the OpenAI-compatible
//! answer has token counts, no durations), and a cold load shows as `load_duration` rather than a mystery in
//! TTFT; (2) its request takes `keep_alive`, so a bench can leave each model's unload time as it found it
//! (a request without it resets the model to the daemon's default — a pinned model would lose its pin);
//! (3) it is what the meter's Ollama routes meter (`/api/chat` NDJSON), so a bench through a route and one
//! straight to the box measure the same thing. Loaded models come from `/api/ps` (Ollama's `/v1/models` and
//! `/api/tags` list what is installed, and benching an installed model loads it, which may evict another).
//! Several boxes: [`run_bench_boxes`], one box after the other.

use crate::metering::{Endpoint, Outcome, ResponseMeter};
use crate::ndjson::{NdjsonLine, NdjsonParser};
use crate::sse::{SseItem, SseParser};
use crate::stats::percentile;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const STORY_PROMPT: &str = "Write a short story about a robot who learns to paint.";
pub const JSON_PROMPT: &str = "Reply with only a JSON object with exactly two keys: \"name\" (a string, a fictional \
    person's name) and \"age\" (an integer). No other text.";

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("URL {0:?} is not a usable http:// URL")]
    BadUrl(String),
    #[error("{what}: {why}")]
    Request { what: String, why: String },
    #[error("{url}{listing} lists no models; pass --model")]
    NoModels { url: String, listing: &'static str },
}

/// How a server is asked: see the module's documentation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// `/v1/models` and `/v1/chat/completions` (SSE).
    #[default]
    #[serde(rename = "openai")]
    OpenAi,
    /// `/api/ps` and `/api/chat` (NDJSON).
    Ollama,
}

impl Engine {
    pub fn is_openai(&self) -> bool {
        *self == Self::OpenAi
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "openai" => Some(Self::OpenAi),
            "ollama" => Some(Self::Ollama),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Base URL, e.g. `http://127.0.0.1:52415` (exo) or a meter's address.
    pub url: String,
    /// Models to bench; empty = every id from `/v1/models`.
    pub models: Vec<String>,
    pub runs: u32,
    pub max_tokens: u32,
    /// Per request.
    pub timeout: Duration,
    pub engine: Engine,
    /// Ollama: the `keep_alive` (seconds; negative = for good) sent with a model's requests, so the
    /// bench leaves its unload time as it found it; a model not here gets the daemon's default.
    pub keep_alive_s: BTreeMap<String, i64>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:52415".into(),
            models: Vec::new(),
            runs: 5,
            max_tokens: 64,
            timeout: Duration::from_secs(120),
            engine: Engine::OpenAi,
            keep_alive_s: BTreeMap::new(),
        }
    }
}

/// min / p50 / p95 / max of the successful runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        values.sort_by(f64::total_cmp);
        Some(Self {
            n: values.len(),
            min: *values.first()?,
            p50: percentile(&values, 0.5)?,
            p95: percentile(&values, 0.95)?,
            max: *values.last()?,
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonFidelity {
    pub asked: u32,
    /// Answers containing a JSON object that parses.
    pub parsed: u32,
    /// Answers whose object has exactly `name` (string) and `age` (integer).
    pub schema_ok: u32,
    pub parsed_share: f64,
    pub schema_share: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelBench {
    pub model: String,
    pub runs: u32,
    pub failures: Vec<String>,
    pub ttft_ms: Option<Summary>,
    pub decode_tokens_per_s: Option<Summary>,
    pub e2e_ms: Option<Summary>,
    pub completion_tokens: Option<Summary>,
    pub json_fidelity: JsonFidelity,
    /// Ollama: its own decode rate (`eval_count / eval_duration` of the last line), beside ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_decode_tokens_per_s: Option<Summary>,
    /// Ollama: `load_duration` in ms (a cold load; ~0 when the model was in memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_load_ms: Option<Summary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchReport {
    pub url: String,
    #[serde(skip_serializing_if = "Engine::is_openai")]
    pub engine: Engine,
    pub prompt: String,
    pub max_tokens: u32,
    pub models: Vec<ModelBench>,
}

/// One streamed chat completion, measured.
#[derive(Debug, Clone)]
pub struct StreamRun {
    pub status: u16,
    pub ttft_ms: Option<f64>,
    pub decode_tokens_per_s: Option<f64>,
    pub e2e_ms: f64,
    pub completion_tokens: Option<u64>,
    pub text: String,
    pub body: Bytes,
    /// Ollama: `eval_count / eval_duration`, and `load_duration` in ms, from the last line.
    pub server_decode_tokens_per_s: Option<f64>,
    pub server_load_ms: Option<f64>,
    /// Ollama: an in-stream `{"error": …}` (the status stays 200).
    pub stream_error: Option<String>,
}

pub struct BenchClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl BenchClient {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, BenchError> {
        let base = url.trim_end_matches('/').to_string();
        match base.parse::<http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {}
            _ => return Err(BenchError::BadUrl(url.to_string())),
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Self {
            base,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    pub async fn model_ids(&self) -> Result<Vec<String>, BenchError> {
        let value = self.get_json("/v1/models").await?;
        Ok(value
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// The models an Ollama daemon has loaded (`/api/ps`), named exactly as it names them.
    pub async fn ollama_loaded_models(&self) -> Result<Vec<String>, BenchError> {
        let value = self.get_json("/api/ps").await?;
        Ok(value
            .get("models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                m.get("name")
                    .or_else(|| m.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect())
    }

    async fn get_json(&self, path: &str) -> Result<Value, BenchError> {
        let what = format!("GET {}{path}", self.base);
        let fail = |why: String| BenchError::Request {
            what: what.clone(),
            why,
        };
        let request = http::Request::get(format!("{}{path}", self.base))
            .body(Full::default())
            .map_err(|e| fail(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| fail("timed out".into()))?
            .map_err(|e| fail(error_chain(&e)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_bytes();
        // llama-server answers 503 {"error":{"message":"Loading model"}} until its model is loaded.
        if !status.is_success() {
            return Err(fail(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body).trim()
            )));
        }
        serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))
    }

    /// Sends one streamed chat completion (`extra` fields are merged into the request) and measures it.
    pub async fn stream_chat(
        &self,
        model: &str,
        prompt: &str,
        max_tokens: u32,
        extra: Value,
    ) -> Result<StreamRun, BenchError> {
        let mut body = json!({
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0,
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.stream(Endpoint::ChatCompletions, "/v1/chat/completions", model, body)
            .await
    }

    /// One streamed Ollama `/api/chat` (NDJSON), measured; `keep_alive_s` as the request's
    /// `keep_alive` (else the daemon's default applies, and resets the model's unload time).
    pub async fn stream_ollama_chat(
        &self,
        model: &str,
        prompt: &str,
        max_tokens: u32,
        keep_alive_s: Option<i64>,
    ) -> Result<StreamRun, BenchError> {
        let mut body = json!({
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": true,
            "options": {"num_predict": max_tokens, "temperature": 0},
        });
        if let Some(keep_alive) = keep_alive_s {
            body["keep_alive"] = json!(keep_alive);
        }
        self.stream(Endpoint::OllamaChat, "/api/chat", model, body).await
    }

    async fn stream(&self, endpoint: Endpoint, path: &str, model: &str, body: Value) -> Result<StreamRun, BenchError> {
        let what = format!("POST {}{path} ({model})", self.base);
        let fail = |why: String| BenchError::Request {
            what: what.clone(),
            why,
        };
        let request = http::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| fail(e.to_string()))?;
        let run = async {
            let sent_at = Instant::now();
            let response = self.client.request(request).await.map_err(|e| fail(error_chain(&e)))?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let mut meter = ResponseMeter::new(endpoint, status, content_type, sent_at);
            let mut text = TextCollector::new(endpoint);
            let mut all = Vec::new();
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| fail(e.to_string()))?;
                if let Some(data) = frame.data_ref() {
                    let at = Instant::now();
                    meter.observe(data, at);
                    text.feed(data);
                    all.extend_from_slice(data);
                }
            }
            text.finish();
            let record = meter.finish(model.to_string(), Outcome::Completed, Instant::now(), 0);
            let ollama = record.server_reported.ollama.as_ref();
            Ok(StreamRun {
                status,
                ttft_ms: record.ttft_ms,
                decode_tokens_per_s: record.decode_tokens_per_s,
                e2e_ms: record.e2e_ms,
                completion_tokens: record.completion_tokens,
                text: text.text,
                body: Bytes::from(all),
                server_decode_tokens_per_s: ollama.and_then(|o| o.eval_tokens_per_s),
                server_load_ms: ollama.and_then(|o| o.load_duration_ns).map(|ns| ns as f64 / 1e6),
                stream_error: record.stream_error,
            })
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| fail(format!("no answer in {:?}", self.timeout)))?
    }
}

/// "client error (Connect): tcp connect error: Connection refused" rather than just the outermost layer.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// The generated text of a chat-completions (SSE) or Ollama chat (NDJSON) stream.
struct TextCollector {
    ndjson: Option<NdjsonParser>,
    parser: SseParser,
    items: Vec<SseItem>,
    text: String,
}

impl Default for TextCollector {
    fn default() -> Self {
        Self::new(Endpoint::ChatCompletions)
    }
}

impl TextCollector {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            ndjson: matches!(endpoint, Endpoint::OllamaChat | Endpoint::OllamaGenerate).then(NdjsonParser::new),
            parser: SseParser::default(),
            items: Vec::new(),
            text: String::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if let Some(ndjson) = &mut self.ndjson {
            let text = &mut self.text;
            ndjson.feed(bytes, |line| ollama_text(line, text));
            return;
        }
        if self.parser.feed(bytes, &mut self.items).is_err() {
            return;
        }
        for item in self.items.drain(..) {
            let SseItem::Event { data, .. } = item else { continue };
            let Ok(value) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let content = value.pointer("/choices/0/delta/content").and_then(Value::as_str);
            self.text.push_str(content.unwrap_or(""));
        }
    }

    /// A last NDJSON line without its newline.
    fn finish(&mut self) {
        if let Some(ndjson) = &mut self.ndjson {
            let text = &mut self.text;
            ndjson.finish(|line| ollama_text(line, text));
        }
    }
}

/// `message.content` (chat) or `response` (generate) of one NDJSON line; thinking is not the answer.
fn ollama_text(line: NdjsonLine<'_>, text: &mut String) {
    let NdjsonLine::Line(line) = line else { return };
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let content = value
        .pointer("/message/content")
        .or_else(|| value.get("response"))
        .and_then(Value::as_str);
    text.push_str(content.unwrap_or(""));
}

/// (parses, matches the schema) for a model's answer to [`JSON_PROMPT`]: the outermost `{…}` (code fences and
/// chatter around it tolerated) must parse, and hold exactly `name` (string) and `age` (integer).
pub fn judge_json_answer(text: &str) -> (bool, bool) {
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return (false, false);
    };
    if end < start {
        return (false, false);
    }
    let Ok(value) = serde_json::from_str::<Value>(&text[start..=end]) else {
        return (false, false);
    };
    let schema_ok = value.as_object().is_some_and(|o| {
        o.len() == 2
            && o.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty())
            && o.get("age").is_some_and(|a| a.is_u64() || a.is_i64())
    });
    (true, schema_ok)
}

/// Where a running bench is: about to send request `request` (1-based) of `requests` for `model`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchProgress {
    pub model: String,
    pub request: u32,
    pub requests: u32,
}

pub async fn run_bench(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    run_bench_observed(options, |_| {}).await
}

/// [`run_bench`], telling `on_progress` before every request (the popover shows it).
pub async fn run_bench_observed(
    options: &BenchOptions,
    mut on_progress: impl FnMut(BenchProgress),
) -> Result<BenchReport, BenchError> {
    let client = BenchClient::new(&options.url, options.timeout)?;
    let models = match (options.models.is_empty(), options.engine) {
        (false, _) => options.models.clone(),
        (true, Engine::OpenAi) => client.model_ids().await?,
        (true, Engine::Ollama) => client.ollama_loaded_models().await?,
    };
    if models.is_empty() {
        return Err(BenchError::NoModels {
            url: options.url.clone(),
            listing: match options.engine {
                Engine::OpenAi => "/v1/models",
                Engine::Ollama => "/api/ps (loaded)",
            },
        });
    }
    let mut report = BenchReport {
        url: options.url.clone(),
        engine: options.engine,
        prompt: STORY_PROMPT.into(),
        max_tokens: options.max_tokens,
        models: Vec::new(),
    };
    for model in models {
        let (mut ttft, mut decode, mut e2e, mut tokens, mut failures) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut server_decode, mut server_load) = (vec![], vec![]);
        let keep_alive = options.keep_alive_s.get(&model).copied();
        let ask = |prompt: &'static str| {
            let (client, model) = (&client, &model);
            async move {
                match options.engine {
                    Engine::OpenAi => client.stream_chat(model, prompt, options.max_tokens, json!({})).await,
                    Engine::Ollama => {
                        client
                            .stream_ollama_chat(model, prompt, options.max_tokens, keep_alive)
                            .await
                    }
                }
            }
        };
        let mut fidelity = JsonFidelity {
            asked: 0,
            parsed: 0,
            schema_ok: 0,
            parsed_share: 0.0,
            schema_share: 0.0,
        };
        // Each run sends the story prompt, then the JSON prompt.
        let requests = options.runs.saturating_mul(2);
        let mut progress = |request: u32| {
            on_progress(BenchProgress {
                model: model.clone(),
                request,
                requests,
            })
        };
        for run in 0..options.runs {
            progress(2 * run + 1);
            match ask(STORY_PROMPT).await {
                Ok(StreamRun {
                    stream_error: Some(error),
                    ..
                }) => failures.push(format!("error in the stream: {error}")),
                Ok(run) if run.status == 200 => {
                    server_decode.extend(run.server_decode_tokens_per_s);
                    server_load.extend(run.server_load_ms);
                    ttft.extend(run.ttft_ms);
                    decode.extend(run.decode_tokens_per_s);
                    e2e.push(run.e2e_ms);
                    tokens.extend(run.completion_tokens.map(|n| n as f64));
                }
                Ok(run) => failures.push(format!("HTTP {}: {}", run.status, String::from_utf8_lossy(&run.body))),
                Err(e) => failures.push(e.to_string()),
            }
            fidelity.asked += 1;
            progress(2 * run + 2);
            match ask(JSON_PROMPT).await {
                Ok(StreamRun {
                    stream_error: Some(error),
                    ..
                }) => failures.push(format!("error in the stream (JSON prompt): {error}")),
                Ok(run) if run.status == 200 => {
                    let (parsed, schema_ok) = judge_json_answer(&run.text);
                    fidelity.parsed += u32::from(parsed);
                    fidelity.schema_ok += u32::from(schema_ok);
                }
                Ok(run) => failures.push(format!("HTTP {} (JSON prompt)", run.status)),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if fidelity.asked > 0 {
            fidelity.parsed_share = f64::from(fidelity.parsed) / f64::from(fidelity.asked);
            fidelity.schema_share = f64::from(fidelity.schema_ok) / f64::from(fidelity.asked);
        }
        report.models.push(ModelBench {
            model,
            runs: options.runs,
            failures,
            ttft_ms: Summary::of(ttft),
            decode_tokens_per_s: Summary::of(decode),
            e2e_ms: Summary::of(e2e),
            completion_tokens: Summary::of(tokens),
            json_fidelity: fidelity,
            server_decode_tokens_per_s: Summary::of(server_decode),
            server_load_ms: Summary::of(server_load),
        });
    }
    Ok(report)
}

/// One box of a bench over several (an Ollama box, `host:port`) and what it was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchTarget {
    pub address: String,
    /// This Mac's daemon.
    pub is_local: bool,
    /// Empty = what it has loaded.
    pub models: Vec<String>,
    /// See [`BenchOptions::keep_alive_s`].
    pub keep_alive_s: BTreeMap<String, i64>,
    /// Known before asking: with no `models`, why the box is not benched (it does not answer…); with
    /// some, a note kept beside their rows (another named model is not installed there…).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BoxBench {
    /// `host:port`, as the Snapshot's `ollama.boxes[].address`.
    pub address: String,
    pub url: String,
    pub is_local: bool,
    /// Why this box has no rows, or fewer than asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub models: Vec<ModelBench>,
}

/// A bench over several boxes: one row per box × model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BoxesBenchReport {
    pub engine: Engine,
    pub prompt: String,
    pub runs: u32,
    pub max_tokens: u32,
    pub boxes: Vec<BoxBench>,
}

/// Benches each box in turn (`options.url`, `models` and `keep_alive_s` are each target's). One box at a
/// time: boxes behind one Thunderbolt link or one proxy would otherwise share it, and each box's figures
/// must be its own.
pub async fn run_bench_boxes(targets: &[BenchTarget], options: &BenchOptions) -> BoxesBenchReport {
    let mut report = BoxesBenchReport {
        engine: options.engine,
        prompt: STORY_PROMPT.into(),
        runs: options.runs,
        max_tokens: options.max_tokens,
        boxes: Vec::new(),
    };
    for target in targets {
        let url = format!("http://{}", target.address);
        let mut row = BoxBench {
            address: target.address.clone(),
            url: url.clone(),
            is_local: target.is_local,
            problem: target.problem.clone(),
            models: Vec::new(),
        };
        if row.problem.is_none() || !target.models.is_empty() {
            let options = BenchOptions {
                url,
                models: target.models.clone(),
                keep_alive_s: target.keep_alive_s.clone(),
                ..options.clone()
            };
            match run_bench(&options).await {
                Ok(bench) => row.models = bench.models,
                Err(error) => row.problem = Some(error.to_string()),
            }
        }
        report.boxes.push(row);
    }
    report
}

fn pair(s: &Option<Summary>) -> String {
    s.as_ref()
        .map_or("n/a".to_string(), |s| format!("{:.0}/{:.0}", s.p50, s.p95))
}

fn one(s: &Option<Summary>) -> String {
    s.as_ref().map_or("n/a".to_string(), |s| format!("{:.1}", s.p50))
}

fn json_ok(f: &JsonFidelity) -> String {
    format!("{}/{} ({}/{})", f.schema_ok, f.asked, f.parsed, f.asked)
}

/// A plain-text table of a bench over several boxes: one row per box × model.
pub fn render_boxes_report(report: &BoxesBenchReport) -> String {
    let engine = match report.engine {
        Engine::OpenAi => "OpenAI-compatible",
        Engine::Ollama => "Ollama /api/chat",
    };
    let mut out = format!(
        "bench {} box(es), {engine} — {} runs of {:?}, max_tokens {}\n",
        report.boxes.len(),
        report.runs,
        report.prompt,
        report.max_tokens
    );
    let name = |b: &BoxBench| {
        if b.is_local {
            format!("{} (this Mac)", b.address)
        } else {
            b.address.clone()
        }
    };
    let box_width = report
        .boxes
        .iter()
        .map(|b| name(b).chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let model_width = report
        .boxes
        .iter()
        .flat_map(|b| &b.models)
        .map(|m| m.model.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    out.push_str(&format!(
        "{:<box_width$} {:<model_width$} {:>15} {:>10} {:>12} {:>10} {:>6} {:>12}\n",
        "box", "model", "TTFT ms p50/p95", "tok/s p50", "server tok/s", "e2e ms p50", "tokens", "JSON ok"
    ));
    for b in &report.boxes {
        let name = name(b);
        for m in &b.models {
            out.push_str(&format!(
                "{:<box_width$} {:<model_width$} {:>15} {:>10} {:>12} {:>10} {:>6} {:>12}\n",
                name,
                m.model,
                pair(&m.ttft_ms),
                one(&m.decode_tokens_per_s),
                one(&m.server_decode_tokens_per_s),
                one(&m.e2e_ms),
                m.completion_tokens
                    .as_ref()
                    .map_or("n/a".to_string(), |s| format!("{:.0}", s.p50)),
                json_ok(&m.json_fidelity),
            ));
            if let Some(load) = m.server_load_ms.as_ref().filter(|l| l.max >= 1000.0) {
                out.push_str(&format!(
                    "  {}: a cold load of {:.1} s (load_duration) in the first request's TTFT\n",
                    m.model,
                    load.max / 1000.0
                ));
            }
            for failure in &m.failures {
                out.push_str(&format!("  failed: {failure}\n"));
            }
        }
        if let Some(problem) = &b.problem {
            out.push_str(&format!("{name:<box_width$} not benched: {problem}\n"));
        }
    }
    out.push_str(
        "JSON ok = schema matches/asked (parses/asked). tok/s = ours, (n-1)/(t_last-t_first); \
         server tok/s = Ollama's eval_count/eval_duration.\n",
    );
    out
}

/// A plain-text table of a report.
pub fn render_report(report: &BenchReport) -> String {
    let mut out = format!(
        "bench {} — {} runs of {:?}, max_tokens {}\n",
        report.url,
        report.models.first().map_or(0, |m| m.runs),
        report.prompt,
        report.max_tokens
    );
    out.push_str(&format!(
        "{:<32} {:>16} {:>18} {:>16} {:>8} {:>12}\n",
        "model", "TTFT ms p50/p95", "decode tok/s p50", "e2e ms p50", "tokens", "JSON ok"
    ));
    for m in &report.models {
        out.push_str(&format!(
            "{:<32} {:>16} {:>18} {:>16} {:>8} {:>12}\n",
            m.model,
            pair(&m.ttft_ms),
            one(&m.decode_tokens_per_s),
            one(&m.e2e_ms),
            m.completion_tokens
                .as_ref()
                .map_or("n/a".to_string(), |s| format!("{:.0}", s.p50)),
            json_ok(&m.json_fidelity),
        ));
        for failure in &m.failures {
            out.push_str(&format!("  failed: {failure}\n"));
        }
    }
    out.push_str("JSON ok = schema matches/asked (parses/asked). decode = (n-1)/(t_last-t_first).\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_are_judged() {
        assert_eq!(judge_json_answer(r#"{"name":"Ada","age":36}"#), (true, true));
        assert_eq!(
            judge_json_answer("```json\n{\"name\": \"Bo\", \"age\": 4}\n```"),
            (true, true)
        );
        assert_eq!(judge_json_answer(r#"{"name":"Ada","age":"36"}"#), (true, false));
        assert_eq!(judge_json_answer(r#"{"name":"Ada","age":36,"x":1}"#), (true, false));
        assert_eq!(judge_json_answer(r#"{"name":"Ada","#), (false, false));
        assert_eq!(judge_json_answer("} nothing {"), (false, false));
        assert_eq!(judge_json_answer(""), (false, false));
    }

    #[test]
    fn summary_of_values() {
        let s = Summary::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.n, s.min, s.p50, s.max), (3, 1.0, 2.0, 3.0));
        assert_eq!(Summary::of(vec![]), None);
    }

    #[test]
    fn text_is_collected_from_split_chunks() {
        let mut collector = TextCollector::default();
        collector.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"na\"}}]}\n");
        collector.feed(b"\ndata: {\"choices\":[{\"delta\":{\"content\":\"me\"}}]}\n\ndata: [DONE]\n\n");
        assert_eq!(collector.text, "{\"name");
    }

    #[test]
    fn ollama_text_is_collected_from_split_ndjson_lines() {
        let mut collector = TextCollector::new(Endpoint::OllamaChat);
        collector.feed(b"{\"message\":{\"role\":\"assistant\",\"content\":\"{\\\"na\"},\"done\":false}\n{\"mess");
        collector.feed(b"age\":{\"content\":\"me\",\"thinking\":\"hm\"},\"done\":false}\r\n");
        collector.feed(b"{\"message\":{\"content\":\"\"},\"done\":true,\"eval_count\":2}");
        collector.finish();
        assert_eq!(collector.text, "{\"name");
        let mut generate = TextCollector::new(Endpoint::OllamaGenerate);
        generate.feed(b"{\"response\":\"a \"}\n{\"response\":\"b\"}\n");
        assert_eq!(generate.text, "a b");
    }

    fn model_row(model: &str, load_ms: f64) -> ModelBench {
        ModelBench {
            model: model.into(),
            runs: 1,
            failures: vec!["HTTP 500".into()],
            ttft_ms: Summary::of(vec![12.0]),
            decode_tokens_per_s: Summary::of(vec![49.5]),
            e2e_ms: Summary::of(vec![250.0]),
            completion_tokens: Summary::of(vec![12.0]),
            json_fidelity: JsonFidelity {
                asked: 1,
                parsed: 1,
                schema_ok: 0,
                parsed_share: 1.0,
                schema_share: 0.0,
            },
            server_decode_tokens_per_s: Summary::of(vec![50.1]),
            server_load_ms: Summary::of(vec![load_ms]),
        }
    }

    #[test]
    fn a_boxes_report_has_a_row_per_box_and_model() {
        let report = BoxesBenchReport {
            engine: Engine::Ollama,
            prompt: STORY_PROMPT.into(),
            runs: 1,
            max_tokens: 64,
            boxes: vec![
                BoxBench {
                    address: "127.0.0.1:11434".into(),
                    url: "http://127.0.0.1:11434".into(),
                    is_local: true,
                    problem: None,
                    models: vec![model_row("llama3.2:latest", 0.0), model_row("qwen3:32b", 2500.0)],
                },
                BoxBench {
                    address: "192.168.99.2:11434".into(),
                    url: "http://192.168.99.2:11434".into(),
                    is_local: false,
                    problem: Some("not answering".into()),
                    models: vec![],
                },
            ],
        };
        let text = render_boxes_report(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("2 box(es), Ollama /api/chat"), "{text}");
        assert!(
            lines[2].starts_with("127.0.0.1:11434 (this Mac) llama3.2:latest"),
            "{text}"
        );
        assert!(lines[2].contains("49.5") && lines[2].contains("50.1") && lines[2].contains("0/1 (1/1)"));
        assert_eq!(lines[3], "  failed: HTTP 500");
        assert!(lines[4].starts_with("127.0.0.1:11434 (this Mac) qwen3:32b"), "{text}");
        assert!(lines[5].contains("cold load of 2.5 s"), "{text}");
        assert!(lines[7].starts_with("192.168.99.2:11434") && lines[7].ends_with("not benched: not answering"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["engine"], "ollama");
        assert_eq!(json["boxes"][0]["models"][1]["server_load_ms"]["p50"], 2500.0);
        assert!(json["boxes"][0].get("problem").is_none());
        assert_eq!(Engine::parse(" Ollama "), Some(Engine::Ollama));
        assert_eq!(Engine::parse("exo"), None);
    }

    #[test]
    fn bad_urls_are_rejected() {
        assert!(BenchClient::new("ftp://x", Duration::from_secs(1)).is_err());
        assert!(BenchClient::new("127.0.0.1:80", Duration::from_secs(1)).is_err());
    }
}
