//! exo and the Porten agent as programs on this Mac: installed, running, supervised.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    NotInstalled,
    Stopped,
    Running,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// The executable that would be (or is being) run.
    pub executable: Option<PathBuf>,
    /// Process ids of running copies — the main process of each, never its threads or the
    /// workers it spawned (more than one means something else started a second copy).
    pub pids: Vec<u32>,
    /// Processes the running copies started themselves (exo's model runners), counted.
    #[serde(default)]
    pub child_processes: u32,
    /// The installed version, when it can be read (exo: EXO.app's Info.plist, or the Python
    /// package beside the `exo` script). exo's default namespace is its version: boxes on
    /// different versions never see each other.
    #[serde(default)]
    pub version: Option<String>,
    /// Why the state is what it is, when that is not obvious (e.g. a configured path is missing).
    pub detail: Option<String>,
    /// Set when Clusterbar supervises (or has adopted) this program: restarts, uptime, why it
    /// gave up, where its log is.
    #[serde(default)]
    pub supervised: Option<SupervisedStatus>,
}

impl ServiceStatus {
    /// Folds in what the supervisor knows: its view of running beats the process table's
    /// (a program it is restarting is not "stopped" from the user's point of view).
    pub fn apply_supervised(&mut self, status: SupervisedStatus) {
        if let Some(pid) = status.pid {
            if !self.pids.contains(&pid) {
                self.pids.push(pid);
            }
        }
        if matches!(
            status.state,
            SupervisedState::Running | SupervisedState::Adopted | SupervisedState::Starting
        ) {
            self.state = ServiceState::Running;
        }
        self.supervised = Some(status);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SupervisedState {
    Starting,
    Running,
    BackingOff,
    GaveUp,
    Stopping,
    Stopped,
    /// Someone else started it; we watch it but never start a second.
    Adopted,
}

/// What the Snapshot shows about a supervised program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SupervisedStatus {
    pub state: SupervisedState,
    pub pid: Option<u32>,
    pub started_by_us: bool,
    pub uptime_s: Option<u64>,
    /// Restarts after crashes since the supervisor (or its last explicit start) began.
    pub restarts: u32,
    /// How the last run ended: "exit code 1", "killed by SIGKILL", "could not start: …".
    pub last_exit: Option<String>,
    pub next_restart_in_s: Option<u64>,
    pub gave_up_reason: Option<String>,
    /// The log's last lines, filled when the supervisor gives up.
    pub last_lines: Vec<String>,
    pub log_path: std::path::PathBuf,
}
