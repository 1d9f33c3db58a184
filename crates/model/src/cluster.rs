//! The cluster as exo sees it: boxes, the links between them, models and what changed.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::pool::{Pool, PoolConfig};
use crate::warning::Warning;

pub use crate::limits::{NODE_STALE_AFTER_S, TB5_LINK_GBPS as TB_FULL_SPEED_GBPS};

/// The whole cluster as exo sees it, keyed by box name (exo's node ids change on restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, TS)]
pub struct ClusterView {
    /// The node id of the exo answering (`GET /node_id`), when known.
    pub this_node_id: Option<String>,
    pub nodes: Vec<NodeView>,
    pub links: Vec<LinkView>,
    /// Sums over the members whose figure is known.
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    /// `None` when no member reports power (exo on Linux, or a Mac whose reading failed):
    /// unknown, never 0 W.
    pub power_watts: Option<f64>,
    pub models: Vec<ModelView>,
    pub warnings: Vec<Warning>,
    /// Parts of the state this parser did not understand (variant or shape names), so a newer
    /// exo shows up as "unknown" rather than silently wrong.
    pub unknown: Vec<String>,
    /// `Some(age)` when exo briefly answered an empty state (a master election) and this is
    /// the last good view, `age` ms old. Set by [`crate::exo::Watcher`].
    #[serde(default)]
    pub held_ms: Option<u64>,
    /// Pooled memory and the VRAM budget advertised to Porten; set by the collector, which
    /// knows this box's GPU ceiling.
    #[serde(default)]
    pub pool: Option<Pool>,
    /// exo's `lastEventAppliedIdx`: moves with every cluster event this exo applies.
    #[serde(default)]
    pub last_event_applied_idx: Option<u64>,
    /// `Some(s)` when this exo's view has not moved for `s` seconds (its own `lastSeen` ages, or
    /// `lastEventAppliedIdx` stands still): the figures are frozen, not live. Seen after the
    /// master was killed: the survivor keeps answering the last state and elects no one.
    #[serde(default)]
    pub frozen_for_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct NodeView {
    /// exo's friendly name (the Mac's computer name), else the node id.
    pub name: String,
    pub node_id: String,
    /// e.g. "Apple M3 Ultra".
    pub chip: Option<String>,
    /// e.g. "Mac Studio".
    pub hardware_model: Option<String>,
    pub memory_total_bytes: Option<u64>,
    pub memory_available_bytes: Option<u64>,
    pub power_watts: Option<f64>,
    /// 0–1.
    pub gpu_usage: Option<f64>,
    pub temp_c: Option<f64>,
    pub rdma_enabled: Option<bool>,
    pub thunderbolt_bridge_enabled: Option<bool>,
    /// The node whose exo answered the request.
    pub is_this_node: bool,
    /// Seconds since exo last heard from the node.
    pub last_seen_s: Option<f64>,
    /// Not heard from for longer than [`NODE_STALE_AFTER_S`].
    #[serde(default)]
    pub stale: bool,
    /// The slowest known Thunderbolt port speed (the bottleneck), Gb/s.
    pub thunderbolt_speed_gbps: Option<f64>,
    pub thunderbolt_ports: Vec<ThunderboltPort>,
    pub os_version: Option<String>,
    pub os_build: Option<String>,
    /// The disk exo downloads models to (`nodeDisk`): will a download fit.
    #[serde(default)]
    pub disk_total_bytes: Option<u64>,
    #[serde(default)]
    pub disk_available_bytes: Option<u64>,
    /// Inference back-ends exo found on the box (`nodeBackends`), e.g. `MlxMetal`, `MlxCpu`.
    #[serde(default)]
    pub backends: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
// Named apart from this Mac's own `host::ThunderboltPort` in the page's types.
#[ts(rename = "NodeThunderboltPort")]
pub struct ThunderboltPort {
    /// e.g. "rdma_en3"; the network interface is the part after "rdma_".
    pub rdma_interface: Option<String>,
    /// As exo reports it, e.g. "80 Gb/s".
    pub link_speed_text: Option<String>,
    pub speed_gbps: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Unknown,
    Wifi,
    Ethernet,
    Thunderbolt,
    Rdma,
}

/// One pair of boxes, however many paths exo found between them (both directions merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct LinkView {
    pub from: String,
    pub to: String,
    /// The best path between the two: rdma > thunderbolt > ethernet > wifi > unknown.
    pub kind: LinkKind,
    /// Every kind of path seen, best first.
    pub kinds: Vec<LinkKind>,
    /// For rdma/thunderbolt: the slower of the two ends' port speeds, when exo reports them.
    pub speed_gbps: Option<f64>,
    /// A Thunderbolt or RDMA link below Thunderbolt 5's speed (the one threshold, set here so
    /// no view re-derives it).
    #[serde(default)]
    pub slow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    Downloading,
    Loading,
    Ready,
    Running,
    Failed,
    Stopping,
    Unknown,
}

/// One loaded (or loading) instance of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ModelView {
    /// The id clients must send (`shardAssignments.modelId`).
    pub id: String,
    pub instance_id: String,
    pub state: ModelState,
    /// 0–1 within the current state (downloaded bytes, loaded layers); 1 when ready.
    pub progress: Option<f64>,
    pub download_speed_bytes_per_s: Option<f64>,
    pub eta_ms: Option<u64>,
    pub shards: Vec<ShardView>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ShardView {
    pub node: String,
    pub runner_id: String,
    pub start_layer: Option<u64>,
    pub end_layer: Option<u64>,
    pub state: ModelState,
    pub progress: Option<f64>,
    /// The runner status as exo names it, e.g. "RunnerLoading".
    pub runner_status: Option<String>,
    pub error: Option<String>,
}

impl ClusterView {
    /// True when exo answered but reported no members, as it does right after a master election.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, name: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn this_node(&self) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.is_this_node)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClusterEvent {
    NodeJoined {
        name: String,
    },
    NodeLeft {
        name: String,
    },
    /// The best path between two boxes got worse (e.g. rdma → ethernet), slower, or vanished
    /// while both boxes stayed (`now_kind` = `None`).
    LinkSlower {
        from: String,
        to: String,
        was_kind: LinkKind,
        now_kind: Option<LinkKind>,
        was_gbps: Option<f64>,
        now_gbps: Option<f64>,
    },
    ModelReady {
        id: String,
        instance_id: String,
    },
    ModelFailed {
        id: String,
        instance_id: String,
        error: Option<String>,
    },
}

impl ClusterEvent {
    /// Title and one-line body for a notification.
    pub fn describe(&self) -> (String, String) {
        match self {
            ClusterEvent::NodeJoined { name } => {
                (format!("{name} joined the cluster"), "exo sees it as a member.".into())
            }
            ClusterEvent::NodeLeft { name } => (
                format!("{name} left the cluster"),
                "Check that it is on, exo runs on it, and its cable is in.".into(),
            ),
            ClusterEvent::LinkSlower {
                from,
                to,
                was_kind,
                now_kind,
                was_gbps,
                now_gbps,
            } => {
                let speed = |kind: Option<&LinkKind>, gbps: &Option<f64>| {
                    let kind = kind
                        .map(|k| format!("{k:?}").to_lowercase())
                        .unwrap_or_else(|| "no link".into());
                    gbps.map(|g| format!("{kind} {g:.0} Gb/s")).unwrap_or(kind)
                };
                (
                    format!("{from} ↔ {to} got slower"),
                    format!(
                        "{} → {}",
                        speed(Some(was_kind), was_gbps),
                        speed(now_kind.as_ref(), now_gbps)
                    ),
                )
            }
            ClusterEvent::ModelReady { id, .. } => (format!("{id} is ready"), "It can serve requests now.".into()),
            ClusterEvent::ModelFailed { id, error, .. } => (
                format!("{id} failed to load"),
                error
                    .clone()
                    .unwrap_or_else(|| "exo did not say why; see its log.".into()),
            ),
        }
    }
}

impl Pool {
    /// The members of `view` whose RAM exo reports (boxes without a figure add nothing).
    pub fn from_view(view: &ClusterView, config: &PoolConfig) -> Self {
        Self::from_boxes(
            view.nodes.iter().filter_map(|n| {
                let ceiling = if n.is_this_node {
                    config.this_box_gpu_ceiling_bytes
                } else {
                    None
                };
                Some((n.name.clone(), n.memory_total_bytes?, ceiling))
            }),
            config,
        )
    }
}
