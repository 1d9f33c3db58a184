//! Direct vs through the Clusterbar meter vs through nginx (`proxy_pass`, `proxy_buffering off`), interleaved in
//! one run. Prints figures; asserts nothing about speed.
//!
//!     cargo bench -p clusterbar-meter --bench proxies
//!     LLAMA_SERVER_BIN=… LLAMA_MODEL=… cargo bench -p clusterbar-meter --bench proxies   # adds the real server
//!
//! The meter runs in a child process (this binary re-executed with `--serve-meter`) so its CPU time and RSS can be
//! read from /proc like nginx's. The synthetic SSE backend and the client run in this process.

use bytes::Bytes;
use clusterbar_meter::bench::{BenchClient, STORY_PROMPT};
use clusterbar_meter::{Meter, MeterOptions};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

static EPOCH: OnceLock<Instant> = OnceLock::new();
fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve-meter") {
        return serve_meter(&args[2]);
    }
    if args.iter().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` / libtest probing
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

/// Child mode: run the meter (same runtime shape as `clusterbar meter`) until stdin closes.
fn serve_meter(upstream: &str) -> Res<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let meter = Meter::start("127.0.0.1:0".parse()?, upstream, MeterOptions::default()).await?;
        println!("READY {}", meter.local_addr());
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
        meter.shutdown().await;
        Ok(())
    })
}

// ---------- synthetic SSE backend ----------

/// `?events=N&interval_us=U&hold_ms=H`: N chat chunks, each stamped with its send time, U µs apart (0 = as fast
/// as the connection takes them); with H, the first chunk is followed by H ms of silence (to hold streams open).
struct SyntheticStream {
    remaining: u64,
    interval: Duration,
    hold: Duration,
    sent_first: bool,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

impl Body for SyntheticStream {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if self.remaining == 0 {
            self.done = true;
            let tail = "data: {\"choices\":[],\"usage\":{\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(tail.as_bytes())))));
        }
        self.remaining -= 1;
        let event = format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"model\":\"synthetic\",\
             \"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" tok\"}},\"finish_reason\":null}}],\"stamp_ns\":{}}}\n\n",
            now_ns()
        );
        let pause = if !self.sent_first && !self.hold.is_zero() {
            self.hold
        } else {
            self.interval
        };
        self.sent_first = true;
        if !pause.is_zero() {
            self.sleep = Some(Box::pin(tokio::time::sleep(pause)));
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
    }
}

use std::future::Future;

#[path = "../tests/support/llama_server.rs"]
mod llama_server;
use llama_server::LlamaServer;

async fn start_backend() -> Res<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                    let query = req.uri().query().unwrap_or("").to_string();
                    let param = |name: &str| -> u64 {
                        query
                            .split('&')
                            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0)
                    };
                    let _ = req.into_body().collect().await;
                    let body = SyntheticStream {
                        remaining: param("events"),
                        interval: Duration::from_micros(param("interval_us")),
                        hold: Duration::from_millis(param("hold_ms")),
                        sent_first: false,
                        sleep: None,
                        done: false,
                    };
                    let response = hyper::Response::builder()
                        .header("content-type", "text/event-stream")
                        .header("cache-control", "no-cache")
                        .body(body)?;
                    Ok::<_, http::Error>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

// ---------- proxies under test ----------

struct Proc {
    child: Child,
    name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM lets nginx's master take its workers down (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// The process and its children (nginx workers).
    fn pids(&self) -> Vec<u32> {
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        std::iter::once(pid)
            .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
            .collect()
    }

    /// utime + stime of the process and its children, in ms.
    fn cpu_ms(&self) -> f64 {
        let ticks_per_s = 100.0; // USER_HZ on Linux
        self.pids()
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|stat| {
                let after = &stat[stat.rfind(')')? + 2..];
                let fields: Vec<&str> = after.split_whitespace().collect();
                Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
            })
            .sum::<f64>()
            * 1000.0
            / ticks_per_s
    }

    fn rss_kib(&self) -> u64 {
        self.pids()
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .filter_map(|status| {
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum()
    }
}

fn start_meter_child(upstream: &str) -> Res<(Proc, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve-meter", upstream])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("READY ")
        .ok_or_else(|| format!("meter child said {line:?}"))?
        .parse()?;
    Ok((Proc { child, name: "meter" }, addr))
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_nginx(upstream: SocketAddr, dir: &std::path::Path) -> Res<Option<(Proc, SocketAddr)>> {
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/opt/homebrew/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("nginx not found (apt-get install nginx-light): nginx column skipped");
        return Ok(None);
    };
    let port = free_port()?;
    let d = dir.display();
    let config = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           upstream backend {{ server {upstream}; keepalive 128; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://backend;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n\
               proxy_request_buffering off;\n      proxy_read_timeout 600s;\n    }}\n  }}\n}}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config)?;
    let child = Command::new(nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .spawn()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err("nginx did not start; see its error.log".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Some((Proc { child, name: "nginx" }, addr)))
}

// ---------- client ----------

struct Target {
    name: &'static str,
    addr: SocketAddr,
    proc_index: Option<usize>,
}

struct StreamResult {
    ttft: Duration,
    events: u64,
    /// Receive time minus the backend's send stamp, per event (ns).
    delays_ns: Vec<u64>,
}

async fn stream(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    query: &str,
    stamps: bool,
) -> Res<StreamResult> {
    let request = http::Request::post(format!("http://{addr}/v1/chat/completions?{query}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"model":"synthetic","stream":true}"#)))?;
    let sent = Instant::now();
    let mut body = client.request(request).await?.into_body();
    let (mut ttft, mut events, mut delays_ns, mut last_byte) = (None, 0u64, Vec::new(), 0u8);
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else { continue };
        let received = now_ns();
        ttft.get_or_insert_with(|| sent.elapsed());
        let mut prev = last_byte;
        for &b in data.iter() {
            if b == b'\n' && prev == b'\n' {
                events += 1;
            }
            prev = b;
        }
        last_byte = prev;
        if stamps {
            let text = std::str::from_utf8(data).unwrap_or("");
            for piece in text.split("\"stamp_ns\":").skip(1) {
                let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(stamp) = digits.parse::<u64>() {
                    delays_ns.push(received.saturating_sub(stamp));
                }
            }
        }
    }
    Ok(StreamResult {
        ttft: ttft.ok_or("empty stream")?,
        events,
        delays_ns,
    })
}

fn pct(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1]
}

fn ratio(value: f64, nginx: Option<f64>) -> String {
    match nginx {
        Some(n) if n.abs() > 1e-9 && value.is_finite() => format!("{:.2}x", value / n),
        _ => "-".into(),
    }
}

async fn run() -> Res<()> {
    now_ns();
    let backend = start_backend().await?;
    let upstream = format!("http://{backend}");
    let (meter, meter_addr) = start_meter_child(&upstream)?;
    let nginx_dir = std::env::temp_dir().join(format!("clusterbar-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&nginx_dir)?;
    let nginx = start_nginx(backend, &nginx_dir)?;
    let mut procs = vec![meter];
    let mut targets = vec![
        Target {
            name: "direct",
            addr: backend,
            proc_index: None,
        },
        Target {
            name: "meter",
            addr: meter_addr,
            proc_index: Some(0),
        },
    ];
    if let Some((proc, addr)) = nginx {
        procs.push(proc);
        targets.push(Target {
            name: "nginx",
            addr,
            proc_index: Some(1),
        });
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);

    // Warm-up: connections, allocator, nginx upstream keepalive.
    for t in &targets {
        for _ in 0..20 {
            stream(&client, t.addr, "events=5", false).await?;
        }
    }

    eprintln!("bench: TTFT phase");
    // 1. TTFT: one-event streams, 300 rounds, targets interleaved within each round.
    let mut ttft: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for _ in 0..300 {
        for (i, t) in targets.iter().enumerate() {
            ttft[i].push(stream(&client, t.addr, "events=1", false).await?.ttft.as_secs_f64() * 1e3);
        }
    }
    eprintln!("bench: delay phase");
    // 2. Inter-event delivery delay: 400 events 2 ms apart, 3 rounds.
    let mut delay: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for _ in 0..3 {
        for (i, t) in targets.iter().enumerate() {
            let r = stream(&client, t.addr, "events=400&interval_us=2000", true).await?;
            delay[i].extend(r.delays_ns.iter().map(|&d| d as f64 / 1e3));
        }
    }
    eprintln!("bench: throughput phase");
    // 3. Throughput at 1/16/64 concurrent streams (events as fast as they go) and CPU per 1000 events; then 64
    //    streams paced like real decoding (50 tok/s each, 5 s), where no proxy can batch events into one write.
    //    300k events per run: CPU time is read in 10 ms ticks, so a run must cost many ticks.
    let total_events = 300_000u64;
    let loads = [(1usize, 0u64), (16, 0), (64, 0), (64, 20_000)];
    let mut rate = vec![vec![0.0f64; loads.len()]; targets.len()];
    let mut cpu_per_k = vec![vec![f64::NAN; loads.len()]; targets.len()];
    for round in 0..2 {
        for (ci, &(c, interval_us)) in loads.iter().enumerate() {
            for (i, t) in targets.iter().enumerate() {
                let per_stream = if interval_us == 0 { total_events / c as u64 } else { 250 };
                let cpu_before = t.proc_index.map(|p| procs[p].cpu_ms());
                let started = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..c {
                    let (client, addr) = (client.clone(), t.addr);
                    let q = format!("events={per_stream}&interval_us={interval_us}");
                    tasks.spawn(async move { stream(&client, addr, &q, false).await.map(|r| r.events) });
                }
                let mut events = 0;
                while let Some(done) = tasks.join_next().await {
                    events += done??;
                }
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "bench: {} c={c} interval {interval_us} µs: {events} events in {secs:.2} s",
                    t.name
                );
                let events_per_s = events as f64 / secs;
                // Best of two rounds for the rate (the machine is shared); CPU from the same round.
                if events_per_s > rate[i][ci] {
                    rate[i][ci] = events_per_s;
                    if let (Some(before), Some(p)) = (cpu_before, t.proc_index) {
                        cpu_per_k[i][ci] = (procs[p].cpu_ms() - before) / (events as f64 / 1000.0);
                    }
                }
                let _ = round;
            }
        }
    }
    eprintln!("bench: memory phase");
    // 4. Memory per open stream: 64 streams held open (first event, then 2 s of silence).
    let mut rss_per_stream = vec![f64::NAN; targets.len()];
    for (i, t) in targets.iter().enumerate() {
        let Some(p) = t.proc_index else { continue };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = procs[p].rss_kib();
        let mut bodies = Vec::new();
        for _ in 0..64 {
            let request = http::Request::post(format!("http://{}/v1/chat/completions?events=2&hold_ms=2000", t.addr))
                .body(Full::new(Bytes::from_static(br#"{"model":"synthetic","stream":true}"#)))?;
            let mut body = client.request(request).await?.into_body();
            body.frame().await.ok_or("no first event")??;
            bodies.push(body);
        }
        let during = procs[p].rss_kib();
        rss_per_stream[i] = (during as f64 - before as f64) / 64.0;
        for mut body in bodies {
            while body.frame().await.is_some() {}
        }
    }

    let nginx_index = targets.iter().position(|t| t.name == "nginx");
    let direct_ttft = (pct(&mut ttft[0], 0.5), pct(&mut ttft[0], 0.99));
    let direct_delay = (pct(&mut delay[0], 0.5), pct(&mut delay[0], 0.99));
    println!(
        "\n== Synthetic SSE backend (chat chunks, ~170 B/event), {} ==",
        procs_note(&procs)
    );
    println!(
        "{:<8} {:>14} {:>14} {:>16} {:>16} {:>12} {:>12} {:>12} {:>14} {:>14} {:>14} {:>16} {:>12}",
        "target",
        "+TTFT p50 ms",
        "+TTFT p99 ms",
        "+delay p50 µs",
        "+delay p99 µs",
        "ev/s c=1",
        "ev/s c=16",
        "ev/s c=64",
        "CPU ms/1k c=1",
        "CPU ms/1k c=16",
        "CPU ms/1k c=64",
        "CPU ms/1k paced",
        "RSS KiB/str"
    );
    let mut rows = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let added_ttft = (
            pct(&mut ttft[i], 0.5) - direct_ttft.0,
            pct(&mut ttft[i], 0.99) - direct_ttft.1,
        );
        let added_delay = (
            pct(&mut delay[i], 0.5) - direct_delay.0,
            pct(&mut delay[i], 0.99) - direct_delay.1,
        );
        rows.push((added_ttft, added_delay));
        println!(
            "{:<8} {:>14.3} {:>14.3} {:>16.1} {:>16.1} {:>12.0} {:>12.0} {:>12.0} {:>14.3} {:>14.3} {:>14.3} {:>16.3} {:>12.1}",
            t.name,
            added_ttft.0,
            added_ttft.1,
            added_delay.0,
            added_delay.1,
            rate[i][0],
            rate[i][1],
            rate[i][2],
            cpu_per_k[i][0],
            cpu_per_k[i][1],
            cpu_per_k[i][2],
            cpu_per_k[i][3],
            rss_per_stream[i]
        );
    }
    if let Some(n) = nginx_index {
        let m = 1;
        println!("meter/nginx ratios (lower is better for latency, CPU, RSS; higher for ev/s):");
        println!(
            "  +TTFT p50 {}  +TTFT p99 {}  +delay p50 {}  +delay p99 {}  ev/s c=1 {} c=16 {} c=64 {}  CPU/1k c=1 {} c=16 {} c=64 {} paced {}  RSS/stream {}",
            ratio(rows[m].0 .0, Some(rows[n].0 .0)),
            ratio(rows[m].0 .1, Some(rows[n].0 .1)),
            ratio(rows[m].1 .0, Some(rows[n].1 .0)),
            ratio(rows[m].1 .1, Some(rows[n].1 .1)),
            ratio(rate[m][0], Some(rate[n][0])),
            ratio(rate[m][1], Some(rate[n][1])),
            ratio(rate[m][2], Some(rate[n][2])),
            ratio(cpu_per_k[m][0], Some(cpu_per_k[n][0])),
            ratio(cpu_per_k[m][1], Some(cpu_per_k[n][1])),
            ratio(cpu_per_k[m][2], Some(cpu_per_k[n][2])),
            ratio(cpu_per_k[m][3], Some(cpu_per_k[n][3])),
            ratio(rss_per_stream[m], Some(rss_per_stream[n])),
        );
    }
    println!(
        "direct TTFT p50 {:.3} ms, direct delay p50 {:.1} µs",
        direct_ttft.0, direct_delay.0
    );
    drop(procs);

    real_server().await?;
    let _ = std::fs::remove_dir_all(&nginx_dir);
    Ok(())
}

fn procs_note(procs: &[Proc]) -> String {
    procs
        .iter()
        .map(|p| format!("{} pid {}", p.name, p.child.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// (b) The real llama-server of scripts/llama-server.sh, when available: the notes' request (64 tokens, cold
/// prompt, `-t 1`), 5 rounds, targets interleaved.
async fn real_server() -> Res<()> {
    let Some((bin, model)) = LlamaServer::configured() else {
        println!("\nreal llama-server: skipped (LLAMA_SERVER_BIN / LLAMA_MODEL not set; scripts/llama-server.sh)");
        return Ok(());
    };
    let server = LlamaServer::start(&bin, &model).await?;
    let (upstream_addr, upstream) = (server.addr, server.base_url());
    let (meter, meter_addr) = start_meter_child(&upstream)?;
    let dir = std::env::temp_dir().join(format!("clusterbar-bench-nginx-llama-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let nginx = start_nginx(upstream_addr, &dir)?;
    let mut targets = vec![("direct", upstream.clone()), ("meter", format!("http://{meter_addr}"))];
    if let Some((_, addr)) = &nginx {
        targets.push(("nginx", format!("http://{addr}")));
    }
    let extra = serde_json::json!({"ignore_eos": true, "cache_prompt": false});
    let clients: Vec<BenchClient> = targets
        .iter()
        .map(|(_, url)| BenchClient::new(url, Duration::from_secs(120)))
        .collect::<Result<_, _>>()?;
    clients[0]
        .stream_chat("smollm2", STORY_PROMPT, 8, extra.clone())
        .await?;
    let (mut ttft, mut decode) = (vec![Vec::new(); targets.len()], vec![Vec::new(); targets.len()]);
    for _ in 0..5 {
        for (i, client) in clients.iter().enumerate() {
            let run = client.stream_chat("smollm2", STORY_PROMPT, 64, extra.clone()).await?;
            if run.status != 200 {
                return Err(format!("HTTP {}: {}", run.status, String::from_utf8_lossy(&run.body)).into());
            }
            ttft[i].extend(run.ttft_ms);
            decode[i].extend(run.decode_tokens_per_s);
        }
    }
    println!("\n== Real llama-server (SmolLM2-135M Q4_1, -t 1, 64 tokens, cold prompt), 5 rounds interleaved ==");
    println!(
        "{:<8} {:>14} {:>14} {:>18}",
        "target", "TTFT p50 ms", "+TTFT p50 ms", "decode tok/s p50"
    );
    let direct = pct(&mut ttft[0], 0.5);
    for (i, (name, _)) in targets.iter().enumerate() {
        let p50 = pct(&mut ttft[i], 0.5);
        println!(
            "{:<8} {:>14.1} {:>14.1} {:>18.1}",
            name,
            p50,
            p50 - direct,
            pct(&mut decode[i], 0.5)
        );
    }
    println!("(differences of a few ms are inside the run-to-run noise of a ~300 ms cold prefill on shared cores)");
    drop((meter, nginx, server));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
