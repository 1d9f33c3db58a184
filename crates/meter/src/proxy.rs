//! The byte-transparent reverse proxy. Bytes go to the client in the same poll that received them; the meter gets a
//! refcounted copy (`Bytes::clone`) over an unbounded channel and parses it on its own task.

use crate::metering::{parse_request_body, Endpoint, Outcome, ResponseMeter, REQUEST_PEEK_BYTES};
use crate::stats::{prometheus_text, StatsHub};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

pub const STATS_PATH: &str = "/_clusterbar/stats";
pub const METRICS_PATH: &str = "/_clusterbar/metrics";

/// Where requests go: `http://host:port` plus an optional path prefix.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub scheme_authority: String,
    pub path_prefix: String,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Self, crate::MeterError> {
        let bad = |why: &str| crate::MeterError::BadUpstream {
            url: url.to_string(),
            why: why.to_string(),
        };
        let uri: Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(bad(&format!("scheme {other} is not supported (plain http only)"))),
            None => return Err(bad("missing http:// scheme")),
        }
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed"));
        }
        Ok(Self {
            scheme_authority: format!("http://{authority}"),
            path_prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Ok(format!("{}{}{}", self.scheme_authority, self.path_prefix, path_and_query).parse::<Uri>()?)
    }
}

pub(crate) struct ProxyState {
    pub upstream: Upstream,
    pub upstream_text: String,
    pub client: Client<HttpConnector, ProxyBody>,
    pub stats: StatsHub,
}

pub(crate) fn build_client() -> Client<HttpConnector, ProxyBody> {
    let mut connector = HttpConnector::new();
    // SSE events are small writes: Nagle would hold them back.
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
    // No idle connection is kept: servers close idle keep-alive connections on their own
    // schedule (llama-server's cpp-httplib after 5 s, uvicorn likewise), and a request sent on
    // one they are closing fails with "connection closed before message completed" — which
    // cannot be retried, since request bodies are streamed. A fresh loopback connection costs
    // tens of microseconds against an LLM request's hundreds of milliseconds.
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// RFC 9110 §7.6.1: hop-by-hop fields are not forwarded, including every field the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::TRAILER,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into()).map_err(|never| match never {}).boxed()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An OpenAI-shaped error response (`{"error":{"message","type","code"}}`).
pub(crate) fn openai_error(status: StatusCode, message: &str, kind: &str, code: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({"error": {"message": message, "type": kind, "code": code}});
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(crate) async fn handle(
    state: Arc<ProxyState>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, hyper::Error> {
    let path = request.uri().path();
    if request.method() == http::Method::GET && (path == STATS_PATH || path == METRICS_PATH) {
        return Ok(local_endpoint(&state, path));
    }
    let endpoint = Endpoint::from_path(path).filter(|_| request.method() == http::Method::POST);
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let (mut parts, body) = request.into_parts();
    parts.uri = match state.upstream.uri_for(&path_and_query) {
        Ok(uri) => uri,
        Err(e) => {
            let message = format!("clusterbar meter: cannot form the upstream URL: {e}");
            return Ok(openai_error(
                StatusCode::BAD_REQUEST,
                &message,
                "invalid_request_error",
                "bad_path",
            ));
        }
    };
    strip_hop_by_hop(&mut parts.headers);
    // The client sets Host from the upstream URL (as nginx's proxy_pass does by default).
    parts.headers.remove(header::HOST);
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static("1.1 clusterbar-meter"));
    parts.version = http::Version::HTTP_11;

    let peek = endpoint.map(|_| Arc::new(Mutex::new(RequestPeek::default())));
    let upstream_body = match &peek {
        Some(peek) => PeekBody {
            inner: body,
            peek: peek.clone(),
        }
        .boxed(),
        None => body.boxed(),
    };
    if endpoint.is_some() {
        state.stats.request_started();
    }
    let sent_at = Instant::now();
    let result = state.client.request(Request::from_parts(parts, upstream_body)).await;

    let Some(endpoint) = endpoint else {
        return Ok(match result {
            Ok(response) => passthrough(response, |body| body.boxed()),
            Err(e) => bad_gateway(&state, &e),
        });
    };
    let model = peek
        .as_ref()
        .and_then(|p| p.lock().ok().and_then(|p| p.model()))
        .unwrap_or_else(|| "unknown".into());
    state.stats.request_model_known(&model);
    match result {
        Ok(response) => {
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let meter = ResponseMeter::new(endpoint, response.status().as_u16(), content_type, sent_at);
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_meter(state.stats.clone(), meter, model, rx));
            Ok(passthrough(response, |inner| {
                MeteredBody {
                    inner,
                    tx,
                    ended: false,
                }
                .boxed()
            }))
        }
        Err(e) => {
            let now = Instant::now();
            let meter = ResponseMeter::new(endpoint, 502, None, sent_at);
            let record = meter.finish(model, Outcome::UpstreamFailed, now, unix_ms());
            state.stats.request_finished(record, 0, now);
            Ok(bad_gateway(&state, &e))
        }
    }
}

fn bad_gateway(state: &ProxyState, error: &hyper_util::client::legacy::Error) -> Response<ProxyBody> {
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = format!("{cause}: {inner}");
        source = inner.source();
    }
    tracing::warn!(upstream = %state.upstream_text, %cause, "upstream request failed");
    let message = format!("clusterbar meter: upstream {} failed: {cause}", state.upstream_text);
    openai_error(
        StatusCode::BAD_GATEWAY,
        &message,
        "upstream_error",
        "upstream_unavailable",
    )
}

fn passthrough(response: Response<Incoming>, wrap: impl FnOnce(Incoming) -> ProxyBody) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, wrap(body))
}

fn local_endpoint(state: &ProxyState, path: &str) -> Response<ProxyBody> {
    let stats = state.stats.snapshot();
    let (body, content_type) = if path == STATS_PATH {
        match serde_json::to_string(&stats) {
            Ok(json) => (json, "application/json"),
            Err(e) => {
                let message = format!("clusterbar meter: encoding stats: {e}");
                return openai_error(StatusCode::INTERNAL_SERVER_ERROR, &message, "server_error", "stats");
            }
        }
    } else {
        (prometheus_text(&stats), "text/plain; version=0.0.4; charset=utf-8")
    };
    let mut response = Response::new(full(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The first [`REQUEST_PEEK_BYTES`] of a request body, kept as refcounted chunks (no copy while forwarding).
#[derive(Default)]
struct RequestPeek {
    chunks: Vec<Bytes>,
    len: usize,
    truncated: bool,
}

impl RequestPeek {
    fn model(&self) -> Option<String> {
        if self.truncated {
            return None;
        }
        let mut all = Vec::with_capacity(self.len);
        self.chunks.iter().for_each(|c| all.extend_from_slice(c));
        parse_request_body(&all).model
    }
}

struct PeekBody {
    inner: Incoming,
    peek: Arc<Mutex<RequestPeek>>,
}

impl Body for PeekBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                if let Ok(mut peek) = self.peek.lock() {
                    if peek.len + data.len() <= REQUEST_PEEK_BYTES {
                        peek.len += data.len();
                        peek.chunks.push(data.clone());
                    } else if !peek.truncated {
                        peek.truncated = true;
                        peek.chunks = Vec::new();
                    }
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

enum Tap {
    Chunk(Instant, Bytes),
    End(Instant),
    Failed(Instant),
}

/// The upstream response body, forwarded frame by frame; every data frame is also handed to the meter task.
struct MeteredBody {
    inner: Incoming,
    tx: mpsc::UnboundedSender<Tap>,
    ended: bool,
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let now = Instant::now();
                if let Some(data) = frame.data_ref() {
                    let _ = self.tx.send(Tap::Chunk(now, data.clone()));
                }
                if self.inner.is_end_stream() && !self.ended {
                    self.ended = true;
                    let _ = self.tx.send(Tap::End(now));
                }
            }
            Poll::Ready(None) if !self.ended => {
                self.ended = true;
                let _ = self.tx.send(Tap::End(Instant::now()));
            }
            Poll::Ready(Some(Err(_))) if !self.ended => {
                self.ended = true;
                let _ = self.tx.send(Tap::Failed(Instant::now()));
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        // An empty body (e.g. 204) may never be polled; it still ended normally.
        if !self.ended && self.inner.is_end_stream() {
            let _ = self.tx.send(Tap::End(Instant::now()));
        }
        // Otherwise dropping the sender without End tells the meter the client went away.
    }
}

async fn run_meter(stats: StatsHub, mut meter: ResponseMeter, model: String, mut rx: mpsc::UnboundedReceiver<Tap>) {
    let mut live_tokens = 0;
    let (outcome, at) = loop {
        match rx.recv().await {
            Some(Tap::Chunk(at, bytes)) => {
                let tokens = meter.observe(&bytes, at);
                live_tokens += tokens;
                stats.tokens_arrived(&model, tokens, at);
            }
            Some(Tap::End(at)) => break (Outcome::Completed, at),
            Some(Tap::Failed(at)) => break (Outcome::UpstreamFailed, at),
            None => break (Outcome::ClientClosed, Instant::now()),
        }
    };
    let record = meter.finish(model, outcome, at, unix_ms());
    tracing::debug!(model = %record.model, status = record.status, ttft_ms = ?record.ttft_ms,
        tokens = ?record.completion_tokens, decode = ?record.decode_tokens_per_s, "request metered");
    stats.request_finished(record, live_tokens, at);
}
