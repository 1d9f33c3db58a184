//! Aggregates over finished and running requests: per model and for the whole cluster.
//!
//! Tokens are put into 1 s buckets as their content events arrive (a 15 min ring), so "tokens/s now" moves while a
//! long answer streams; when the server's `usage` later reports more tokens than were counted, the difference is
//! added at the end so totals match what the server says it generated.

use crate::metering::{Outcome, RequestRecord};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Seconds of per-second history kept (15 min).
pub const HISTORY_SECONDS: usize = 900;
/// "tokens/s now" is the mean over this many complete seconds (one second alone is too jumpy to read).
pub const RATE_WINDOW_SECONDS: u64 = 3;
/// `requests_per_min` covers 60 s: after this long without a change no published figure moves any more.
pub const SETTLE_SECONDS: u64 = 61;
/// Finished requests listed in `recent[]`.
pub const RECENT_REQUESTS: usize = 50;
/// TTFT percentiles are over streamed requests finished in the last 15 min, at most this many per model.
const TTFT_SAMPLES: usize = 2000;

/// Figures for one model or for the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Finished metered-endpoint requests since the meter started.
    pub requests: u64,
    pub completion_tokens: u64,
    /// Mean tokens/s over the last [`RATE_WINDOW_SECONDS`] complete seconds.
    pub tokens_per_s: f64,
    pub in_flight: u64,
    /// Requests finished in the last 60 s.
    pub requests_per_min: u64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    /// Completion tokens served since local midnight (what the node is paid for).
    pub tokens_today: u64,
    /// HTTP status ≥ 400 or the upstream failed.
    pub errors: u64,
    /// Bodies forwarded without metering because they could not be parsed.
    pub unmetered: u64,
    /// Requests the client abandoned before the response ended.
    pub client_closed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub id: String,
    #[serde(flatten)]
    pub aggregate: Aggregate,
}

/// Per-second tokens, oldest first, ending with the last complete second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Unix time (s) of the last entry's second.
    pub end_unix_s: u64,
    pub interval_s: u64,
    pub tokens: Vec<u64>,
    pub models: BTreeMap<String, Vec<u64>>,
}

/// Completion tokens one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTokens {
    /// Local calendar day, `YYYY-MM-DD`.
    pub date: String,
    pub tokens: u64,
}

/// What one client with its own listener (`MeterOptions::clients`, e.g. the Porten agent) was
/// served: today, each recent day, and in total since the ledger began.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientStats {
    pub client: String,
    /// Requests finished since the meter started.
    pub requests: u64,
    /// Completion tokens since local midnight.
    pub tokens_today: u64,
    /// Completion tokens on every day of the ledger.
    pub tokens_total: u64,
    /// The ledger's first day (`YYYY-MM-DD`), when it has one.
    pub since: Option<String>,
    /// The last [`CLIENT_DAYS_SHOWN`] days with tokens, oldest first.
    pub days: Vec<DayTokens>,
}

/// One extra listener with its own upstream (`MeterOptions::routes`): where it listens, where
/// it sends, and what it served (requests on it count in the cluster's and the models' figures too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteStats {
    pub name: String,
    /// The bound address (the asked-for one when it did not start).
    pub listen: String,
    pub upstream: String,
    /// Listening on every interface, not loopback only (see [`MeterStats::warnings`]).
    pub serve_lan: bool,
    /// Why it is not running, when it is not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub problem: Option<String>,
    /// The server-reported decode rate of the route's last request that had one (Ollama's
    /// `eval_count / eval_duration`), beside the meter's own figures.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_tokens_per_s: Option<f64>,
    #[serde(flatten)]
    pub aggregate: Aggregate,
}

/// Something about the meter itself the user should know (shown like the app's warnings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterWarning {
    /// `meter_serves_lan`: a route listens beyond loopback.
    pub code: String,
    pub route: String,
    pub message: String,
}

/// Days listed per client in [`ClientStats::days`].
pub const CLIENT_DAYS_SHOWN: usize = 30;

/// Everything the meter knows, as served at `GET /_clusterbar/stats` and published to the app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeterStats {
    pub upstream: String,
    pub generated_unix_ms: u64,
    pub cluster: Aggregate,
    pub models: Vec<ModelStats>,
    /// Clients with a listener of their own (the Porten agent: what the Hub pays for).
    #[serde(default)]
    pub clients: Vec<ClientStats>,
    /// Newest first.
    pub recent: Vec<RequestRecord>,
    pub history: History,
    /// The extra listeners with upstreams of their own, by name.
    #[serde(default)]
    pub routes: Vec<RouteStats>,
    #[serde(default)]
    pub warnings: Vec<MeterWarning>,
}

#[derive(Debug, Default)]
struct Series {
    /// (second index since the hub's epoch, tokens, finished requests)
    buckets: VecDeque<(u64, u64, u64)>,
}

impl Series {
    fn bucket(&mut self, second: u64) -> &mut (u64, u64, u64) {
        if self.buckets.back().is_none_or(|b| b.0 < second) {
            self.buckets.push_back((second, 0, 0));
        }
        while self
            .buckets
            .front()
            .is_some_and(|b| b.0 + (HISTORY_SECONDS as u64) < second)
        {
            self.buckets.pop_front();
        }
        let last = self.buckets.len() - 1;
        // Out-of-order writes (older second) land in the newest bucket: harmless at 1 s resolution.
        &mut self.buckets[last]
    }

    fn sum(&self, from: u64, to_exclusive: u64, pick: impl Fn(&(u64, u64, u64)) -> u64) -> u64 {
        self.buckets
            .iter()
            .filter(|b| b.0 >= from && b.0 < to_exclusive)
            .map(pick)
            .sum()
    }

    fn dense(&self, now_second: u64) -> Vec<u64> {
        let start = now_second.saturating_sub(HISTORY_SECONDS as u64);
        let mut out = vec![0; (now_second - start) as usize];
        for b in &self.buckets {
            if b.0 >= start && b.0 < now_second {
                out[(b.0 - start) as usize] = b.1;
            }
        }
        out
    }
}

#[derive(Debug, Default)]
struct ModelState {
    requests: u64,
    completion_tokens: u64,
    in_flight: u64,
    errors: u64,
    unmetered: u64,
    client_closed: u64,
    tokens_today: u64,
    series: Series,
    /// (second index, TTFT ms)
    ttfts: VecDeque<(u64, f64)>,
}

#[derive(Debug, Default)]
struct RouteState {
    listen: String,
    upstream: String,
    serve_lan: bool,
    problem: Option<String>,
    server_tokens_per_s: Option<f64>,
    state: ModelState,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    epoch_unix_ms: u64,
    cluster: ModelState,
    models: BTreeMap<String, ModelState>,
    recent: VecDeque<RequestRecord>,
    today: NaiveDate,
    /// When a request last started, streamed tokens or finished.
    last_change: Instant,
    /// Per client: requests since start, and tokens per day (the ledger).
    clients: BTreeMap<String, (u64, crate::ledger::Days)>,
    /// The ledger changed since [`StatsHub::take_ledger_if_changed`] last took it.
    ledger_changed: bool,
    routes: BTreeMap<String, RouteState>,
}

/// Shared, cheap-to-clone aggregate store. All updates are O(1) under a short mutex.
#[derive(Debug, Clone)]
pub struct StatsHub {
    upstream: Arc<Mutex<String>>,
    /// Figures the meter's owner knows and the metrics page shows beside the meter's own
    /// (energy per token from the history): rendered as given.
    external: Arc<Mutex<Vec<ExternalGauge>>>,
    inner: Arc<Mutex<Inner>>,
    /// Signalled on every change, so the publisher can sleep while nothing happens.
    activity: Arc<Notify>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn local_today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// One gauge from outside the meter, with its samples (label set → value). The name is
/// prefixed `clusterbar_` on the metrics page.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalGauge {
    pub name: String,
    pub help: String,
    pub samples: Vec<(Vec<(String, String)>, f64)>,
}

impl StatsHub {
    /// Replaces the gauges the metrics page shows beside the meter's own.
    pub fn set_external_gauges(&self, gauges: Vec<ExternalGauge>) {
        if let Ok(mut external) = self.external.lock() {
            *external = gauges;
        }
    }

    pub fn external_gauges(&self) -> Vec<ExternalGauge> {
        self.external.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The upstream the stats name (it changes when exo's port does).
    pub fn set_upstream(&self, upstream: String) {
        if let Ok(mut current) = self.upstream.lock() {
            *current = upstream;
        }
    }

    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: Arc::new(Mutex::new(upstream.into())),
            external: Arc::new(Mutex::new(Vec::new())),
            inner: Arc::new(Mutex::new(Inner {
                epoch: Instant::now(),
                epoch_unix_ms: unix_ms(),
                cluster: ModelState::default(),
                models: BTreeMap::new(),
                recent: VecDeque::new(),
                today: local_today(),
                last_change: Instant::now(),
                clients: BTreeMap::new(),
                ledger_changed: false,
                routes: BTreeMap::new(),
            })),
            activity: Arc::new(Notify::new()),
        }
    }

    fn changed(&self, inner: &mut Inner, at: Instant) {
        inner.last_change = inner.last_change.max(at);
        self.activity.notify_one();
    }

    /// Resolves at the next change (at once if one happened since the last call).
    pub async fn activity(&self) {
        self.activity.notified().await;
    }

    /// Wakes whoever waits in [`StatsHub::activity`], as a change would.
    pub fn poke(&self) {
        self.activity.notify_one();
    }

    /// True once every published figure has stopped moving: nothing in flight and no change for
    /// [`SETTLE_SECONDS`] (the longest window a figure covers, plus one second).
    pub fn settled(&self, now: Instant) -> bool {
        let inner = self.lock();
        inner.cluster.in_flight == 0 && now.saturating_duration_since(inner.last_change).as_secs() >= SETTLE_SECONDS
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain counters behind; keep serving them.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A client with its own listener: listed (with zeros) before its first request.
    pub fn register_client(&self, client: &str) {
        self.lock().clients.entry(client.to_owned()).or_default();
    }

    /// Days served in earlier runs (from the ledger file), added to what this run counted.
    pub fn load_ledger(&self, ledger: crate::ledger::Ledger) {
        let mut inner = self.lock();
        for (client, days) in ledger {
            let (_, known) = inner.clients.entry(client).or_default();
            for (day, tokens) in days {
                *known.entry(day).or_default() += tokens;
            }
        }
    }

    /// The whole ledger when it changed since the last call (for saving).
    pub fn take_ledger_if_changed(&self) -> Option<crate::ledger::Ledger> {
        let mut inner = self.lock();
        if !std::mem::take(&mut inner.ledger_changed) {
            return None;
        }
        Some(
            inner
                .clients
                .iter()
                .map(|(c, (_, days))| (c.clone(), days.clone()))
                .collect(),
        )
    }

    /// An extra route (listed with zeros before its first request, or with why it is not running).
    pub fn register_route(&self, name: &str, listen: &str, upstream: &str, serve_lan: bool, problem: Option<&str>) {
        let mut inner = self.lock();
        let route = inner.routes.entry(name.to_owned()).or_default();
        route.listen = listen.to_owned();
        route.upstream = upstream.to_owned();
        route.serve_lan = serve_lan;
        route.problem = problem.map(str::to_owned);
    }

    /// A metered request was sent upstream (cluster `in_flight`, and the route's when it came on one).
    pub fn request_started(&self, route: Option<&str>) {
        let mut inner = self.lock();
        inner.cluster.in_flight += 1;
        if let Some(state) = route.and_then(|r| inner.routes.get_mut(r)) {
            state.state.in_flight += 1;
        }
        self.changed(&mut inner, Instant::now());
    }

    /// A started request's model became known (per-model `in_flight`); call before [`StatsHub::request_finished`].
    pub fn request_model_known(&self, model: &str) {
        self.lock().models.entry(model.to_string()).or_default().in_flight += 1;
    }

    /// Content events just arrived for a running request.
    pub fn tokens_arrived(&self, model: &str, route: Option<&str>, tokens: u64, at: Instant) {
        if tokens == 0 {
            return;
        }
        let mut inner = self.lock();
        self.changed(&mut inner, at);
        let second = at.saturating_duration_since(inner.epoch).as_secs();
        inner.cluster.series.bucket(second).1 += tokens;
        if let Some(state) = route.and_then(|r| inner.routes.get_mut(r)) {
            state.state.series.bucket(second).1 += tokens;
        }
        // Looked up before inserting: this runs for every event, and the model is nearly always known already.
        if let Some(state) = inner.models.get_mut(model) {
            state.series.bucket(second).1 += tokens;
        } else {
            inner
                .models
                .entry(model.to_string())
                .or_default()
                .series
                .bucket(second)
                .1 += tokens;
        }
    }

    /// A request ended. `live_tokens` is what [`StatsHub::tokens_arrived`] already put into the series.
    pub fn request_finished(&self, record: RequestRecord, live_tokens: u64, at: Instant) {
        let mut inner = self.lock();
        self.changed(&mut inner, at);
        let second = at.saturating_duration_since(inner.epoch).as_secs();
        let today = local_today();
        if today != inner.today {
            inner.today = today;
            inner.cluster.tokens_today = 0;
            inner.models.values_mut().for_each(|m| m.tokens_today = 0);
            inner.routes.values_mut().for_each(|r| r.state.tokens_today = 0);
        }
        let tokens = record.completion_tokens.unwrap_or(0);
        let late_tokens = tokens.saturating_sub(live_tokens);
        let is_error = record.status >= 400
            || record.stream_error.is_some()
            || matches!(record.outcome, Outcome::UpstreamFailed | Outcome::EmptyBody);
        if let Some(client) = &record.client {
            let (requests, days) = inner.clients.entry(client.clone()).or_default();
            *requests += 1;
            if tokens > 0 {
                *days.entry(today).or_default() += tokens;
                inner.ledger_changed = true;
            }
        }
        let Inner {
            cluster,
            models,
            routes,
            ..
        } = &mut *inner;
        let model_state = models.entry(record.model.clone()).or_default();
        let route_state = record.route.as_ref().and_then(|r| routes.get_mut(r)).map(|route| {
            let ollama = record.server_reported.ollama.as_ref();
            if let Some(rate) = ollama.and_then(|o| o.eval_tokens_per_s) {
                route.server_tokens_per_s = Some(rate);
            }
            &mut route.state
        });
        for state in [Some(cluster), Some(model_state), route_state].into_iter().flatten() {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.requests += 1;
            state.completion_tokens += tokens;
            state.tokens_today += tokens;
            state.errors += u64::from(is_error);
            state.unmetered += u64::from(!record.metered);
            state.client_closed += u64::from(record.outcome == Outcome::ClientClosed);
            let bucket = state.series.bucket(second);
            bucket.1 += late_tokens;
            bucket.2 += 1;
            if let Some(ttft) = record.ttft_ms {
                state.ttfts.push_back((second, ttft));
                if state.ttfts.len() > TTFT_SAMPLES {
                    state.ttfts.pop_front();
                }
            }
        }
        inner.recent.push_front(record);
        inner.recent.truncate(RECENT_REQUESTS);
    }

    /// The current figures.
    pub fn snapshot(&self) -> MeterStats {
        let now = Instant::now();
        let mut inner = self.lock();
        let now_second = now.saturating_duration_since(inner.epoch).as_secs();
        if local_today() != inner.today {
            inner.today = local_today();
            inner.cluster.tokens_today = 0;
            inner.models.values_mut().for_each(|m| m.tokens_today = 0);
            inner.routes.values_mut().for_each(|r| r.state.tokens_today = 0);
        }
        let end_unix_s = (inner.epoch_unix_ms / 1000 + now_second).saturating_sub(1);
        let history = History {
            end_unix_s,
            interval_s: 1,
            tokens: inner.cluster.series.dense(now_second),
            models: inner
                .models
                .iter()
                .map(|(id, m)| (id.clone(), m.series.dense(now_second)))
                .collect(),
        };
        MeterStats {
            upstream: self.upstream.lock().map(|u| u.clone()).unwrap_or_default(),
            generated_unix_ms: unix_ms(),
            cluster: aggregate(&mut inner.cluster, now_second),
            models: inner
                .models
                .iter_mut()
                .map(|(id, m)| ModelStats {
                    id: id.clone(),
                    aggregate: aggregate(m, now_second),
                })
                .collect(),
            recent: inner.recent.iter().cloned().collect(),
            history,
            clients: inner
                .clients
                .iter()
                .map(|(client, (requests, days))| client_stats(client, *requests, days, inner.today))
                .collect(),
            warnings: inner
                .routes
                .iter()
                .filter(|(_, r)| r.serve_lan && r.problem.is_none())
                .map(|(name, r)| serves_lan_warning(name, &r.listen, &r.upstream))
                .collect(),
            routes: inner
                .routes
                .iter_mut()
                .map(|(name, r)| RouteStats {
                    name: name.clone(),
                    listen: r.listen.clone(),
                    upstream: r.upstream.clone(),
                    serve_lan: r.serve_lan,
                    problem: r.problem.clone(),
                    server_tokens_per_s: r.server_tokens_per_s,
                    aggregate: aggregate(&mut r.state, now_second),
                })
                .collect(),
        }
    }
}

/// What a route open to the LAN is told: which port, and that nothing guards it.
fn serves_lan_warning(route: &str, listen: &str, upstream: &str) -> MeterWarning {
    let port = listen.rsplit(':').next().unwrap_or(listen);
    MeterWarning {
        code: "meter_serves_lan".to_owned(),
        route: route.to_owned(),
        message: format!(
            "The meter serves route {route} to the local network on port {port} ({listen} -> {upstream}): \
             anyone who can reach this Mac can use it, and the Ollama API has no authentication."
        ),
    }
}

fn client_stats(client: &str, requests: u64, days: &crate::ledger::Days, today: NaiveDate) -> ClientStats {
    ClientStats {
        client: client.to_owned(),
        requests,
        tokens_today: days.get(&today).copied().unwrap_or(0),
        tokens_total: days.values().fold(0u64, |sum, t| sum.saturating_add(*t)),
        since: days.keys().next().map(NaiveDate::to_string),
        days: days
            .iter()
            .rev()
            .take(CLIENT_DAYS_SHOWN)
            .rev()
            .map(|(day, tokens)| DayTokens {
                date: day.to_string(),
                tokens: *tokens,
            })
            .collect(),
    }
}

fn aggregate(state: &mut ModelState, now_second: u64) -> Aggregate {
    let window_start = now_second.saturating_sub(RATE_WINDOW_SECONDS);
    let window = now_second - window_start;
    let tokens_in_window = state.series.sum(window_start, now_second, |b| b.1);
    let cutoff = now_second.saturating_sub(HISTORY_SECONDS as u64);
    while state.ttfts.front().is_some_and(|t| t.0 < cutoff) {
        state.ttfts.pop_front();
    }
    let mut ttfts: Vec<f64> = state.ttfts.iter().map(|t| t.1).collect();
    ttfts.sort_by(f64::total_cmp);
    Aggregate {
        requests: state.requests,
        completion_tokens: state.completion_tokens,
        tokens_per_s: if window == 0 {
            0.0
        } else {
            tokens_in_window as f64 / window as f64
        },
        in_flight: state.in_flight,
        requests_per_min: state.series.sum(now_second.saturating_sub(60), now_second + 1, |b| b.2),
        ttft_p50_ms: percentile(&ttfts, 0.50),
        ttft_p95_ms: percentile(&ttfts, 0.95),
        tokens_today: state.tokens_today,
        errors: state.errors,
        unmetered: state.unmetered,
        client_closed: state.client_closed,
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Prometheus text exposition (version 0.0.4) of the stats.
pub fn prometheus_text(stats: &MeterStats) -> String {
    let mut out = String::new();
    // The cluster (no label), each model, each extra route.
    let rows: Vec<(String, &Aggregate)> = std::iter::once((String::new(), &stats.cluster))
        .chain(
            stats
                .models
                .iter()
                .map(|m| (format!("{{model=\"{}\"}}", escape_label(&m.id)), &m.aggregate)),
        )
        .chain(
            stats
                .routes
                .iter()
                .map(|r| (format!("{{route=\"{}\"}}", escape_label(&r.name)), &r.aggregate)),
        )
        .collect();
    type Pick = fn(&Aggregate) -> Option<f64>;
    let metrics: [(&str, &str, &str, Pick); 10] = [
        ("requests_total", "counter", "Finished metered requests", |a| {
            Some(a.requests as f64)
        }),
        ("completion_tokens_total", "counter", "Completion tokens served", |a| {
            Some(a.completion_tokens as f64)
        }),
        (
            "tokens_per_second",
            "gauge",
            "Tokens/s over the last 3 complete seconds",
            |a| Some(a.tokens_per_s),
        ),
        ("requests_in_flight", "gauge", "Metered requests in progress", |a| {
            Some(a.in_flight as f64)
        }),
        (
            "requests_per_minute",
            "gauge",
            "Requests finished in the last 60 s",
            |a| Some(a.requests_per_min as f64),
        ),
        ("tokens_today", "gauge", "Completion tokens since local midnight", |a| {
            Some(a.tokens_today as f64)
        }),
        (
            "errors_total",
            "counter",
            "Requests with status >= 400 or upstream failure",
            |a| Some(a.errors as f64),
        ),
        (
            "unmetered_total",
            "counter",
            "Bodies forwarded unmetered (unparseable)",
            |a| Some(a.unmetered as f64),
        ),
        ("ttft_p50_seconds", "gauge", "Median TTFT over the last 15 min", |a| {
            a.ttft_p50_ms.map(|v| v / 1000.0)
        }),
        (
            "ttft_p95_seconds",
            "gauge",
            "95th percentile TTFT over the last 15 min",
            |a| a.ttft_p95_ms.map(|v| v / 1000.0),
        ),
    ];
    for (name, kind, help, pick) in metrics {
        let _ = writeln!(
            out,
            "# HELP clusterbar_meter_{name} {help}.\n# TYPE clusterbar_meter_{name} {kind}"
        );
        for (labels, aggregate) in &rows {
            let Some(value) = pick(aggregate) else { continue };
            let _ = writeln!(out, "clusterbar_meter_{name}{labels} {value}");
        }
    }
    if !stats.routes.is_empty() {
        out.push_str(
            "# HELP clusterbar_meter_route_serves_lan 1 when the route listens beyond loopback (no authentication).\n\
             # TYPE clusterbar_meter_route_serves_lan gauge\n",
        );
        for route in &stats.routes {
            let _ = writeln!(
                out,
                "clusterbar_meter_route_serves_lan{{route=\"{}\"}} {}",
                escape_label(&route.name),
                u8::from(route.serve_lan)
            );
        }
    }
    out
}

/// The external gauges in the text format, names prefixed `clusterbar_`; a non-finite value is
/// left out (Prometheus would read "NaN" as a figure).
pub fn external_prometheus_text(gauges: &[ExternalGauge]) -> String {
    let mut out = String::new();
    for gauge in gauges {
        let name: String = gauge
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
            .collect();
        let _ = writeln!(
            out,
            "# HELP clusterbar_{name} {}.\n# TYPE clusterbar_{name} gauge",
            gauge.help.replace('\n', " ")
        );
        for (labels, value) in gauge.samples.iter().filter(|(_, v)| v.is_finite()) {
            let labels = if labels.is_empty() {
                String::new()
            } else {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                format!("{{{}}}", pairs.join(","))
            };
            let _ = writeln!(out, "clusterbar_{name}{labels} {value}");
        }
    }
    out
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::{Endpoint, ServerReported, TokenSource};
    use std::time::Duration;

    fn record(model: &str, tokens: u64, ttft: f64, status: u16, metered: bool) -> RequestRecord {
        RequestRecord {
            model: model.into(),
            endpoint: Endpoint::ChatCompletions,
            status,
            outcome: Outcome::Completed,
            streamed: true,
            metered,
            ttft_ms: Some(ttft),
            completion_tokens: Some(tokens),
            completion_tokens_source: Some(TokenSource::Usage),
            prompt_tokens: None,
            content_events: tokens,
            decode_tokens_per_s: None,
            e2e_ms: 1.0,
            finished_unix_ms: 0,
            server_reported: ServerReported::default(),
            client: None,
            route: None,
            malformed_lines: 0,
            stream_error: None,
        }
    }

    #[test]
    fn aggregates_per_model_and_cluster() {
        let hub = StatsHub::new("http://x");
        let epoch = hub.lock().epoch;
        for model in ["a", "b"] {
            hub.request_started(None);
            hub.request_model_known(model);
        }
        assert_eq!(hub.snapshot().cluster.in_flight, 2);
        hub.tokens_arrived("a", None, 10, epoch);
        hub.request_finished(record("a", 12, 100.0, 200, true), 10, epoch);
        hub.request_finished(record("b", 3, 300.0, 500, true), 0, epoch);
        let stats = hub.snapshot();
        assert_eq!(stats.cluster.in_flight, 0);
        assert_eq!(stats.cluster.requests, 2);
        assert_eq!(stats.cluster.completion_tokens, 15);
        assert_eq!(stats.cluster.tokens_today, 15);
        assert_eq!(stats.cluster.errors, 1);
        assert_eq!(stats.cluster.requests_per_min, 2);
        assert_eq!(stats.cluster.ttft_p50_ms, Some(100.0));
        assert_eq!(stats.cluster.ttft_p95_ms, Some(300.0));
        let a = &stats.models.iter().find(|m| m.id == "a").unwrap().aggregate;
        assert_eq!((a.requests, a.completion_tokens, a.errors), (1, 12, 0));
        // 10 live tokens + 2 late ones from usage, all in second 0.
        assert_eq!(stats.recent.len(), 2);
        assert_eq!(stats.recent[0].model, "b");
    }

    #[test]
    fn a_clients_tokens_are_counted_per_day_and_in_total() {
        let hub = StatsHub::new("http://x");
        hub.register_client("porten");
        assert_eq!(hub.snapshot().clients[0].tokens_total, 0);
        assert!(hub.take_ledger_if_changed().is_none());
        let yesterday = local_today().pred_opt().unwrap();
        hub.load_ledger(crate::ledger::Ledger::from([(
            "porten".to_owned(),
            crate::ledger::Days::from([(yesterday, 100)]),
        )]));
        let epoch = hub.lock().epoch;
        for client in [Some("porten"), None, Some("porten")] {
            hub.request_started(None);
            let mut r = record("m", 7, 10.0, 200, true);
            r.client = client.map(str::to_owned);
            hub.request_finished(r, 0, epoch);
        }
        let stats = hub.snapshot();
        let porten = &stats.clients[0];
        assert_eq!(
            (porten.requests, porten.tokens_today, porten.tokens_total),
            (2, 14, 114)
        );
        assert_eq!(porten.since, Some(yesterday.to_string()));
        assert_eq!(porten.days.len(), 2);
        assert_eq!(porten.days[1].tokens, 14);
        // The shared listener's request counts for the cluster, not for the client.
        assert_eq!(stats.cluster.completion_tokens, 21);
        let ledger = hub.take_ledger_if_changed().unwrap();
        assert_eq!(ledger["porten"][&local_today()], 14);
        assert!(hub.take_ledger_if_changed().is_none(), "taken once per change");
    }

    #[test]
    fn tokens_per_s_uses_complete_seconds_and_history_is_dense() {
        let hub = StatsHub::new("http://x");
        // Move the epoch back so "now" is second 10.
        let epoch = Instant::now() - Duration::from_millis(10_500);
        hub.lock().epoch = epoch;
        for (second, tokens) in [(7, 30), (8, 60), (9, 90), (10, 1000)] {
            hub.tokens_arrived("m", None, tokens, epoch + Duration::from_secs(second));
        }
        let stats = hub.snapshot();
        // Seconds 7, 8, 9 (the running second 10 is excluded): 180 / 3.
        assert_eq!(stats.cluster.tokens_per_s, 60.0);
        assert_eq!(stats.history.tokens.len(), 10);
        assert_eq!(&stats.history.tokens[7..], &[30, 60, 90]);
        assert_eq!(stats.history.models["m"][8], 60);
    }

    #[test]
    fn ring_keeps_fifteen_minutes() {
        let mut series = Series::default();
        for second in 0..2000 {
            series.bucket(second).1 += 1;
        }
        assert!(series.buckets.len() <= HISTORY_SECONDS + 1);
        assert_eq!(series.dense(2000).len(), HISTORY_SECONDS);
    }

    #[test]
    fn percentile_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), Some(2.0));
        assert_eq!(percentile(&v, 0.95), Some(4.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn prometheus_output_labels_and_escapes() {
        let hub = StatsHub::new("http://x");
        hub.request_started(None);
        hub.request_model_known("we\"ird");
        let text = prometheus_text(&hub.snapshot());
        assert!(text.contains("clusterbar_meter_requests_in_flight 1\n"));
        assert!(text.contains("clusterbar_meter_requests_in_flight{model=\"we\\\"ird\"} 1\n"));
        assert!(text.contains("# TYPE clusterbar_meter_completion_tokens_total counter"));
        assert!(!text.contains("ttft_p50_seconds{"));
    }

    #[test]
    fn a_routes_requests_count_for_it_and_for_the_totals() {
        let hub = StatsHub::new("http://exo");
        hub.register_route("box2", "127.0.0.1:11436", "http://192.168.99.2:11434", false, None);
        hub.register_route("lan", "0.0.0.0:11437", "http://10.0.0.2:11434", true, None);
        hub.register_route("broken", "127.0.0.1:1", "http://x:1", true, Some("port taken"));
        let epoch = hub.lock().epoch;
        hub.request_started(Some("box2"));
        hub.request_started(None);
        assert_eq!(hub.snapshot().routes[0].aggregate.in_flight, 1);
        hub.tokens_arrived("llama3.2", Some("box2"), 4, epoch);
        let mut on_route = record("llama3.2", 5, 50.0, 200, true);
        on_route.route = Some("box2".into());
        on_route.server_reported.ollama = Some(crate::metering::OllamaStats {
            eval_tokens_per_s: Some(61.5),
            ..Default::default()
        });
        hub.request_finished(on_route, 4, epoch);
        hub.request_finished(record("exo-model", 7, 80.0, 200, true), 0, epoch);
        let mut broke_off = record("llama3.2", 0, 10.0, 200, true);
        broke_off.stream_error = Some("an error was encountered while running the model".into());
        hub.request_finished(broke_off, 0, epoch);
        let stats = hub.snapshot();
        assert_eq!(stats.cluster.errors, 1, "an error inside a 200 stream is an error");
        assert_eq!(
            stats.cluster.completion_tokens, 12,
            "totals keep every listener's tokens"
        );
        let names: Vec<&str> = stats.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["box2", "broken", "lan"]);
        let box2 = &stats.routes[0];
        assert_eq!(
            (
                box2.aggregate.requests,
                box2.aggregate.completion_tokens,
                box2.aggregate.in_flight
            ),
            (1, 5, 0)
        );
        assert_eq!(box2.server_tokens_per_s, Some(61.5));
        assert_eq!(box2.upstream, "http://192.168.99.2:11434");
        // Only the running LAN route is warned about, naming its port.
        assert_eq!(stats.warnings.len(), 1);
        assert_eq!(stats.warnings[0].code, "meter_serves_lan");
        assert!(stats.warnings[0].message.contains("port 11437"));
        assert!(stats.warnings[0].message.contains("no authentication"));
        let text = prometheus_text(&stats);
        assert!(
            text.contains("clusterbar_meter_completion_tokens_total{route=\"box2\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("clusterbar_meter_completion_tokens_total 12\n"));
        assert!(text.contains("clusterbar_meter_route_serves_lan{route=\"lan\"} 1\n"));
        assert!(text.contains("clusterbar_meter_route_serves_lan{route=\"box2\"} 0\n"));
    }
}
