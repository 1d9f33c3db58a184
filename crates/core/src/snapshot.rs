//! The one picture of the world that every reader feeds and every view renders.
//!
//! The JSON form (`clusterbar status --json`) is a public interface for scripts: field names
//! are snake_case, byte sizes end in `_bytes`, and the top-level `schema` number changes only
//! when a field is removed or changes meaning. Adding a field is not a schema change.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::probes::host::HostInfo;
use crate::probes::memory::MemoryInfo;
use crate::settings::Settings;
use crate::supervise::{ServiceState, ServiceStatus};
use crate::warnings::Warning;

/// Bumped only for incompatible changes of the JSON shape.
pub const SNAPSHOT_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema: u32,
    /// When the sample was taken, milliseconds since the Unix epoch.
    pub taken_at_unix_ms: u64,
    /// The one-word summary the tray icon and the popover header show.
    pub state: TrayState,
    pub this_node: ThisNode,
    pub services: Services,
    /// Every condition that is true now and needs the user's attention.
    pub warnings: Vec<Warning>,
    /// The cluster as exo sees it; `None` when exo was not asked or did not answer (then a
    /// warning `exo_unreachable` says why). Filled by `crate::exo::attach_cluster`.
    #[serde(default)]
    pub cluster: Option<crate::exo::ClusterView>,
}

/// What the tray icon shows: exo not running, running, or running with something wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrayState {
    Stopped,
    Running,
    Degraded,
}

impl TrayState {
    pub fn derive(services: &Services, warnings: &[Warning]) -> Self {
        if services.exo.state != ServiceState::Running {
            TrayState::Stopped
        } else if warnings.is_empty() {
            TrayState::Running
        } else {
            TrayState::Degraded
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThisNode {
    #[serde(flatten)]
    pub host: HostInfo,
    /// `None` when the memory reader failed; the reason is in `warnings`.
    pub memory: Option<MemoryInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Services {
    pub exo: ServiceStatus,
    pub porten: ServiceStatus,
}

/// Long-lived reader state kept between samples (the process table), so each sample costs
/// only what changed.
#[derive(Default)]
pub struct Collector {
    processes: crate::supervise::ProcessTable,
}

impl Collector {
    /// Takes one full sample of this machine. Never fails: a reader that fails leaves its
    /// part empty and adds a warning saying why, so one broken source never hides the others.
    pub fn collect(&mut self, settings: &Settings, extra_warnings: &[Warning]) -> Snapshot {
        let mut warnings: Vec<Warning> = extra_warnings.to_vec();
        let host = crate::probes::host::read();
        let memory = match crate::probes::memory::read() {
            Ok(memory) => Some(memory),
            Err(err) => {
                tracing::warn!(error = %err, "memory probe failed");
                warnings.push(Warning::probe_failed("memory", &err.to_string()));
                None
            }
        };
        self.processes.refresh();
        let services = crate::supervise::discover_services(settings, &self.processes);
        Snapshot {
            schema: SNAPSHOT_SCHEMA,
            taken_at_unix_ms: now_unix_ms(),
            state: TrayState::derive(&services, &warnings),
            this_node: ThisNode { host, memory },
            services,
            warnings,
            cluster: None,
        }
    }
}

impl Snapshot {
    pub fn tray_state(&self) -> TrayState {
        self.state
    }

    /// One line for the tray tooltip: "exo running · 1 warning".
    pub fn state_line(&self) -> String {
        let exo = match self.services.exo.state {
            ServiceState::Running => "exo running",
            ServiceState::Stopped => "exo stopped",
            ServiceState::NotInstalled => "exo not installed",
        };
        match self.warnings.len() {
            0 => exo.to_owned(),
            1 => format!("{exo} · 1 warning"),
            n => format!("{exo} · {n} warnings"),
        }
    }
}

/// One sample, for one-shot callers such as `clusterbar status`.
pub fn collect_snapshot(settings: &Settings, extra_warnings: &[Warning]) -> Snapshot {
    Collector::default().collect(settings, extra_warnings)
}

pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
