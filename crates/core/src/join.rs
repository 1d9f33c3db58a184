//! Joining the cluster from any Mac: a preflight checklist ([`preflight`], pure), then start
//! (or adopt) exo and wait until this Mac is a member with at least one peer ([`join`]).
//!
//! `clusterbar leave` stops what Clusterbar started: the exo whose pid file is ours
//! (`supervise::process::stop_recorded`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::exo::{ExoClient, ExoError};
use crate::probes::hardware::TB5_LINK_GBPS;
use crate::probes::rdma::RdmaStatus;
use crate::snapshot::{now_unix_ms, Snapshot};
use crate::supervise::{ServiceState, SupervisedState, Supervisor};

const GIB: u64 = 1 << 30;
/// Below this much free memory exo cannot load even a small model.
pub const MIN_FREE_BYTES: u64 = 2 * GIB;
/// Below this much, only small models fit.
pub const LOW_FREE_BYTES: u64 = 8 * GIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

/// One line of the checklist: a stable `id`, the verdict, what was found and (unless it
/// passed) what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightItem {
    pub id: String,
    pub status: CheckStatus,
    pub message: String,
    pub fix: Option<String>,
}

impl PreflightItem {
    fn new(id: &str, status: CheckStatus, message: impl Into<String>, fix: Option<&str>) -> Self {
        Self {
            id: id.to_owned(),
            status,
            message: message.into(),
            fix: fix.map(str::to_owned),
        }
    }
}

pub const INSTALL_EXO_FIX: &str = "Install EXO.app (github.com/exo-explore/exo/releases) into /Applications, or from source: \
git clone https://github.com/exo-explore/exo && cd exo && uv run exo; then set the path to exo in Settings if it is not on PATH.";

/// The checklist, from one snapshot and where exo was found (`supervise::locate`). Pure.
pub fn preflight(
    snapshot: &Snapshot,
    exo_located: &Result<PathBuf, crate::supervise::LocateError>,
) -> Vec<PreflightItem> {
    let mut items = Vec::new();
    let exo_running = snapshot.services.exo.state == ServiceState::Running;
    items.push(match exo_located {
        Ok(path) => PreflightItem::new(
            "exo_found",
            CheckStatus::Pass,
            match &snapshot.services.exo.version {
                // exo's default namespace is its version: say it, so the other Macs can be compared.
                Some(version) => format!(
                    "exo {version} at {} (every Mac must run exo {version}: other versions never see this one)",
                    path.display()
                ),
                None => format!("exo at {}", path.display()),
            },
            None,
        ),
        Err(_) if exo_running => PreflightItem::new(
            "exo_found",
            CheckStatus::Pass,
            "exo is not installed where Clusterbar looks, but one is running",
            None,
        ),
        Err(reason) => PreflightItem::new(
            "exo_found",
            CheckStatus::Fail,
            reason.to_string(),
            Some(INSTALL_EXO_FIX),
        ),
    });

    items.push(if exo_running {
        let pids = &snapshot.services.exo.pids;
        let who = pids.first().map(|p| format!(" (pid {p})")).unwrap_or_default();
        PreflightItem::new(
            "exo_already_running",
            CheckStatus::Warn,
            format!("exo is already running{who}; Clusterbar will adopt it and keep its settings"),
            Some("Fine as it is. To run it with Clusterbar's settings, quit that exo first."),
        )
    } else {
        PreflightItem::new(
            "exo_already_running",
            CheckStatus::Pass,
            "no other exo is running",
            None,
        )
    });

    let hardware = &snapshot.this_node.hardware;
    let peers: Vec<_> = hardware
        .thunderbolt
        .iter()
        .filter(|p| p.link_up && p.peer_is_host)
        .collect();
    let slowest = peers
        .iter()
        .filter_map(|p| p.speed_gbps.map(|s| (s, *p)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    items.push(match (peers.first(), slowest) {
        (None, _) => PreflightItem::new(
            "tb_peer",
            CheckStatus::Warn,
            "no Mac is linked by Thunderbolt; exo will use the network, which is much slower",
            Some("Connect this Mac to another with a Thunderbolt 5 cable (80 Gb/s)."),
        ),
        (Some(_), Some((gbps, port))) if gbps < TB5_LINK_GBPS => {
            let warning = crate::warnings::Warning::tb_link_slow(port.peer.as_deref(), port.socket.as_deref(), gbps);
            PreflightItem::new("tb_link_slow", CheckStatus::Warn, warning.message, Some(&warning.fix))
        }
        (Some(first), fastest) => {
            let peer = first.peer.as_deref().unwrap_or("another Mac");
            let speed = fastest.map(|(s, _)| format!(" at {s:.0} Gb/s")).unwrap_or_default();
            PreflightItem::new("tb_peer", CheckStatus::Pass, format!("linked to {peer}{speed}"), None)
        }
    });

    let tb5 = hardware.thunderbolt.iter().any(|p| p.tb5_capable);
    let rdma_enabled = hardware.rdma.status == RdmaStatus::Enabled;
    items.push(match hardware.rdma.status {
        RdmaStatus::Enabled => PreflightItem::new("rdma", CheckStatus::Pass, "RDMA over Thunderbolt is enabled", None),
        RdmaStatus::Disabled if tb5 => {
            let w = crate::warnings::Warning::rdma_disabled();
            PreflightItem::new("rdma", CheckStatus::Warn, w.message, Some(&w.fix))
        }
        RdmaStatus::Disabled => PreflightItem::new(
            "rdma",
            CheckStatus::Pass,
            "RDMA over Thunderbolt is off (it needs Thunderbolt 5 ports)",
            None,
        ),
        RdmaStatus::Unsupported => PreflightItem::new(
            "rdma",
            CheckStatus::Pass,
            "RDMA over Thunderbolt is not available here; exo uses TCP",
            None,
        ),
        RdmaStatus::Unknown => PreflightItem::new(
            "rdma",
            CheckStatus::Warn,
            format!(
                "RDMA state unknown{}",
                hardware
                    .rdma
                    .detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            Some("Run `rdma_ctl status` in Terminal to see it."),
        ),
    });

    items.push(match hardware.bridge.service_enabled {
        Some(true) if rdma_enabled => {
            let w = crate::warnings::Warning::tb_bridge_on();
            PreflightItem::new("tb_bridge", CheckStatus::Warn, w.message, Some(&w.fix))
        }
        Some(true) if peers.len() >= 2 => {
            let w = crate::warnings::Warning::tb_bridge_cycle(peers.len());
            PreflightItem::new("tb_bridge", CheckStatus::Warn, w.message, Some(&w.fix))
        }
        Some(true) => PreflightItem::new("tb_bridge", CheckStatus::Pass, "Thunderbolt Bridge is on", None),
        Some(false) => PreflightItem::new("tb_bridge", CheckStatus::Pass, "Thunderbolt Bridge is off", None),
        None => PreflightItem::new("tb_bridge", CheckStatus::Pass, "no Thunderbolt Bridge here", None),
    });

    let own_build = snapshot.this_node.host.os_build.as_deref();
    let peer_builds: Vec<(&str, &str)> = snapshot
        .cluster
        .iter()
        .flat_map(|c| c.nodes.iter())
        .filter(|n| !n.is_this_node)
        .filter_map(|n| Some((n.name.as_str(), n.os_build.as_deref()?)))
        .collect();
    let differing: Vec<String> = peer_builds
        .iter()
        .filter(|(_, build)| Some(*build) != own_build)
        .map(|(name, build)| format!("{name} runs {build}"))
        .collect();
    items.push(match (own_build, peer_builds.is_empty(), differing.is_empty()) {
        (None, _, _) => PreflightItem::new("os_build", CheckStatus::Pass, "not macOS: no build to compare", None),
        (Some(build), true, _) => PreflightItem::new(
            "os_build",
            CheckStatus::Pass,
            format!("macOS build {build}; the peers' builds are compared once exo sees them"),
            None,
        ),
        (Some(build), false, true) => PreflightItem::new(
            "os_build",
            CheckStatus::Pass,
            format!("macOS build {build}, the same as every peer"),
            None,
        ),
        (Some(build), false, false) => PreflightItem::new(
            "os_build",
            CheckStatus::Warn,
            format!("this Mac runs macOS build {build}, but {}", differing.join(", ")),
            Some("Update every Mac to the same macOS version (Software Update); mixed builds break RDMA and MLX."),
        ),
    });

    items.push(match &snapshot.this_node.memory {
        None => PreflightItem::new(
            "free_memory",
            CheckStatus::Warn,
            "free memory unknown (the memory reader failed)",
            Some("See the warnings in the status view."),
        ),
        Some(memory) => {
            let free = crate::format::bytes(memory.available_bytes);
            if memory.available_bytes < MIN_FREE_BYTES {
                PreflightItem::new(
                    "free_memory",
                    CheckStatus::Fail,
                    format!("only {free} free: exo cannot load a model"),
                    Some("Quit memory-hungry apps, then try again."),
                )
            } else if memory.available_bytes < LOW_FREE_BYTES {
                PreflightItem::new(
                    "free_memory",
                    CheckStatus::Warn,
                    format!("{free} free: only small models will fit on this Mac"),
                    Some("Quit memory-hungry apps to give exo more room."),
                )
            } else {
                PreflightItem::new("free_memory", CheckStatus::Pass, format!("{free} free"), None)
            }
        }
    });
    items
}

/// Whether the checklist allows joining (no `fail`).
pub fn preflight_passes(items: &[PreflightItem]) -> bool {
    items.iter().all(|i| i.status != CheckStatus::Fail)
}

/// Progress of [`join`], for the app to show step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum JoinProgress {
    StartingExo,
    /// exo runs: started by us, or adopted (someone else's).
    ExoRunning {
        pid: Option<u32>,
        adopted: bool,
    },
    /// exo's API answers with this node id.
    ApiAnswering {
        node_id: String,
    },
    /// This Mac is in the topology; waiting for a peer.
    WaitingForPeers {
        members: usize,
    },
    Joined {
        peers: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    pub node_id: String,
    pub this_node: String,
    /// The other members' names.
    pub peers: Vec<String>,
    pub adopted: bool,
    pub pid: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("exo could not be started: {0}")]
    Start(String),
    #[error("exo stopped: {reason}")]
    ExoGaveUp { reason: String, last_lines: Vec<String> },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Timeout(String),
}

#[derive(Debug, Clone)]
pub struct JoinOptions {
    pub timeout: Duration,
    pub poll: Duration,
}

impl Default for JoinOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            poll: Duration::from_millis(500),
        }
    }
}

/// How long a join waits, once a peer is in the topology, for exo to learn its name: identities
/// are gossiped a moment after the topology (seen on the real exo), and "Joined with studio-b"
/// says more than "Joined with 95788228…". Past it, the join is announced with what is known.
const NAME_GRACE: Duration = Duration::from_secs(5);

/// The other members' names, and whether every one is a name rather than a node id (exo had
/// not told us the name yet).
fn peers_of(view: &crate::exo::ClusterView) -> (Vec<String>, bool) {
    let peers: Vec<_> = view.nodes.iter().filter(|n| !n.is_this_node).collect();
    let named = peers.iter().all(|n| n.name != n.node_id);
    (peers.into_iter().map(|n| n.name.clone()).collect(), named)
}

pub const NO_PEER_FIX: &str = "allow exo Local Network access (System Settings › Privacy & Security › Local Network), \
check the Thunderbolt cable, and run the same exo version with the same namespace on every Mac (exo's default namespace is its version: \
boxes on different exo versions never see each other)";

/// Starts (or adopts) exo through `start_exo` and waits until exo answers and this Mac is in
/// its topology with at least one peer. Returns the supervisor with the result: keep it, since
/// dropping it stops the exo it started. `cancel` ends the wait (what was started is stopped).
pub fn join(
    client: &ExoClient,
    start_exo: impl FnOnce() -> Result<Supervisor, String>,
    options: &JoinOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(&JoinProgress),
) -> Result<(Joined, Supervisor), JoinError> {
    progress(&JoinProgress::StartingExo);
    let supervisor = start_exo().map_err(JoinError::Start)?;
    let deadline = crate::clock::deadline_after(options.timeout);
    let mut announced_running = false;
    let mut node_id: Option<String> = None;
    let mut last_members: Option<usize> = None;
    let mut last_error: Option<ExoError> = None;
    let mut peer_seen_at: Option<Instant> = None;
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(JoinError::Cancelled);
        }
        let status = supervisor.status();
        if status.state == SupervisedState::GaveUp {
            return Err(JoinError::ExoGaveUp {
                reason: status.gave_up_reason.unwrap_or_else(|| "it kept crashing".into()),
                last_lines: status.last_lines,
            });
        }
        let adopted = status.state == SupervisedState::Adopted;
        if !announced_running && (adopted || status.state == SupervisedState::Running) {
            announced_running = true;
            progress(&JoinProgress::ExoRunning {
                pid: status.pid,
                adopted,
            });
        }
        match client.node_id() {
            Ok(id) => {
                if node_id.as_deref() != Some(id.as_str()) {
                    progress(&JoinProgress::ApiAnswering { node_id: id.clone() });
                    node_id = Some(id);
                }
                match client.cluster_view(now_unix_ms()) {
                    Ok(view) => {
                        if let Some(this) = view.this_node() {
                            let members = view.nodes.len();
                            let (peers, named) = peers_of(&view);
                            if members < 2 {
                                peer_seen_at = None;
                            }
                            // A peer still known by its id only is waited for a moment (its
                            // name follows); meanwhile the page says it waits for a peer.
                            let waited =
                                members >= 2 && peer_seen_at.get_or_insert_with(Instant::now).elapsed() >= NAME_GRACE;
                            if members >= 2 && (named || waited) {
                                progress(&JoinProgress::Joined { peers: peers.clone() });
                                let joined = Joined {
                                    node_id: node_id.clone().unwrap_or_default(),
                                    this_node: this.name.clone(),
                                    peers,
                                    adopted,
                                    pid: status.pid,
                                };
                                return Ok((joined, supervisor));
                            }
                            if last_members != Some(members) {
                                last_members = Some(members);
                                progress(&JoinProgress::WaitingForPeers { members });
                            }
                        }
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            let seconds = options.timeout.as_secs();
            let reason = match (&node_id, last_members) {
                (None, _) => format!(
                    "exo did not answer within {seconds} s ({}); see its log at {}",
                    last_error.map(|e| e.to_string()).unwrap_or_else(|| "no answer".into()),
                    status.log_path.display()
                ),
                (Some(_), None) => {
                    format!("exo answers but this Mac did not appear in its topology within {seconds} s")
                }
                (Some(_), Some(_)) => format!("no peer seen within {seconds} s: {NO_PEER_FIX}"),
            };
            return Err(JoinError::Timeout(reason));
        }
        std::thread::sleep(options.poll.min(deadline.saturating_duration_since(Instant::now())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::thunderbolt::ThunderboltPort;

    fn base_snapshot() -> Snapshot {
        use crate::probes::hardware::{parse, RawSources};
        use crate::supervise::ServiceStatus;
        let service = |state| ServiceStatus {
            state,
            executable: None,
            pids: Vec::new(),
            child_processes: 0,
            version: None,
            detail: None,
            supervised: None,
        };
        Snapshot {
            schema: crate::SNAPSHOT_SCHEMA,
            taken_at_unix_ms: 0,
            state: crate::snapshot::TrayState::Stopped,
            this_node: crate::snapshot::ThisNode {
                host: crate::probes::host::HostInfo {
                    name: "studio".into(),
                    os: "macOS 26.2".into(),
                    os_build: Some("25C56".into()),
                    chip: None,
                    cpu_cores: 24,
                    arch: "aarch64".into(),
                },
                memory: Some(crate::probes::memory::MemoryInfo {
                    total_bytes: 64 * GIB,
                    used_bytes: 32 * GIB,
                    available_bytes: 32 * GIB,
                    wired_bytes: None,
                    compressed_bytes: None,
                    swap_total_bytes: 0,
                    swap_used_bytes: 0,
                    pressure: None,
                }),
                hardware: parse(&RawSources::new()),
            },
            services: crate::snapshot::Services {
                exo: service(ServiceState::Stopped),
                porten: service(ServiceState::NotInstalled),
            },
            warnings: Vec::new(),
            cluster: None,
            events: Vec::new(),
            porten_agent: None,
            porten_hub: None,
            porten_app: None,
            porten_tokens: None,
            energy: None,
            ollama: None,
        }
    }

    fn port(gbps: f64) -> ThunderboltPort {
        ThunderboltPort {
            socket: Some("2".into()),
            link_up: true,
            speed_gbps: Some(gbps),
            lanes: Some(2),
            per_lane_gbps: Some(gbps / 2.0),
            asymmetric: false,
            tb5_capable: true,
            peer: Some("Mac Studio".into()),
            peer_is_host: true,
            peer_domain_uuid: None,
            interface: Some("en3".into()),
            rdma_active: None,
            slow: clusterbar_model::limits::below_tb5(Some(gbps)),
        }
    }

    fn status_of(items: &[PreflightItem], id: &str) -> CheckStatus {
        items
            .iter()
            .find(|i| i.id == id)
            .unwrap_or_else(|| panic!("no {id}: {items:?}"))
            .status
    }

    #[test]
    fn a_peer_known_only_by_its_node_id_is_not_yet_named() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/exo/real-linux/2node_A_state.json")).unwrap();
        let this = "b9e30e08848eb202120ab76ef958260";
        let view = crate::exo::state::parse_state(&fixture, Some(this), 0);
        let (peers, named) = peers_of(&view);
        assert!(named, "exo told every name: {peers:?}");
        assert!(peers.iter().all(|p| p.starts_with("vm")), "{peers:?}");
        // The same moment before exo gossiped the identities.
        let mut early = fixture.clone();
        early["nodeIdentities"] = serde_json::json!({});
        let view = crate::exo::state::parse_state(&early, Some(this), 0);
        let (peers, named) = peers_of(&view);
        assert!(!named, "{peers:?}");
        assert!(!peers.is_empty());
    }

    #[test]
    fn a_missing_exo_fails_with_the_install_fix() {
        let items = preflight(&base_snapshot(), &Err(crate::supervise::LocateError::ExoNotFound));
        let exo = items.iter().find(|i| i.id == "exo_found").unwrap();
        assert_eq!(exo.status, CheckStatus::Fail);
        assert!(exo.fix.as_deref().unwrap().contains("EXO.app"));
        assert!(!preflight_passes(&items));
        assert_eq!(status_of(&items, "tb_peer"), CheckStatus::Warn);
        assert_eq!(status_of(&items, "free_memory"), CheckStatus::Pass);
        let json = serde_json::to_value(&items).unwrap();
        assert_eq!(json[0]["status"], "fail");
    }

    #[test]
    fn slow_links_rdma_bridge_builds_and_memory_are_judged() {
        let mut snapshot = base_snapshot();
        snapshot.this_node.hardware.thunderbolt = vec![port(40.0)];
        snapshot.this_node.hardware.rdma.status = RdmaStatus::Enabled;
        snapshot.this_node.hardware.bridge.service_enabled = Some(true);
        snapshot.services.exo.state = ServiceState::Running;
        snapshot.services.exo.pids = vec![4242];
        if let Some(memory) = snapshot.this_node.memory.as_mut() {
            memory.available_bytes = GIB;
        }
        let mut view = crate::exo::ClusterView::default();
        let node = |name: &str, this: bool, build: &str| {
            let mut n: crate::exo::NodeView = serde_json::from_value(serde_json::json!({
                "name": name, "node_id": name, "chip": null, "hardware_model": null,
                "memory_total_bytes": null, "memory_available_bytes": null, "power_watts": null,
                "gpu_usage": null, "temp_c": null, "rdma_enabled": null, "thunderbolt_bridge_enabled": null,
                "is_this_node": this, "last_seen_s": null, "thunderbolt_speed_gbps": null,
                "thunderbolt_ports": [], "os_version": null, "os_build": null
            }))
            .unwrap();
            n.os_build = Some(build.into());
            n
        };
        view.nodes = vec![node("studio", true, "25C56"), node("mini", false, "25B78")];
        snapshot.cluster = Some(view);
        let items = preflight(&snapshot, &Ok(PathBuf::from("/opt/exo")));
        assert_eq!(status_of(&items, "exo_found"), CheckStatus::Pass);
        assert_eq!(status_of(&items, "exo_already_running"), CheckStatus::Warn);
        assert!(items.iter().any(|i| i.message.contains("pid 4242")));
        assert_eq!(status_of(&items, "tb_link_slow"), CheckStatus::Warn);
        assert_eq!(status_of(&items, "rdma"), CheckStatus::Pass);
        assert_eq!(status_of(&items, "tb_bridge"), CheckStatus::Warn);
        assert_eq!(status_of(&items, "os_build"), CheckStatus::Warn);
        assert!(items.iter().any(|i| i.message.contains("mini runs 25B78")));
        assert_eq!(status_of(&items, "free_memory"), CheckStatus::Fail);

        snapshot.this_node.hardware.thunderbolt = vec![port(80.0)];
        snapshot.this_node.hardware.rdma.status = RdmaStatus::Disabled;
        let items = preflight(&snapshot, &Ok(PathBuf::from("/opt/exo")));
        assert_eq!(status_of(&items, "tb_peer"), CheckStatus::Pass);
        assert!(items.iter().any(|i| i.message.contains("80 Gb/s")));
        assert_eq!(status_of(&items, "rdma"), CheckStatus::Warn);
    }
}
