//! `clusterbar bench`: streamed requests against a meter or an upstream, measured client-side with the same
//! definitions the meter uses (it feeds the bytes to a [`ResponseMeter`]), plus a JSON-fidelity check.

use crate::metering::{Endpoint, Outcome, ResponseMeter};
use crate::sse::{SseItem, SseParser};
use crate::stats::percentile;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::{json, Value};
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
    #[error("{url}/v1/models lists no models; pass --model")]
    NoModels { url: String },
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
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:52415".into(),
            models: Vec::new(),
            runs: 5,
            max_tokens: 64,
            timeout: Duration::from_secs(120),
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
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchReport {
    pub url: String,
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
        let what = format!("GET {}/v1/models", self.base);
        let fail = |why: String| BenchError::Request {
            what: what.clone(),
            why,
        };
        let request = http::Request::get(format!("{}/v1/models", self.base))
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
        let value: Value = serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))?;
        Ok(value
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// Sends one streamed chat completion (`extra` fields are merged into the request) and measures it.
    pub async fn stream_chat(
        &self,
        model: &str,
        prompt: &str,
        max_tokens: u32,
        extra: Value,
    ) -> Result<StreamRun, BenchError> {
        let what = format!("POST {}/v1/chat/completions ({model})", self.base);
        let fail = |why: String| BenchError::Request {
            what: what.clone(),
            why,
        };
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
        let request = http::Request::post(format!("{}/v1/chat/completions", self.base))
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
            let mut meter = ResponseMeter::new(Endpoint::ChatCompletions, status, content_type, sent_at);
            let mut text = TextCollector::default();
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
            let record = meter.finish(model.to_string(), Outcome::Completed, Instant::now(), 0);
            Ok(StreamRun {
                status,
                ttft_ms: record.ttft_ms,
                decode_tokens_per_s: record.decode_tokens_per_s,
                e2e_ms: record.e2e_ms,
                completion_tokens: record.completion_tokens,
                text: text.text,
                body: Bytes::from(all),
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

/// The generated text of a chat-completions stream.
#[derive(Default)]
struct TextCollector {
    parser: SseParser,
    items: Vec<SseItem>,
    text: String,
}

impl TextCollector {
    fn feed(&mut self, bytes: &[u8]) {
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
    let models = if options.models.is_empty() {
        client.model_ids().await?
    } else {
        options.models.clone()
    };
    if models.is_empty() {
        return Err(BenchError::NoModels {
            url: options.url.clone(),
        });
    }
    let mut report = BenchReport {
        url: options.url.clone(),
        prompt: STORY_PROMPT.into(),
        max_tokens: options.max_tokens,
        models: Vec::new(),
    };
    for model in models {
        let (mut ttft, mut decode, mut e2e, mut tokens, mut failures) = (vec![], vec![], vec![], vec![], vec![]);
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
            match client
                .stream_chat(&model, STORY_PROMPT, options.max_tokens, json!({}))
                .await
            {
                Ok(run) if run.status == 200 => {
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
            match client
                .stream_chat(&model, JSON_PROMPT, options.max_tokens, json!({}))
                .await
            {
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
        });
    }
    Ok(report)
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
    let pair = |s: &Option<Summary>| {
        s.as_ref()
            .map_or("n/a".to_string(), |s| format!("{:.0}/{:.0}", s.p50, s.p95))
    };
    let one = |s: &Option<Summary>| s.as_ref().map_or("n/a".to_string(), |s| format!("{:.1}", s.p50));
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
            format!(
                "{}/{} ({}/{})",
                m.json_fidelity.schema_ok, m.json_fidelity.asked, m.json_fidelity.parsed, m.json_fidelity.asked
            ),
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
    fn bad_urls_are_rejected() {
        assert!(BenchClient::new("ftp://x", Duration::from_secs(1)).is_err());
        assert!(BenchClient::new("127.0.0.1:80", Duration::from_secs(1)).is_err());
    }
}
