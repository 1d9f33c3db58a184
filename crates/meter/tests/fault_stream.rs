//! The standing fault suite's stream test (issue #11): SSE events streamed through a real meter
//! from a local upstream by many clients at once, of which a random share disconnect — mid-stream
//! at a random byte, or before the response head (while the upstream "thinks", as in a prefill).
//! The clients that stay must get every byte exactly; the meter must count each request once, as
//! completed or client-closed, hold no descriptor afterwards, and still answer its stats.
//!
//! `FAULT_SSE_EVENTS` sets how many events reach clients in all (default 2,000 so `cargo test`
//! stays quick; `scripts/fault-suite.sh` runs 10⁴, its long form 10⁶). `FAULT_SEED` repeats a run.

mod common;
use common::start_meter;

use bytes::Bytes;
use clusterbar_meter::{MeterStats, STATS_PATH};
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Clients streaming at once.
const CONCURRENCY: u64 = 32;
/// Events per response: 1 ..= 2 × this − 1.
const MEAN_EVENTS: u64 = 100;
/// Out of 100 requests, this many clients go away mid-stream, and this many before the head.
const CUT_MID_PERCENT: u64 = 25;
const CUT_BEFORE_HEAD_PERCENT: u64 = 5;
/// A bound for every wait, so a hang fails instead of stalling the suite.
const PATIENCE: Duration = Duration::from_secs(60);
const MODEL: &str = "fault-model";

/// splitmix64: deterministic from `FAULT_SEED`, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    Stays,
    /// Reads this many body bytes (less than the part before the gate), then closes.
    CutsAt(usize),
    CutsBeforeHead,
}

/// What one response streams, from its request's `id`, `events` and `le` (the client and the
/// upstream compute it alike).
struct Stream {
    /// Every byte the client should get.
    body: Vec<u8>,
    /// Where the last event begins: the upstream sends up to here, then waits at the gate until the
    /// client has read it all (stays) or the meter dropped the request (the client left), so the
    /// meter's outcome for each request is known.
    gate: usize,
    /// The end of each event, to count the events a client that left had read whole.
    event_ends: Vec<usize>,
}

fn stream(id: u64, events: u64, le: &str) -> Stream {
    let mut body = Vec::new();
    let mut event_ends = Vec::new();
    let mut gate = 0;
    for i in 0..events {
        if i + 1 == events {
            gate = body.len();
        }
        // A keep-alive comment now and then, as servers send while they think.
        if i % 17 == 3 {
            body.extend_from_slice(format!(": keep-alive{le}{le}").as_bytes());
        }
        let event = format!(
            "data: {{\"id\":\"r{id}\",\"object\":\"chat.completion.chunk\",\"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{id}.{i} \"}}}}]}}{le}{le}"
        );
        body.extend_from_slice(event.as_bytes());
        event_ends.push(body.len());
    }
    body.extend_from_slice(format!("data: [DONE]{le}{le}").as_bytes());
    Stream { body, gate, event_ends }
}

const LINE_ENDS: [&str; 3] = ["\n", "\r\n", "\r"];

/// The gates (one per request in flight) and the "it arrived upstream" signals, by request id.
#[derive(Default)]
struct Rendezvous {
    gates: Mutex<HashMap<u64, oneshot::Receiver<()>>>,
    arrived: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

type UpBody = BoxBody<Bytes, std::convert::Infallible>;

/// A response body fed chunk by chunk; it ends when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// The upstream's answer: the request's stream in chunks of 1..=512 bytes (so events are split
/// across reads and several arrive in one), the last event only once the gate opens.
async fn upstream_answer(rendezvous: Arc<Rendezvous>, request: Request<Incoming>) -> Response<UpBody> {
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let plan: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = plan["id"].as_u64().unwrap();
    let events = plan["events"].as_u64().unwrap();
    let le = LINE_ENDS[plan["le"].as_u64().unwrap() as usize];
    if plan["hold"].as_bool().unwrap() {
        // The client leaves before any answer: this future is dropped when the meter drops the
        // upstream connection, and waits forever if it never does (the test then times out).
        if let Some(arrived) = rendezvous.arrived.lock().unwrap().remove(&id) {
            let _ = arrived.send(());
        }
        std::future::pending::<()>().await;
    }
    let gate = rendezvous.gates.lock().unwrap().remove(&id).unwrap();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let Stream { body, gate: at, .. } = stream(id, events, le);
        let mut rng = Rng(id);
        let mut sent = 0;
        while sent < at {
            let n = (1 + rng.below(512) as usize).min(at - sent);
            if tx.send(Bytes::copy_from_slice(&body[sent..sent + n])).await.is_err() {
                return;
            }
            sent += n;
        }
        match gate.await {
            Ok(()) => {
                let _ = tx.send(Bytes::copy_from_slice(&body[at..])).await;
            }
            // The client left: the stream stays open until the meter closes it (ending it here
            // would let the meter read a whole response).
            Err(_) => tx.closed().await,
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(ChannelBody(rx).boxed())
        .unwrap()
}

async fn start_upstream(rendezvous: Arc<Rendezvous>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let rendezvous = rendezvous.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let rendezvous = rendezvous.clone();
                    async move { Ok::<_, std::convert::Infallible>(upstream_answer(rendezvous, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    });
    (addr, task)
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    /// Events clients read whole (of those that stayed: all).
    events: AtomicU64,
    bytes: AtomicU64,
    stayed: AtomicU64,
    cut_mid: AtomicU64,
    cut_before_head: AtomicU64,
    /// Content events of the responses read to the end, and of the part before the gate of the
    /// others (what the meter may have read of them).
    stayed_tokens: AtomicU64,
    cut_tokens_max: AtomicU64,
}

/// One request through the meter, as `client` says; Err describes a byte that differed.
async fn one_request(
    meter: SocketAddr,
    rendezvous: &Rendezvous,
    tally: &Tally,
    id: u64,
    events: u64,
    le: usize,
    client: Client,
) -> Result<(), String> {
    let expected = stream(id, events, LINE_ENDS[le]);
    let (gate_tx, gate_rx) = oneshot::channel();
    rendezvous.gates.lock().unwrap().insert(id, gate_rx);
    let (arrived_tx, arrived_rx) = oneshot::channel();
    let hold = client == Client::CutsBeforeHead;
    if hold {
        rendezvous.arrived.lock().unwrap().insert(id, arrived_tx);
    }
    let socket = TcpStream::connect(meter).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(socket))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // Aborting this task drops the socket: the client is gone.
    let connection = tokio::spawn(connection);
    let body = serde_json::json!({"model": MODEL, "stream": true, "id": id, "events": events, "le": le, "hold": hold});
    let request = Request::post("/v1/chat/completions")
        .header("host", "meter")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    if hold {
        let response = sender.send_request(request);
        tokio::pin!(response);
        tokio::select! {
            arrived = arrived_rx => arrived.map_err(|_| format!("request {id} never reached the upstream"))?,
            answer = &mut response => return Err(format!("request {id} was answered while the upstream held it: {answer:?}")),
        }
        connection.abort();
        rendezvous.gates.lock().unwrap().remove(&id);
        tally.cut_before_head.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request {id}: {e}"))?;
    if response.status() != 200 {
        return Err(format!("request {id}: status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut got = Vec::with_capacity(expected.body.len());
    let mut gate_tx = Some(gate_tx);
    let limit = match client {
        Client::CutsAt(at) => at,
        _ => usize::MAX,
    };
    while got.len() < limit {
        if got.len() >= expected.gate {
            if let Some(gate) = gate_tx.take() {
                let _ = gate.send(());
            }
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let from = got.len();
                    got.extend_from_slice(&data);
                    if got.len() > expected.body.len() || got[from..] != expected.body[from..got.len()] {
                        let at = got.iter().zip(&expected.body).take_while(|(a, b)| a == b).count();
                        return Err(format!(
                            "request {id}: byte {at} differs (got {} bytes of {})",
                            got.len(),
                            expected.body.len()
                        ));
                    }
                }
            }
            Some(Err(e)) => return Err(format!("request {id}: body failed after {} bytes: {e}", got.len())),
            None => break,
        }
    }
    let whole = |len: usize| expected.event_ends.iter().filter(|&&end| end <= len).count() as u64;
    match client {
        Client::Stays => {
            if got.len() != expected.body.len() {
                return Err(format!(
                    "request {id}: ended after {} of {} bytes",
                    got.len(),
                    expected.body.len()
                ));
            }
            tally.stayed.fetch_add(1, Ordering::Relaxed);
            tally.stayed_tokens.fetch_add(events, Ordering::Relaxed);
        }
        _ => {
            connection.abort();
            drop(gate_tx); // never opened: the upstream holds the rest until the meter lets go
            tally.cut_mid.fetch_add(1, Ordering::Relaxed);
            tally.cut_tokens_max.fetch_add(whole(expected.gate), Ordering::Relaxed);
        }
    }
    tally.events.fetch_add(whole(got.len()), Ordering::Relaxed);
    tally.bytes.fetch_add(got.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// `GET /_clusterbar/stats` over a fresh connection.
async fn served_stats(meter: SocketAddr) -> Result<MeterStats, String> {
    let socket = TcpStream::connect(meter).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(socket))
        .await
        .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let request = Request::get(STATS_PATH)
        .header("host", "meter")
        .body(Full::default())
        .unwrap();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    connection.abort();
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

async fn wait_for<T: std::fmt::Debug>(what: &str, mut get: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = get();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {value:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_stream_byte_exact_while_clients_disconnect_at_random() {
    let target: u64 = std::env::var("FAULT_SSE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("FAULT_SEED={seed} FAULT_SSE_EVENTS={target}");

    let fds_at_first = open_fds();
    let rendezvous = Arc::new(Rendezvous::default());
    let (upstream, upstream_task) = start_upstream(rendezvous.clone()).await;
    let meter = start_meter(upstream).await;
    let addr = meter.local_addr();
    let fds_idle = open_fds();

    let tally = Arc::new(Tally::default());
    let next_id = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENCY {
        let (rendezvous, tally, next_id) = (rendezvous.clone(), tally.clone(), next_id.clone());
        workers.spawn(async move {
            let mut rng = Rng(seed ^ worker.wrapping_mul(0x2545_F491_4F6C_DD1D));
            while tally.events.load(Ordering::Relaxed) < target {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let events = 1 + rng.below(2 * MEAN_EVENTS - 1);
                let le = rng.below(LINE_ENDS.len() as u64) as usize;
                let roll = rng.below(100);
                let client = if roll < CUT_BEFORE_HEAD_PERCENT {
                    Client::CutsBeforeHead
                } else if roll < CUT_BEFORE_HEAD_PERCENT + CUT_MID_PERCENT {
                    let gate = stream(id, events, LINE_ENDS[le]).gate;
                    Client::CutsAt(rng.below(gate.max(1) as u64) as usize)
                } else {
                    Client::Stays
                };
                tally.requests.fetch_add(1, Ordering::Relaxed);
                let done =
                    tokio::time::timeout(PATIENCE, one_request(addr, &rendezvous, &tally, id, events, le, client))
                        .await;
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(format!("{e} ({client:?})")),
                    Err(_) => return Err(format!("request {id} ({client:?}) hung")),
                }
            }
            Ok(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined.unwrap() {
            panic!("FAULT_SEED={seed}: {e}");
        }
    }
    let streamed_for = started.elapsed();

    let requests = tally.requests.load(Ordering::Relaxed);
    let stayed = tally.stayed.load(Ordering::Relaxed);
    let cut_mid = tally.cut_mid.load(Ordering::Relaxed);
    let cut_before_head = tally.cut_before_head.load(Ordering::Relaxed);
    assert_eq!(stayed + cut_mid + cut_before_head, requests);
    // Every request is counted once, and none stays in flight.
    wait_for(
        &format!(
            "all {requests} requests to be counted ({cut_mid} cut mid-stream, {cut_before_head} before the head; \
             FAULT_SEED={seed})"
        ),
        || meter.stats().cluster,
        |c| c.requests >= requests && c.in_flight == 0,
    )
    .await;
    let stats = meter.stats();
    let cluster = &stats.cluster;
    assert_eq!(cluster.requests, requests, "FAULT_SEED={seed}");
    assert_eq!(cluster.client_closed, cut_mid + cut_before_head, "FAULT_SEED={seed}");
    assert_eq!(cluster.errors, 0, "FAULT_SEED={seed}");
    assert_eq!(cluster.unmetered, 0, "FAULT_SEED={seed}");
    let stayed_tokens = tally.stayed_tokens.load(Ordering::Relaxed);
    let cut_tokens_max = tally.cut_tokens_max.load(Ordering::Relaxed);
    assert!(
        (stayed_tokens..=stayed_tokens + cut_tokens_max).contains(&cluster.completion_tokens),
        "FAULT_SEED={seed}: {} tokens counted; {stayed_tokens} read whole, up to {cut_tokens_max} more before the cuts",
        cluster.completion_tokens
    );
    let model = stats
        .models
        .iter()
        .find(|m| m.id == MODEL)
        .expect("the model's figures");
    assert_eq!((model.aggregate.requests, model.aggregate.in_flight), (requests, 0));

    // No descriptor is left: the upstream connections a finished response left for reuse close
    // after a second, the rest at once.
    let fds = wait_for("the descriptors to return", open_fds, |&n| n <= fds_idle).await;
    // And the meter answers as before.
    let served = served_stats(addr).await.expect("/_clusterbar/stats answers");
    assert_eq!(
        (served.cluster.requests, served.cluster.client_closed),
        (requests, cut_mid + cut_before_head)
    );
    meter.shutdown().await;
    upstream_task.abort();
    let _ = upstream_task.await;
    let fds_after = wait_for("the descriptors after shutdown", open_fds, |&n| n <= fds_at_first).await;

    let events = tally.events.load(Ordering::Relaxed);
    let bytes = tally.bytes.load(Ordering::Relaxed);
    println!(
        "figure: meter stream faults: {events} events ({:.1} MB) read whole by clients in {requests} requests, \
         {stayed} stayed byte-exact, {cut_mid} disconnected mid-stream, {cut_before_head} before the head; \
         meter counted {} requests, {} client-closed, {} tokens; fds {fds_idle} idle -> {fds} after, \
         {fds_at_first} -> {fds_after} after shutdown; {:.1} s ({:.0} events/s)",
        bytes as f64 / 1e6,
        cluster.requests,
        cluster.client_closed,
        cluster.completion_tokens,
        streamed_for.as_secs_f64(),
        events as f64 / streamed_for.as_secs_f64()
    );
}
