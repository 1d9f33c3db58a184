//! Clusterbar's token meter: a byte-transparent reverse proxy in front of exo (or any OpenAI/Anthropic-compatible
//! server) that measures what it serves — tokens/s, TTFT, decode rate, tokens served today — without altering or
//! delaying a byte.
//!
//! ```no_run
//! # async fn demo() -> Result<(), clusterbar_meter::MeterError> {
//! use clusterbar_meter::{Meter, MeterOptions};
//! let meter = Meter::start("127.0.0.1:0".parse().unwrap(), "http://127.0.0.1:52415", MeterOptions::default()).await?;
//! println!("meter on {}", meter.local_addr());
//! let mut updates = meter.subscribe(); // at most one MeterStats per publish_interval, only while figures move
//! updates.changed().await.ok();
//! println!("{} tok/s", updates.borrow().cluster.tokens_per_s);
//! meter.shutdown().await;
//! # Ok(()) }
//! ```

pub mod bench;
pub mod ledger;
pub mod metering;
pub mod ndjson;
mod proxy;
pub mod sse;
pub mod stats;

pub use metering::{
    Endpoint, ExoGenerationStats, LlamaCppTimings, OllamaStats, Outcome, RequestRecord, ServerReported, TokenSource,
};
pub use proxy::{METRICS_PATH, STATS_PATH};
pub use stats::{
    Aggregate, ClientStats, DayTokens, ExternalGauge, History, MeterStats, MeterWarning, ModelStats, RouteStats,
    StatsHub,
};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error("upstream URL {url:?} is not usable: {why}")]
    BadUpstream { url: String, why: String },
    #[error("refusing to listen on {0}: not a loopback address (pass --allow-remote to expose the meter)")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// How long a client may take to send a request's headers, and how long a kept-alive connection may sit idle
/// before its next request: a connection that sends nothing is closed after this.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct MeterOptions {
    /// Allow a non-loopback listen address (anyone who can reach it can use the upstream through it).
    pub allow_remote: bool,
    /// How often the stats are published to [`MeterHandle::subscribe`] (clamped to at least 500 ms).
    pub publish_interval: Duration,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// The most client connections served at once. Beyond it a new connection is answered `503` at once (a
    /// write that never waits) and closed, rather than queued: queued sockets would hold file descriptors too,
    /// and closing at once keeps the process's descriptors for the connections it serves, the upstream and
    /// `/_clusterbar/stats`. The default is [`default_max_connections`].
    pub max_connections: usize,
    /// More loopback listeners, one per client that should be counted on its own (the Porten
    /// agent): what arrives on `(address, name)` is proxied like the rest and also counted for
    /// `name` ([`MeterStats::clients`]). A listener of its own is how the meter knows the
    /// client — not a header, which a client may or may not send.
    pub clients: Vec<(SocketAddr, String)>,
    /// Where the clients' tokens per day are kept across restarts ([`ledger`]); `None` = only
    /// this run's.
    pub ledger: Option<std::path::PathBuf>,
    /// More listeners, each with an upstream of its own (a second box's Ollama, replacing an
    /// nginx hop): what arrives on one is proxied to its upstream, metered like the rest, and
    /// counted for the route too ([`MeterStats::routes`]). One that cannot be started is left out
    /// ([`MeterHandle::route_problem`]); the others and the main listener run on.
    pub routes: Vec<ExtraRoute>,
}

/// A listener with an upstream of its own ([`MeterOptions::routes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRoute {
    /// Names the route in the stats (`routes[]`, `route="…"` in the metrics); unique.
    pub name: String,
    /// The port to listen on (0 = any free port).
    pub port: u16,
    /// Where its requests go: `http://host:port` (plain http).
    pub upstream: String,
    /// Listen on every interface (0.0.0.0) rather than loopback only: anyone on the LAN can
    /// then use the upstream through it — Ollama's API has no authentication. Off by default;
    /// when on, the stats carry a `meter_serves_lan` warning and the start logs one.
    pub serve_lan: bool,
}

impl ExtraRoute {
    /// The address the route's listener binds: loopback unless it serves the LAN.
    pub fn listen_addr(&self) -> SocketAddr {
        let ip = if self.serve_lan {
            std::net::Ipv4Addr::UNSPECIFIED
        } else {
            std::net::Ipv4Addr::LOCALHOST
        };
        SocketAddr::from((ip, self.port))
    }
}

impl Default for MeterOptions {
    fn default() -> Self {
        Self {
            allow_remote: false,
            publish_interval: Duration::from_secs(1),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: default_max_connections(),
            clients: Vec::new(),
            ledger: None,
            routes: Vec::new(),
        }
    }
}

/// How often a changed ledger is written at most (and once more at shutdown).
const LEDGER_SAVE_EVERY: Duration = Duration::from_secs(30);

/// Half the process's file-descriptor limit (each proxied connection also opens one upstream) less a reserve for
/// the rest of the process, between 16 and 4096; 512 when the limit cannot be read.
pub fn default_max_connections() -> usize {
    const RESERVE: u64 = 64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 512;
    }
    let soft: u64 = limit.rlim_cur;
    let bound = soft.saturating_sub(RESERVE) / 2;
    usize::try_from(bound.clamp(16, 4096)).unwrap_or(4096)
}

pub struct Meter;

impl Meter {
    /// Binds `listen` (and each of [`MeterOptions::clients`]; one that cannot be bound is left
    /// out, see [`MeterHandle::client_problem`]) and serves until
    /// [`MeterHandle::shutdown`] (or the handle is dropped). Requires a tokio runtime.
    pub async fn start(listen: SocketAddr, upstream: &str, options: MeterOptions) -> Result<MeterHandle, MeterError> {
        let parsed = proxy::Upstream::parse(upstream)?;
        for addr in std::iter::once(&listen).chain(options.clients.iter().map(|(a, _)| a)) {
            if !addr.ip().is_loopback() {
                if !options.allow_remote {
                    return Err(MeterError::NotLoopback(*addr));
                }
                tracing::warn!(%addr, "the meter listens beyond loopback: anyone who reaches it reaches the upstream");
            }
        }
        let bind = |addr: SocketAddr| async move {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| MeterError::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| MeterError::Bind { addr, source })?;
            Ok::<_, MeterError>((listener, local))
        };
        let (listener, local_addr) = bind(listen).await?;
        // A client's port that is taken costs only that client's own count, never the meter:
        // the caller is told (`client_problem`) and points the client at the shared listener.
        let mut client_listeners = Vec::new();
        let mut client_problems = Vec::new();
        for (addr, name) in &options.clients {
            match bind(*addr).await {
                Ok((listener, local)) => client_listeners.push((listener, local, name.clone())),
                Err(e) => {
                    tracing::warn!(client = %name, error = %e, "no listener of its own for this client");
                    client_problems.push((name.clone(), e.to_string()));
                }
            }
        }
        let route: proxy::SharedRoute = Arc::new(std::sync::RwLock::new(Arc::new(proxy::Route::new(parsed))));
        let stats = StatsHub::new(proxy::current_route(&route).text.clone());
        // Each extra route: its own upstream (with its own idle connections) and listener. One
        // that cannot start costs only itself.
        let mut route_listeners = Vec::new();
        let mut route_problems = Vec::new();
        for (index, extra) in options.routes.iter().enumerate() {
            let started = async {
                if extra.name.is_empty() || options.routes[..index].iter().any(|r| r.name == extra.name) {
                    return Err(format!("route name {:?} is empty or used twice", extra.name));
                }
                let upstream = proxy::Upstream::parse(&extra.upstream).map_err(|e| e.to_string())?;
                let (listener, local) = bind(extra.listen_addr()).await.map_err(|e| e.to_string())?;
                Ok((listener, local, upstream))
            };
            match started.await {
                Ok((listener, local, upstream)) => {
                    let shared: proxy::SharedRoute =
                        Arc::new(std::sync::RwLock::new(Arc::new(proxy::Route::new(upstream))));
                    let upstream_text = proxy::current_route(&shared).text.clone();
                    stats.register_route(&extra.name, &local.to_string(), &upstream_text, extra.serve_lan, None);
                    if extra.serve_lan {
                        tracing::warn!(route = %extra.name, %local, upstream = %upstream_text,
                            "the meter serves this route to the LAN: anyone who reaches port {} uses {} — Ollama's API has no authentication",
                            local.port(), upstream_text);
                    }
                    tracing::info!(route = %extra.name, %local, upstream = %upstream_text, "token meter route listening");
                    route_listeners.push((listener, local, extra.name.clone(), shared));
                }
                Err(problem) => {
                    tracing::warn!(route = %extra.name, %problem, "a meter route did not start");
                    let listen = extra.listen_addr().to_string();
                    stats.register_route(&extra.name, &listen, &extra.upstream, extra.serve_lan, Some(&problem));
                    route_problems.push((extra.name.clone(), problem));
                }
            }
        }
        if let Some(path) = &options.ledger {
            match ledger::load(path) {
                Ok(earlier) => stats.load_ledger(earlier),
                Err(e) => tracing::warn!(error = %e, "the token ledger starts afresh"),
            }
        }
        let state_for = |client: Option<String>| {
            Arc::new(proxy::ProxyState {
                route: route.clone(),
                stats: stats.clone(),
                client,
                route_name: None,
                meter_pages: true,
            })
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // One bound for all listeners: it protects the process's file descriptors.
        let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
        let limits = |permits: &Arc<Semaphore>| ConnectionLimits {
            header_read_timeout: options.header_read_timeout,
            permits: permits.clone(),
        };
        let mut servers = vec![tokio::spawn(serve(
            listener,
            state_for(None),
            limits(&permits),
            shutdown_rx.clone(),
        ))];
        let mut client_addrs = Vec::new();
        for (listener, local, name) in client_listeners {
            stats.register_client(&name);
            tracing::info!(%local, client = %name, "token meter listening for one client");
            client_addrs.push((name.clone(), local));
            servers.push(tokio::spawn(serve(
                listener,
                state_for(Some(name)),
                limits(&permits),
                shutdown_rx.clone(),
            )));
        }
        let mut route_addrs = Vec::new();
        for (listener, local, name, shared) in route_listeners {
            route_addrs.push((name.clone(), local));
            let state = Arc::new(proxy::ProxyState {
                route: shared,
                stats: stats.clone(),
                client: None,
                route_name: Some(name),
                meter_pages: local.ip().is_loopback(),
            });
            servers.push(tokio::spawn(serve(
                listener,
                state,
                limits(&permits),
                shutdown_rx.clone(),
            )));
        }
        let (publish_tx, publish_rx) = watch::channel(Arc::new(stats.snapshot()));
        let interval = options.publish_interval.max(Duration::from_millis(500));
        let watched = Arc::new(AtomicBool::new(false));
        let publisher = tokio::spawn(publish(
            stats.clone(),
            publish_tx,
            watched.clone(),
            interval,
            options.ledger.clone(),
        ));
        tracing::info!(%local_addr, upstream, "token meter listening");
        Ok(MeterHandle {
            local_addr,
            client_addrs,
            client_problems,
            route_addrs,
            route_problems,
            stats,
            publish_rx,
            watched,
            shutdown: Some(shutdown_tx),
            route,
            servers,
            publisher,
            ledger: options.ledger,
        })
    }
}

/// A running meter. Dropping it stops the meter too (abruptly); prefer [`MeterHandle::shutdown`].
pub struct MeterHandle {
    local_addr: SocketAddr,
    client_addrs: Vec<(String, SocketAddr)>,
    client_problems: Vec<(String, String)>,
    route_addrs: Vec<(String, SocketAddr)>,
    route_problems: Vec<(String, String)>,
    stats: StatsHub,
    publish_rx: watch::Receiver<Arc<MeterStats>>,
    watched: Arc<AtomicBool>,
    shutdown: Option<watch::Sender<bool>>,
    route: proxy::SharedRoute,
    servers: Vec<JoinHandle<()>>,
    publisher: JoinHandle<()>,
    ledger: Option<std::path::PathBuf>,
}

impl MeterHandle {
    /// Sends requests from now on to `upstream` (exo's API port changed in Settings). Requests on
    /// their way finish where they went; no connection to the old upstream is reused.
    pub fn set_upstream(&self, upstream: &str) -> Result<(), MeterError> {
        let route = Arc::new(proxy::Route::new(proxy::Upstream::parse(upstream)?));
        self.stats.set_upstream(route.text.clone());
        tracing::info!(upstream = %route.text, "token meter upstream changed");
        match self.route.write() {
            Ok(mut current) => *current = route,
            Err(poisoned) => *poisoned.into_inner() = route,
        }
        Ok(())
    }

    /// Where requests go now.
    pub fn upstream(&self) -> String {
        proxy::current_route(&self.route).text.clone()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address of a client's own listener ([`MeterOptions::clients`]).
    pub fn client_addr(&self, client: &str) -> Option<SocketAddr> {
        self.client_addrs.iter().find(|(c, _)| c == client).map(|(_, a)| *a)
    }

    /// Why a client has no listener of its own (its port could not be bound).
    pub fn client_problem(&self, client: &str) -> Option<&str> {
        self.client_problems
            .iter()
            .find(|(c, _)| c == client)
            .map(|(_, p)| p.as_str())
    }

    /// The URL a client should use: its own listener, else the shared one (and why).
    pub fn client_url(&self, client: &str) -> (String, Option<String>) {
        match self.client_addr(client) {
            Some(addr) => (format!("http://{addr}"), None),
            None => (
                format!("http://{}", self.local_addr),
                Some(
                    self.client_problem(client)
                        .unwrap_or("no listener was asked for")
                        .to_owned(),
                ),
            ),
        }
    }

    /// The bound address of an extra route's listener ([`MeterOptions::routes`]).
    pub fn route_addr(&self, route: &str) -> Option<SocketAddr> {
        self.route_addrs.iter().find(|(r, _)| r == route).map(|(_, a)| *a)
    }

    /// Why an extra route is not running (a bad upstream, a port that could not be bound).
    pub fn route_problem(&self, route: &str) -> Option<&str> {
        self.route_problems
            .iter()
            .find(|(r, _)| r == route)
            .map(|(_, p)| p.as_str())
    }

    /// The stats right now (the same struct `GET /_clusterbar/stats` serves).
    pub fn stats(&self) -> MeterStats {
        self.stats.snapshot()
    }

    /// Gauges the metrics page shows beside the meter's own (the energy figures).
    pub fn set_external_gauges(&self, gauges: Vec<stats::ExternalGauge>) {
        self.stats.set_external_gauges(gauges);
    }

    /// The figures' store, for a task that outlives a borrow of the handle (it only sets gauges
    /// and reads).
    pub fn stats_hub(&self) -> StatsHub {
        self.stats.clone()
    }

    /// Stats published every `publish_interval` while requests run and until their figures settle (about a minute
    /// after the last one), or all the time while [`MeterHandle::set_watched`] says somebody looks; nothing is
    /// published while the meter idles unwatched.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MeterStats>> {
        self.publish_rx.clone()
    }

    /// Whether somebody is looking at the figures (the popover is open): then they are published every interval
    /// even while idle, so the chart's time axis moves. Turning it on publishes at once.
    pub fn set_watched(&self, watched: bool) {
        let was = self.watched.swap(watched, Ordering::Relaxed);
        if watched && !was {
            self.stats.poke();
        }
    }

    /// Stops accepting, closes open connections (their upstream requests close with them),
    /// waits, and saves the ledger.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        for server in &mut self.servers {
            let _ = server.await;
        }
        self.publisher.abort();
        save_ledger(&self.stats, self.ledger.as_deref());
    }
}

impl Drop for MeterHandle {
    fn drop(&mut self) {
        self.servers.iter().for_each(JoinHandle::abort);
        self.publisher.abort();
    }
}

/// Writes the ledger if it changed; a failure is logged (the figures live on in memory).
fn save_ledger(stats: &StatsHub, path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    if let Some(ledger) = stats.take_ledger_if_changed() {
        if let Err(e) = ledger::save(path, &ledger) {
            tracing::warn!(error = %e, "the token ledger could not be saved");
        }
    }
}

struct ConnectionLimits {
    header_read_timeout: Duration,
    /// One per connection being served; see [`MeterOptions::max_connections`].
    permits: Arc<Semaphore>,
}

/// What a connection beyond [`MeterOptions::max_connections`] is told before it is closed.
const BUSY_RESPONSE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n";

async fn serve(
    listener: TcpListener,
    state: Arc<proxy::ProxyState>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // The only change ever sent is the stop (a dropped sender ends it too).
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = limits.permits.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many connections; answering 503");
                    let _ = stream.try_write(BUSY_RESPONSE);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let mut http = http1::Builder::new();
                // A connection that sends no request (at first, or after a response) is closed after this.
                http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
                connections.spawn(async move {
                    let _permit = permit;
                    let service = service_fn(move |request| proxy::handle(state.clone(), request));
                    if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                        tracing::debug!(%peer, error = %e, "client connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Sleeps until something changes, then publishes at once and every `interval` until the figures settle (and
/// nobody watches): an idle meter costs the menu-bar app no wake-ups.
async fn publish(
    stats: StatsHub,
    tx: watch::Sender<Arc<MeterStats>>,
    watched: Arc<AtomicBool>,
    interval: Duration,
    ledger: Option<std::path::PathBuf>,
) {
    let mut saved_at = std::time::Instant::now();
    loop {
        stats.activity().await;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            if tx.send(Arc::new(stats.snapshot())).is_err() {
                return;
            }
            // Saved while figures move (a tick runs then anyway), at most every 30 s.
            if saved_at.elapsed() >= LEDGER_SAVE_EVERY {
                saved_at = std::time::Instant::now();
                let stats = stats.clone();
                let path = ledger.clone();
                let _ = tokio::task::spawn_blocking(move || save_ledger(&stats, path.as_deref())).await;
            }
            if !watched.load(Ordering::Relaxed) && stats.settled(std::time::Instant::now()) {
                break;
            }
        }
    }
}
