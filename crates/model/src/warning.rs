//! Conditions that need the user's attention. Each has a stable `code` that scripts and the
//! notification latch key on, a one-line cause and the fix.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Works, but slower or less safe than it should (amber).
    Warning,
    /// Broken (red).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Warning {
    pub code: String,
    pub severity: Severity,
    /// One line: what is wrong.
    pub message: String,
    /// One line: what to do about it.
    pub fix: String,
}

impl Warning {
    pub fn new(code: &str, severity: Severity, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            severity,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A reader failed; its part of the snapshot is empty.
    pub fn probe_failed(probe: &str, reason: &str) -> Self {
        Self::new(
            "probe_failed",
            Severity::Error,
            format!("Could not read {probe}: {reason}"),
            "See the log (Logs in the popover footer) and report it if it persists.",
        )
    }

    /// The settings file was unreadable and defaults are in use.
    pub fn settings_reset(problem: &str) -> Self {
        Self::new(
            "settings_reset",
            Severity::Warning,
            problem,
            "Check Settings; the old file is kept beside the new one as settings.json.bad.",
        )
    }
}

/// Hardware conditions (see `probes::hardware::hardware_warnings`).
impl Warning {
    /// A host-to-host Thunderbolt link below 80 Gb/s: a TB4/TB3 cable or port.
    pub fn tb_link_slow(peer: Option<&str>, socket: Option<&str>, gbps: f64) -> Self {
        let peer = peer.unwrap_or("another Mac");
        let port = socket.map(|s| format!(" (port {s})")).unwrap_or_default();
        Self::new(
            "tb_link_slow",
            Severity::Warning,
            format!("The Thunderbolt link to {peer}{port} runs at {gbps:.0} Gb/s, below TB5's 80 Gb/s."),
            "Buy a TB5 cable (80 Gb/s) and plug it into TB5 ports on both Macs.",
        )
    }

    /// TB5 hardware, but RDMA over Thunderbolt is off.
    pub fn rdma_disabled() -> Self {
        Self::new(
            "rdma_disabled",
            Severity::Warning,
            "RDMA over Thunderbolt is off on TB5 hardware (~5 vs ~25 tok/s on big MoEs).",
            "Boot to Recovery, open Terminal, run `rdma_ctl enable`, restart.",
        )
    }

    /// The Thunderbolt Bridge service is on while RDMA is enabled.
    pub fn tb_bridge_on() -> Self {
        Self::new(
            "tb_bridge_on",
            Severity::Warning,
            "Thunderbolt Bridge is enabled; RDMA over Thunderbolt needs it off.",
            "Disable the Thunderbolt Bridge service in System Settings → Network.",
        )
    }

    /// The bridge is on with two or more Mac-to-Mac links on its member ports.
    pub fn tb_bridge_cycle(host_links: usize) -> Self {
        Self::new(
            "tb_bridge_cycle",
            Severity::Warning,
            format!(
                "Thunderbolt Bridge is on with {host_links} Mac links: cabled in a ring (3+ Macs) or twice to one Mac, it loops."
            ),
            "Disable the Thunderbolt Bridge service on every Mac in the ring (System Settings → Network).",
        )
    }

    /// Memory pressure is warn (amber) or critical (red).
    pub fn memory_pressure(level: crate::host::MemoryPressure) -> Self {
        use crate::host::MemoryPressure;
        let (severity, message) = match level {
            MemoryPressure::Critical => (
                Severity::Error,
                "Memory pressure is critical: the system is swapping hard.",
            ),
            _ => (
                Severity::Warning,
                "Memory pressure is high: the system is compressing and swapping memory.",
            ),
        };
        Self::new(
            "memory_pressure",
            severity,
            message,
            "Unload a model or quit apps; a model larger than free memory swaps and crawls.",
        )
    }
}

impl Warning {
    /// A supervised program that crashed (and is being restarted) or that Clusterbar gave
    /// up restarting.
    pub fn from_supervised(program: &str, status: &crate::service::SupervisedStatus) -> Option<Self> {
        use crate::service::SupervisedState;
        match status.state {
            SupervisedState::GaveUp => Some(Self::new(
                &format!("{program}_gave_up"),
                Severity::Error,
                format!(
                    "{program} kept crashing; Clusterbar stopped restarting it: {}",
                    status.gave_up_reason.as_deref().unwrap_or("no reason recorded")
                ),
                format!(
                    "Read its log ({}), fix the cause, then press Start.",
                    status.log_path.display()
                ),
            )),
            SupervisedState::BackingOff => Some(Self::new(
                &format!("{program}_restarting"),
                Severity::Warning,
                format!(
                    "{program} stopped ({}); restarting in {} s",
                    status.last_exit.as_deref().unwrap_or("unknown exit"),
                    status.next_restart_in_s.unwrap_or(0)
                ),
                format!("If it keeps happening, read its log ({}).", status.log_path.display()),
            )),
            _ => None,
        }
    }
}

/// The one merge rule: a warning is added unless the same condition (same code and message)
/// is already listed, so two readers that see one problem show it once.
pub fn add_warning(warnings: &mut Vec<Warning>, warning: Warning) {
    if !warnings
        .iter()
        .any(|w| w.code == warning.code && w.message == warning.message)
    {
        warnings.push(warning);
    }
}
