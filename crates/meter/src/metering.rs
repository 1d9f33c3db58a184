//! What one request's bytes say: model, TTFT, completion tokens, decode rate and the server's own figures.
//!
//! Pure code over bytes and instants (no I/O), so every stream shape is unit-tested with exact timing.
//! Definitions (see README "Token meter"): TTFT = request sent → first SSE `data:` event carrying non-empty
//! generated text; decode rate = (n − 1) / (t_last − t_first) with n = `usage` completion tokens when present,
//! else the number of content events.
//!
//! Ollama's native API (`/api/chat`, `/api/generate`) streams NDJSON, one JSON object per line
//! ([`crate::ndjson`]); each line with text is a content event timed by the meter's clock like an SSE
//! event, and the last (`"done": true`) line's `eval_count`, `eval_duration` … are kept as
//! server-reported ([`OllamaStats`]), `eval_count` as the completion tokens.

use crate::ndjson::{NdjsonLine, NdjsonParser};
use crate::sse::{SseItem, SseParser};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// Only this much of a request body is kept to find `model` (the rest is forwarded, not inspected).
pub const REQUEST_PEEK_BYTES: usize = 1 << 20;
/// A non-streamed JSON response larger than this is forwarded unmetered.
pub const RESPONSE_JSON_MAX_BYTES: usize = 8 << 20;

/// The inference endpoints the meter understands; every other path is forwarded without inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Messages,
    Responses,
    /// Ollama's native `POST /api/chat` (NDJSON stream, or one JSON object with `"stream": false`).
    OllamaChat,
    /// Ollama's native `POST /api/generate`.
    OllamaGenerate,
}

impl Endpoint {
    pub fn from_path(path: &str) -> Option<Self> {
        match path.trim_end_matches('/') {
            "/v1/chat/completions" => Some(Self::ChatCompletions),
            "/v1/completions" => Some(Self::Completions),
            "/v1/messages" => Some(Self::Messages),
            "/v1/responses" => Some(Self::Responses),
            "/api/chat" => Some(Self::OllamaChat),
            "/api/generate" => Some(Self::OllamaGenerate),
            _ => None,
        }
    }
}

/// What the request body says, as far as metering cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub model: Option<String>,
}

/// Reads `model` from the first [`REQUEST_PEEK_BYTES`] of a request body. A truncated or non-JSON body yields no model.
pub fn parse_request_body(peek: &[u8]) -> RequestInfo {
    #[derive(Deserialize)]
    struct Peek {
        model: Option<Value>,
    }
    match serde_json::from_slice::<Peek>(peek) {
        Ok(Peek {
            model: Some(Value::String(model)),
        }) if !model.is_empty() => RequestInfo { model: Some(model) },
        _ => RequestInfo::default(),
    }
}

/// exo's own figures from its `: generation_stats {...}` SSE comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExoGenerationStats {
    pub prompt_tps: Option<f64>,
    pub generation_tps: Option<f64>,
    pub prompt_tokens: Option<u64>,
    pub generation_tokens: Option<u64>,
}

/// llama.cpp's `timings` object (server-reported; `predicted_per_second` is (n − 1) / decode time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaCppTimings {
    pub prompt_ms: Option<f64>,
    pub prompt_per_second: Option<f64>,
    pub predicted_n: Option<u64>,
    pub predicted_ms: Option<f64>,
    pub predicted_per_second: Option<f64>,
}

/// Ollama's figures from the last (`"done": true`) object of `/api/chat` or `/api/generate`
/// (server-reported; durations in nanoseconds, as Ollama gives them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OllamaStats {
    /// Tokens in the response.
    pub eval_count: Option<u64>,
    pub eval_duration_ns: Option<u64>,
    /// Tokens in the prompt.
    pub prompt_eval_count: Option<u64>,
    pub prompt_eval_duration_ns: Option<u64>,
    pub total_duration_ns: Option<u64>,
    /// Time spent loading the model (large on a cold start).
    pub load_duration_ns: Option<u64>,
    /// `eval_count / eval_duration · 10⁹`, as Ollama's docs define its tokens/s.
    pub eval_tokens_per_s: Option<f64>,
    /// `prompt_eval_count / prompt_eval_duration · 10⁹`.
    pub prompt_eval_tokens_per_s: Option<f64>,
}

/// Figures the upstream server reported about itself, kept beside ours and labelled by their source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerReported {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exo: Option<ExoGenerationStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llama_cpp: Option<LlamaCppTimings>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ollama: Option<OllamaStats>,
}

impl ServerReported {
    fn is_empty(&self) -> bool {
        self.exo.is_none() && self.llama_cpp.is_none() && self.ollama.is_none()
    }
}

/// Where `completion_tokens` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage` object (Ollama: the last object's `eval_count`).
    Usage,
    /// Content events counted by the meter (one token per event on llama.cpp, Ollama and exo).
    CountedEvents,
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The whole response was delivered.
    Completed,
    /// The client went away before the response ended (the upstream request was closed).
    ClientClosed,
    /// The upstream could not be reached or broke off mid-response.
    UpstreamFailed,
    /// A success status with no body at all: exo answers so while its runner crashes. An
    /// error, never a success with 0 tokens.
    EmptyBody,
}

/// One finished request, as shown in `recent[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub model: String,
    pub endpoint: Endpoint,
    /// The upstream's status; 0 when the client left before any answer came.
    pub status: u16,
    pub outcome: Outcome,
    pub streamed: bool,
    /// False when the body could not be parsed; it was forwarded untouched and not counted.
    pub metered: bool,
    pub ttft_ms: Option<f64>,
    pub completion_tokens: Option<u64>,
    pub completion_tokens_source: Option<TokenSource>,
    pub prompt_tokens: Option<u64>,
    /// Content events seen (SSE events or NDJSON lines with text; streams only).
    pub content_events: u64,
    pub decode_tokens_per_s: Option<f64>,
    pub e2e_ms: f64,
    /// Unix time (ms) the request finished.
    pub finished_unix_ms: u64,
    #[serde(skip_serializing_if = "ServerReported::is_empty", default)]
    pub server_reported: ServerReported,
    /// The client the request came from when it arrived on a client's own listener
    /// (`MeterOptions::clients`, e.g. "porten"); `None` on the shared one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client: Option<String>,
    /// The extra listener (`MeterOptions::routes`) the request arrived on; `None` on the main
    /// listener and the clients' ones.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub route: Option<String>,
    /// NDJSON lines that were not JSON, or longer than [`crate::ndjson::MAX_LINE_BYTES`]: skipped
    /// (forwarded untouched, not counted).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub malformed_lines: u64,
    /// An error the server reported inside a stream that had already begun (Ollama's
    /// `{"error": "..."}` line; the status stays 200): the request counts as an error.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stream_error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

enum Mode {
    Sse(SseParser),
    Ndjson(NdjsonParser),
    Json(Vec<u8>),
    /// Not metered: a body type we do not understand, or one that failed to parse.
    Unmetered,
}

/// Follows one response's bytes. Feed it each chunk with the instant it arrived, then [`ResponseMeter::finish`].
pub struct ResponseMeter {
    endpoint: Endpoint,
    sent_at: Instant,
    status: u16,
    mode: Mode,
    streamed: bool,
    items: Vec<SseItem>,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
    content_events: u64,
    usage_completion_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
    response_model: Option<String>,
    server_reported: ServerReported,
    body_bytes: u64,
    malformed_lines: u64,
    /// NDJSON lines that were JSON.
    json_lines: u64,
    stream_error: Option<String>,
}

impl ResponseMeter {
    /// `sent_at` is when the request was sent upstream (TTFT starts there).
    pub fn new(endpoint: Endpoint, status: u16, content_type: Option<&str>, sent_at: Instant) -> Self {
        let content_type = content_type.unwrap_or("").to_ascii_lowercase();
        let (mode, streamed) = if content_type.starts_with("text/event-stream") {
            (Mode::Sse(SseParser::new()), true)
        } else if content_type.starts_with("application/x-ndjson") {
            (Mode::Ndjson(NdjsonParser::new()), true)
        } else if content_type.contains("json") {
            (Mode::Json(Vec::new()), false)
        } else {
            (Mode::Unmetered, false)
        };
        Self {
            endpoint,
            sent_at,
            status,
            mode,
            streamed,
            items: Vec::new(),
            first_token_at: None,
            last_token_at: None,
            content_events: 0,
            usage_completion_tokens: None,
            prompt_tokens: None,
            response_model: None,
            server_reported: ServerReported::default(),
            body_bytes: 0,
            malformed_lines: 0,
            json_lines: 0,
            stream_error: None,
        }
    }

    /// A request that got no response at all (the client left first): status 0, nothing served,
    /// and still metered (there was no body that could not be read).
    pub fn unanswered(endpoint: Endpoint, sent_at: Instant) -> Self {
        let mut meter = Self::new(endpoint, 0, None, sent_at);
        meter.mode = Mode::Json(Vec::new());
        meter
    }

    /// Observes the next chunk of the response body; returns how many content events it completed
    /// (the live tokens/s series counts these as they arrive).
    pub fn observe(&mut self, chunk: &[u8], at: Instant) -> u64 {
        let before = self.content_events;
        self.body_bytes += chunk.len() as u64;
        match &mut self.mode {
            Mode::Sse(parser) => {
                let mut items = std::mem::take(&mut self.items);
                if parser.feed(chunk, &mut items).is_err() {
                    self.mode = Mode::Unmetered;
                    items.clear();
                }
                for item in items.drain(..) {
                    if !self.handle_item(item, at) {
                        self.mode = Mode::Unmetered;
                        break;
                    }
                }
                self.items = items;
            }
            Mode::Ndjson(parser) => {
                // Taken out while its lines are handled (they update the rest of the meter).
                let mut parser = std::mem::take(parser);
                parser.feed(chunk, |line| self.handle_line(line, at));
                self.mode = Mode::Ndjson(parser);
            }
            Mode::Json(buffer) => {
                if buffer.len() + chunk.len() > RESPONSE_JSON_MAX_BYTES {
                    self.mode = Mode::Unmetered;
                } else {
                    buffer.extend_from_slice(chunk);
                }
            }
            Mode::Unmetered => {}
        }
        if matches!(self.mode, Mode::Unmetered) {
            return 0;
        }
        self.content_events - before
    }

    /// Handles one SSE item; false when it is not what this endpoint streams (the response is then unmetered).
    fn handle_item(&mut self, item: SseItem, at: Instant) -> bool {
        match item {
            SseItem::Comment(text) => {
                if let Some(json) = text.strip_prefix("generation_stats") {
                    if let Ok(value) = serde_json::from_str::<Value>(json.trim()) {
                        self.server_reported.exo = Some(exo_stats(&value));
                    }
                }
                true
            }
            SseItem::Event { data, .. } => {
                let data = data.trim();
                if data == "[DONE]" {
                    return true;
                }
                let Some(event) = BodyFields::parse(data) else {
                    return false;
                };
                if event.has_text(self.endpoint) {
                    self.content_events += 1;
                    self.first_token_at.get_or_insert(at);
                    self.last_token_at = Some(at);
                }
                self.absorb_usage_and_timings(&event);
                true
            }
        }
    }

    /// Handles one NDJSON line: a malformed one is counted and skipped (the stream stays metered:
    /// the last line's `eval_count` still says how many tokens were served).
    fn handle_line(&mut self, line: NdjsonLine<'_>, at: Instant) {
        let NdjsonLine::Line(bytes) = line else {
            self.malformed_lines += 1;
            return;
        };
        let Some(object) = std::str::from_utf8(bytes).ok().and_then(BodyFields::parse) else {
            self.malformed_lines += 1;
            return;
        };
        self.json_lines += 1;
        if object.has_text(self.endpoint) {
            self.content_events += 1;
            self.first_token_at.get_or_insert(at);
            self.last_token_at = Some(at);
        }
        self.absorb_usage_and_timings(&object);
    }

    /// Usage, model and server timings, wherever this endpoint puts them (streamed or whole).
    fn absorb_usage_and_timings(&mut self, body: &BodyFields<'_>) {
        if matches!(self.endpoint, Endpoint::OllamaChat | Endpoint::OllamaGenerate) {
            self.absorb_ollama(body);
            return;
        }
        let envelope = match self.endpoint {
            Endpoint::ChatCompletions | Endpoint::Completions => None,
            Endpoint::OllamaChat | Endpoint::OllamaGenerate => None,
            Endpoint::Messages if body.kind_is("message_start") => body.message,
            Endpoint::Messages => None,
            Endpoint::Responses => body.response,
        };
        let (usage, model) = match envelope.and_then(parse_lenient::<Envelope>) {
            Some(inner) => (inner.usage, inner.model),
            None => (body.usage, body.model),
        };
        if let Some(model) = model.and_then(parse_lenient::<Text>).filter(|m| !m.0.is_empty()) {
            self.response_model.get_or_insert_with(|| model.0.into_owned());
        }
        if let Some(usage) = usage.and_then(parse_lenient::<Usage>) {
            // Anthropic's message_start carries output_tokens 1 as a placeholder; message_delta has the real count.
            let count = |a: Option<&RawValue>, b: Option<&RawValue>| {
                a.and_then(parse_lenient::<u64>)
                    .or_else(|| b.and_then(parse_lenient::<u64>))
            };
            let output = count(usage.completion_tokens, usage.output_tokens);
            if let Some(output) = output.filter(|_| !body.kind_is("message_start")) {
                self.usage_completion_tokens = Some(output);
            }
            if let Some(input) = count(usage.prompt_tokens, usage.input_tokens) {
                self.prompt_tokens = Some(input);
            }
        }
        if let Some(timings) = body.timings.and_then(parse_lenient::<Timings>) {
            self.server_reported.llama_cpp = Some(LlamaCppTimings {
                prompt_ms: timings.prompt_ms.and_then(parse_lenient::<f64>),
                prompt_per_second: timings.prompt_per_second.and_then(parse_lenient::<f64>),
                predicted_n: timings.predicted_n.and_then(parse_lenient::<u64>),
                predicted_ms: timings.predicted_ms.and_then(parse_lenient::<f64>),
                predicted_per_second: timings.predicted_per_second.and_then(parse_lenient::<f64>),
            });
        }
    }

    /// Ollama's `model`, its in-stream `error`, and the last object's figures.
    fn absorb_ollama(&mut self, body: &BodyFields<'_>) {
        if let Some(model) = body.model.and_then(parse_lenient::<Text>).filter(|m| !m.0.is_empty()) {
            self.response_model.get_or_insert_with(|| model.0.into_owned());
        }
        // A whole-body error comes with its status (>= 400); only a stream's has none.
        if let Some(error) = body.error.filter(|_| self.streamed) {
            let text = parse_lenient::<Text>(error).map_or_else(|| error.get().to_owned(), |t| t.0.into_owned());
            self.stream_error.get_or_insert(text);
        }
        if !body.done.and_then(parse_lenient::<bool>).unwrap_or(false) {
            return;
        }
        let count = |raw: Option<&RawValue>| raw.and_then(parse_lenient::<u64>);
        let rate = |n: Option<u64>, ns: Option<u64>| match (n, ns) {
            (Some(n), Some(ns)) if ns > 0 => Some(n as f64 * 1e9 / ns as f64),
            _ => None,
        };
        let stats = OllamaStats {
            eval_count: count(body.eval_count),
            eval_duration_ns: count(body.eval_duration),
            prompt_eval_count: count(body.prompt_eval_count),
            prompt_eval_duration_ns: count(body.prompt_eval_duration),
            total_duration_ns: count(body.total_duration),
            load_duration_ns: count(body.load_duration),
            eval_tokens_per_s: None,
            prompt_eval_tokens_per_s: None,
        };
        let stats = OllamaStats {
            eval_tokens_per_s: rate(stats.eval_count, stats.eval_duration_ns),
            prompt_eval_tokens_per_s: rate(stats.prompt_eval_count, stats.prompt_eval_duration_ns),
            ..stats
        };
        if let Some(n) = stats.eval_count {
            self.usage_completion_tokens = Some(n);
        }
        if let Some(n) = stats.prompt_eval_count {
            self.prompt_tokens = Some(n);
        }
        self.server_reported.ollama = Some(stats);
    }

    /// The model the response names (used when the request did not say).
    pub fn response_model(&self) -> Option<&str> {
        self.response_model.as_deref()
    }

    /// Ends the request: `at` is when the body ended (or was abandoned).
    pub fn finish(mut self, model: String, outcome: Outcome, at: Instant, finished_unix_ms: u64) -> RequestRecord {
        let outcome = if outcome == Outcome::Completed && self.status < 400 && self.body_bytes == 0 {
            Outcome::EmptyBody
        } else {
            outcome
        };
        if let Mode::Ndjson(parser) = &mut self.mode {
            // Taken out while its lines are handled (they update the rest of the meter).
            let mut parser = std::mem::take(parser);
            // A last line without its LF: whole JSON, or where the stream was cut (malformed).
            parser.finish(|line| self.handle_line(line, at));
            // Not one line of JSON: not an NDJSON stream we can read, whatever it said it was.
            if self.json_lines == 0 && self.malformed_lines > 0 {
                self.mode = Mode::Unmetered;
            }
        }
        if let Mode::Json(buffer) = &mut self.mode {
            let buffer = std::mem::take(buffer);
            match std::str::from_utf8(&buffer).ok().and_then(BodyFields::parse) {
                Some(body) => self.absorb_usage_and_timings(&body),
                // An error status with an empty or non-JSON body is an error, not an unmetered success.
                None if outcome != Outcome::Completed || self.status >= 400 => {}
                None => self.mode = Mode::Unmetered,
            }
        }
        let metered = !matches!(self.mode, Mode::Unmetered);
        let (completion_tokens, source) = if !metered {
            (None, None)
        } else if let Some(n) = self.usage_completion_tokens {
            (Some(n), Some(TokenSource::Usage))
        } else if self.streamed {
            (Some(self.content_events), Some(TokenSource::CountedEvents))
        } else {
            (None, None)
        };
        let ttft_ms = self
            .first_token_at
            .filter(|_| metered)
            .map(|t| ms(t.duration_since(self.sent_at)));
        let decode_tokens_per_s = match (completion_tokens, self.first_token_at, self.last_token_at) {
            (Some(n), Some(first), Some(last)) if metered && n >= 2 && last > first => {
                Some((n - 1) as f64 / last.duration_since(first).as_secs_f64())
            }
            _ => None,
        };
        RequestRecord {
            model,
            endpoint: self.endpoint,
            status: self.status,
            outcome,
            streamed: self.streamed,
            metered,
            ttft_ms,
            completion_tokens,
            completion_tokens_source: source,
            prompt_tokens: self.prompt_tokens.filter(|_| metered),
            content_events: self.content_events,
            decode_tokens_per_s,
            e2e_ms: ms(at.duration_since(self.sent_at)),
            finished_unix_ms,
            server_reported: if metered {
                self.server_reported
            } else {
                ServerReported::default()
            },
            client: None,
            route: None,
            malformed_lines: self.malformed_lines,
            stream_error: self.stream_error,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Declares a struct of JSON fields kept as raw text borrowed from the input: serde skips every other field without
/// building it, and each kept one is decoded only when needed, leniently (a field of an unexpected type reads as
/// absent instead of failing the event).
macro_rules! raw_fields {
    ($(#[$meta:meta])* struct $name:ident { $($(#[$field_meta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Deserialize, Default)]
        struct $name<'a> {
            $($(#[$field_meta])* #[serde(borrow)] $field: Option<&'a RawValue>,)*
        }
    };
}

raw_fields! {
    /// The top-level fields the meter reads from one event (or a whole JSON response).
    struct BodyFields {
        #[serde(rename = "type")]
        kind,
        choices,
        delta,
        model,
        usage,
        timings,
        /// Anthropic's `message_start` envelope.
        message,
        /// The Responses API's `response` envelope; Ollama's `/api/generate` text.
        response,
        /// Ollama's in-stream error, its last object's marker and figures.
        error,
        done,
        eval_count,
        eval_duration,
        prompt_eval_count,
        prompt_eval_duration,
        total_duration,
        load_duration,
        /// Ollama's `/api/generate` reasoning text (thinking models).
        thinking,
    }
}

raw_fields! { struct Envelope { usage, model } }
raw_fields! { struct Usage { completion_tokens, output_tokens, prompt_tokens, input_tokens } }
raw_fields! { struct Timings { prompt_ms, prompt_per_second, predicted_n, predicted_ms, predicted_per_second } }
raw_fields! { struct Choice { delta, text } }
raw_fields! { struct ChatDelta { content, reasoning_content, reasoning } }
raw_fields! { struct MessagesDelta { text, thinking } }
raw_fields! { struct OllamaMessage { content, thinking } }

impl<'a> BodyFields<'a> {
    /// None when `text` is not JSON. Valid JSON of another shape (an array, a string, an object with a duplicated
    /// key) is an event that says nothing the meter reads.
    fn parse(text: &'a str) -> Option<Self> {
        match serde_json::from_str::<BodyFields>(text) {
            Ok(fields) => Some(fields),
            Err(_) => serde_json::from_str::<IgnoredAny>(text).ok().map(|_| Self::default()),
        }
    }

    fn kind_is(&self, kind: &str) -> bool {
        self.kind.and_then(parse_lenient::<Text>).is_some_and(|k| k.0 == kind)
    }

    /// Whether this streamed event carries generated text (answer or reasoning) for `endpoint`.
    fn has_text(&self, endpoint: Endpoint) -> bool {
        let choices = || {
            self.choices
                .and_then(parse_lenient::<Vec<&RawValue>>)
                .unwrap_or_default()
                .into_iter()
                .filter_map(parse_lenient::<Choice>)
        };
        match endpoint {
            Endpoint::ChatCompletions => choices().any(|choice| {
                choice.delta.and_then(parse_lenient::<ChatDelta>).is_some_and(|d| {
                    [d.content, d.reasoning_content, d.reasoning]
                        .into_iter()
                        .any(non_empty_string)
                })
            }),
            Endpoint::Completions => choices().any(|choice| non_empty_string(choice.text)),
            Endpoint::Messages => {
                self.kind_is("content_block_delta")
                    && self
                        .delta
                        .and_then(parse_lenient::<MessagesDelta>)
                        .is_some_and(|d| non_empty_string(d.text) || non_empty_string(d.thinking))
            }
            Endpoint::Responses => {
                (self.kind_is("response.output_text.delta") || self.kind_is("response.reasoning_text.delta"))
                    && non_empty_string(self.delta)
            }
            Endpoint::OllamaChat => self
                .message
                .and_then(parse_lenient::<OllamaMessage>)
                .is_some_and(|m| non_empty_string(m.content) || non_empty_string(m.thinking)),
            Endpoint::OllamaGenerate => non_empty_string(self.response) || non_empty_string(self.thinking),
        }
    }
}

/// A JSON string, borrowed when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

fn parse_lenient<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// A JSON string with at least one character, judged from its raw text without decoding it.
fn non_empty_string(raw: Option<&RawValue>) -> bool {
    raw.is_some_and(|raw| {
        let text = raw.get();
        text.len() > 2 && text.starts_with('"')
    })
}

fn exo_stats(value: &Value) -> ExoGenerationStats {
    ExoGenerationStats {
        prompt_tps: value.get("prompt_tps").and_then(Value::as_f64),
        generation_tps: value.get("generation_tps").and_then(Value::as_f64),
        prompt_tokens: value.get("prompt_tokens").and_then(Value::as_u64),
        generation_tokens: value.get("generation_tokens").and_then(Value::as_u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: Option<&str> = Some("text/event-stream; charset=utf-8");

    /// Feeds `(ms after send, bytes)` chunks and finishes at the last chunk's time.
    fn run(endpoint: Endpoint, content_type: Option<&str>, chunks: &[(u64, &str)]) -> RequestRecord {
        let t0 = Instant::now();
        let mut meter = ResponseMeter::new(endpoint, 200, content_type, t0);
        let mut end = t0;
        for (offset, bytes) in chunks {
            end = t0 + Duration::from_millis(*offset);
            meter.observe(bytes.as_bytes(), end);
        }
        meter.finish("m".into(), Outcome::Completed, end, 0)
    }

    fn chat_chunk(content: &str) -> String {
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{content:?}}}}}]}}\n\n")
    }

    #[test]
    fn request_model_is_read_and_bad_bodies_yield_none() {
        assert_eq!(
            parse_request_body(br#"{"model":"smollm2","stream":true}"#)
                .model
                .as_deref(),
            Some("smollm2")
        );
        assert_eq!(parse_request_body(br#"{"model":"smol"#).model, None);
        assert_eq!(parse_request_body(b"\xff\xfe").model, None);
        assert_eq!(parse_request_body(br#"{"model":7}"#).model, None);
    }

    #[test]
    fn chat_stream_ttft_ignores_role_chunk_and_comments_and_counts_tokens() {
        let role = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n";
        let empty = chat_chunk("");
        let (a, b, c) = (chat_chunk("He"), chat_chunk("llo"), chat_chunk("!"));
        let record = run(
            Endpoint::ChatCompletions,
            SSE,
            &[
                (5, ": ping\n\n"),
                (40, role),
                (41, &empty),
                (100, &a),
                (150, &b),
                (300, &c),
                (301, "data: [DONE]\n\n"),
            ],
        );
        assert!(record.metered);
        assert_eq!(record.ttft_ms, Some(100.0));
        assert_eq!(record.completion_tokens, Some(3));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::CountedEvents));
        // (3 − 1) tokens over 200 ms
        assert_eq!(record.decode_tokens_per_s, Some(10.0));
        assert_eq!(record.e2e_ms, 301.0);
    }

    #[test]
    fn usage_wins_over_counted_events_and_llama_timings_are_kept() {
        let usage = "data: {\"choices\":[],\"usage\":{\"completion_tokens\":5,\"prompt_tokens\":37},\
                     \"timings\":{\"prompt_ms\":90.5,\"predicted_n\":5,\"predicted_per_second\":41.2}}\n\n";
        let (a, b) = (chat_chunk("a"), chat_chunk("b"));
        let record = run(Endpoint::ChatCompletions, SSE, &[(100, &a), (200, &b), (201, usage)]);
        assert_eq!(record.completion_tokens, Some(5));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
        assert_eq!(record.content_events, 2);
        assert_eq!(record.prompt_tokens, Some(37));
        assert_eq!(record.decode_tokens_per_s, Some(40.0)); // (5 − 1) / 0.1 s
        let timings = record.server_reported.llama_cpp.unwrap();
        assert_eq!(timings.prompt_ms, Some(90.5));
        assert_eq!(timings.predicted_per_second, Some(41.2));
    }

    #[test]
    fn fields_of_unexpected_types_read_as_absent_without_losing_the_event() {
        let events = [
            // `model` a number, `usage` a string, `choices[0]` a string, content null: still events, one with text.
            "data: {\"model\":5,\"usage\":\"n/a\",\"choices\":[\"x\",{\"delta\":{\"content\":\"caf\\u00e9\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":null}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":7}}]}\n\n",
            // Valid JSON of another shape, and a duplicated key: nothing the meter reads, not a reason to stop.
            "data: \"keep-alive\"\n\n",
            "data: {\"model\":\"a\",\"model\":\"b\"}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"\\n\"}}],\"model\":\"m\\u00e9\",\
             \"usage\":{\"completion_tokens\":\"2\",\"output_tokens\":2,\"prompt_tokens\":1.5}}\n\n",
        ];
        let timed: Vec<(u64, &str)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (10 * i as u64 + 10, *e))
            .collect();
        let t0 = Instant::now();
        let mut meter = ResponseMeter::new(Endpoint::ChatCompletions, 200, SSE, t0);
        for (offset, bytes) in &timed {
            meter.observe(bytes.as_bytes(), t0 + Duration::from_millis(*offset));
        }
        // The escaped model name is decoded; the first usable one wins.
        assert_eq!(meter.response_model(), Some("m\u{e9}"));
        let record = meter.finish("m".into(), Outcome::Completed, t0 + Duration::from_millis(60), 0);
        assert!(record.metered);
        assert_eq!(
            record.content_events, 2,
            "the escaped é and the escaped newline are text"
        );
        assert_eq!(record.ttft_ms, Some(10.0));
        // completion_tokens is a string, so output_tokens is used; prompt_tokens 1.5 is not a count.
        assert_eq!(record.completion_tokens, Some(2));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
        assert_eq!(record.prompt_tokens, None);
    }

    /// Issue #11: a stream opening with a UTF-8 BOM was metered as 0 tokens.
    #[test]
    fn a_stream_opening_with_a_bom_is_metered() {
        let first = format!("\u{feff}{}", chat_chunk("Hel"));
        let record = run(Endpoint::ChatCompletions, SSE, &[(10, &first), (20, &chat_chunk("lo"))]);
        assert!(record.metered);
        assert_eq!(record.content_events, 2);
        assert_eq!(record.ttft_ms, Some(10.0));
    }

    #[test]
    fn reasoning_content_counts_as_first_token() {
        let thinking = "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n";
        let record = run(Endpoint::ChatCompletions, SSE, &[(70, thinking)]);
        assert_eq!(record.ttft_ms, Some(70.0));
        assert_eq!(record.completion_tokens, Some(1));
        assert_eq!(record.decode_tokens_per_s, None); // one token: no decode interval
    }

    #[test]
    fn llama_server_stream_fixture() {
        let stream = include_str!("../tests/fixtures/llama-server/chat-stream-usage.txt");
        // Split mid-line, as TCP may deliver it.
        let (head, tail) = stream.split_at(stream.len() / 3);
        let record = run(Endpoint::ChatCompletions, SSE, &[(200, head), (260, tail)]);
        assert!(record.metered);
        assert_eq!(record.ttft_ms, Some(200.0));
        assert_eq!(record.completion_tokens, Some(4));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
        assert_eq!(record.prompt_tokens, Some(31));
        let timings = record.server_reported.llama_cpp.unwrap();
        assert_eq!(timings.predicted_n, Some(4));
        assert_eq!(timings.prompt_ms, Some(209.763));
    }

    #[test]
    fn exo_stream_tail_fixture() {
        let tail = include_str!("../tests/fixtures/exo/chat-stream-tail.derived.txt");
        let record = run(Endpoint::ChatCompletions, SSE, &[(50, &chat_chunk("Hi")), (80, tail)]);
        assert!(record.metered);
        assert_eq!(record.completion_tokens, Some(8));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
        assert_eq!(record.prompt_tokens, Some(15));
        let exo = record.server_reported.exo.unwrap();
        assert_eq!(exo.generation_tps, Some(143.9));
        assert_eq!(exo.prompt_tps, Some(812.4));
        assert_eq!(exo.generation_tokens, Some(8));
        // (8 − 1) tokens over 30 ms
        assert!((record.decode_tokens_per_s.unwrap() - 7.0 / 0.030).abs() < 1e-6);
    }

    #[test]
    fn completions_stream_counts_text() {
        let chunk = |t: &str| format!("data: {{\"choices\":[{{\"text\":{t:?},\"index\":0}}]}}\r\n\r\n");
        let record = run(
            Endpoint::Completions,
            SSE,
            &[(10, &chunk("")), (20, &chunk("a")), (30, &chunk("b"))],
        );
        assert_eq!(record.ttft_ms, Some(20.0));
        assert_eq!(record.completion_tokens, Some(2));
    }

    #[test]
    fn anthropic_messages_stream() {
        let stream = [
            (5, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"),
            (6, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"),
            (7, "event: ping\ndata: {\"type\": \"ping\"}\n\n"),
            (60, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"),
            (110, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n"),
            (111, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"),
            (112, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":6}}\n\n"),
            (113, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        ];
        let t0 = Instant::now();
        let mut meter = ResponseMeter::new(Endpoint::Messages, 200, SSE, t0);
        for (offset, bytes) in stream {
            meter.observe(bytes.as_bytes(), t0 + Duration::from_millis(offset));
        }
        assert_eq!(meter.response_model(), Some("claude-x"));
        let record = meter.finish("m".into(), Outcome::Completed, t0 + Duration::from_millis(113), 0);
        assert_eq!(record.ttft_ms, Some(60.0));
        assert_eq!(record.content_events, 2);
        assert_eq!(record.completion_tokens, Some(6));
        assert_eq!(record.prompt_tokens, Some(12));
        assert_eq!(record.decode_tokens_per_s, Some(100.0)); // (6 − 1) / 50 ms
    }

    #[test]
    fn openai_responses_stream() {
        let stream = [
            (3, "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"model\":\"gpt-x\",\"usage\":null}}\n\n"),
            (40, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n"),
            (90, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\" there\"}\n\n"),
            (91, "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"text\":\"Hi there\"}\n\n"),
            (92, "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-x\",\"usage\":{\"input_tokens\":9,\"output_tokens\":2,\"total_tokens\":11}}}\n\n"),
        ];
        let record = run(Endpoint::Responses, SSE, &stream);
        assert_eq!(record.ttft_ms, Some(40.0));
        assert_eq!(record.completion_tokens, Some(2));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
        assert_eq!(record.prompt_tokens, Some(9));
        assert_eq!(record.decode_tokens_per_s, Some(20.0));
    }

    #[test]
    fn non_streamed_json_uses_usage_per_endpoint() {
        let chat = r#"{"choices":[{"message":{"content":"hi"}}],"usage":{"completion_tokens":4,"prompt_tokens":3}}"#;
        let messages = r#"{"type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":3,"output_tokens":5}}"#;
        let responses = r#"{"object":"response","usage":{"input_tokens":3,"output_tokens":6}}"#;
        for (endpoint, body, expected) in [
            (Endpoint::ChatCompletions, chat, 4),
            (Endpoint::Completions, chat, 4),
            (Endpoint::Messages, messages, 5),
            (Endpoint::Responses, responses, 6),
        ] {
            let (first, second) = body.split_at(body.len() / 2);
            let record = run(endpoint, Some("application/json"), &[(10, first), (20, second)]);
            assert!(record.metered && !record.streamed);
            assert_eq!(record.completion_tokens, Some(expected), "{endpoint:?}");
            assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
            assert_eq!(record.ttft_ms, None);
        }
    }

    #[test]
    fn unparseable_bodies_are_unmetered() {
        let garbage = run(
            Endpoint::ChatCompletions,
            SSE,
            &[(10, &chat_chunk("a")), (20, "data: {not json\n\n")],
        );
        assert!(!garbage.metered);
        assert_eq!((garbage.completion_tokens, garbage.ttft_ms), (None, None));
        let truncated_json = run(
            Endpoint::ChatCompletions,
            Some("application/json"),
            &[(10, "{\"usage\":{")],
        );
        assert!(!truncated_json.metered);
        let html = run(Endpoint::ChatCompletions, Some("text/html"), &[(10, "<html>")]);
        assert!(!html.metered);
    }

    #[test]
    fn a_success_with_no_body_is_an_error() {
        // exo answered a chat with 200 and nothing while its runner crashed (real capture:
        // 1node_chat_nonstream_EMPTY_while_runner_crashed_prepatch.headers).
        for content_type in [Some("application/json"), SSE, None] {
            let t0 = Instant::now();
            let meter = ResponseMeter::new(Endpoint::ChatCompletions, 200, content_type, t0);
            let record = meter.finish("m".into(), Outcome::Completed, t0, 0);
            assert_eq!(record.outcome, Outcome::EmptyBody, "{content_type:?}");
            assert_eq!(record.completion_tokens.unwrap_or(0), 0);
        }
        let t0 = Instant::now();
        let mut meter = ResponseMeter::new(Endpoint::ChatCompletions, 200, Some("application/json"), t0);
        meter.observe(b"{}", t0);
        assert_eq!(
            meter.finish("m".into(), Outcome::Completed, t0, 0).outcome,
            Outcome::Completed
        );
    }

    #[test]
    fn error_status_with_plain_body_is_metered_as_error_not_unmetered() {
        let t0 = Instant::now();
        let mut meter = ResponseMeter::new(Endpoint::ChatCompletions, 500, Some("application/json"), t0);
        meter.observe(b"Internal error", t0);
        let record = meter.finish("m".into(), Outcome::Completed, t0, 0);
        assert!(record.metered);
        assert_eq!(record.status, 500);
        assert_eq!(record.completion_tokens, None);
    }

    const NDJSON: Option<&str> = Some("application/x-ndjson");

    fn ollama_chat_line(content: &str) -> String {
        format!(
            "{{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\
             \"message\":{{\"role\":\"assistant\",\"content\":{content:?},\"images\":null}},\"done\":false}}\n"
        )
    }

    /// The last object of Ollama's docs' chat example (docs/api.md), figures as given there.
    const OLLAMA_DONE: &str = "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\
        \"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"total_duration\":4883583458,\
        \"load_duration\":1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,\
        \"eval_count\":3,\"eval_duration\":4535599000}\n";

    #[test]
    fn ollama_chat_stream_counts_lines_and_keeps_the_servers_figures() {
        let (a, b, c) = (ollama_chat_line("The"), ollama_chat_line(" sky"), ollama_chat_line("!"));
        // The second line split mid-object, as TCP may deliver it.
        let (b1, b2) = b.split_at(17);
        let record = run(
            Endpoint::OllamaChat,
            NDJSON,
            &[(120, &a), (150, b1), (170, b2), (220, &c), (221, OLLAMA_DONE)],
        );
        assert!(record.metered && record.streamed);
        assert_eq!(record.ttft_ms, Some(120.0));
        assert_eq!(record.content_events, 3);
        assert_eq!(record.completion_tokens, Some(3));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::Usage));
        assert_eq!(record.prompt_tokens, Some(26));
        assert_eq!(record.decode_tokens_per_s, Some(20.0)); // (3 − 1) / 100 ms
        assert_eq!(record.malformed_lines, 0);
        let ollama = record.server_reported.ollama.unwrap();
        assert_eq!(ollama.eval_count, Some(3));
        assert_eq!(ollama.eval_duration_ns, Some(4_535_599_000));
        assert_eq!(ollama.load_duration_ns, Some(1_334_875));
        assert_eq!(ollama.total_duration_ns, Some(4_883_583_458));
        assert_eq!(ollama.prompt_eval_duration_ns, Some(342_546_000));
        assert!((ollama.eval_tokens_per_s.unwrap() - 3.0 / 4.535_599).abs() < 1e-9);
    }

    #[test]
    fn ollama_generate_stream_and_its_thinking_count() {
        let line = |field: &str, text: &str| format!("{{\"model\":\"m\",\"{field}\":{text:?},\"done\":false}}\n");
        let done = "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"context\":[1,2,3],\"eval_count\":3,\
                    \"eval_duration\":1000000000,\"prompt_eval_count\":5,\"prompt_eval_duration\":1}";
        let record = run(
            Endpoint::OllamaGenerate,
            Some("application/x-ndjson; charset=utf-8"),
            &[
                (10, &line("response", "")),
                (40, &line("thinking", "hm")),
                (60, &line("response", "Hi")),
                (80, &line("response", "!")),
                // The last object without its LF: still read when the stream ends.
                (81, done),
            ],
        );
        assert_eq!(record.ttft_ms, Some(40.0));
        assert_eq!(record.content_events, 3);
        assert_eq!(record.completion_tokens, Some(3));
        assert_eq!(record.server_reported.ollama.unwrap().eval_tokens_per_s, Some(3.0));
    }

    #[test]
    fn ollama_non_streamed_answer_is_counted_from_its_one_object() {
        let body = "{\"model\":\"llama3.2\",\"response\":\"The sky is blue.\",\"done\":true,\"context\":[1],\
                    \"total_duration\":5043500667,\"load_duration\":5025959,\"prompt_eval_count\":26,\
                    \"prompt_eval_duration\":325953000,\"eval_count\":290,\"eval_duration\":4709213000}";
        let (first, second) = body.split_at(40);
        let record = run(
            Endpoint::OllamaGenerate,
            Some("application/json; charset=utf-8"),
            &[(10, first), (20, second)],
        );
        assert!(record.metered && !record.streamed);
        assert_eq!(record.completion_tokens, Some(290));
        assert_eq!(record.prompt_tokens, Some(26));
        assert_eq!(record.ttft_ms, None);
        assert_eq!(record.server_reported.ollama.unwrap().load_duration_ns, Some(5_025_959));
    }

    #[test]
    fn ollama_malformed_lines_are_counted_and_skipped_and_errors_kept() {
        let record = run(
            Endpoint::OllamaChat,
            NDJSON,
            &[
                (10, &ollama_chat_line("a")),
                (20, "<html>not json</html>\n"),
                (30, &ollama_chat_line("b")),
                (40, "{\"error\":\"an error was encountered while running the model\"}\n"),
            ],
        );
        assert!(record.metered);
        assert_eq!(record.malformed_lines, 1);
        assert_eq!(record.content_events, 2);
        assert_eq!(record.completion_tokens, Some(2));
        assert_eq!(record.completion_tokens_source, Some(TokenSource::CountedEvents));
        assert_eq!(
            record.stream_error.as_deref(),
            Some("an error was encountered while running the model")
        );
        assert!(
            record.server_reported.ollama.is_none(),
            "no done line, no server figures"
        );
        // A stream cut mid-line: the half line is malformed, what came before still counts.
        let line = ollama_chat_line("c");
        let cut = run(Endpoint::OllamaChat, NDJSON, &[(10, &line), (20, &line[..25])]);
        assert_eq!((cut.content_events, cut.malformed_lines), (1, 1));
        // An error answered whole carries its status; it is no stream error.
        let t0 = Instant::now();
        let mut missing = ResponseMeter::new(Endpoint::OllamaChat, 404, Some("application/json"), t0);
        missing.observe(b"{\"error\":\"model 'x' not found\"}", t0);
        let missing = missing.finish("x".into(), Outcome::Completed, t0, 0);
        assert_eq!((missing.status, missing.stream_error), (404, None));
        // Nothing but garbage: not an NDJSON stream at all.
        let garbage = run(Endpoint::OllamaChat, NDJSON, &[(10, "<html>\n</html>\n")]);
        assert!(!garbage.metered);
    }
}
