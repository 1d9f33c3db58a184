//! The one picture of the world that every reader feeds and every view renders.
//!
//! The JSON form (`clusterbar status --json`) is a public interface for scripts: field names
//! are snake_case, byte sizes end in `_bytes`, and the top-level `schema` number changes only
//! when a field is removed or changes meaning. Adding a field is not a schema change.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::host::{HostInfo, MemoryInfo};
use crate::service::{ServiceState, ServiceStatus};
use crate::warning::Warning;

/// Bumped only for incompatible changes of the JSON shape.
pub const SNAPSHOT_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
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
    pub cluster: Option<crate::cluster::ClusterView>,
    /// What changed in the cluster since the previous sample (a box joined or left, a link got
    /// slower, a model became ready or failed); the app turns these into notifications.
    #[serde(default)]
    pub events: Vec<crate::cluster::ClusterEvent>,
    /// The Porten agent as Clusterbar runs it for this cluster (after "Enroll"): logged in or
    /// not, state, the environment it advertises and the budget breakdown. `None` = not enrolled.
    #[serde(default)]
    pub porten_agent: Option<crate::porten::AgentStatus>,
    /// The loaded models against the Porten Hub (catalog with the API key, warming) while
    /// enrolled: where the key came from (never the key), what is offered, each model's warming.
    #[serde(default)]
    pub porten_hub: Option<crate::porten::HubCheck>,
    /// The agent Porten's own desktop app runs on this Mac, when it runs (adopted, never doubled).
    #[serde(default)]
    pub porten_app: Option<crate::porten::PortenApp>,
    /// Tokens served to the Porten agent through the meter, today and in total (what the Hub
    /// pays for). Filled by `clusterbar status` from the running meter or its ledger; the
    /// app's popover reads the same figures from the meter's feed.
    #[serde(default)]
    pub porten_tokens: Option<crate::porten::PortenTokens>,
    /// Energy per token now, today and this week, from the history database (watts recorded
    /// against tokens served). `None` when nothing is recorded yet or the database is unreadable.
    #[serde(default)]
    pub energy: Option<crate::history::EnergyFigures>,
    /// Ollama as a second engine: this Mac's daemon when it answers and the boxes named in the
    /// settings (`ollama_boxes`). `None` when there is none of either. Optional in TypeScript
    /// too, so pages and fixtures written before it still type-check.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub ollama: Option<crate::ollama::OllamaView>,
}

/// What the tray icon shows: no engine running, running, or running with something wrong. The
/// engines are exo and Ollama: a cluster of Macs that runs only Ollama is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum TrayState {
    Stopped,
    Running,
    Degraded,
}

impl TrayState {
    /// Running when exo runs or an Ollama box (this Mac's or a configured one) answers; Degraded
    /// when, besides, there is a warning; Stopped otherwise (a configured Ollama box that does not
    /// answer is a warning, not a running engine).
    pub fn derive(services: &Services, ollama: Option<&crate::ollama::OllamaView>, warnings: &[Warning]) -> Self {
        let ollama_answers = ollama.is_some_and(|view| view.boxes.iter().any(|b| b.reachable));
        if services.exo.state != ServiceState::Running && !ollama_answers {
            TrayState::Stopped
        } else if warnings.is_empty() {
            TrayState::Running
        } else {
            TrayState::Degraded
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ThisNode {
    #[serde(flatten)]
    pub host: HostInfo,
    /// `None` when the memory reader failed; the reason is in `warnings`.
    pub memory: Option<MemoryInfo>,
    /// Thunderbolt ports (`thunderbolt[]`), `rdma`, `bridge`, `power_watts`, GPU use and
    /// temperature, the GPU wired-memory ceiling, and `source_errors`.
    #[serde(flatten)]
    pub hardware: crate::host::HardwareReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Services {
    pub exo: ServiceStatus,
    pub porten: ServiceStatus,
}

impl Snapshot {
    pub fn tray_state(&self) -> TrayState {
        self.state
    }

    /// Sets `state` from the services, the Ollama boxes and the warnings ([`TrayState::derive`]):
    /// after anything that changes one of them.
    pub fn derive_state(&mut self) {
        self.state = TrayState::derive(&self.services, self.ollama.as_ref(), &self.warnings);
    }

    /// One line for the tray tooltip: "exo running · 1 warning", "exo stopped · Ollama on 2 boxes".
    pub fn state_line(&self) -> String {
        let exo = match self.services.exo.state {
            ServiceState::Running => "exo running",
            ServiceState::Stopped => "exo stopped",
            ServiceState::NotInstalled => "exo not installed",
        };
        let answering = self
            .ollama
            .as_ref()
            .map_or(0, |view| view.boxes.iter().filter(|b| b.reachable).count());
        let engines = match answering {
            0 => exo.to_owned(),
            1 => format!("{exo} · Ollama on 1 box"),
            n => format!("{exo} · Ollama on {n} boxes"),
        };
        match self.warnings.len() {
            0 => engines,
            1 => format!("{engines} · 1 warning"),
            n => format!("{engines} · {n} warnings"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ollama::{OllamaBox, OllamaView};

    fn services(exo: ServiceState) -> Services {
        let service = |state| ServiceStatus {
            state,
            executable: None,
            pids: Vec::new(),
            child_processes: 0,
            version: None,
            detail: None,
            supervised: None,
        };
        Services {
            exo: service(exo),
            porten: service(ServiceState::NotInstalled),
        }
    }

    fn ollama(reachable: &[bool]) -> OllamaView {
        OllamaView {
            boxes: reachable
                .iter()
                .enumerate()
                .map(|(i, &reachable)| OllamaBox {
                    address: format!("192.168.99.{}:11434", i + 1),
                    name: format!("192.168.99.{}", i + 1),
                    is_local: i == 0,
                    reachable,
                    error: (!reachable).then(|| "not answering".into()),
                    version: None,
                    loaded: Vec::new(),
                    installed: Vec::new(),
                    env: None,
                    route: None,
                    evictions: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn exo_or_an_ollama_box_that_answers_is_running() {
        let warning = [Warning::rdma_disabled()];
        let stopped = services(ServiceState::Stopped);
        let running = services(ServiceState::Running);
        let cases: [(&Services, Option<OllamaView>, &[Warning], TrayState); 9] = [
            (&stopped, None, &[], TrayState::Stopped),
            (&stopped, None, &warning, TrayState::Stopped),
            (&running, None, &[], TrayState::Running),
            (&running, None, &warning, TrayState::Degraded),
            // Ollama only: one box answering is enough.
            (&stopped, Some(ollama(&[true])), &[], TrayState::Running),
            (&stopped, Some(ollama(&[false, true])), &warning, TrayState::Degraded),
            (
                &services(ServiceState::NotInstalled),
                Some(ollama(&[true])),
                &[],
                TrayState::Running,
            ),
            // Configured boxes that do not answer are not an engine running.
            (&stopped, Some(ollama(&[false, false])), &warning, TrayState::Stopped),
            (&stopped, Some(OllamaView::default()), &[], TrayState::Stopped),
        ];
        for (services, view, warnings, expected) in cases {
            assert_eq!(
                TrayState::derive(services, view.as_ref(), warnings),
                expected,
                "{:?} {view:?} {warnings:?}",
                services.exo.state
            );
        }
    }
}
