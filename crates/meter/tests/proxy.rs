//! The meter in front of a synthetic upstream (a hyper server on 127.0.0.1:0 in this process).

mod common;
use common::start_meter;

use bytes::Bytes;
use clusterbar_meter::{Meter, MeterHandle, MeterOptions, Outcome};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

type UpBody = BoxBody<Bytes, std::convert::Infallible>;
type Handler = Arc<dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<UpBody>> + Send>> + Send + Sync>;
use std::future::Future;

const WAIT: Duration = Duration::from_secs(10);

/// A response body fed by the test, one frame per message; the receiver closing tells the test the upstream
/// connection went away.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

async fn start_upstream(handler: Handler) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, std::convert::Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

fn post(addr: SocketAddr, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer test-token")
        .header("x-custom-request", "kept")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let response = client().request(
        Request::get(format!("http://{addr}{path}"))
            .body(Full::default())
            .unwrap(),
    );
    let body = response.await.unwrap().into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

fn chunk(content: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"c1\",\"model\":\"up-model\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{content:?}}}}}]}}\n\n"
    ))
}

/// What the upstream saw of the last request.
#[derive(Default, Clone, Debug)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

/// Fixed SSE answer with fixed headers (a fixed Date so direct and metered responses can be compared whole),
/// split into uneven chunks, CRLF line ends and a comment included.
fn fixed_stream_upstream(seen: Arc<Mutex<Seen>>) -> Handler {
    Arc::new(move |req: Request<Incoming>| {
        let seen = seen.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            *seen.lock().unwrap() = Seen {
                method: parts.method.to_string(),
                path_and_query: parts.uri.path_and_query().unwrap().to_string(),
                headers: parts.headers.clone(),
                body,
            };
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(async move {
                let pieces: [&[u8]; 6] = [
                    b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"model\":\"up-model\"}\r\n\r\nda",
                    b"ta: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n",
                    b"\r\n: keep-alive comment\r\n\r\n",
                    b"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"!\"}}]}\r\n\r\n",
                    b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":3,\"prompt_tokens\":7}}\r\n\r\n",
                    b"data: [DONE]\r\n\r\n",
                ];
                for piece in pieces {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if tx.send(Bytes::from_static(piece)).await.is_err() {
                        return;
                    }
                }
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .header("date", "Thu, 01 Jan 2026 00:00:00 GMT")
                .header("x-upstream", "synthetic")
                .header("set-cookie", "a=1")
                .header("set-cookie", "b=2")
                .header("connection", "x-hop")
                .header("x-hop", "must not pass")
                .body(ChannelBody(rx).boxed())
                .unwrap()
        })
    })
}

#[tokio::test]
async fn responses_and_requests_pass_byte_for_byte_and_are_metered() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let upstream = start_upstream(fixed_stream_upstream(seen.clone())).await;
    let meter = start_meter(upstream).await;
    let body = r#"{"model":"smollm2","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

    let mut results = Vec::new();
    for addr in [upstream, meter.local_addr()] {
        let response = client()
            .request(post(addr, "/v1/chat/completions?x=1&y=%20", body))
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        results.push((parts, bytes, seen.lock().unwrap().clone()));
    }
    let (direct, metered) = (&results[0], &results[1]);
    assert_eq!(direct.0.status, metered.0.status);
    assert_eq!(direct.1, metered.1, "response body bytes");
    // Response headers: identical except the hop-by-hop field named by `Connection` (RFC 9110 §7.6.1).
    let mut expected = direct.0.headers.clone();
    expected.remove("connection");
    expected.remove("x-hop");
    assert_eq!(expected, metered.0.headers);
    assert_eq!(metered.0.headers.get_all("set-cookie").iter().count(), 2);

    // Request: same method, path, query, body; headers the same plus Via (a gateway MUST add it).
    let (seen_direct, seen_metered) = (&direct.2, &metered.2);
    assert_eq!(seen_direct.method, seen_metered.method);
    assert_eq!(seen_direct.path_and_query, "/v1/chat/completions?x=1&y=%20");
    assert_eq!(seen_direct.path_and_query, seen_metered.path_and_query);
    assert_eq!(seen_direct.body, seen_metered.body);
    let mut metered_headers = seen_metered.headers.clone();
    assert_eq!(metered_headers.remove("via").unwrap(), "1.1 clusterbar-meter");
    assert_eq!(
        seen_direct.headers.get("authorization"),
        metered_headers.get("authorization")
    );
    assert_eq!(seen_direct.headers, metered_headers);

    // The meter task finishes just after the body ends.
    let stats = wait_for(|| meter.stats(), |s| s.cluster.requests == 1).await;
    let model = &stats.models[0];
    assert_eq!(model.id, "smollm2");
    assert_eq!(model.aggregate.completion_tokens, 3);
    let recent = &stats.recent[0];
    assert_eq!(
        (recent.status, recent.outcome, recent.metered),
        (200, Outcome::Completed, true)
    );
    assert_eq!(recent.completion_tokens, Some(3));
    assert_eq!(recent.content_events, 3);
    assert!(recent.ttft_ms.unwrap() > 0.0 && recent.ttft_ms.unwrap() < recent.e2e_ms);
    assert!(recent.decode_tokens_per_s.unwrap() > 0.0);
    meter.shutdown().await;
}

async fn wait_for<T>(mut get: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = get();
        if done(&value) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An upstream whose stream the test drives: every request hands the test a sender.
fn driven_upstream(senders: mpsc::UnboundedSender<mpsc::Sender<Bytes>>) -> Handler {
    Arc::new(move |_req: Request<Incoming>| {
        let senders = senders.clone();
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(1);
            senders.send(tx).unwrap();
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(ChannelBody(rx).boxed())
                .unwrap()
        })
    })
}

/// A streamed chat request through a fresh meter to a driven upstream: the meter, the client's
/// response body, and the sender that feeds the upstream's answer.
async fn driven_stream_through_meter() -> (MeterHandle, Incoming, mpsc::Sender<Bytes>) {
    let (senders_tx, mut senders) = mpsc::unbounded_channel();
    let upstream = start_upstream(driven_upstream(senders_tx)).await;
    let meter = start_meter(upstream).await;
    let response = client()
        .request(post(meter.local_addr(), "/v1/chat/completions", r#"{"model":"m"}"#))
        .await;
    let body = response.unwrap().into_body();
    let upstream_tx = senders.recv().await.unwrap();
    (meter, body, upstream_tx)
}

#[tokio::test]
async fn events_are_forwarded_as_they_arrive_not_buffered() {
    let (meter, mut body, upstream_tx) = driven_stream_through_meter().await;
    // Lock-step: the upstream sends event k+1 only after the client has received event k. A buffering proxy
    // would deadlock here, and the timeout turns that into a failure.
    for k in 0..5 {
        let event = chunk(&format!("t{k}"));
        upstream_tx.send(event.clone()).await.unwrap();
        let frame = tokio::time::timeout(WAIT, body.frame())
            .await
            .expect("event held back by the meter");
        assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), event);
    }
    // Live tokens are visible while the stream is still open.
    let stats = wait_for(|| meter.stats(), |s| s.cluster.in_flight == 1).await;
    assert_eq!(stats.cluster.in_flight, 1);
    assert_eq!(stats.models[0].aggregate.in_flight, 1);
    drop(upstream_tx);
    assert!(body.frame().await.is_none());
    let stats = wait_for(|| meter.stats(), |s| s.cluster.requests == 1).await;
    assert_eq!(stats.cluster.completion_tokens, 5);
    assert_eq!(stats.cluster.in_flight, 0);
}

#[tokio::test]
async fn a_burst_of_waiting_events_is_forwarded_whole_in_fewer_writes_and_counted() {
    const EVENTS: usize = 500;
    let events: Vec<Bytes> = (0..EVENTS).map(|k| chunk(&format!("t{k}"))).collect();
    let expected: Vec<u8> = events.iter().flat_map(|e| e.to_vec()).collect();
    let burst = events.clone();
    // Every event is queued before the response starts, so the upstream writes them back to back.
    let upstream = start_upstream(Arc::new(move |_req: Request<Incoming>| {
        let burst = burst.clone();
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(EVENTS);
            for event in burst {
                tx.try_send(event).unwrap();
            }
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(ChannelBody(rx).boxed())
                .unwrap()
        })
    }))
    .await;
    let meter = start_meter(upstream).await;
    let response = client()
        .request(post(meter.local_addr(), "/v1/chat/completions", r#"{"model":"m"}"#))
        .await;
    let mut body = response.unwrap().into_body();
    let (mut received, mut frames) = (Vec::new(), 0);
    while let Some(frame) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        received.extend_from_slice(&frame.unwrap().into_data().unwrap());
        frames += 1;
    }
    assert_eq!(received, expected, "bytes changed on the way");
    // The upstream's 500 chunks were already there: the meter joined them into far fewer writes.
    assert!(frames < EVENTS / 2, "{frames} frames for {EVENTS} waiting events");
    let stats = wait_for(|| meter.stats(), |s| s.cluster.requests == 1).await;
    assert_eq!(stats.cluster.completion_tokens, EVENTS as u64);
}

#[tokio::test]
async fn the_feed_sleeps_while_idle_and_moves_while_watched_or_busy() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let upstream = start_upstream(fixed_stream_upstream(seen)).await;
    let options = MeterOptions {
        publish_interval: Duration::from_millis(500),
        ..MeterOptions::default()
    };
    let meter = Meter::start("127.0.0.1:0".parse().unwrap(), &format!("http://{upstream}"), options)
        .await
        .unwrap();
    let mut updates = meter.subscribe();
    updates.borrow_and_update();
    // Nothing happens and nobody looks: nothing is published (three intervals' worth of silence).
    assert!(tokio::time::timeout(Duration::from_millis(1500), updates.changed())
        .await
        .is_err());
    // The popover opens: a fresh snapshot at once, then one per interval although nothing happens.
    meter.set_watched(true);
    for _ in 0..2 {
        tokio::time::timeout(WAIT, updates.changed()).await.unwrap().unwrap();
        updates.borrow_and_update();
    }
    // Closed again: a request still shows up in the feed.
    meter.set_watched(false);
    let body = client()
        .request(post(meter.local_addr(), "/v1/chat/completions", r#"{"model":"m"}"#))
        .await
        .unwrap()
        .into_body();
    body.collect().await.unwrap();
    let published = tokio::time::timeout(WAIT, updates.wait_for(|s| s.cluster.requests == 1)).await;
    assert_eq!(published.unwrap().unwrap().cluster.completion_tokens, 3);
    meter.shutdown().await;
}

#[tokio::test]
async fn client_disconnect_closes_the_upstream_request() {
    let (meter, mut body, upstream_tx) = driven_stream_through_meter().await;
    upstream_tx.send(chunk("a")).await.unwrap();
    tokio::time::timeout(WAIT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop(body); // the client goes away mid-stream
                // The upstream notices: its body is dropped once the meter closes the upstream connection.
    let closed = tokio::time::timeout(WAIT, async {
        while upstream_tx.send(chunk("more")).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the upstream request stayed open after the client left");
    let stats = wait_for(|| meter.stats(), |s| s.cluster.requests == 1).await;
    assert_eq!(stats.cluster.client_closed, 1);
    assert_eq!(stats.recent[0].outcome, Outcome::ClientClosed);
}

/// Issue #11's fault suite found it: a client that left before the response head (during a long
/// prefill) was never counted, and stayed "in flight" for good.
#[tokio::test]
async fn a_client_leaving_before_the_answer_is_counted_once_and_the_upstream_request_closed() {
    use tokio::io::AsyncWriteExt;
    // The upstream takes the request and never answers; it is told when its handler is dropped.
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<mpsc::Sender<()>>();
    let handler: Handler = Arc::new(move |_req: Request<Incoming>| {
        let arrived_tx = arrived_tx.clone();
        Box::pin(async move {
            let (dropped_tx, _dropped_rx) = mpsc::channel::<()>(1);
            arrived_tx.send(dropped_tx).unwrap();
            std::future::pending::<Response<UpBody>>().await
        })
    });
    let meter = start_meter(start_upstream(handler).await).await;
    let mut client = tokio::net::TcpStream::connect(meter.local_addr()).await.unwrap();
    let body = r#"{"model":"m","stream":true}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: meter\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    client.write_all(request.as_bytes()).await.unwrap();
    let upstream_handler = tokio::time::timeout(WAIT, arrived.recv()).await.unwrap().unwrap();
    assert_eq!(meter.stats().cluster.in_flight, 1);
    drop(client);
    // The meter closes its upstream request: the handler holding the sender is dropped.
    tokio::time::timeout(WAIT, upstream_handler.closed())
        .await
        .expect("the upstream request stayed open after the client left");
    let stats = wait_for(|| meter.stats(), |s| s.cluster.requests == 1).await;
    let c = &stats.cluster;
    assert_eq!((c.requests, c.in_flight, c.client_closed, c.errors), (1, 0, 1, 0));
    assert_eq!(stats.models[0].id, "m");
    assert_eq!(
        (stats.models[0].aggregate.requests, stats.models[0].aggregate.in_flight),
        (1, 0)
    );
    assert_eq!(stats.recent[0].outcome, Outcome::ClientClosed);
    assert_eq!(stats.recent[0].status, 0, "no answer, so no status");
    meter.shutdown().await;
}

#[tokio::test]
async fn upstream_down_is_a_502_in_openai_error_shape() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = unused.local_addr().unwrap();
    drop(unused);
    let meter = start_meter(dead).await;
    let response = client()
        .request(post(meter.local_addr(), "/v1/chat/completions", r#"{"model":"m"}"#))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let error = &json["error"];
    assert!(error["message"].as_str().unwrap().contains(&dead.to_string()), "{json}");
    assert_eq!(error["type"], "upstream_error");
    assert_eq!(error["code"], "upstream_unavailable");
    // Non-metered paths get the same answer.
    let models = client().request(
        Request::get(format!("http://{}/v1/models", meter.local_addr()))
            .body(Full::default())
            .unwrap(),
    );
    assert_eq!(models.await.unwrap().status(), StatusCode::BAD_GATEWAY);
    let stats = meter.stats();
    assert_eq!(
        (stats.cluster.requests, stats.cluster.errors, stats.cluster.in_flight),
        (1, 1, 0)
    );
    assert_eq!(stats.recent[0].outcome, Outcome::UpstreamFailed);
    assert_eq!(stats.recent[0].status, 502);
}

#[tokio::test]
async fn stats_and_metrics_endpoints_and_unmetered_bodies() {
    let handler: Handler = Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let (content_type, body): (&str, &str) = match path.as_str() {
                "/v1/completions" => (
                    "application/json",
                    r#"{"choices":[{"text":"hi"}],"usage":{"completion_tokens":4}}"#,
                ),
                "/v1/messages" => ("text/event-stream", "data: not json at all\n\n"),
                _ => ("application/json", r#"{"data":[{"id":"m"}]}"#),
            };
            Response::builder()
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body)).boxed())
                .unwrap()
        })
    });
    let upstream = start_upstream(handler).await;
    let meter = start_meter(upstream).await;
    let addr = meter.local_addr();
    let ok = client()
        .request(post(addr, "/v1/completions", r#"{"model":"alpha"}"#))
        .await
        .unwrap();
    ok.into_body().collect().await.unwrap();
    let garbage = client()
        .request(post(addr, "/v1/messages", r#"{"model":"beta"}"#))
        .await
        .unwrap();
    assert_eq!(
        garbage.into_body().collect().await.unwrap().to_bytes(),
        "data: not json at all\n\n"
    );
    // Not a metered endpoint: forwarded, not counted.
    assert_eq!(get_json(addr, "/v1/models").await["data"][0]["id"], "m");
    wait_for(|| meter.stats(), |s| s.cluster.requests == 2).await;

    let stats = get_json(addr, "/_clusterbar/stats").await;
    assert_eq!(stats["cluster"]["requests"], 2);
    assert_eq!(stats["cluster"]["unmetered"], 1);
    assert_eq!(stats["cluster"]["completion_tokens"], 4);
    let models = stats["models"].as_array().unwrap();
    let alpha = models.iter().find(|m| m["id"] == "alpha").unwrap();
    assert_eq!(
        (alpha["requests"].as_u64(), alpha["completion_tokens"].as_u64()),
        (Some(1), Some(4))
    );
    assert!(alpha["tokens_per_s"].is_number());
    let beta = models.iter().find(|m| m["id"] == "beta").unwrap();
    assert_eq!(beta["unmetered"], 1);
    let recent = stats["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    for key in ["model", "ttft_ms", "completion_tokens", "decode_tokens_per_s", "status"] {
        assert!(recent[0].get(key).is_some(), "recent[] lacks {key}");
    }
    assert_eq!(stats["history"]["interval_s"], 1);
    assert!(stats["history"]["tokens"].is_array());

    let metrics = client().request(
        Request::get(format!("http://{addr}/_clusterbar/metrics"))
            .body(Full::default())
            .unwrap(),
    );
    let metrics = metrics.await.unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = String::from_utf8(metrics.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("clusterbar_meter_requests_total 2\n"), "{text}");
    assert!(
        text.contains("clusterbar_meter_completion_tokens_total{model=\"alpha\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("clusterbar_meter_unmetered_total{model=\"beta\"} 1\n"),
        "{text}"
    );

    // The app's feed publishes the same struct.
    let mut updates = meter.subscribe();
    let published = tokio::time::timeout(WAIT, updates.wait_for(|s| s.cluster.requests == 2)).await;
    assert_eq!(published.unwrap().unwrap().models.len(), 2);
}

/// An upstream on raw TCP that counts connections and answers every `GET` with "ok"; with `close_after`, it
/// closes each connection that long after answering (as a server's keep-alive timeout does).
async fn counting_upstream(close_after: Option<Duration>) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut buffer).await else { return };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buffer[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                        if let Some(after) = close_after {
                            tokio::time::sleep(after).await;
                            return; // dropping the stream closes it
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

async fn get_ok(meter: &MeterHandle) {
    let response = client()
        .request(
            Request::get(format!("http://{}/health", meter.local_addr()))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
}

#[tokio::test]
async fn a_finished_connection_serves_the_next_request_for_a_second_only() {
    let (upstream, accepted) = counting_upstream(None).await;
    let meter = start_meter(upstream).await;
    get_ok(&meter).await;
    get_ok(&meter).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the second request reused the connection"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    get_ok(&meter).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "an idle connection is not kept past 1 s"
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_never_used() {
    let (upstream, accepted) = counting_upstream(Some(Duration::from_millis(50))).await;
    let meter = start_meter(upstream).await;
    get_ok(&meter).await;
    // The server has closed the idle connection by now; the meter must notice before sending on it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    get_ok(&meter).await;
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refuses_non_loopback_unless_allowed() {
    let error = Meter::start(
        "0.0.0.0:0".parse().unwrap(),
        "http://127.0.0.1:1",
        MeterOptions::default(),
    )
    .await;
    assert!(matches!(error, Err(clusterbar_meter::MeterError::NotLoopback(_))));
    let allowed = MeterOptions {
        allow_remote: true,
        ..MeterOptions::default()
    };
    let meter = Meter::start("0.0.0.0:0".parse().unwrap(), "http://127.0.0.1:1", allowed)
        .await
        .unwrap();
    meter.shutdown().await;
    let bad = Meter::start(
        "127.0.0.1:0".parse().unwrap(),
        "https://example.com",
        MeterOptions::default(),
    )
    .await;
    assert!(matches!(bad, Err(clusterbar_meter::MeterError::BadUpstream { .. })));
}

/// Issue #12: what the Porten agent is served (what the Hub pays for) is counted apart — it
/// arrives on a listener of its own — per day and in total, across a restart of the meter.
#[tokio::test]
async fn a_clients_own_listener_counts_its_tokens_and_the_ledger_survives_a_restart() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let upstream = start_upstream(fixed_stream_upstream(seen)).await;
    let ledger = std::env::temp_dir().join(format!("meter-ledger-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&ledger);
    let options = || MeterOptions {
        clients: vec![("127.0.0.1:0".parse().unwrap(), "porten".to_owned())],
        ledger: Some(ledger.clone()),
        ..MeterOptions::default()
    };
    let body = r#"{"model":"m","stream":true,"messages":[]}"#;
    let meter = Meter::start("127.0.0.1:0".parse().unwrap(), &format!("http://{upstream}"), options())
        .await
        .unwrap();
    let agent = meter.client_addr("porten").expect("the agent's listener");
    assert_ne!(agent, meter.local_addr());
    assert_eq!(meter.stats().clients[0].tokens_total, 0, "listed before any request");
    for addr in [agent, meter.local_addr(), agent] {
        let response = client()
            .request(post(addr, "/v1/chat/completions", body))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let stats = wait_for(|| meter.stats(), |s| s.cluster.requests == 3).await;
    let porten = &stats.clients[0];
    assert_eq!(porten.client, "porten");
    // 3 tokens a request (the upstream's usage); the local client's request is not the agent's.
    assert_eq!((porten.requests, porten.tokens_today, porten.tokens_total), (2, 6, 6));
    assert_eq!(stats.cluster.completion_tokens, 9);
    assert_eq!(stats.recent[0].client.as_deref(), Some("porten"));
    assert_eq!(stats.recent[1].client, None);
    // Served at /_clusterbar/stats too, for `clusterbar status`.
    let served = get_json(meter.local_addr(), "/_clusterbar/stats").await;
    assert_eq!(served["clients"][0]["tokens_today"], 6);
    meter.shutdown().await;

    let again = Meter::start("127.0.0.1:0".parse().unwrap(), &format!("http://{upstream}"), options())
        .await
        .unwrap();
    let agent = again.client_addr("porten").unwrap();
    let response = client()
        .request(post(agent, "/v1/chat/completions", body))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let stats = wait_for(|| again.stats(), |s| s.cluster.requests == 1).await;
    let porten = &stats.clients[0];
    assert_eq!((porten.requests, porten.tokens_today, porten.tokens_total), (1, 9, 9));
    assert_eq!(porten.days.len(), 1);
    again.shutdown().await;
    let _ = std::fs::remove_file(&ledger);
}

/// The agent's port taken: the meter still runs for everyone, and says why the agent shares it.
#[tokio::test]
async fn a_clients_taken_port_leaves_the_meter_running() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let options = MeterOptions {
        clients: vec![(taken.local_addr().unwrap(), "porten".to_owned())],
        ..MeterOptions::default()
    };
    let meter = Meter::start("127.0.0.1:0".parse().unwrap(), "http://127.0.0.1:9", options)
        .await
        .unwrap();
    assert_eq!(meter.client_addr("porten"), None);
    let (url, why) = meter.client_url("porten");
    assert_eq!(url, format!("http://{}", meter.local_addr()));
    assert!(why.unwrap().contains("cannot listen"));
    meter.shutdown().await;
}

#[tokio::test]
async fn a_new_upstream_takes_the_next_request_and_no_old_connection_is_reused() {
    let (first, first_accepted) = counting_upstream(None).await;
    let (second, second_accepted) = counting_upstream(None).await;
    let meter = start_meter(first).await;
    get_ok(&meter).await;
    assert_eq!(first_accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    // exo's port changed in Settings: the same meter now forwards to the new one, at once.
    meter.set_upstream(&format!("http://{second}")).unwrap();
    assert_eq!(meter.upstream(), format!("http://{second}"));
    get_ok(&meter).await;
    get_ok(&meter).await;
    assert_eq!(
        second_accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the new upstream got a connection (and kept it for the next request)"
    );
    assert_eq!(
        first_accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the idle connection to the old upstream was not reused"
    );
    let stats = get_json(meter.local_addr(), "/_clusterbar/stats").await;
    assert_eq!(stats["upstream"], format!("http://{second}"));
    // A bad address is refused and changes nothing.
    assert!(meter.set_upstream("ftp://example.com").is_err());
    assert_eq!(meter.upstream(), format!("http://{second}"));
    meter.shutdown().await;
}
