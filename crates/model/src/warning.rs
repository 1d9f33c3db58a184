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

/// Every condition Clusterbar knows, one stable snake_case code each (scripts, the notification
/// latch and the page key on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    ProbeFailed,
    SettingsReset,
    HistoryUnavailable,
    TbLinkSlow,
    RdmaDisabled,
    TbBridgeOn,
    TbBridgeCycle,
    MemoryPressure,
    ExoUnreachable,
    ExoApiExposed,
    ExoViewFrozen,
    ExoGaveUp,
    ExoRestarting,
    NodeStale,
    OsBuildMismatch,
    PortenGaveUp,
    PortenRestarting,
    PortenKeyRejected,
    PortenHubUnreachable,
    ModelNotOffered,
    ModelWarming,
    OllamaUnreachable,
    OllamaExposed,
    OllamaModelEvicted,
    OllamaKeepAliveShort,
    OllamaRouteNotThunderbolt,
    /// A meter route listens beyond loopback (`serve_lan`): anyone on the LAN reaches its upstream.
    MeterServesLan,
}

/// Whose condition it is: this Mac's own (its probes, its programs, its settings), the cluster's
/// as exo reports it (other boxes and the links between them), or the Porten Hub's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WarningScope {
    ThisMac,
    Cluster,
    Hub,
}

impl WarningCode {
    /// The code as JSON and scripts spell it.
    pub fn as_str(self) -> &'static str {
        use WarningCode::*;
        match self {
            ProbeFailed => "probe_failed",
            SettingsReset => "settings_reset",
            HistoryUnavailable => "history_unavailable",
            TbLinkSlow => "tb_link_slow",
            RdmaDisabled => "rdma_disabled",
            TbBridgeOn => "tb_bridge_on",
            TbBridgeCycle => "tb_bridge_cycle",
            MemoryPressure => "memory_pressure",
            ExoUnreachable => "exo_unreachable",
            ExoApiExposed => "exo_api_exposed",
            ExoViewFrozen => "exo_view_frozen",
            ExoGaveUp => "exo_gave_up",
            ExoRestarting => "exo_restarting",
            NodeStale => "node_stale",
            OsBuildMismatch => "os_build_mismatch",
            PortenGaveUp => "porten_gave_up",
            PortenRestarting => "porten_restarting",
            PortenKeyRejected => "porten_key_rejected",
            PortenHubUnreachable => "porten_hub_unreachable",
            ModelNotOffered => "model_not_offered",
            ModelWarming => "model_warming",
            OllamaUnreachable => "ollama_unreachable",
            OllamaExposed => "ollama_exposed",
            OllamaModelEvicted => "ollama_model_evicted",
            OllamaKeepAliveShort => "ollama_keep_alive_short",
            OllamaRouteNotThunderbolt => "ollama_route_not_thunderbolt",
            MeterServesLan => "meter_serves_lan",
        }
    }
    /// The scope a code has unless its producer says otherwise (RDMA and slow links are seen
    /// both by this Mac's probes and, for the other boxes, in exo's view).
    pub fn default_scope(self) -> WarningScope {
        use WarningCode::*;
        match self {
            ExoViewFrozen | NodeStale | OsBuildMismatch => WarningScope::Cluster,
            // Remote Ollama boxes and the links to them; exposure and keep-alive are this Mac's daemon.
            OllamaUnreachable | OllamaModelEvicted | OllamaRouteNotThunderbolt => WarningScope::Cluster,
            PortenKeyRejected | PortenHubUnreachable | ModelNotOffered | ModelWarming => WarningScope::Hub,
            _ => WarningScope::ThisMac,
        }
    }
}

impl std::fmt::Display for WarningCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes compare with their spelling, as scripts read them.
impl PartialEq<&str> for WarningCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Warning {
    pub code: WarningCode,
    pub scope: WarningScope,
    pub severity: Severity,
    /// One line: what is wrong.
    pub message: String,
    /// One line: what to do about it.
    pub fix: String,
}

impl Warning {
    pub fn new(code: WarningCode, severity: Severity, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            code,
            scope: code.default_scope(),
            severity,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// The same condition, seen from another place (e.g. exo's view of the other boxes).
    pub fn in_scope(mut self, scope: WarningScope) -> Self {
        self.scope = scope;
        self
    }

    /// A reader failed; its part of the snapshot is empty.
    pub fn probe_failed(probe: &str, reason: &str) -> Self {
        Self::new(
            WarningCode::ProbeFailed,
            Severity::Error,
            format!("Could not read {probe}: {reason}"),
            "See the log (Logs in the popover footer) and report it if it persists.",
        )
    }

    /// The running meter serves a route to the local network; `message` is the meter's own
    /// (which port, which upstream, that Ollama's API has no authentication).
    pub fn meter_serves_lan(message: &str) -> Self {
        Self::new(
            WarningCode::MeterServesLan,
            Severity::Warning,
            message,
            "Unless every device on this network may use it, set \"serve_lan\": false on that route in \
             meter_routes (or drop \",lan\" from --route) and restart the meter.",
        )
    }

    /// The settings file was unreadable and defaults are in use.
    pub fn settings_reset(problem: &str) -> Self {
        Self::new(
            WarningCode::SettingsReset,
            Severity::Warning,
            problem,
            "Check Settings; the old file is kept beside the new one as settings.json.bad.",
        )
    }

    /// The history database was set aside (`set_aside`: recording goes on in a new one) or
    /// cannot be used at all this run.
    pub fn history_unavailable(problem: &str, set_aside: bool) -> Self {
        let fix = if set_aside {
            "Nothing to do: recording goes on in a new database; the old file is kept beside it (history.db.bad)."
        } else {
            "Check the disk space and permissions of Clusterbar's data folder, then restart the app."
        };
        Self::new(WarningCode::HistoryUnavailable, Severity::Warning, problem, fix)
    }

    /// The recorder's writes fail now, or samples were lost (see `history::RecorderHealth`).
    pub fn history_not_written(problem: &str) -> Self {
        Self::new(
            WarningCode::HistoryUnavailable,
            Severity::Warning,
            problem,
            "Check the free space and permissions of Clusterbar's data folder; recording resumes by itself once a write succeeds, with the last hour's samples kept meanwhile.",
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
            WarningCode::TbLinkSlow,
            Severity::Warning,
            format!("The Thunderbolt link to {peer}{port} runs at {gbps:.0} Gb/s, below TB5's 80 Gb/s."),
            "Buy a TB5 cable (80 Gb/s) and plug it into TB5 ports on both Macs.",
        )
    }

    /// TB5 hardware, but RDMA over Thunderbolt is off.
    pub fn rdma_disabled() -> Self {
        Self::new(
            WarningCode::RdmaDisabled,
            Severity::Warning,
            "RDMA over Thunderbolt is off on TB5 hardware (~5 vs ~25 tok/s on big MoEs).",
            "Boot to Recovery, open Terminal, run `rdma_ctl enable`, restart.",
        )
    }

    /// The Thunderbolt Bridge service is on while RDMA is enabled.
    pub fn tb_bridge_on() -> Self {
        Self::new(
            WarningCode::TbBridgeOn,
            Severity::Warning,
            "Thunderbolt Bridge is enabled; RDMA over Thunderbolt needs it off.",
            "Disable the Thunderbolt Bridge service in System Settings → Network.",
        )
    }

    /// The bridge is on with two or more Mac-to-Mac links on its member ports.
    pub fn tb_bridge_cycle(host_links: usize) -> Self {
        Self::new(
            WarningCode::TbBridgeCycle,
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
            WarningCode::MemoryPressure,
            severity,
            message,
            "Unload a model or quit apps; a model larger than free memory swaps and crawls.",
        )
    }
}

impl Warning {
    /// A supervised program that crashed (and is being restarted) or that Clusterbar gave
    /// up restarting.
    pub fn from_supervised(program: Program, status: &crate::service::SupervisedStatus) -> Option<Self> {
        use crate::service::SupervisedState;
        let (gave_up, restarting) = match program {
            Program::Exo => (WarningCode::ExoGaveUp, WarningCode::ExoRestarting),
            Program::Porten => (WarningCode::PortenGaveUp, WarningCode::PortenRestarting),
        };
        let program = program.name();
        match status.state {
            SupervisedState::GaveUp => Some(Self::new(
                gave_up,
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
                restarting,
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

/// The programs Clusterbar supervises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Exo,
    Porten,
}

impl Program {
    pub fn name(self) -> &'static str {
        match self {
            Program::Exo => "exo",
            Program::Porten => "porten",
        }
    }
}

/// The one merge rule: one warning per code and scope. Two readers that see the same condition
/// from the same place show it once (the first, which the collector adds from the most direct
/// source); this Mac's view and exo's view of the other boxes are different scopes and both show.
pub fn add_warning(warnings: &mut Vec<Warning>, warning: Warning) {
    if !warnings
        .iter()
        .any(|w| w.code == warning.code && w.scope == warning.scope)
    {
        warnings.push(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_spelled_as_serde_writes_it() {
        use WarningCode::*;
        let all = [
            ProbeFailed,
            SettingsReset,
            HistoryUnavailable,
            TbLinkSlow,
            RdmaDisabled,
            TbBridgeOn,
            TbBridgeCycle,
            MemoryPressure,
            ExoUnreachable,
            ExoApiExposed,
            ExoViewFrozen,
            ExoGaveUp,
            ExoRestarting,
            NodeStale,
            OsBuildMismatch,
            PortenGaveUp,
            PortenRestarting,
            PortenKeyRejected,
            PortenHubUnreachable,
            ModelNotOffered,
            ModelWarming,
            OllamaUnreachable,
            OllamaExposed,
            OllamaModelEvicted,
            OllamaKeepAliveShort,
            OllamaRouteNotThunderbolt,
            MeterServesLan,
        ];
        for code in all {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: WarningCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn the_meter_serving_the_lan_is_this_macs() {
        let warning = Warning::meter_serves_lan("The meter serves route box2 to the local network on port 11436");
        assert_eq!(warning.code, "meter_serves_lan");
        assert_eq!(warning.scope, WarningScope::ThisMac);
        assert!(warning.fix.contains("serve_lan"));
    }

    #[test]
    fn one_warning_per_code_and_scope() {
        let this_mac = Warning::new(WarningCode::RdmaDisabled, Severity::Warning, "here", "f");
        let cluster = Warning::new(WarningCode::RdmaDisabled, Severity::Warning, "on mini-2", "f")
            .in_scope(WarningScope::Cluster);
        let mut list = Vec::new();
        add_warning(&mut list, this_mac.clone());
        add_warning(&mut list, cluster.clone());
        add_warning(
            &mut list,
            Warning::new(WarningCode::RdmaDisabled, Severity::Warning, "again", "f"),
        );
        assert_eq!(list, vec![this_mac, cluster]);
    }
}
