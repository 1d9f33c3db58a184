//! What the app holds while it runs: settings, the sampler, the meter, and the handles the
//! commands and the popover share.

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clusterbar_core::exo::ExoClient;
use clusterbar_core::history::{self, RecorderHandle};
use clusterbar_core::porten::CancelHandle;
use clusterbar_core::runtime::HeadNode;
use clusterbar_core::sampler::Sampler;
use clusterbar_core::settings::{Settings, SettingsError, SettingsStore};
use clusterbar_core::snapshot::Collector;
use clusterbar_meter::{Meter, MeterHandle, MeterOptions};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime};

use crate::error::{CommandError, ErrorCode};

pub struct AppState {
    /// The settings every long-lived part follows (sampler, runtime, tray title).
    pub(crate) settings: tokio::sync::watch::Sender<Settings>,
    /// What the app does as the head node: exo, the Porten agent, the Hub checks.
    pub(crate) head: Arc<HeadNode>,
    store: SettingsStore,
    settings_problem: Option<String>,
    pub(crate) sampler: Sampler,
    pub(crate) pinned_open: bool,
    pub(crate) popover: Mutex<PopoverClock>,
    pub(crate) subscription: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    pub(crate) throughput_subscription: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    /// The token meter in front of exo, or why it is not running.
    pub(crate) meter: Mutex<Result<MeterHandle, String>>,
    /// Cancels the running `porten login` or join, if any.
    pub(crate) login_cancel: Mutex<Option<CancelHandle>>,
    pub(crate) join_cancel: Mutex<Option<Arc<AtomicBool>>>,
    pub(crate) page_loads: AtomicU32,
    /// A benchmark is running (one at a time: two would measure each other).
    pub(crate) bench_running: AtomicBool,
    /// Where the history is recorded (and the charts read it).
    pub(crate) history_path: std::path::PathBuf,
    /// The recorder's thread (`None`: no history this run, said by a `history_unavailable`
    /// warning); closed last at quit so the last batch is written.
    pub(crate) recorder: Mutex<Option<RecorderHandle>>,
    pub(crate) recording: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    /// Whether the popover is on screen: snapshots go to the page only then (a hidden page has
    /// nothing to paint), and the latest goes at once when it opens.
    pub(crate) popover_shown: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
pub(crate) struct PopoverClock {
    pub(crate) shown_at: Option<Instant>,
    pub(crate) hidden_by_blur_at: Option<Instant>,
    /// Set by a show that made the popover visible, taken at the page's first paint after it.
    pub(crate) opening: Option<Instant>,
}

/// What the page needs to render the Settings panel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsView {
    pub settings: Settings,
    pub path: String,
    /// Set when the settings file was unreadable and defaults are in use.
    pub problem: Option<String>,
}

impl AppState {
    /// Loads settings (a corrupt file is set aside and reported) and starts the sampler.
    pub fn start(store: SettingsStore, pinned_open: bool) -> std::io::Result<Self> {
        let loaded = store.load();
        let mut standing = loaded.standing_warnings();
        // Opened before the sampler, so a file set aside is a standing warning from the first sample.
        let history_path = store.path().with_file_name(history::FILE_NAME);
        // `CLUSTERBAR_HISTORY=off`: no recording (a switch for scripts/bench-idle.sh, which
        // measures the app's idle cost with and without it).
        let recording = std::env::var("CLUSTERBAR_HISTORY").map_or(true, |v| v != "off");
        let recorder = match recording.then(|| history::spawn_recorder(&history_path)) {
            None => None,
            Some(Ok((handle, problem))) => {
                if let Some(problem) = problem {
                    standing.push(clusterbar_core::warnings::Warning::history_unavailable(
                        &problem.message,
                        true,
                    ));
                }
                Some(handle)
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "no history this run");
                standing.push(clusterbar_core::warnings::Warning::history_unavailable(
                    &format!("No history is recorded this run: {error}"),
                    false,
                ));
                None
            }
        };
        let settings = tokio::sync::watch::Sender::new(loaded.settings);
        let head = HeadNode::new(settings.subscribe());
        let collector = match &recorder {
            Some(recorder) => Collector::default().with_history_health(recorder.health()),
            None => Collector::default(),
        };
        let sampler = Sampler::start_with(collector, settings.subscribe(), standing, Some(head.clone()))?;
        Ok(Self {
            settings,
            head,
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
            page_loads: AtomicU32::new(0),
            bench_running: AtomicBool::new(false),
            popover_shown: tokio::sync::watch::Sender::new(false),
            history_path,
            recorder: Mutex::new(recorder),
            recording: Mutex::new(None),
        })
    }

    /// Records each new sample with the meter's figures (the recorder keeps one per 10 s step):
    /// no timer of its own, it wakes when the sampler publishes.
    pub(crate) fn start_recording(&self) {
        let meter = match self.meter.lock() {
            Ok(meter) => meter
                .as_ref()
                .ok()
                .map(|handle| (handle.subscribe(), handle.stats_hub())),
            Err(_) => None,
        };
        let Some(recorder) = self
            .recorder
            .lock()
            .ok()
            .and_then(|r| r.as_ref().and_then(RecorderHandle::sender))
        else {
            return;
        };
        let mut updates = self.sampler.subscribe();
        let task = tauri::async_runtime::spawn(async move {
            while updates.changed().await.is_ok() {
                let snapshot = updates.borrow_and_update().clone();
                let stats = meter.as_ref().map(|(m, _)| m.borrow().clone());
                // The energy figures on the meter's metrics page too.
                if let (Some((_, hub)), Some(energy)) = (meter.as_ref(), snapshot.energy.as_ref()) {
                    hub.set_external_gauges(history::energy::prometheus_gauges(energy));
                }
                let at = snapshot.taken_at_unix_ms / 1000;
                recorder.send(history::sample_from(Some(&snapshot), stats.as_deref(), at));
            }
        });
        if let Ok(mut slot) = self.recording.lock() {
            *slot = Some(task);
        }
    }

    /// What an open popover needs kept fresh: the sampler's fast cadence and a meter feed that
    /// moves even while idle (both sleep again when it closes).
    pub(crate) fn popover_visible(&self, visible: bool) {
        self.popover_shown.send_replace(visible);
        self.sampler.set_visible(visible);
        if let Ok(meter) = self.meter.lock() {
            if let Ok(handle) = meter.as_ref() {
                handle.set_watched(visible);
            }
        }
    }

    pub(crate) fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    pub(crate) fn settings_view(&self) -> SettingsView {
        SettingsView {
            settings: self.settings(),
            path: self.store.path().display().to_string(),
            problem: self.settings_problem.clone(),
        }
    }

    pub(crate) fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, SettingsError> {
        let mut next = self.settings();
        change(&mut next);
        self.store.save(&next)?;
        let previous = self.settings.send_replace(next.clone());
        // The meter forwards to exo's port: a new port applies to the next request, as the
        // Settings panel says, not at the next launch.
        if previous.exo_api_port != next.exo_api_port {
            if let Ok(Ok(meter)) = self.meter.lock().as_deref() {
                let upstream = format!("http://127.0.0.1:{}", next.exo_api_port);
                if let Err(error) = meter.set_upstream(&upstream) {
                    tracing::warn!(%error, "the meter keeps its upstream");
                }
            }
        }
        self.sampler.sample_now();
        Ok(next)
    }

    pub(crate) fn exo_client(&self) -> ExoClient {
        ExoClient::local(self.settings().exo_api_port)
    }

    /// The meter's main listener, where local clients send requests.
    pub(crate) fn meter_url(&self) -> Result<String, CommandError> {
        let meter = self.meter.lock().map_err(|_| CommandError::poisoned("meter"))?;
        meter
            .as_ref()
            .map(|h| format!("http://{}", h.local_addr()))
            .map_err(|why| CommandError::new(ErrorCode::MeterUnavailable, why))
    }

    /// The meter's listener for the Porten agent alone.
    pub(crate) fn agent_meter_url(&self) -> Result<String, CommandError> {
        let meter = self.meter.lock().map_err(|_| CommandError::poisoned("meter"))?;
        let handle = meter
            .as_ref()
            .map_err(|why| CommandError::new(ErrorCode::MeterUnavailable, why))?;
        let (url, shared) = handle.client_url(clusterbar_core::porten::tokens::PORTEN_CLIENT);
        if let Some(why) = shared {
            tracing::warn!(%why, "the Porten agent shares the meter's port: its tokens are not counted apart");
        }
        Ok(url)
    }

    /// Starts the token meter on its loopback port with exo as upstream.
    pub(crate) fn start_meter(&self) {
        let settings = self.settings();
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
            // More listeners with upstreams of their own (settings' meter_routes, issue #14); a
            // route that does not hold together is left out and logged, the meter runs on.
            routes: {
                let reserved = settings.reserved_ports();
                let (routes, problems) =
                    clusterbar_core::settings::meter_routes::extra_routes(&settings, &[], &reserved);
                for problem in problems {
                    tracing::warn!(%problem, "a meter route is not started");
                }
                routes
            },
            ..MeterOptions::default()
        };
        let started = tauri::async_runtime::block_on(Meter::start(listen, &upstream, options))
            .map_err(|e| format!("the token meter is not running: {e}"));
        if let Err(reason) = &started {
            tracing::error!("{reason}");
        }
        if let Ok(mut slot) = self.meter.lock() {
            *slot = started;
        }
    }
}

/// Stops what Clusterbar started (an adopted exo keeps running) before the process exits.
pub(crate) fn stop_children<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    // The agent first (it talks to exo through the meter), then the meter, then exo.
    if let Err(error) = state.head.unenroll() {
        tracing::warn!(%error, "stopping the Porten agent");
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
    for problem in state.head.shutdown() {
        tracing::warn!(%problem, "stopping what Clusterbar started");
    }
    // Last: the final batch of history is written before the process exits.
    let task = state.recording.lock().ok().and_then(|mut t| t.take());
    if let Some(task) = task {
        task.abort();
    }
    let recorder = state.recorder.lock().ok().and_then(|mut r| r.take());
    if let Some(recorder) = recorder {
        recorder.close();
    }
}
