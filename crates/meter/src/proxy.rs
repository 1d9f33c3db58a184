//! The byte-transparent reverse proxy. Each request has an upstream connection to itself (a new one, or one whose
//! last response ended within the second: [`IdlePool`]), and that connection is driven by whoever polls the
//! response body — the client connection's task — rather than by a task of its own:
//! an event then crosses no task boundary, is metered in the poll that forwards it, and events that have already
//! arrived are joined into one write, as nginx forwards whatever one read returned. (With hyper's pooled client
//! every event took two task wake-ups and its own write: ~20x nginx's CPU per event.)

use crate::metering::{parse_request_body, Endpoint, Outcome, ResponseMeter, REQUEST_PEEK_BYTES};
use crate::stats::{external_prometheus_text, prometheus_text, StatsHub};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;

pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

pub const STATS_PATH: &str = "/_clusterbar/stats";
pub const METRICS_PATH: &str = "/_clusterbar/metrics";

/// Where requests go: `http://host:port` plus an optional path prefix.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub scheme_authority: String,
    pub path_prefix: String,
    /// `host:port` to connect to (port 80 when the URL names none).
    authority: String,
    /// The Host header the upstream is sent: the URL's authority as written.
    host: HeaderValue,
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
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| bad(&format!("{e}")))?;
        Ok(Self {
            scheme_authority: format!("http://{authority}"),
            path_prefix: uri.path().trim_end_matches('/').to_string(),
            authority: format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80)),
            host,
        })
    }

    /// The request target sent upstream (origin form: the path, the query).
    fn target_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Ok(format!("{}{}", self.path_prefix, path_and_query).parse::<Uri>()?)
    }
}

/// Where requests go, with the connections kept open to it. Replaced whole when the upstream
/// changes (exo's port in Settings): requests already on their way finish with the old one, and its
/// idle connections are never handed to the new upstream.
pub(crate) struct Route {
    pub upstream: Upstream,
    pub text: String,
    pub idle: IdlePool,
}

impl Route {
    pub fn new(upstream: Upstream) -> Self {
        Self {
            text: format!("{}{}", upstream.scheme_authority, upstream.path_prefix),
            upstream,
            idle: IdlePool::default(),
        }
    }
}

/// The route a listener uses: the main one and the clients' share one; each extra route
/// (`MeterOptions::routes`) has its own.
pub(crate) type SharedRoute = Arc<std::sync::RwLock<Arc<Route>>>;

pub(crate) struct ProxyState {
    pub route: SharedRoute,
    pub stats: StatsHub,
    /// Set on a client's own listener: its requests are counted for it too.
    pub client: Option<String>,
    /// Set on an extra route's listener: its requests are counted for the route too.
    pub route_name: Option<String>,
    /// Whether `/_clusterbar/stats` and `/metrics` are answered here. Not on a route open to the
    /// LAN: the figures (models, clients, recent requests) are this Mac's, not the LAN's; there
    /// the paths go upstream like any other.
    pub meter_pages: bool,
}

impl ProxyState {
    /// The route as it is now (one read per request).
    fn route(&self) -> Arc<Route> {
        current_route(&self.route)
    }
}

/// The route as it is now; a poisoned lock still holds a whole route (it is replaced in one store).
pub(crate) fn current_route(route: &SharedRoute) -> Arc<Route> {
    match route.read() {
        Ok(route) => route.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP/1 connection one request uses; it must be polled for the request and its response to move.
type UpstreamConnection = hyper::client::conn::http1::Connection<TokioIo<TcpStream>, ProxyBody>;
type UpstreamSender = hyper::client::conn::http1::SendRequest<ProxyBody>;

/// How long a finished connection may wait for the next request. Servers close idle keep-alive
/// connections on their own schedule (llama-server's cpp-httplib and uvicorn after 5 s), and a request
/// written to one they are closing fails in a way that cannot be retried (its body is streamed).
/// Reusing only within a second of the last answer stays far inside that window, and a connection the
/// server did close is noticed before use (see [`IdlePool::checkout`]).
const IDLE_KEEP: Duration = Duration::from_secs(1);
/// At most this many idle connections are kept.
const IDLE_MAX: usize = 8;

struct IdleConnection {
    sender: UpstreamSender,
    connection: UpstreamConnection,
    since: Instant,
}

/// Connections whose last response ended moments ago, newest last. Each saves a request the TCP
/// connect (about 0.1 ms on loopback: most of what the meter adds to TTFT).
#[derive(Clone, Default)]
pub(crate) struct IdlePool(Arc<Mutex<Vec<IdleConnection>>>);

impl IdlePool {
    /// The newest idle connection that is still open and ready for a request.
    fn checkout(&self) -> Option<(UpstreamSender, UpstreamConnection)> {
        let mut idle = self.0.lock().ok()?;
        while let Some(mut candidate) = idle.pop() {
            if candidate.since.elapsed() > IDLE_KEEP {
                continue;
            }
            // Nobody polled it while it waited: one poll reads a close (or stray bytes) the server sent,
            // and marks the sender ready for the next request.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            if Pin::new(&mut candidate.connection).poll(&mut cx).is_ready() || !candidate.sender.is_ready() {
                continue;
            }
            return Some((candidate.sender, candidate.connection));
        }
        None
    }

    /// Keeps a connection whose response ended, and forgets it after [`IDLE_KEEP`] (closing it).
    fn check_in(&self, sender: UpstreamSender, connection: UpstreamConnection) {
        if sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.0.lock() else { return };
        idle.push(IdleConnection {
            sender,
            connection,
            since: Instant::now(),
        });
        if idle.len() > IDLE_MAX {
            idle.remove(0);
        }
        drop(idle);
        // Dropping a body can happen outside the runtime (at shutdown): then there is nothing to prune for.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(IDLE_KEEP + Duration::from_millis(100)).await;
            if let Ok(mut idle) = pool.0.lock() {
                idle.retain(|c| c.since.elapsed() <= IDLE_KEEP);
            }
        });
    }
}

/// Why the upstream could not be asked.
#[derive(Debug, thiserror::Error)]
enum UpstreamError {
    #[error("connecting to {authority}: {source}")]
    Connect {
        authority: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {authority}: no answer in {}s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout { authority: String },
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// The response head and what carries its body: the connection (None once it ended) and its sender (for reuse).
type UpstreamReply = (Response<Incoming>, Option<(UpstreamSender, UpstreamConnection)>);

/// Sends `request` on a connection that just finished another request, or on a new one, and returns the response
/// head with the connection that carries its body.
async fn send_upstream(route: &Route, mut request: Request<ProxyBody>) -> Result<UpstreamReply, UpstreamError> {
    while let Some((sender, connection)) = route.idle.checkout() {
        match exchange(sender, connection, request).await {
            Ok(reply) => return Ok(reply),
            // Closed before the request was written: it is whole again, and goes on another connection.
            Err(mut failed) => match failed.take_message() {
                Some(unsent) => request = unsent,
                None => return Err(UpstreamError::Http(failed.into_error())),
            },
        }
    }
    let (sender, connection) = connect(&route.upstream).await?;
    exchange(sender, connection, request)
        .await
        .map_err(|failed| UpstreamError::Http(failed.into_error()))
}

/// Writes the request and reads the response head, polling the connection meanwhile.
async fn exchange(
    mut sender: UpstreamSender,
    connection: UpstreamConnection,
    request: Request<ProxyBody>,
) -> Result<UpstreamReply, hyper::client::conn::TrySendError<Request<ProxyBody>>> {
    let mut connection = Some(connection);
    let mut response = std::pin::pin!(sender.try_send_request(request));
    let response = std::future::poll_fn(|cx| {
        // The connection writes the request and reads the head; if it ends first, the response says why.
        if let Some(conn) = connection.as_mut() {
            if Pin::new(conn).poll(cx).is_ready() {
                connection = None;
            }
        }
        response.as_mut().poll(cx)
    })
    .await?;
    // None: the connection already ended (a response without a body, or one the server closed after).
    Ok((response, connection.map(|connection| (sender, connection))))
}

/// A new connection to the upstream.
async fn connect(upstream: &Upstream) -> Result<(UpstreamSender, UpstreamConnection), UpstreamError> {
    let authority = upstream.authority.clone();
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority.as_str())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(UpstreamError::Connect { authority, source }),
        Err(_) => return Err(UpstreamError::ConnectTimeout { authority }),
    };
    // SSE events are small writes: Nagle would hold them back.
    let _ = stream.set_nodelay(true);
    Ok(hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?)
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
    if state.meter_pages && request.method() == http::Method::GET && (path == STATS_PATH || path == METRICS_PATH) {
        return Ok(local_endpoint(&state, path));
    }
    let endpoint = Endpoint::from_path(path).filter(|_| request.method() == http::Method::POST);
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let (mut parts, body) = request.into_parts();
    let route = state.route();
    parts.uri = match route.upstream.target_for(&path_and_query) {
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
    // Host names the upstream (as nginx's proxy_pass does by default).
    parts.headers.insert(header::HOST, route.upstream.host.clone());
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
        state.stats.request_started(state.route_name.as_deref());
    }
    let sent_at = Instant::now();
    let mut unanswered = endpoint.map(|endpoint| Unanswered {
        stats: state.stats.clone(),
        endpoint,
        sent_at,
        peek: peek.clone(),
        client: state.client.clone(),
        route: state.route_name.clone(),
        armed: true,
    });
    let result = send_upstream(&route, Request::from_parts(parts, upstream_body)).await;
    // Answered (or failed): counted below from here on.
    if let Some(unanswered) = unanswered.as_mut() {
        unanswered.armed = false;
    }

    let Some(endpoint) = endpoint else {
        return Ok(match result {
            Ok((response, connection)) => forward(&route, response, connection, None),
            Err(e) => bad_gateway(&route, &e),
        });
    };
    let model = model_of(peek.as_ref());
    state.stats.request_model_known(&model);
    match result {
        Ok((response, connection)) => {
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let meter = ResponseMeter::new(endpoint, response.status().as_u16(), content_type, sent_at);
            let metering = Metering {
                stats: state.stats.clone(),
                meter: Some(meter),
                model,
                live_tokens: 0,
                client: state.client.clone(),
                route: state.route_name.clone(),
            };
            Ok(forward(&route, response, connection, Some(metering)))
        }
        Err(e) => {
            let now = Instant::now();
            let meter = ResponseMeter::new(endpoint, 502, None, sent_at);
            let mut record = meter.finish(model, Outcome::UpstreamFailed, now, unix_ms());
            record.client = state.client.clone();
            record.route = state.route_name.clone();
            state.stats.request_finished(record, 0, now);
            Ok(bad_gateway(&route, &e))
        }
    }
}

fn model_of(peek: Option<&Arc<Mutex<RequestPeek>>>) -> String {
    peek.and_then(|p| p.lock().ok().and_then(|p| p.model()))
        .unwrap_or_else(|| "unknown".into())
}

/// A metered request waiting for the upstream's response head. When the client goes away meanwhile
/// (it gives up during a long prefill) hyper drops the request's future, and with it this: the
/// request is then counted once, as closed by the client, rather than staying in flight for good
/// (issue #11's fault suite). Dropping the future also drops the upstream connection, which closes
/// the upstream request.
struct Unanswered {
    stats: StatsHub,
    endpoint: Endpoint,
    sent_at: Instant,
    peek: Option<Arc<Mutex<RequestPeek>>>,
    client: Option<String>,
    route: Option<String>,
    /// Cleared once the upstream answered or failed: the response's own metering counts it then.
    armed: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let model = model_of(self.peek.as_ref());
        self.stats.request_model_known(&model);
        let now = Instant::now();
        let meter = ResponseMeter::unanswered(self.endpoint, self.sent_at);
        let mut record = meter.finish(model, Outcome::ClientClosed, now, unix_ms());
        record.client = self.client.take();
        record.route = self.route.take();
        self.stats.request_finished(record, 0, now);
    }
}

fn bad_gateway(route: &Route, error: &UpstreamError) -> Response<ProxyBody> {
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = format!("{cause}: {inner}");
        source = inner.source();
    }
    tracing::warn!(upstream = %route.text, %cause, "upstream request failed");
    let message = format!("clusterbar meter: upstream {} failed: {cause}", route.text);
    openai_error(
        StatusCode::BAD_GATEWAY,
        &message,
        "upstream_error",
        "upstream_unavailable",
    )
}

/// The upstream's response for the client: hop-by-hop fields dropped, the body forwarded (and metered) as it
/// arrives, driving the connection that carries it.
fn forward(
    route: &Route,
    response: Response<Incoming>,
    connection: Option<(UpstreamSender, UpstreamConnection)>,
    metering: Option<Metering>,
) -> Response<ProxyBody> {
    let (mut parts, inner) = response.into_parts();
    let reusable = keeps_alive(parts.version, &parts.headers);
    strip_hop_by_hop(&mut parts.headers);
    let (sender, connection) = connection.unzip();
    // RFC 9112 §9.6: after `Connection: close` no request may follow on that connection. The server
    // closes it right after this response (cpp-httplib, llama-server's, does so after its keep-alive
    // maximum), and the close can arrive after the next request was already written: a 502.
    let sender = sender.filter(|_| reusable);
    let body = UpstreamBody {
        inner,
        connection,
        sender,
        idle: route.idle.clone(),
        metering,
        held: None,
    };
    Response::from_parts(parts, body.boxed())
}

/// Whether the upstream lets the connection carry another request after this response.
fn keeps_alive(version: hyper::Version, headers: &hyper::HeaderMap) -> bool {
    let tokens = |token: &str| {
        headers
            .get_all(hyper::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if version == hyper::Version::HTTP_10 {
        tokens("keep-alive")
    } else {
        !tokens("close")
    }
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
        let mut text = prometheus_text(&stats);
        text.push_str(&external_prometheus_text(&state.stats.external_gauges()));
        (text, "text/plain; version=0.0.4; charset=utf-8")
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

/// One response's meter and where its figures go.
struct Metering {
    stats: StatsHub,
    /// Taken when the response ends, so it is recorded once.
    meter: Option<ResponseMeter>,
    model: String,
    /// Tokens already put into the live series.
    live_tokens: u64,
    client: Option<String>,
    route: Option<String>,
}

impl Metering {
    fn chunk(&mut self, bytes: &[u8], at: Instant) {
        if let Some(meter) = self.meter.as_mut() {
            let tokens = meter.observe(bytes, at);
            self.live_tokens += tokens;
            self.stats
                .tokens_arrived(&self.model, self.route.as_deref(), tokens, at);
        }
    }

    fn finish(&mut self, outcome: Outcome, at: Instant) {
        let Some(meter) = self.meter.take() else {
            return;
        };
        let mut record = meter.finish(std::mem::take(&mut self.model), outcome, at, unix_ms());
        record.client = self.client.take();
        record.route = self.route.take();
        tracing::debug!(model = %record.model, status = record.status, ttft_ms = ?record.ttft_ms,
            tokens = ?record.completion_tokens, decode = ?record.decode_tokens_per_s, "request metered");
        self.stats.request_finished(record, self.live_tokens, at);
    }
}

/// At most this much already-arrived data is joined into one frame.
const COALESCE_MAX_BYTES: usize = 64 * 1024;

type Polled = Poll<Option<Result<Frame<Bytes>, hyper::Error>>>;

/// The upstream response body, forwarded as it arrives and metered on the way.
struct UpstreamBody {
    inner: Incoming,
    /// Polled before every read of `inner`: it is what reads the upstream socket. None once it ended.
    connection: Option<UpstreamConnection>,
    /// Hands the connection to the next request once this response has ended.
    sender: Option<UpstreamSender>,
    idle: IdlePool,
    /// None for paths the meter does not read.
    metering: Option<Metering>,
    /// What the upstream said after the data that was joined into the last frame (trailers, its end or an
    /// error); returned by the next poll.
    held: Option<Polled>,
}

impl UpstreamBody {
    /// Lets the connection read what has arrived, then takes the body's next frame.
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Polled {
        if let Some(connection) = self.connection.as_mut() {
            if let Poll::Ready(result) = Pin::new(connection).poll(cx) {
                // A failure reaches the body as an error frame; the connection is done either way.
                if let Err(e) = result {
                    tracing::debug!(error = %e, "upstream connection failed");
                }
                self.connection = None;
            }
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    /// Joins the data frames the upstream already has ready (without waiting for any) onto `first`.
    fn join_ready(&mut self, first: Bytes, cx: &mut Context<'_>) -> Bytes {
        let mut joined: Option<bytes::BytesMut> = None;
        let mut len = first.len();
        while len < COALESCE_MAX_BYTES {
            match self.poll_inner(cx) {
                Poll::Ready(Some(Ok(frame))) if frame.is_data() => {
                    let Ok(data) = frame.into_data() else { break };
                    len += data.len();
                    joined
                        .get_or_insert_with(|| bytes::BytesMut::from(&first[..]))
                        .extend_from_slice(&data);
                }
                Poll::Pending => break,
                other => {
                    self.held = Some(other);
                    break;
                }
            }
        }
        joined.map_or(first, bytes::BytesMut::freeze)
    }

    fn finish(&mut self, outcome: Outcome, at: Instant) {
        if let Some(metering) = self.metering.as_mut() {
            metering.finish(outcome, at);
        }
        // Only a response read to its end leaves the connection ready for another request.
        if outcome == Outcome::Completed {
            if let (Some(sender), Some(connection)) = (self.sender.take(), self.connection.take()) {
                self.idle.check_in(sender, connection);
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = &mut *self;
        let polled = match this.held.take() {
            Some(held) => held,
            None => this.poll_inner(cx),
        };
        let now = Instant::now();
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => {
                        let data = this.join_ready(data, cx);
                        if let Some(metering) = this.metering.as_mut() {
                            metering.chunk(&data, now);
                        }
                        Frame::data(data)
                    }
                    Err(trailers) => trailers,
                };
                // A body with a known length ends with its last data frame, without a further poll.
                if this.held.is_none() && this.inner.is_end_stream() {
                    this.finish(Outcome::Completed, now);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish(Outcome::Completed, now);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(Outcome::UpstreamFailed, now);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.held {
            Some(Poll::Ready(None)) => true,
            Some(_) => false,
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // An empty body (e.g. 204) may never be polled; it still ended normally. Any other body dropped before its
        // end was abandoned by the client (hyper drops it when the client connection goes).
        let outcome = if self.is_end_stream() {
            Outcome::Completed
        } else if matches!(self.held, Some(Poll::Ready(Some(Err(_))))) {
            Outcome::UpstreamFailed
        } else {
            Outcome::ClientClosed
        };
        self.finish(outcome, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn connection_close_ends_reuse() {
        use hyper::header::{HeaderMap, HeaderValue, CONNECTION};
        let mut headers = HeaderMap::new();
        assert!(super::keeps_alive(hyper::Version::HTTP_11, &headers));
        assert!(!super::keeps_alive(hyper::Version::HTTP_10, &headers));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade, Close"));
        assert!(!super::keeps_alive(hyper::Version::HTTP_11, &headers));
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(super::keeps_alive(hyper::Version::HTTP_10, &headers));
        assert!(super::keeps_alive(hyper::Version::HTTP_11, &headers));
    }
}
