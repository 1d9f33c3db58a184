//! The one picture of the world that every reader feeds and every view renders.
//!
//! The JSON form (`clusterbar status --json`) is a public interface for scripts: field names
//! are snake_case, byte sizes end in `_bytes`, and the top-level `schema` number changes only
//! when a field is removed or changes meaning. Adding a field is not a schema change.

pub use clusterbar_model::snapshot::{Services, Snapshot, ThisNode, TrayState, SNAPSHOT_SCHEMA};
use std::time::{Duration, Instant};

pub use crate::clock::now_unix_ms;
use crate::exo::pool::{Pool, PoolConfig};
use crate::exo::watcher::{Watcher, ELECTION_DEBOUNCE};
use crate::exo::{ClusterView, ExoClient};
use crate::probes::hardware::HardwareReader;
use crate::runtime::RuntimeReport;

use crate::settings::Settings;
use crate::supervise::ServiceState;
use crate::warnings::Warning;
use clusterbar_model::warning::add_warning;

/// How often the slow parts of a sample run at most: exo's exposure check probes this
/// machine's own addresses, which is not worth doing every second.
const EXPOSURE_CHECK_EVERY: Duration = Duration::from_secs(60);

/// Long-lived reader state kept between samples (process table, hardware readers, exo client
/// and the cluster watcher), so each sample costs only what changed.
pub struct Collector {
    processes: crate::supervise::ProcessTable,
    hardware: HardwareReader,
    exo: Option<(String, ExoClient)>,
    /// An explicit exo URL (`--exo-url`): always asked, whatever the process table says.
    exo_url_override: Option<String>,
    watcher: Watcher,
    exposure: Option<(Instant, Option<Warning>)>,
    /// Porten's desktop app's agent, looked for every 30 s.
    porten_app: crate::porten::app::AppWatch,
    /// Energy per token from the history database, read every minute.
    energy: crate::history::EnergyReader,
    /// Ollama's boxes, with the previous sample's loaded models (evictions) and cached slow parts.
    ollama: crate::ollama::Reader,
    /// The history recorder's health, where this process records (a failing write is a warning).
    history: Option<crate::history::RecorderHealth>,
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            processes: Default::default(),
            hardware: HardwareReader::new(),
            exo: None,
            exo_url_override: None,
            watcher: Watcher::new(ELECTION_DEBOUNCE),
            exposure: None,
            porten_app: Default::default(),
            energy: Default::default(),
            ollama: Default::default(),
            history: None,
        }
    }
}

impl Collector {
    /// Ask exo at this URL instead of `http://127.0.0.1:<exo_api_port>`.
    pub fn with_exo_url(url: &str) -> Result<Self, crate::exo::ExoError> {
        let client = ExoClient::new(url)?;
        Ok(Self {
            exo: Some((url.to_owned(), client)),
            exo_url_override: Some(url.to_owned()),
            ..Self::default()
        })
    }

    /// Says in each sample when the history this process records is not being written.
    pub fn with_history_health(mut self, health: crate::history::RecorderHealth) -> Self {
        self.history = Some(health);
        self
    }

    /// Takes one full sample of this machine. Never fails: a reader that fails leaves its
    /// part empty and adds a warning saying why, so one broken source never hides the others.
    /// `runtime`: what the head node's runtime last reported (the supervised exo, the agent,
    /// the Hub's check), folded in as read; collection itself never acts.
    pub fn collect(
        &mut self,
        settings: &Settings,
        extra_warnings: &[Warning],
        runtime: Option<&RuntimeReport>,
    ) -> Snapshot {
        let raw = self.hardware.sample();
        self.collect_from(raw, settings, extra_warnings, runtime)
    }

    /// One sample that waits (up to `max_wait`) for the power readers' first figures, with the
    /// raw outputs it was built from: a report bundle saves exactly what its snapshot shows.
    pub fn collect_settled(
        &mut self,
        settings: &Settings,
        max_wait: Duration,
    ) -> (Snapshot, crate::probes::hardware::RawSources) {
        let raw = self.hardware.sample_settled(max_wait);
        let snapshot = self.collect_from(raw.clone(), settings, &[], None);
        (snapshot, raw)
    }

    fn collect_from(
        &mut self,
        raw: crate::probes::hardware::RawSources,
        settings: &Settings,
        extra_warnings: &[Warning],
        runtime: Option<&RuntimeReport>,
    ) -> Snapshot {
        let mut warnings: Vec<Warning> = extra_warnings.to_vec();
        if let Some(problem) = self.history.as_ref().and_then(crate::history::RecorderHealth::problem) {
            warnings.push(Warning::history_not_written(&problem));
        }
        let host = crate::probes::host::read();
        let memory = match crate::probes::memory::read() {
            Ok(memory) => Some(memory),
            Err(err) => {
                tracing::warn!(error = %err, "memory probe failed");
                warnings.push(Warning::probe_failed("memory", &err.to_string()));
                None
            }
        };
        let hardware = crate::probes::hardware::parse(&raw);
        let interfaces = ollama_interfaces(&raw, &hardware);
        warnings.extend(crate::probes::hardware::this_mac_warnings(&hardware, memory.as_ref()));
        self.processes.refresh();
        let mut services = crate::supervise::discover_services(settings, &self.processes);
        let porten_app = self
            .porten_app
            .find(&crate::porten::app::AppRules::from_settings(settings), Instant::now());
        if let Some(app) = &porten_app {
            let porten = &mut services.porten;
            if !porten.pids.contains(&app.pid) {
                porten.pids.push(app.pid);
            }
            porten.state = ServiceState::Running;
            porten.detail = Some(format!("run by Porten's app ({})", app.detail));
        }
        if let Some(status) = runtime.and_then(|r| r.exo.clone()) {
            services.exo.apply_supervised(status);
        }
        for warning in runtime.map(RuntimeReport::warnings).unwrap_or_default() {
            add_warning(&mut warnings, warning);
        }
        // exo is always asked (a refused loopback connection costs well under a millisecond), so
        // an exo we did not recognise in the process table (`python -m exo`) is still seen.
        // Not answering is a warning only when exo should be there.
        let exo_expected = self.exo_url_override.is_some() || services.exo.state == ServiceState::Running;
        let gpu_ceiling = hardware.gpu_wired_limit_bytes;
        let mut snapshot = Snapshot {
            schema: SNAPSHOT_SCHEMA,
            taken_at_unix_ms: now_unix_ms(),
            state: TrayState::derive(&services, None, &warnings),
            this_node: ThisNode { host, memory, hardware },
            services,
            warnings,
            cluster: None,
            events: Vec::new(),
            porten_agent: runtime.and_then(|r| r.porten_agent.clone()),
            porten_hub: runtime.and_then(|r| r.porten_hub.clone()),
            porten_app,
            porten_tokens: None,
            energy: self.energy.read(now_unix_ms() / 1000, settings.tariff().as_ref()),
            ollama: None,
        };
        {
            // This Mac's measured ceiling belongs to the node exo calls "this" only when that exo
            // runs here: a remote exo's "this" is another box.
            let local_exo = self.exo_url_override.as_deref().is_none_or(is_loopback_url);
            let config = PoolConfig {
                this_box_gpu_ceiling_bytes: gpu_ceiling.filter(|_| local_exo),
                ..PoolConfig::default()
            };
            let now = snapshot.taken_at_unix_ms;
            match self.read_cluster(settings, now) {
                Ok(view) => {
                    let observation = self.watcher.observe(view, now);
                    let mut view = observation.view;
                    view.pool = Some(Pool::from_view(&view, &config));
                    snapshot.events = observation.events;
                    // An exo that answers is running, even when the process table did not
                    // recognise it (another user's, a container, an unusual launcher).
                    if snapshot.services.exo.state != ServiceState::Running {
                        snapshot.services.exo.state = ServiceState::Running;
                        let note = "answering its API, though not found among this user's processes";
                        snapshot.services.exo.detail = Some(note.to_owned());
                    }
                    crate::exo::attach_cluster(&mut snapshot, Ok(view));
                }
                Err(error) if exo_expected => crate::exo::attach_cluster(&mut snapshot, Err(error)),
                Err(error) => tracing::debug!(%error, "exo is not running"),
            }
        }
        // Ollama's boxes (read in parallel, short timeouts): shown beside exo, never instead.
        if let Some(view) = self.ollama.read(settings, &interfaces, snapshot.taken_at_unix_ms) {
            for warning in view.warnings(settings.ollama_cold_load_s) {
                add_warning(&mut snapshot.warnings, warning);
            }
            snapshot.ollama = Some(view);
        }
        // Now that Ollama is read: a cluster running only Ollama is running, not stopped.
        snapshot.derive_state();
        snapshot
    }

    /// exo's view plus the exposure warning (checked at most every minute).
    fn read_cluster(&mut self, settings: &Settings, now: u64) -> Result<ClusterView, crate::exo::ExoError> {
        let local_url = format!("http://127.0.0.1:{}", settings.exo_api_port);
        let url = self.exo_url_override.clone().unwrap_or(local_url);
        let client = match &self.exo {
            Some((known, client)) if *known == url => client,
            _ => {
                let client = ExoClient::new(&url)?;
                &self.exo.insert((url, client)).1
            }
        };
        let mut view = client.cluster_view(now)?;
        let due = self
            .exposure
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= EXPOSURE_CHECK_EVERY);
        if due {
            let warning = crate::exo::check_exposure(client, &crate::exo::local_addresses());
            self.exposure = Some((Instant::now(), warning));
        }
        if let Some((_, Some(warning))) = &self.exposure {
            view.warnings.push(warning.clone());
        }
        Ok(view)
    }
}

/// The interfaces the hardware probes tied to Thunderbolt (ports, the bridge and its members)
/// and macOS's hardware port names, for the route to each Ollama box.
fn ollama_interfaces(
    raw: &crate::probes::hardware::RawSources,
    hardware: &crate::probes::hardware::HardwareReport,
) -> crate::ollama::Interfaces {
    let mut thunderbolt: Vec<String> = hardware
        .thunderbolt
        .iter()
        .filter_map(|port| port.interface.clone())
        .chain(hardware.bridge.members.iter().cloned())
        .collect();
    thunderbolt.sort();
    thunderbolt.dedup();
    let hardware_ports = raw
        .text(crate::probes::hardware::source::NETWORKSETUP_HARDWARE_PORTS)
        .map(|text| crate::probes::thunderbolt::parse_hardware_ports(&text))
        .unwrap_or_default();
    crate::ollama::Interfaces {
        thunderbolt,
        hardware_ports,
    }
}

/// Whether an exo URL points at this machine (loopback), whatever its port.
pub fn is_loopback_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| crate::settings::hub::is_loopback(&u))
}

/// One sample, for one-shot callers such as `clusterbar status`.
pub fn collect_snapshot(settings: &Settings, extra_warnings: &[Warning]) -> Snapshot {
    Collector::default().collect(settings, extra_warnings, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exo_on_this_machine_gets_its_gpu_ceiling() {
        assert!(is_loopback_url("http://127.0.0.1:52415"));
        assert!(is_loopback_url("http://localhost:8000/"));
        assert!(is_loopback_url("http://[::1]:52415"));
        assert!(!is_loopback_url("http://studio.local:52415"));
        assert!(!is_loopback_url("http://192.168.99.2:52415"));
        assert!(!is_loopback_url("not a url"));
    }
}
