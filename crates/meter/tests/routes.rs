//! Extra listeners with upstreams of their own (`MeterOptions::routes`): the meter replacing an
//! nginx hop to a second box's Ollama. The upstreams are tiny Ollama stand-ins in this process
//! (hyper on 127.0.0.1:0) that stream NDJSON lines on a timer, as Ollama's `/api/chat` and
//! `/api/generate` do.

use bytes::Bytes;
use clusterbar_meter::{ExtraRoute, Meter, MeterHandle, MeterOptions, MeterStats, METRICS_PATH, STATS_PATH};
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

type UpBody = BoxBody<Bytes, std::convert::Infallible>;

const WAIT: Duration = Duration::from_secs(10);
/// Between two streamed lines.
const LINE_GAP: Duration = Duration::from_millis(25);

struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// What a stand-in Ollama streams for one request: its lines, the last one `done` with the
/// figures Ollama reports (eval_count = the lines with text).
fn ollama_lines(box_name: &str, path: &str, words: usize) -> Vec<String> {
    let chunk = |text: &str, done: bool| {
        let mut object = if path == "/api/chat" {
            serde_json::json!({"model": "llama3.2", "created_at": "2025-10-26T17:21:21.196249Z",
                "message": {"role": "assistant", "content": text}, "done": done})
        } else {
            serde_json::json!({"model": "llama3.2", "created_at": "2025-10-26T17:21:21.196249Z",
                "response": text, "done": done})
        };
        if done {
            let figures = serde_json::json!({"done_reason": "stop", "total_duration": 1_162_761_250u64,
                "load_duration": 6_683_708u64, "prompt_eval_count": 17, "prompt_eval_duration": 201_222_000u64,
                "eval_count": words, "eval_duration": 953_997_000u64});
            object
                .as_object_mut()
                .unwrap()
                .extend(figures.as_object().unwrap().clone());
        }
        format!("{object}\n")
    };
    let mut lines: Vec<String> = (0..words).map(|i| chunk(&format!("{box_name}{i} "), false)).collect();
    lines.push(chunk("", true));
    lines
}

/// A stand-in Ollama named `box_name`: `/api/chat` and `/api/generate` stream `words` NDJSON
/// lines [`LINE_GAP`] apart (one JSON object when the request says `"stream": false`). Counts
/// the requests it served.
async fn start_ollama(box_name: &'static str, words: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let streamed = !String::from_utf8_lossy(&body).contains("\"stream\":false");
                        let lines = ollama_lines(box_name, &path, words);
                        let response = if streamed {
                            let (tx, rx) = mpsc::channel(4);
                            tokio::spawn(async move {
                                for line in lines {
                                    tokio::time::sleep(LINE_GAP).await;
                                    if tx.send(Bytes::from(line)).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            Response::builder()
                                .header("content-type", "application/x-ndjson")
                                .body(ChannelBody(rx).boxed())
                                .unwrap()
                        } else {
                            // One object: the whole text, and the last line's figures.
                            let mut last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
                            last["response"] = serde_json::json!(box_name);
                            Response::builder()
                                .header("content-type", "application/json; charset=utf-8")
                                .body(Full::new(Bytes::from(last.to_string())).boxed())
                                .unwrap()
                        };
                        Ok::<Response<UpBody>, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, served)
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// POSTs `body` to `addr` and returns the status, the content type, the body's bytes and when
/// its first byte arrived.
async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String, Vec<u8>, Duration) {
    let started = Instant::now();
    let request = Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = tokio::time::timeout(WAIT, client().request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let mut first = None;
    while let Some(frame) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        if let Ok(data) = frame.unwrap().into_data() {
            first.get_or_insert_with(|| started.elapsed());
            bytes.extend_from_slice(&data);
        }
    }
    (status, content_type, bytes, first.unwrap_or_default())
}

async fn get_text(addr: SocketAddr, path: &str) -> String {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .unwrap();
    let response = tokio::time::timeout(WAIT, client().request(request))
        .await
        .unwrap()
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn stats(meter: &MeterHandle) -> MeterStats {
    serde_json::from_str(&get_text(meter.local_addr(), STATS_PATH).await).unwrap()
}

/// Waits until the meter has finished `n` requests (the body's end and the record race a little).
async fn finished(meter: &MeterHandle, n: u64) -> MeterStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = stats(meter).await;
        if stats.cluster.requests >= n || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn route(name: &str, upstream: SocketAddr) -> ExtraRoute {
    ExtraRoute {
        name: name.to_owned(),
        port: 0,
        upstream: format!("http://{upstream}"),
        serve_lan: false,
    }
}

/// A meter whose main listener points at `main` (exo's place), with `routes`.
async fn start_meter(main: SocketAddr, routes: Vec<ExtraRoute>) -> MeterHandle {
    let options = MeterOptions {
        routes,
        ..MeterOptions::default()
    };
    Meter::start("127.0.0.1:0".parse().unwrap(), &format!("http://{main}"), options)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_route_to_an_ollama_is_byte_identical_counted_and_keeps_the_servers_figures() {
    const WORDS: usize = 12;
    let (exo, exo_served) = start_ollama("exo", 2).await;
    let (box2, box2_served) = start_ollama("box2-", WORDS).await;
    let meter = start_meter(exo, vec![route("box2", box2)]).await;
    let listen = meter.route_addr("box2").expect("the route listens");
    assert_ne!(listen, meter.local_addr());
    let body = r#"{"model":"llama3.2","messages":[{"role":"user","content":"why is the sky blue?"}]}"#;

    let direct = post(box2, "/api/chat", body).await;
    let through = post(listen, "/api/chat", body).await;
    assert_eq!(through.0, 200);
    assert_eq!(through.1, "application/x-ndjson");
    assert_eq!(through.2, direct.2, "the route's bytes are the upstream's bytes");
    assert_eq!(
        through.2,
        ollama_lines("box2-", "/api/chat", WORDS).concat().into_bytes()
    );
    assert_eq!(box2_served.load(Ordering::SeqCst), 2, "the route went to box 2");
    assert_eq!(exo_served.load(Ordering::SeqCst), 0, "and not to the main upstream");

    let stats = finished(&meter, 1).await;
    let record = &stats.recent[0];
    assert_eq!(record.route.as_deref(), Some("box2"));
    assert_eq!(record.model, "llama3.2");
    assert!(record.metered && record.streamed, "{record:?}");
    assert_eq!(record.content_events, WORDS as u64);
    assert_eq!(record.completion_tokens, Some(WORDS as u64), "tokens = eval_count");
    assert_eq!(record.prompt_tokens, Some(17));
    // The meter's own clock: TTFT at least one line gap, decode rate about one token per gap.
    let ttft = record.ttft_ms.unwrap();
    assert!(ttft >= LINE_GAP.as_secs_f64() * 1000.0 * 0.9, "ttft {ttft} ms");
    let decode = record.decode_tokens_per_s.unwrap();
    let per_gap = 1.0 / LINE_GAP.as_secs_f64();
    assert!(
        decode > per_gap * 0.3 && decode < per_gap * 1.5,
        "decode {decode} tok/s"
    );
    // Ollama's own figures beside ours, labelled as the server's.
    let ollama = record.server_reported.ollama.as_ref().expect("server-reported figures");
    assert_eq!(ollama.eval_count, Some(WORDS as u64));
    assert_eq!(ollama.eval_duration_ns, Some(953_997_000));
    assert_eq!(ollama.load_duration_ns, Some(6_683_708));
    assert_eq!(ollama.prompt_eval_duration_ns, Some(201_222_000));
    let server_rate = WORDS as f64 / 0.953_997;
    assert!((ollama.eval_tokens_per_s.unwrap() - server_rate).abs() < 1e-6);

    let routes = &stats.routes;
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].name, "box2");
    assert_eq!(routes[0].listen, listen.to_string());
    assert_eq!(routes[0].upstream, format!("http://{box2}"));
    assert_eq!(routes[0].aggregate.requests, 1);
    assert_eq!(routes[0].aggregate.completion_tokens, WORDS as u64);
    assert!((routes[0].server_tokens_per_s.unwrap() - server_rate).abs() < 1e-6);
    assert_eq!(
        stats.cluster.completion_tokens, WORDS as u64,
        "the totals include the route"
    );
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);

    let metrics = get_text(meter.local_addr(), METRICS_PATH).await;
    assert!(
        metrics.contains(&format!(
            "clusterbar_meter_completion_tokens_total{{route=\"box2\"}} {WORDS}\n"
        )),
        "{metrics}"
    );
    // The route's listener serves the meter's own pages too.
    assert!(get_text(listen, STATS_PATH).await.contains("\"routes\""));
    meter.shutdown().await;
}

#[tokio::test]
async fn two_routes_to_two_upstreams_at_once_are_counted_apart() {
    let (exo, _) = start_ollama("exo", 1).await;
    let (box_a, a_served) = start_ollama("A", 6).await;
    let (box_b, b_served) = start_ollama("B", 9).await;
    let meter = start_meter(exo, vec![route("box-a", box_a), route("box-b", box_b)]).await;
    let (a, b) = (meter.route_addr("box-a").unwrap(), meter.route_addr("box-b").unwrap());
    let generate = r#"{"model":"llama3.2","prompt":"hi"}"#;
    let chat = r#"{"model":"llama3.2","messages":[]}"#;
    // Streams on both routes at the same time, plus one non-streamed answer on B.
    let (on_a, on_b, whole_b) = tokio::join!(
        post(a, "/api/generate", generate),
        post(b, "/api/chat", chat),
        post(
            b,
            "/api/generate",
            r#"{"model":"llama3.2","prompt":"hi","stream":false}"#
        ),
    );
    assert_eq!(on_a.2, ollama_lines("A", "/api/generate", 6).concat().into_bytes());
    assert_eq!(on_b.2, ollama_lines("B", "/api/chat", 9).concat().into_bytes());
    assert!(String::from_utf8_lossy(&whole_b.2).contains("\"eval_count\":9"));
    assert_eq!(
        (a_served.load(Ordering::SeqCst), b_served.load(Ordering::SeqCst)),
        (1, 2)
    );

    let stats = finished(&meter, 3).await;
    let by_name = |name: &str| stats.routes.iter().find(|r| r.name == name).unwrap().aggregate.clone();
    let (a_stats, b_stats) = (by_name("box-a"), by_name("box-b"));
    assert_eq!((a_stats.requests, a_stats.completion_tokens), (1, 6));
    assert_eq!(
        (b_stats.requests, b_stats.completion_tokens),
        (2, 18),
        "9 streamed + eval_count 9"
    );
    assert_eq!(stats.cluster.completion_tokens, 24);
    assert_eq!(
        (a_stats.in_flight, b_stats.in_flight, stats.cluster.in_flight),
        (0, 0, 0)
    );
    let non_streamed = stats.recent.iter().find(|r| !r.streamed).unwrap();
    assert_eq!(non_streamed.route.as_deref(), Some("box-b"));
    assert_eq!(non_streamed.completion_tokens, Some(9));
    meter.shutdown().await;
}

/// A local address of this machine that is not loopback, when it has one (no packet is sent:
/// a UDP socket's connect only picks the outgoing interface).
fn lan_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn routes_listen_on_loopback_unless_they_opt_in_to_the_lan_and_then_warn() {
    let (exo, _) = start_ollama("exo", 1).await;
    let (box2, _) = start_ollama("box2", 3).await;
    let lan = ExtraRoute {
        serve_lan: true,
        ..route("lan", box2)
    };
    let meter = start_meter(exo, vec![route("local", box2), lan]).await;
    let local = meter.route_addr("local").unwrap();
    assert_eq!(
        local.ip(),
        std::net::Ipv4Addr::LOCALHOST,
        "the default binds 127.0.0.1 only"
    );
    let open = meter.route_addr("lan").unwrap();
    assert!(open.ip().is_unspecified(), "serve_lan binds every interface: {open}");

    let stats = stats(&meter).await;
    assert_eq!(stats.warnings.len(), 1, "{:?}", stats.warnings);
    let warning = &stats.warnings[0];
    assert_eq!(
        (warning.code.as_str(), warning.route.as_str()),
        ("meter_serves_lan", "lan")
    );
    assert!(
        warning.message.contains(&format!("port {}", open.port())),
        "{}",
        warning.message
    );
    assert!(warning.message.contains("no authentication"), "{}", warning.message);
    let metrics = get_text(meter.local_addr(), METRICS_PATH).await;
    assert!(metrics.contains("clusterbar_meter_route_serves_lan{route=\"lan\"} 1\n"));
    // The meter's own pages are this Mac's: on the LAN route those paths go upstream instead.
    let through_lan = get_text(SocketAddr::from(([127, 0, 0, 1], open.port())), STATS_PATH).await;
    assert!(!through_lan.contains("\"routes\""), "{through_lan}");
    assert!(get_text(local, STATS_PATH).await.contains("\"routes\""));
    assert!(metrics.contains("clusterbar_meter_route_serves_lan{route=\"local\"} 0\n"));

    // From another interface of this machine (when it has one): only the opted-in route answers.
    if let Some(ip) = lan_address() {
        let refused = tokio::net::TcpStream::connect(SocketAddr::new(ip, local.port())).await;
        assert!(refused.is_err(), "the loopback route answered on {ip}");
        let (status, _, bytes, _) = post(SocketAddr::new(ip, open.port()), "/api/generate", "{}").await;
        assert_eq!(status, 200);
        assert_eq!(bytes, ollama_lines("box2", "/api/generate", 3).concat().into_bytes());
    } else {
        eprintln!("no non-loopback address here: the LAN reachability half was not run");
    }
    meter.shutdown().await;
}

#[tokio::test]
async fn a_route_that_cannot_start_costs_only_itself() {
    let (exo, exo_served) = start_ollama("exo", 2).await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let routes = vec![
        ExtraRoute {
            port,
            ..route("busy", exo)
        },
        ExtraRoute {
            upstream: "https://box2:11434".into(),
            ..route("bad-url", exo)
        },
    ];
    let meter = start_meter(exo, routes).await;
    assert!(meter.route_addr("busy").is_none());
    assert!(meter.route_problem("busy").unwrap().contains(&port.to_string()));
    assert!(meter.route_problem("bad-url").unwrap().contains("plain http"));
    // The main listener serves as before.
    let (status, _, bytes, _) = post(meter.local_addr(), "/api/chat", r#"{"model":"m"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, ollama_lines("exo", "/api/chat", 2).concat().into_bytes());
    assert_eq!(exo_served.load(Ordering::SeqCst), 1);
    let stats = finished(&meter, 1).await;
    assert_eq!(stats.routes.len(), 2);
    assert!(stats.routes.iter().all(|r| r.problem.is_some()));
    assert_eq!(stats.recent[0].route, None, "the main listener's request is no route's");
    assert_eq!(stats.recent[0].completion_tokens, Some(2));
    meter.shutdown().await;
}
