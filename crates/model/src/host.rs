//! This Mac as its own probes see it: host, memory, Thunderbolt ports, RDMA, the bridge,
//! power and temperatures.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HostInfo {
    /// The machine's name as other boxes see it (host name without `.local`).
    pub name: String,
    /// e.g. "macOS 26.2" or "Debian GNU/Linux 12 (bookworm)".
    pub os: String,
    /// macOS build (e.g. "25C56"); cluster members must agree on it. `None` on Linux.
    pub os_build: Option<String>,
    /// e.g. "Apple M3 Ultra"; `None` when the OS does not say.
    pub chip: Option<String>,
    pub cpu_cores: usize,
    pub arch: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MemoryPressure {
    Normal,
    Warn,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MemoryInfo {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
    /// Pages the kernel will not page out (macOS "wired"); `None` where the OS has no such figure.
    pub wired_bytes: Option<u64>,
    /// Memory held by the compressor (macOS) or zswap (Linux).
    pub compressed_bytes: Option<u64>,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    /// `None` when the OS does not say (no PSI on this kernel).
    pub pressure: Option<MemoryPressure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct HardwareReport {
    /// "macos" / "linux" as the reader recorded it (named `probed_os` in JSON, beside the
    /// host's own `os` line in the snapshot).
    #[serde(rename = "probed_os")]
    pub os: Option<String>,
    pub thunderbolt: Vec<ThunderboltPort>,
    pub rdma: RdmaState,
    pub bridge: BridgeInfo,
    /// Whole-machine power in W (macmon `sys_power`; Linux RAPL package or hwmon).
    pub power_watts: Option<f64>,
    /// Where `power_watts` came from ("macmon sys_power", "rapl package", "hwmon amdgpu").
    pub power_source: Option<String>,
    /// Why `power_watts` is n/a.
    pub power_unavailable_reason: Option<String>,
    pub cpu_power_watts: Option<f64>,
    pub gpu_power_watts: Option<f64>,
    /// GPU busy share, 0–1.
    pub gpu_usage: Option<f64>,
    /// CPU temperature (macmon's average; Linux: the hottest hwmon sensor), °C.
    pub temp_c: Option<f64>,
    pub gpu_temp_c: Option<f64>,
    /// The most memory the GPU may wire (macOS `iogpu.wired_limit_mb`, or the OS default).
    pub gpu_wired_limit_bytes: Option<u64>,
    /// `gpu_wired_limit_bytes` is our estimate of the OS default (sysctl said 0).
    pub gpu_wired_limit_estimated: bool,
    /// Sources that failed or could not be parsed, so a broken reader is shown, not hidden.
    pub source_errors: Vec<SourceError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SourceError {
    pub source: String,
    pub reason: String,
}

pub use crate::limits::TB5_LINK_GBPS;

/// One Thunderbolt receptacle of this machine (or on Linux, one directly attached link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, TS)]
pub struct ThunderboltPort {
    /// The receptacle ("Socket ID" / `receptacle_id_key`), e.g. "2"; `None` when the OS does not say.
    pub socket: Option<String>,
    pub link_up: bool,
    /// Total negotiated speed in the wider direction: per-lane speed × lanes. `None` when down or unknown.
    pub speed_gbps: Option<f64>,
    /// Lanes in the wider direction (1, 2, or 3 for an asymmetric TB5 link).
    pub lanes: Option<u32>,
    pub per_lane_gbps: Option<f64>,
    /// TB5 asymmetric mode (3 lanes one way, 1 the other).
    pub asymmetric: bool,
    /// The port supports 40 Gb/s per lane (Thunderbolt 5 / USB4 v2).
    pub tb5_capable: bool,
    /// Name of what is at the other end ("Mac Studio", "Envoy Ultra").
    pub peer: Option<String>,
    /// The other end is a computer (an XDomain link), not a device.
    pub peer_is_host: bool,
    /// The peer host's Thunderbolt domain UUID, which identifies it across the cluster.
    pub peer_domain_uuid: Option<String>,
    /// The network interface on this port ("en3"), when known.
    pub interface: Option<String>,
    /// RDMA port state for this interface (`ibv_devinfo`); `None` when not known.
    pub rdma_active: Option<bool>,
    /// Up, to another Mac, below Thunderbolt 5's speed (a TB4/TB3 cable or port).
    #[serde(default)]
    pub slow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RdmaStatus {
    Enabled,
    Disabled,
    /// This OS or macOS version has no RDMA over Thunderbolt (no `rdma_ctl`).
    Unsupported,
    /// `rdma_ctl` exists but its answer could not be read.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RdmaState {
    pub status: RdmaStatus,
    /// Why, in one line (the tool's error, or what it printed when we could not read it).
    pub detail: Option<String>,
}

impl RdmaState {
    pub fn new(status: RdmaStatus, detail: Option<String>) -> Self {
        Self { status, detail }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, TS)]
pub struct BridgeInfo {
    /// `bridge0` exists.
    pub present: bool,
    /// Member interfaces ("en2", "en3", …).
    pub members: Vec<String>,
    /// `status: active` (a member has a link).
    pub active: bool,
    /// The "Thunderbolt Bridge" network service is enabled; `None` when not known.
    pub service_enabled: Option<bool>,
    /// Addresses on the bridge and on Thunderbolt interfaces.
    pub ips: Vec<InterfaceIp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InterfaceIp {
    pub interface: String,
    pub address: IpAddr,
    /// Link-local (169.254/16 or fe80::/10): the OS picked it because no DHCP/manual address was set.
    pub self_assigned: bool,
}
