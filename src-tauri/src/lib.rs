//! The Clusterbar menu-bar app: a thin shell over `clusterbar-core`.
//!
//! It owns the tray icon, the popover window and the commands the page may call. Every
//! figure it shows comes from the core's `Snapshot`, pushed to the page over a
//! `tauri::ipc::Channel` whenever the sampler publishes a new one (the page never polls).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use clusterbar_core::exo::fit::DEFAULT_CONTEXT_TOKENS;
use clusterbar_core::exo::launch::ExoLaunch;
use clusterbar_core::exo::{models_to_bench, ExoClient, FitVerdict};
use clusterbar_core::join::{JoinOptions, JoinProgress, PreflightItem};
use clusterbar_core::porten::{AgentController, CancelHandle, KeySource, LoginEvent, LoginOptions};
use clusterbar_core::sampler::Sampler;
use clusterbar_core::settings::{Settings, SettingsStore};
use clusterbar_core::snapshot::TrayState;
use clusterbar_core::supervise::ServiceKind;
use clusterbar_core::supervise::{Supervisor, SupervisorSpec};
use clusterbar_core::warnings::Latch;
use clusterbar_core::Snapshot;
use clusterbar_meter::bench::{run_bench_observed, BenchOptions, BenchProgress, BenchReport};
use clusterbar_meter::{Meter, MeterHandle, MeterOptions, MeterStats};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use tauri::image::Image;
use tauri::ipc::Channel;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime, State, WindowEvent};

const POPOVER: &str = "main";
const TRAY_ID: &str = "clusterbar";
/// The popover's size as set in tauri.conf.json.
const POPOVER_WIDTH: f64 = 380.0;
const POPOVER_HEIGHT: f64 = 600.0;
/// Blur events this soon after showing (the opening click itself) or before a tray click
/// (the click that should close the popover) are not the user leaving.
const BLUR_GUARD: Duration = Duration::from_millis(300);

/// Test switch: `CLUSTERBAR_SHOW=1` shows the popover at start and keeps it open on blur,
/// so WebDriver and screenshots can see it (bare Xvfb sends a blur right after focus).
fn pinned_open_from_env() -> bool {
    std::env::var("CLUSTERBAR_SHOW").map(|v| v == "1").unwrap_or(false)
}

pub struct AppState {
    settings: Arc<RwLock<Settings>>,
    store: SettingsStore,
    settings_problem: Option<String>,
    sampler: Sampler,
    pinned_open: bool,
    popover: Mutex<PopoverClock>,
    subscription: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    throughput_subscription: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    /// The token meter in front of exo, or why it is not running.
    meter: Mutex<Result<MeterHandle, String>>,
    /// Cancels the running `porten login` or join, if any.
    login_cancel: Mutex<Option<CancelHandle>>,
    join_cancel: Mutex<Option<Arc<AtomicBool>>>,
    page_loads: std::sync::atomic::AtomicU32,
    /// A benchmark is running (one at a time: two would measure each other).
    bench_running: AtomicBool,
    /// Whether the popover is on screen: snapshots go to the page only then (a hidden page has
    /// nothing to paint), and the latest goes at once when it opens.
    popover_shown: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct PopoverClock {
    shown_at: Option<Instant>,
    hidden_by_blur_at: Option<Instant>,
}

impl AppState {
    /// What an open popover needs kept fresh: the sampler's fast cadence and a meter feed that
    /// moves even while idle (both sleep again when it closes).
    fn popover_visible(&self, visible: bool) {
        self.popover_shown.send_replace(visible);
        self.sampler.set_visible(visible);
        if let Ok(meter) = self.meter.lock() {
            if let Ok(handle) = meter.as_ref() {
                handle.set_watched(visible);
            }
        }
    }

    /// Loads settings (a corrupt file is set aside and reported) and starts the sampler.
    pub fn start(store: SettingsStore, pinned_open: bool) -> std::io::Result<Self> {
        let loaded = store.load();
        let standing = loaded.standing_warnings();
        let settings = Arc::new(RwLock::new(loaded.settings));
        let sampler = Sampler::start(settings.clone(), standing)?;
        Ok(Self {
            settings,
            store,
            settings_problem: loaded.problem,
            sampler,
            pinned_open,
            popover: Mutex::new(PopoverClock::default()),
            subscription: Mutex::new(None),
            throughput_subscription: Mutex::new(None),
            meter: Mutex::new(Err("the token meter is starting".to_owned())),
            login_cancel: Mutex::new(None),
            join_cancel: Mutex::new(None),
            page_loads: std::sync::atomic::AtomicU32::new(0),
            bench_running: AtomicBool::new(false),
            popover_shown: tokio::sync::watch::Sender::new(false),
        })
    }

    fn settings(&self) -> Settings {
        self.settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn settings_view(&self) -> SettingsView {
        SettingsView {
            settings: self.settings(),
            path: self.store.path().display().to_string(),
            problem: self.settings_problem.clone(),
        }
    }

    fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, String> {
        let mut next = self.settings();
        change(&mut next);
        self.store.save(&next).map_err(|e| e.to_string())?;
        match self.settings.write() {
            Ok(mut current) => *current = next.clone(),
            Err(poisoned) => *poisoned.into_inner() = next.clone(),
        }
        self.sampler.sample_now();
        Ok(next)
    }
}

/// What the page needs to render the Settings panel.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SettingsView {
    pub settings: Settings,
    pub path: String,
    /// Set when the settings file was unreadable and defaults are in use.
    pub problem: Option<String>,
}

#[tauri::command]
fn snapshot(state: State<'_, AppState>) -> Snapshot {
    state.sampler.latest()
}

/// A page that subscribes again (after a reload) replaces its old feed, which stops.
fn replace_subscription(
    slot: &Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    task: tauri::async_runtime::JoinHandle<()>,
) -> Result<(), String> {
    let mut slot = slot.lock().map_err(|_| "subscription lock poisoned".to_owned())?;
    if let Some(previous) = slot.replace(task) {
        previous.abort();
    }
    Ok(())
}

/// Pushes the current Snapshot at once, then every new one, until the page subscribes again
/// (a reload) or the channel closes.
#[tauri::command]
fn subscribe(state: State<'_, AppState>, on_snapshot: Channel<Snapshot>) -> Result<(), String> {
    // More than one subscription in a run means the page was reloaded (e.g. its web process
    // restarted): anything it was showing in flight is gone, so say so in the log.
    let count = state.page_loads.fetch_add(1, Ordering::SeqCst) + 1;
    if count > 1 {
        tracing::warn!(count, "the popover page loaded again");
    }
    let mut updates = state.sampler.subscribe();
    let current = updates.borrow_and_update().clone();
    on_snapshot
        .send(current)
        .map_err(|e| format!("sending the snapshot to the page: {e}"))?;
    let mut shown = state.popover_shown.subscribe();
    let task = tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { break },
                changed = shown.changed() => if changed.is_err() { break },
            }
            // Hidden: nothing is sent (the newest is, the moment the popover opens); either way
            // both changes are marked seen.
            let visible = *shown.borrow_and_update();
            let next = {
                let latest = updates.borrow_and_update();
                visible.then(|| latest.clone())
            };
            let Some(next) = next else { continue };
            if let Err(e) = on_snapshot.send(next) {
                tracing::debug!(error = %e, "snapshot channel closed");
                break;
            }
        }
    });
    replace_subscription(&state.subscription, task)
}

/// What the Throughput section shows: the meter's figures, or why there are none.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ThroughputUpdate {
    /// Where local clients and the Porten agent send requests (the meter's address).
    pub meter_url: Option<String>,
    pub error: Option<String>,
    pub stats: Option<MeterStats>,
}

/// Pushes the meter's figures as the meter publishes them (about once a second).
#[tauri::command]
fn subscribe_throughput(state: State<'_, AppState>, on_update: Channel<ThroughputUpdate>) -> Result<(), String> {
    let started = match state.meter.lock() {
        Ok(meter) => match meter.as_ref() {
            Ok(handle) => Ok((format!("http://{}", handle.local_addr()), handle.subscribe())),
            Err(reason) => Err(reason.clone()),
        },
        Err(_) => Err("meter lock poisoned".to_owned()),
    };
    let (url, mut updates) = match started {
        Ok(started) => started,
        Err(reason) => {
            let update = ThroughputUpdate {
                meter_url: None,
                error: Some(reason),
                stats: None,
            };
            return on_update.send(update).map_err(|e| e.to_string());
        }
    };
    let first = updates.borrow_and_update().as_ref().clone();
    let update = ThroughputUpdate {
        meter_url: Some(url.clone()),
        error: None,
        stats: Some(first),
    };
    on_update
        .send(update)
        .map_err(|e| format!("sending throughput to the page: {e}"))?;
    let task = tauri::async_runtime::spawn(async move {
        while updates.changed().await.is_ok() {
            let stats = updates.borrow_and_update().as_ref().clone();
            let update = ThroughputUpdate {
                meter_url: Some(url.clone()),
                error: None,
                stats: Some(stats),
            };
            if on_update.send(update).is_err() {
                break;
            }
        }
    });
    replace_subscription(&state.throughput_subscription, task)
}

/// Starts the token meter on its loopback port with exo as upstream.
fn start_meter(state: &AppState) {
    let settings = state.settings();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], settings.meter_port));
    let upstream = format!("http://127.0.0.1:{}", settings.exo_api_port);
    // The Porten agent gets a listener of its own: what it is served (what the Hub pays for)
    // is counted apart, per day, in the ledger (see clusterbar_core::porten::tokens).
    let options = MeterOptions {
        clients: vec![(
            std::net::SocketAddr::from(([127, 0, 0, 1], settings.porten_meter_port)),
            clusterbar_core::porten::tokens::PORTEN_CLIENT.to_owned(),
        )],
        ledger: Some(clusterbar_core::porten::tokens::ledger_path()),
        ..MeterOptions::default()
    };
    let started = tauri::async_runtime::block_on(Meter::start(listen, &upstream, options))
        .map_err(|e| format!("the token meter is not running: {e}"));
    if let Err(reason) = &started {
        tracing::error!("{reason}");
    }
    if let Ok(mut slot) = state.meter.lock() {
        *slot = started;
    }
}

/// The live figure beside the menu-bar icon (a setting, off by default); back to the bare
/// icon after 5 s without tokens.
fn follow_tokens_in_title<R: Runtime>(app: &AppHandle<R>, tray: tauri::tray::TrayIcon<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let Ok(mut updates) = state
        .meter
        .lock()
        .map_err(|_| ())
        .and_then(|m| m.as_ref().map(|h| h.subscribe()).map_err(|_| ()))
    else {
        return;
    };
    let settings = state.settings.clone();
    tauri::async_runtime::spawn(async move {
        let mut last_tokens_at: Option<Instant> = None;
        let mut shown = false;
        while updates.changed().await.is_ok() {
            let rate = updates.borrow_and_update().cluster.tokens_per_s;
            let wanted = settings.read().map(|s| s.show_tokens_in_menu_bar).unwrap_or(false);
            if rate > 0.0 {
                last_tokens_at = Some(Instant::now());
            }
            let idle = last_tokens_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(5));
            if wanted && !idle {
                let _ = tray.set_title(Some(format!("{rate:.0} tok/s")));
                shown = true;
            } else if shown {
                let _ = tray.set_title(None::<&str>);
                shown = false;
            }
        }
    });
}

#[tauri::command]
fn settings(state: State<'_, AppState>) -> SettingsView {
    state.settings_view()
}

/// Applies the fields the Settings panel changed. Unknown keys and invalid values are refused
/// with the reason, and nothing is written then; the file is replaced atomically otherwise.
#[tauri::command]
fn update_settings(
    state: State<'_, AppState>,
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<SettingsView, String> {
    let mut current = serde_json::to_value(state.settings()).map_err(|e| e.to_string())?;
    let known = serde_json::to_value(Settings::default()).map_err(|e| e.to_string())?;
    let fields = current.as_object_mut().ok_or("settings are not an object")?;
    for (key, value) in patch {
        if known.get(&key).is_none() {
            return Err(format!("unknown setting {key:?}"));
        }
        if key == "start_at_login" {
            // The menu's check item owns it, so the two never disagree.
            return Err("Start at Login is set from the menu-bar icon's menu".to_owned());
        }
        fields.insert(key, value);
    }
    let next: Settings = serde_json::from_value(current).map_err(|e| format!("invalid setting: {e}"))?;
    next.validate().map_err(|e| e.to_string())?;
    state.update_settings(|s| *s = next)?;
    Ok(state.settings_view())
}

#[tauri::command]
fn hide_popover<R: Runtime>(app: AppHandle<R>) {
    hide(&app);
}

/// The page reports its content height; the popover takes it (up to its maximum) so there
/// is no empty space under short content and a scroll bar only when content is long.
#[tauri::command]
fn fit_popover<R: Runtime>(window: tauri::WebviewWindow<R>, height: f64) -> Result<(), String> {
    if !height.is_finite() || height <= 0.0 {
        return Err(format!("invalid popover height {height}"));
    }
    let height = height.clamp(160.0, POPOVER_HEIGHT);
    window
        .set_size(tauri::LogicalSize::new(POPOVER_WIDTH, height))
        .map_err(|e| e.to_string())
}

#[tauri::command]
fn open_logs<R: Runtime>(app: AppHandle<R>) -> Result<(), String> {
    use tauri_plugin_opener::OpenerExt;
    let dir = clusterbar_core::paths::log_dir();
    app.opener()
        .open_path(dir.display().to_string(), None::<&str>)
        .map_err(|e| format!("opening {}: {e}", dir.display()))
}

/// Starts exo under Clusterbar's supervisor, or adopts the copy already running (EXO.app,
/// a terminal): never a second one.
#[tauri::command]
async fn exo_start(state: State<'_, AppState>) -> Result<String, String> {
    let slot = state.sampler.exo_supervisor();
    let settings = state.settings();
    let message = tauri::async_runtime::spawn_blocking(move || -> Result<String, String> {
        let mut guard = slot.lock().map_err(|_| "supervisor lock poisoned".to_owned())?;
        if let Some(supervisor) = guard.as_ref() {
            supervisor.start_again().map_err(|e| e.to_string())?;
            return Ok("exo starting".to_owned());
        }
        let spec = SupervisorSpec::exo(&settings, &ExoLaunch::default())?;
        let supervisor = Supervisor::start(spec).map_err(|e| e.to_string())?;
        let adopted = !supervisor.status().started_by_us;
        *guard = Some(supervisor);
        Ok(if adopted {
            "adopted the exo already running"
        } else {
            "exo starting"
        }
        .to_owned())
    })
    .await
    .map_err(|e| format!("starting exo: {e}"))??;
    state.sampler.sample_now();
    tracing::info!("{message}");
    Ok(message)
}

/// Stops exo. The user asked, so an adopted copy (one Clusterbar did not start) stops too.
#[tauri::command]
async fn exo_stop(state: State<'_, AppState>) -> Result<String, String> {
    let slot = state.sampler.exo_supervisor();
    let message = tauri::async_runtime::spawn_blocking(move || -> Result<String, String> {
        let guard = slot.lock().map_err(|_| "supervisor lock poisoned".to_owned())?;
        let Some(supervisor) = guard.as_ref() else {
            return Err("exo was not started or adopted by Clusterbar; press Start first to adopt it".to_owned());
        };
        supervisor
            .stop(true)
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("stopping exo: {e}"))??;
    state.sampler.sample_now();
    tracing::info!(outcome = %message, "exo stopped");
    Ok(message)
}

fn meter_url(state: &AppState) -> Result<String, String> {
    let meter = state.meter.lock().map_err(|_| "meter lock poisoned".to_owned())?;
    meter
        .as_ref()
        .map(|h| format!("http://{}", h.local_addr()))
        .map_err(Clone::clone)
}

/// The meter's listener for the Porten agent alone.
fn agent_meter_url(state: &AppState) -> Result<String, String> {
    let meter = state.meter.lock().map_err(|_| "meter lock poisoned".to_owned())?;
    let handle = meter.as_ref().map_err(Clone::clone)?;
    let (url, shared) = handle.client_url(clusterbar_core::porten::tokens::PORTEN_CLIENT);
    if let Some(why) = shared {
        tracing::warn!(%why, "the Porten agent shares the meter's port: its tokens are not counted apart");
    }
    Ok(url)
}

/// Stores the optional Porten API key (the Keychain on macOS, the key file elsewhere); the
/// key never comes back to the page, only where it went.
#[tauri::command]
async fn porten_set_api_key(state: State<'_, AppState>, key: String) -> Result<KeySource, String> {
    let settings = state.settings();
    let stored = tauri::async_runtime::spawn_blocking(move || clusterbar_core::porten::api_key::store(&settings, &key))
        .await
        .map_err(|e| format!("storing the key: {e}"))??;
    state.sampler.sample_now();
    Ok(stored)
}

/// Where the Porten API key in use comes from (`null` = none); never the key.
#[tauri::command]
async fn porten_api_key_source(state: State<'_, AppState>) -> Result<Option<KeySource>, String> {
    let settings = state.settings();
    tauri::async_runtime::spawn_blocking(move || clusterbar_core::porten::api_key::lookup(&settings))
        .await
        .map_err(|e| format!("looking up the key: {e}"))?
        .map(|key| key.map(|k| k.source))
        .map_err(|e| e.to_string())
}

/// The preflight checklist for joining, from the latest sample.
#[tauri::command]
fn join_preflight(state: State<'_, AppState>) -> Vec<PreflightItem> {
    let settings = state.settings();
    let located = clusterbar_core::supervise::locate(ServiceKind::Exo, &settings);
    clusterbar_core::join::preflight(&state.sampler.latest(), &located)
}

/// One step of joining, or its end, for the popover.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JoinUpdate {
    Progress { progress: JoinProgress },
    Joined { peers: Vec<String> },
    Failed { reason: String },
}

/// Starts (or adopts) exo and waits until this Mac is a member with at least one peer;
/// progress goes to the page as it happens. The supervisor then belongs to the app.
#[tauri::command]
fn join_cluster(state: State<'_, AppState>, on_update: Channel<JoinUpdate>) -> Result<(), String> {
    let cancel = Arc::new(AtomicBool::new(false));
    *state.join_cancel.lock().map_err(|_| "join lock poisoned".to_owned())? = Some(cancel.clone());
    let settings = state.settings();
    let slot = state.sampler.exo_supervisor();
    let existing = slot.lock().map_err(|_| "supervisor lock poisoned".to_owned())?.take();
    std::thread::Builder::new()
        .name("clusterbar-join".into())
        .spawn(move || {
            let client = ExoClient::local(settings.exo_api_port);
            let start = move || match existing {
                Some(supervisor) => supervisor.start_again().map(|()| supervisor).map_err(|e| e.to_string()),
                None => {
                    Supervisor::start(SupervisorSpec::exo(&settings, &ExoLaunch::default())?).map_err(|e| e.to_string())
                }
            };
            let progress = |p: &JoinProgress| {
                tracing::info!(step = ?p, "join");
                if let Err(e) = on_update.send(JoinUpdate::Progress { progress: p.clone() }) {
                    tracing::warn!(error = %e, "join progress did not reach the page");
                }
            };
            let result = clusterbar_core::join::join(&client, start, &JoinOptions::default(), &cancel, progress);
            let update = match result {
                Ok((joined, supervisor)) => {
                    if let Ok(mut guard) = slot.lock() {
                        *guard = Some(supervisor);
                    }
                    JoinUpdate::Joined { peers: joined.peers }
                }
                Err(error) => JoinUpdate::Failed {
                    reason: error.to_string(),
                },
            };
            let _ = on_update.send(update);
        })
        .map_err(|e| format!("starting the join: {e}"))?;
    Ok(())
}

#[tauri::command]
fn join_cancel(state: State<'_, AppState>) {
    if let Ok(Some(cancel)) = state.join_cancel.lock().map(|c| c.clone()) {
        cancel.store(true, Ordering::SeqCst);
    }
}

/// Runs `porten login`: the code and URL go to the page as soon as they appear, the URL opens
/// in the browser only if it is on the Hub's host, and the result follows.
#[tauri::command]
fn porten_login(state: State<'_, AppState>, on_event: Channel<LoginEvent>) -> Result<(), String> {
    let settings = state.settings();
    let program = clusterbar_core::supervise::locate(ServiceKind::Porten, &settings)?;
    let options = LoginOptions::new(
        program,
        &settings.porten_hub_url,
        Duration::from_secs(settings.porten_login_timeout_s),
    );
    let cancel = CancelHandle::new();
    *state
        .login_cancel
        .lock()
        .map_err(|_| "login lock poisoned".to_owned())? = Some(cancel.clone());
    std::thread::Builder::new()
        .name("clusterbar-login".into())
        .spawn(move || {
            let outcome = clusterbar_core::porten::login(&options, &cancel, |event| {
                let _ = on_event.send(event.clone());
            });
            tracing::info!(result = ?outcome.result, "porten login finished");
        })
        .map_err(|e| format!("starting porten login: {e}"))?;
    Ok(())
}

#[tauri::command]
fn porten_login_cancel(state: State<'_, AppState>) {
    if let Ok(Some(cancel)) = state.login_cancel.lock().map(|c| c.clone()) {
        cancel.cancel();
    }
}

/// Enrolls this cluster: from now on the agent runs (or is adopted) with the budget and the
/// loaded models, restarted when they change. `enabled = false` stops it.
#[tauri::command]
async fn porten_enroll(state: State<'_, AppState>, enabled: bool) -> Result<(), String> {
    let slot = state.sampler.porten_agent();
    let settings = state.settings();
    let meter = agent_meter_url(&state);
    tauri::async_runtime::spawn_blocking(move || -> Result<(), String> {
        let mut guard = slot.lock().map_err(|_| "agent lock poisoned".to_owned())?;
        if enabled {
            if guard.is_none() {
                let meter = meter.map_err(|e| format!("cannot enroll without the token meter: {e}"))?;
                *guard = Some(AgentController::from_settings(&settings, &meter));
            }
        } else if let Some(mut controller) = guard.take() {
            controller.stop().map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("enrolling: {e}"))??;
    state.sampler.sample_now();
    Ok(())
}

/// A model exo can load, with whether it fits the cluster's usable memory.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LoadableModel {
    pub id: String,
    pub name: Option<String>,
    pub storage_size_bytes: Option<u64>,
    pub fit: Option<FitVerdict>,
}

fn exo_client(state: &AppState) -> ExoClient {
    ExoClient::local(state.settings().exo_api_port)
}

/// The models exo knows that fit the pool (those that do not are left out; those whose size
/// is unknown are listed without a verdict), largest first.
#[tauri::command]
async fn models_loadable(state: State<'_, AppState>) -> Result<Vec<LoadableModel>, String> {
    let client = exo_client(&state);
    let pool = state
        .sampler
        .latest()
        .cluster
        .and_then(|c| c.pool)
        .ok_or("exo's cluster is not available yet")?;
    let cards = tauri::async_runtime::spawn_blocking(move || client.models())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut loadable: Vec<LoadableModel> = cards
        .iter()
        .map(|card| LoadableModel {
            id: card.id.clone(),
            name: card.name.clone(),
            storage_size_bytes: card.storage_size_bytes,
            fit: clusterbar_core::exo::fit_model(card, DEFAULT_CONTEXT_TOKENS, &pool),
        })
        .filter(|m| m.fit.as_ref().is_none_or(|f| f.fits))
        .collect();
    loadable.sort_by(|a, b| b.storage_size_bytes.cmp(&a.storage_size_bytes).then(a.id.cmp(&b.id)));
    Ok(loadable)
}

#[tauri::command]
async fn model_load(state: State<'_, AppState>, id: String) -> Result<String, String> {
    let client = exo_client(&state);
    let accepted = tauri::async_runtime::spawn_blocking(move || client.place_instance(&id, 1))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    state.sampler.sample_now();
    Ok(accepted.message.unwrap_or_else(|| "accepted".to_owned()))
}

#[tauri::command]
async fn model_unload(state: State<'_, AppState>, instance_id: String) -> Result<String, String> {
    let client = exo_client(&state);
    let accepted = tauri::async_runtime::spawn_blocking(move || client.delete_instance(&instance_id))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    state.sampler.sample_now();
    Ok(accepted.message.unwrap_or_else(|| "accepted".to_owned()))
}

/// Clears the "benchmark running" flag however the benchmark ends.
struct BenchSlot<'a>(&'a AtomicBool);

impl Drop for BenchSlot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// "Benchmark before routing": `runs` streamed requests per loaded model (a story and a small
/// JSON object each) through the token meter, as `clusterbar bench` does; progress is pushed
/// before every request.
#[tauri::command]
async fn run_benchmark(
    state: State<'_, AppState>,
    runs: u32,
    on_progress: Channel<BenchProgress>,
) -> Result<BenchReport, String> {
    if !(1..=20).contains(&runs) {
        return Err(format!("runs must be between 1 and 20, not {runs}"));
    }
    let meter_url = meter_url(&state)?;
    if state.bench_running.swap(true, Ordering::SeqCst) {
        return Err("A benchmark is already running.".to_owned());
    }
    let _slot = BenchSlot(&state.bench_running);
    let exo = exo_client(&state);
    let models = tauri::async_runtime::spawn_blocking(move || models_to_bench(&exo))
        .await
        .map_err(|e| e.to_string())??
        .unwrap_or_default();
    let options = BenchOptions {
        url: meter_url,
        models,
        runs,
        ..BenchOptions::default()
    };
    tracing::info!(runs, models = ?options.models, "benchmark started");
    let report = run_bench_observed(&options, |progress| {
        let _ = on_progress.send(progress);
    })
    .await
    .map_err(|e| e.to_string())?;
    tracing::info!(models = report.models.len(), "benchmark finished");
    Ok(report)
}

/// Stops what Clusterbar started (an adopted exo keeps running) before the process exits.
fn stop_children<R: Runtime>(app: &AppHandle<R>) {
    if let Some(state) = app.try_state::<AppState>() {
        let slot = state.sampler.exo_supervisor();
        let taken = slot.lock().ok().and_then(|mut guard| guard.take());
        if let Some(supervisor) = taken {
            supervisor.shutdown();
        }
        let agent = state
            .sampler
            .porten_agent()
            .lock()
            .ok()
            .and_then(|mut guard| guard.take());
        if let Some(mut controller) = agent {
            let _ = controller.stop();
        }
        if let Ok(Some(cancel)) = state.login_cancel.lock().map(|c| c.clone()) {
            cancel.cancel();
        }
        let meter = state
            .meter
            .lock()
            .ok()
            .map(|mut slot| std::mem::replace(&mut *slot, Err("stopped".into())));
        if let Some(Ok(handle)) = meter {
            tauri::async_runtime::block_on(handle.shutdown());
        }
    }
}

#[tauri::command]
fn quit<R: Runtime>(app: AppHandle<R>) {
    app.exit(0);
}

/// The runtime-generic part, shared with the MockRuntime tests.
pub fn build_app<R: Runtime>(builder: tauri::Builder<R>, state: AppState) -> tauri::Builder<R> {
    builder.manage(state).invoke_handler(tauri::generate_handler![
        snapshot,
        subscribe,
        subscribe_throughput,
        settings,
        update_settings,
        hide_popover,
        fit_popover,
        exo_start,
        exo_stop,
        join_preflight,
        models_loadable,
        model_load,
        model_unload,
        run_benchmark,
        join_cluster,
        join_cancel,
        porten_login,
        porten_login_cancel,
        porten_enroll,
        porten_set_api_key,
        porten_api_key_source,
        open_logs,
        quit
    ])
}

fn show<R: Runtime>(app: &AppHandle<R>) {
    use tauri_plugin_positioner::{Position, WindowExt};
    let Some(window) = app.get_webview_window(POPOVER) else {
        return;
    };
    if let Some(state) = app.try_state::<AppState>() {
        if let Ok(mut clock) = state.popover.lock() {
            clock.shown_at = Some(Instant::now());
        }
        state.popover_visible(true);
    }
    let _ = window.show();
    // Under the tray icon when its position is known (macOS, after a tray click), else the
    // top-right corner of the screen, where menu-bar and panel icons live.
    if window
        .as_ref()
        .window()
        .move_window_constrained(Position::TrayBottomCenter)
        .is_err()
    {
        place_top_right(&window);
    }
    let _ = window.set_focus();
}

/// The positioner's own TopRight reads the window's size, which a never-mapped window on
/// Linux reports as zero (placing it off-screen); the configured size is known, so use it.
fn place_top_right<R: Runtime>(window: &tauri::WebviewWindow<R>) {
    let Ok(Some(monitor)) = window.current_monitor().or_else(|_| window.primary_monitor()) else {
        return;
    };
    let scale = monitor.scale_factor();
    let size = window
        .outer_size()
        .ok()
        .filter(|s| s.width > 0)
        .unwrap_or_else(|| tauri::LogicalSize::new(POPOVER_WIDTH, POPOVER_HEIGHT).to_physical::<u32>(scale));
    let margin = (8.0 * scale) as i32;
    let x = monitor.position().x + monitor.size().width as i32 - size.width as i32 - margin;
    let y = monitor.position().y + margin;
    let _ = window.set_position(tauri::PhysicalPosition::new(x.max(monitor.position().x), y));
}

fn hide<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(POPOVER) {
        let _ = window.hide();
    }
    if let Some(state) = app.try_state::<AppState>() {
        state.popover_visible(false);
    }
}

fn toggle<R: Runtime>(app: &AppHandle<R>) {
    let visible = app
        .get_webview_window(POPOVER)
        .and_then(|w| w.is_visible().ok())
        .unwrap_or(false);
    if visible {
        hide(app);
        return;
    }
    // The click that was meant to close the popover already did, through the blur it caused.
    let just_hidden = app
        .try_state::<AppState>()
        .and_then(|s| s.popover.lock().ok().and_then(|c| c.hidden_by_blur_at))
        .is_some_and(|at| at.elapsed() < BLUR_GUARD);
    if !just_hidden {
        show(app);
    }
}

fn on_blur<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.pinned_open {
        return;
    }
    {
        let Ok(mut clock) = state.popover.lock() else {
            return;
        };
        if clock.shown_at.is_some_and(|at| at.elapsed() < BLUR_GUARD) {
            return;
        }
        clock.hidden_by_blur_at = Some(Instant::now());
    }
    hide(app);
}

fn tray_icon(state: TrayState) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match state {
        TrayState::Running => include_bytes!("../../icons/tray/running@2x.png"),
        TrayState::Stopped => include_bytes!("../../icons/tray/stopped@2x.png"),
        TrayState::Degraded => include_bytes!("../../icons/tray/degraded@2x.png"),
    };
    Image::from_bytes(bytes)
}

fn tooltip(snapshot: &Snapshot) -> String {
    format!("Clusterbar — {}", snapshot.state_line())
}

/// Notifications are latched (a warning is raised after two consecutive samples and never
/// repeated while it lasts) and cluster events are sent once each. The popover shows the same
/// state, since many users deny the notification prompt.
fn notify_changes<R: Runtime>(app: &AppHandle<R>, latch: &mut Latch, snapshot: &Snapshot) {
    use tauri_plugin_notification::NotificationExt;
    let changes = latch.observe(&snapshot.warnings);
    let mut notes: Vec<(String, String)> = changes.raised.into_iter().map(|w| (w.message, w.fix)).collect();
    notes.extend(snapshot.events.iter().map(|e| e.describe()));
    for (title, body) in notes {
        tracing::info!(%title, "notification");
        if let Err(e) = app.notification().builder().title(&title).body(&body).show() {
            tracing::warn!(error = %e, "could not show a notification");
        }
    }
    for code in changes.cleared {
        tracing::info!(%code, "condition cleared");
    }
}

/// Settings are the source of truth for "Start at login"; the OS entry follows them.
fn apply_start_at_login<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let result = if enabled { launcher.enable() } else { launcher.disable() };
    result.map_err(|e| {
        format!(
            "could not {} start at login: {e}",
            if enabled { "enable" } else { "disable" }
        )
    })
}

fn setup_tray<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<()> {
    let state = app.state::<AppState>();
    let start_at_login = state.settings().start_at_login;
    if let Ok(enabled_now) = tauri_plugin_autostart::ManagerExt::autolaunch(app.handle()).is_enabled() {
        if enabled_now != start_at_login {
            if let Err(e) = apply_start_at_login(app.handle(), start_at_login) {
                tracing::warn!("{e}");
            }
        }
    }
    let open = MenuItem::with_id(app, "open", "Open Clusterbar", true, None::<&str>)?;
    let login = CheckMenuItem::with_id(
        app,
        "start_at_login",
        "Start at Login",
        true,
        start_at_login,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit Clusterbar", true, Some("CmdOrCtrl+Q"))?;
    let menu = Menu::with_items(app, &[&open, &login, &PredefinedMenuItem::separator(app)?, &quit])?;
    let first = state.sampler.latest();
    let login_item = login.clone();
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(tray_icon(first.tray_state())?)
        .icon_as_template(true)
        .tooltip(tooltip(&first))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "open" => show(app),
            "start_at_login" => {
                let wanted = login_item.is_checked().unwrap_or(false);
                let result = apply_start_at_login(app, wanted).and_then(|()| {
                    app.state::<AppState>()
                        .update_settings(|s| s.start_at_login = wanted)
                        .map(|_| ())
                });
                if let Err(e) = result {
                    tracing::error!("{e}");
                    let _ = login_item.set_checked(!wanted);
                }
            }
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            tauri_plugin_positioner::on_tray_event(tray.app_handle(), &event);
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                toggle(tray.app_handle());
            }
        })
        .build(app)?;
    follow_tokens_in_title(app.handle(), tray.clone());

    // The icon and tooltip follow the snapshot; set only when they change.
    let mut updates = state.sampler.subscribe();
    let app_handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = first.tray_state();
        let mut latch = Latch::default();
        latch.observe(&first.warnings);
        while updates.changed().await.is_ok() {
            let snapshot = updates.borrow_and_update().clone();
            notify_changes(&app_handle, &mut latch, &snapshot);
            let now = snapshot.tray_state();
            if now != shown {
                match tray_icon(now) {
                    Ok(icon) => {
                        let _ = tray.set_icon(Some(icon));
                        let _ = tray.set_icon_as_template(true);
                        shown = now;
                    }
                    Err(e) => tracing::error!(error = %e, "tray icon"),
                }
            }
            let _ = tray.set_tooltip(Some(tooltip(&snapshot)));
        }
    });
    Ok(())
}

pub fn run() {
    let _log_guard = match clusterbar_core::logging::init_app("clusterbar-app") {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("clusterbar: logging to a file is off: {e}");
            None
        }
    };
    let pinned_open = pinned_open_from_env();
    let state = match AppState::start(SettingsStore::platform(), pinned_open) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("clusterbar: could not start the sampler: {e}");
            std::process::exit(1);
        }
    };
    let builder = tauri::Builder::default()
        // First, so a second launch only opens the running copy's popover.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| show(app)))
        .plugin(tauri_plugin_positioner::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ));
    let app = build_app(builder, state)
        .setup(move |app| {
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            start_meter(&app.state::<AppState>());
            setup_tray(app)?;
            if pinned_open {
                show(app.handle());
            }
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "Clusterbar started");
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::Focused(false) => on_blur(window.app_handle()),
            WindowEvent::CloseRequested { api, .. } => {
                // Closing the popover hides it; the app lives in the menu bar until Quit.
                api.prevent_close();
                hide(window.app_handle());
            }
            _ => {}
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("clusterbar: could not start the app: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        if let tauri::RunEvent::Exit = event {
            // Quitting stops everything the app started: no child process is left behind.
            tracing::info!("Clusterbar quitting");
            stop_children(app);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    fn invoke<T: serde::de::DeserializeOwned>(
        webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
        cmd: &str,
    ) -> Result<T, serde_json::Value> {
        get_ipc_response(
            webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("static url"),
                body: InvokeBody::Json(serde_json::json!({})),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<T>().expect("response shape"))
    }

    fn app_with(
        dir: &std::path::Path,
    ) -> (
        tauri::App<tauri::test::MockRuntime>,
        tauri::WebviewWindow<tauri::test::MockRuntime>,
    ) {
        let state = AppState::start(SettingsStore::new(dir), false).unwrap();
        let app = build_app(mock_builder(), state)
            .build(mock_context(noop_assets()))
            .unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, POPOVER, Default::default())
            .build()
            .unwrap();
        (app, webview)
    }

    #[test]
    fn snapshot_command_returns_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let (_app, webview) = app_with(dir.path());
        let snapshot: Snapshot = invoke(&webview, "snapshot").unwrap();
        assert_eq!(snapshot.schema, clusterbar_core::SNAPSHOT_SCHEMA);
        assert!(!snapshot.this_node.host.name.is_empty());
        #[cfg(target_os = "linux")]
        {
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
            let expected = clusterbar_core::probes::memory::parse_meminfo(&meminfo)
                .unwrap()
                .total_bytes;
            assert_eq!(snapshot.this_node.memory.unwrap().total_bytes, expected);
        }
    }

    #[test]
    fn corrupt_settings_are_reported_through_the_settings_command_and_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("settings.json"), "{ not json").unwrap();
        let (_app, webview) = app_with(dir.path());
        let view: SettingsView = invoke(&webview, "settings").unwrap();
        assert!(view.problem.as_deref().unwrap_or("").contains("settings.json.bad"));
        assert_eq!(view.settings, Settings::default());
        let snapshot: Snapshot = invoke(&webview, "snapshot").unwrap();
        assert!(snapshot.warnings.iter().any(|w| w.code == "settings_reset"));
    }

    #[test]
    fn unknown_commands_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_app, webview) = app_with(dir.path());
        assert!(invoke::<serde_json::Value>(&webview, "plugin:shell|execute").is_err());
        assert!(invoke::<serde_json::Value>(&webview, "no_such_command").is_err());
    }
}
