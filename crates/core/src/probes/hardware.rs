//! This Mac's cluster hardware, measured: Thunderbolt links, RDMA, the Thunderbolt Bridge,
//! power, GPU use, temperature and the GPU memory ceiling.
//!
//! Two halves, so the app can save what it read and re-parse it anywhere:
//! - readers gather [`RawSources`] (source name → the bytes a tool or file produced), and
//! - one pure function, [`parse`], turns them into a [`HardwareReport`].
//!
//! `RawSources` round-trips through a directory ([`RawSources::save`] / [`RawSources::load`]),
//! which is what `clusterbar report --out DIR` writes and `clusterbar doctor --from DIR` reads —
//! a Linux box can diagnose a Mac's bundle. None of these sources holds a secret.

pub use clusterbar_model::host::{HardwareReport, SourceError, TB5_LINK_GBPS};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::bridge::{self, BridgeInfo, InterfaceIp};
use super::gpu_memory;
use super::memory::{MemoryInfo, MemoryPressure};
use super::power::{self, MacmonReader};
use super::rdma::{self, RdmaState, RdmaStatus};
use super::thunderbolt::{self, ThunderboltPort};
use clusterbar_model::warning::Warning;

/// Source names. Linux sysfs files are stored under `sysfs/` + their path below the sysfs root.
pub mod source {
    pub const OS: &str = "os";
    pub const IOREG_THUNDERBOLT: &str = "ioreg_thunderbolt";
    pub const SYSTEM_PROFILER_THUNDERBOLT_JSON: &str = "system_profiler_thunderbolt_json";
    pub const NETWORKSETUP_HARDWARE_PORTS: &str = "networksetup_hardware_ports";
    pub const NETWORKSETUP_BRIDGE_ENABLED: &str = "networksetup_bridge_enabled";
    pub const RDMA_CTL_STATUS: &str = "rdma_ctl_status";
    pub const IBV_DEVINFO: &str = "ibv_devinfo";
    pub const IFCONFIG_BRIDGE0: &str = "ifconfig_bridge0";
    /// `name address` lines from getifaddrs.
    pub const INTERFACE_ADDRESSES: &str = "interface_addresses";
    pub const SYSCTL_IOGPU_WIRED_LIMIT_MB: &str = "sysctl_iogpu_wired_limit_mb";
    pub const SYSCTL_HW_MEMSIZE: &str = "sysctl_hw_memsize";
    /// Metal's `recommendedMaxWorkingSetSize` of the default GPU, decimal bytes.
    pub const METAL_RECOMMENDED_WORKING_SET: &str = "metal_recommended_max_working_set";
    pub const MACMON_PIPE: &str = "macmon_pipe";
    /// `monotonic_ms energy_uj` lines, oldest first (two readings give watts).
    pub const RAPL_ENERGY_SAMPLES: &str = "rapl_energy_samples";
    pub const SYSFS_PREFIX: &str = "sysfs/";
    pub const THUNDERBOLT_DEVICES: &str = "sysfs/bus/thunderbolt/devices/";
    pub const HWMON: &str = "sysfs/class/hwmon/";
    pub const RAPL_ENERGY_UJ: &str = "sysfs/class/powercap/intel-rapl:0/energy_uj";
    pub const RAPL_MAX_ENERGY_RANGE_UJ: &str = "sysfs/class/powercap/intel-rapl:0/max_energy_range_uj";
    pub const DRM: &str = "sysfs/class/drm/";
}

/// An error recorded for a source that starts with this means "the tool or file does not
/// exist here" — a normal state (older macOS, no bridge), not a problem.
pub const NOT_PRESENT: &str = "not present";
/// Files named `<source>.error` in a saved bundle hold why that source could not be read.
const ERROR_SUFFIX: &str = ".error";
const MAX_BUNDLE_FILES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RawSourcesError {
    #[error("invalid source name {0:?}")]
    InvalidName(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Bundle { path: PathBuf, reason: String },
    #[error(transparent)]
    Read(#[from] crate::files::ReadFileError),
}

/// What the readers gathered: source name → raw bytes, and source name → why it failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSources {
    sources: BTreeMap<String, Vec<u8>>,
    errors: BTreeMap<String, String>,
}

impl RawSources {
    pub fn new() -> Self {
        Self::default()
    }

    /// Names are relative paths (`/`-separated, no `.`/`..`/empty parts) so they map to files.
    pub fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 1024
            && !name.ends_with(ERROR_SUFFIX)
            && !name.contains(['\\', '\0'])
            && name
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != ".." && part.len() <= 255)
    }

    pub fn insert(&mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Result<(), RawSourcesError> {
        if !Self::is_valid_name(name) {
            return Err(RawSourcesError::InvalidName(name.to_owned()));
        }
        self.errors.remove(name);
        self.sources.insert(name.to_owned(), bytes.into());
        Ok(())
    }

    /// Records why `name` could not be read (one line).
    pub fn insert_error(&mut self, name: &str, reason: &str) -> Result<(), RawSourcesError> {
        if !Self::is_valid_name(name) {
            return Err(RawSourcesError::InvalidName(name.to_owned()));
        }
        self.sources.remove(name);
        let line = reason.lines().next().unwrap_or("").trim();
        self.errors.insert(name.to_owned(), line.to_owned());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.sources.get(name).map(Vec::as_slice)
    }

    /// The source as text; invalid UTF-8 is replaced, never fatal.
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(String::from_utf8_lossy)
    }

    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    pub fn errors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.errors.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.errors.is_empty()
    }

    /// Names under `prefix` with the prefix removed.
    fn names_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.sources.keys().filter_map(move |k| k.strip_prefix(prefix))
    }

    /// Writes one file per source (bytes as read) and `<name>.error` per failed source.
    pub fn save(&self, dir: &Path) -> Result<(), RawSourcesError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RawSourcesError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let entries = self.sources.iter().map(|(k, v)| (k.clone(), v.as_slice())).chain(
            self.errors
                .iter()
                .map(|(k, v)| (format!("{k}{ERROR_SUFFIX}"), v.as_bytes())),
        );
        for (name, bytes) in entries {
            let path = dir.join(&name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Reads a directory written by [`save`](Self::save). Symlinks, FIFOs and devices are skipped
    /// (a bundle may come from another machine); other files (e.g. a snapshot.json beside them)
    /// are loaded too and simply not used by [`parse`]. Each file may hold up to
    /// [`crate::files::BUNDLE_FILE_MAX_BYTES`], the whole bundle [`crate::files::BUNDLE_MAX_BYTES`].
    pub fn load(dir: &Path) -> Result<Self, RawSourcesError> {
        let mut raw = RawSources::new();
        let mut pending = vec![dir.to_path_buf()];
        let mut files = 0usize;
        let mut total = 0u64;
        while let Some(current) = pending.pop() {
            let entries = std::fs::read_dir(&current).map_err(|source| RawSourcesError::Io {
                path: current.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| RawSourcesError::Io {
                    path: current.clone(),
                    source,
                })?;
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).map_err(|source| RawSourcesError::Io {
                    path: path.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    pending.push(path);
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
                files += 1;
                if files > MAX_BUNDLE_FILES {
                    return Err(RawSourcesError::Bundle {
                        path,
                        reason: format!("more than {MAX_BUNDLE_FILES} files: too many for a report bundle"),
                    });
                }
                let Some(name) = relative_name(dir, &path) else {
                    continue;
                };
                // Checked again on the opened file: it may have been swapped since it was listed.
                let bytes = crate::files::read_regular(&path, crate::files::BUNDLE_FILE_MAX_BYTES)?;
                total = total.saturating_add(bytes.len() as u64);
                if total > crate::files::BUNDLE_MAX_BYTES {
                    return Err(RawSourcesError::Bundle {
                        path,
                        reason: format!(
                            "the bundle holds more than {} bytes: too large for a report bundle",
                            crate::files::BUNDLE_MAX_BYTES
                        ),
                    });
                }
                match name.strip_suffix(ERROR_SUFFIX) {
                    Some(base) if Self::is_valid_name(base) => {
                        raw.insert_error(base, &String::from_utf8_lossy(&bytes))?;
                    }
                    Some(_) => {}
                    None if Self::is_valid_name(&name) => {
                        // A source and its error cannot both stand; the data wins.
                        raw.errors.remove(&name);
                        raw.sources.insert(name, bytes);
                    }
                    None => {}
                }
            }
        }
        // insert_error may have run after its source was loaded; keep the data.
        let loaded: Vec<String> = raw.sources.keys().cloned().collect();
        for name in loaded {
            raw.errors.remove(&name);
        }
        Ok(raw)
    }
}

/// `dir/a/b` → "a/b" (None for names that are not UTF-8: sources never are).
fn relative_name(dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(dir).ok()?;
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

// ---------------------------------------------------------------------------------------------
// The report

/// Builds the report from what the readers gathered. Pure: no I/O, never panics.
pub fn parse(raw: &RawSources) -> HardwareReport {
    let mut errors: Vec<SourceError> = raw
        .errors()
        // Absent tools are normal; power readers' failures are told in `power_unavailable_reason`.
        .filter(|(name, reason)| {
            !reason.starts_with(NOT_PRESENT) && *name != source::MACMON_PIPE && *name != source::RAPL_ENERGY_UJ
        })
        .map(|(name, reason)| SourceError {
            source: name.to_owned(),
            reason: reason.to_owned(),
        })
        .collect();
    let os = raw
        .text(source::OS)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let is_linux = os.as_deref() == Some("linux");

    let mut thunderbolt = if is_linux {
        linux_thunderbolt(raw)
    } else {
        macos_thunderbolt(raw, &mut errors)
    };
    let rdma = rdma_state(raw, is_linux);
    if let Some(text) = raw.text(source::IBV_DEVINFO) {
        let devices = rdma::parse_ibv_devinfo(&text);
        let active: BTreeMap<&str, bool> = devices.iter().map(|(k, v)| (rdma::interface_of_hca(k), *v)).collect();
        for port in &mut thunderbolt {
            if let Some(interface) = &port.interface {
                port.rdma_active = Some(active.get(interface.as_str()).copied().unwrap_or(false));
            }
        }
    }
    for port in &mut thunderbolt {
        port.slow = port.link_up && port.peer_is_host && clusterbar_model::limits::below_tb5(port.speed_gbps);
    }
    let bridge = bridge_info(raw, &thunderbolt);

    let mut report = HardwareReport {
        os,
        thunderbolt,
        rdma,
        bridge,
        power_watts: None,
        power_source: None,
        power_unavailable_reason: None,
        cpu_power_watts: None,
        gpu_power_watts: None,
        gpu_usage: None,
        temp_c: None,
        gpu_temp_c: None,
        gpu_wired_limit_bytes: None,
        gpu_wired_limit_estimated: false,
        source_errors: Vec::new(),
    };
    let ram_total = if is_linux {
        linux_power(raw, &mut report);
        None
    } else {
        macos_power(raw, &mut report, &mut errors)
    };
    if raw.get(source::SYSCTL_IOGPU_WIRED_LIMIT_MB).is_some()
        || raw.get(source::SYSCTL_HW_MEMSIZE).is_some()
        || raw.get(source::METAL_RECOMMENDED_WORKING_SET).is_some()
    {
        let metal = raw
            .text(source::METAL_RECOMMENDED_WORKING_SET)
            .and_then(|t| gpu_memory::parse_metal_working_set(&t));
        let wired_mb = raw
            .text(source::SYSCTL_IOGPU_WIRED_LIMIT_MB)
            .and_then(|t| gpu_memory::parse_wired_limit_mb(&t));
        let memsize = raw
            .text(source::SYSCTL_HW_MEMSIZE)
            .and_then(|t| t.trim().parse::<u64>().ok())
            .or(ram_total);
        if let Some(limit) = gpu_memory::gpu_memory_limit(metal, wired_mb, memsize) {
            report.gpu_wired_limit_bytes = Some(limit.limit_bytes);
            report.gpu_wired_limit_estimated = limit.estimated;
        }
    }
    report.source_errors = errors;
    report
}

fn macos_thunderbolt(raw: &RawSources, errors: &mut Vec<SourceError>) -> Vec<ThunderboltPort> {
    let ioreg = raw
        .text(source::IOREG_THUNDERBOLT)
        .map(|t| thunderbolt::host_ports_from_ioreg(&thunderbolt::parse_ioreg_ports(&t)))
        .unwrap_or_default();
    let profiler = match raw.text(source::SYSTEM_PROFILER_THUNDERBOLT_JSON) {
        Some(text) => match thunderbolt::parse_system_profiler_json(&text) {
            Ok(ports) => ports,
            Err(e) => {
                errors.push(SourceError {
                    source: source::SYSTEM_PROFILER_THUNDERBOLT_JSON.into(),
                    reason: e.to_string(),
                });
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let hardware_ports = raw
        .text(source::NETWORKSETUP_HARDWARE_PORTS)
        .map(|t| thunderbolt::parse_hardware_ports(&t))
        .unwrap_or_default();
    thunderbolt::merge_macos(&ioreg, &profiler, &hardware_ports)
}

fn linux_thunderbolt(raw: &RawSources) -> Vec<ThunderboltPort> {
    let devices: BTreeSet<String> = raw
        .names_under(source::THUNDERBOLT_DEVICES)
        .filter_map(|rest| rest.split_once('/').map(|(device, _)| device.to_owned()))
        .collect();
    let devices: Vec<String> = devices.into_iter().collect();
    thunderbolt::linux_ports(&devices, |device, attribute| {
        raw.text(&format!("{}{device}/{attribute}", source::THUNDERBOLT_DEVICES))
            .map(Cow::into_owned)
    })
}

fn rdma_state(raw: &RawSources, is_linux: bool) -> RdmaState {
    if is_linux {
        return RdmaState::new(
            RdmaStatus::Unsupported,
            Some("RDMA over Thunderbolt is a macOS 26.2+ feature".into()),
        );
    }
    if let Some(text) = raw.text(source::RDMA_CTL_STATUS) {
        return rdma::parse_rdma_ctl_status(&text);
    }
    match raw.error(source::RDMA_CTL_STATUS) {
        Some(reason) if reason.starts_with(NOT_PRESENT) => RdmaState::new(
            RdmaStatus::Unsupported,
            Some("no /usr/bin/rdma_ctl (needs macOS 26.2 or later)".into()),
        ),
        Some(reason) => RdmaState::new(RdmaStatus::Unknown, Some(reason.to_owned())),
        None => RdmaState::new(RdmaStatus::Unknown, Some("rdma_ctl was not read".into())),
    }
}

fn bridge_info(raw: &RawSources, ports: &[ThunderboltPort]) -> BridgeInfo {
    let mut info = BridgeInfo::default();
    if let Some(text) = raw.text(source::IFCONFIG_BRIDGE0) {
        let parsed = bridge::parse_ifconfig_bridge(&text);
        info.present = !text.trim().is_empty();
        info.members = parsed.members;
        info.active = parsed.active.unwrap_or(false);
        for address in parsed.addresses {
            push_ip(&mut info.ips, "bridge0", address);
        }
    }
    info.service_enabled = raw
        .text(source::NETWORKSETUP_BRIDGE_ENABLED)
        .and_then(|t| bridge::parse_service_enabled(&t));
    if let Some(text) = raw.text(source::INTERFACE_ADDRESSES) {
        let port_interfaces: BTreeSet<&str> = ports.iter().filter_map(|p| p.interface.as_deref()).collect();
        for (name, address) in bridge::parse_interface_addresses(&text) {
            let relevant = name == "bridge0"
                || info.members.contains(&name)
                || port_interfaces.contains(name.as_str())
                || name.starts_with("thunderbolt");
            if relevant {
                push_ip(&mut info.ips, &name, address);
            }
        }
    }
    info
}

fn push_ip(ips: &mut Vec<InterfaceIp>, interface: &str, address: std::net::IpAddr) {
    if ips.iter().any(|ip| ip.interface == interface && ip.address == address) {
        return;
    }
    ips.push(InterfaceIp {
        interface: interface.to_owned(),
        address,
        self_assigned: bridge::is_self_assigned(&address),
    });
}

/// Fills the macmon figures; returns macmon's RAM total (a fallback for the GPU estimate).
fn macos_power(raw: &RawSources, report: &mut HardwareReport, errors: &mut Vec<SourceError>) -> Option<u64> {
    let Some(text) = raw.text(source::MACMON_PIPE) else {
        report.power_unavailable_reason = Some(
            raw.error(source::MACMON_PIPE)
                .unwrap_or("macmon was not read")
                .to_owned(),
        );
        return None;
    };
    let sample = match power::parse_macmon_output(&text) {
        Ok(sample) => sample,
        Err(e) => {
            errors.push(SourceError {
                source: source::MACMON_PIPE.into(),
                reason: e.to_string(),
            });
            report.power_unavailable_reason = Some(format!("macmon output unreadable: {e}"));
            return None;
        }
    };
    match (sample.sys_power_watts, sample.soc_power_watts) {
        (Some(w), _) => {
            report.power_watts = Some(w);
            report.power_source = Some("macmon sys_power".into());
        }
        (None, Some(w)) => {
            report.power_watts = Some(w);
            report.power_source = Some("macmon all_power (CPU+GPU+ANE only)".into());
        }
        (None, None) => report.power_unavailable_reason = Some("macmon reported no power figure".into()),
    }
    report.cpu_power_watts = sample.cpu_power_watts;
    report.gpu_power_watts = sample.gpu_power_watts;
    report.gpu_usage = sample.gpu_usage;
    report.temp_c = sample.cpu_temp_c;
    report.gpu_temp_c = sample.gpu_temp_c;
    sample.ram_total_bytes
}

fn linux_power(raw: &RawSources, report: &mut HardwareReport) {
    let max_range = raw
        .text(source::RAPL_MAX_ENERGY_RANGE_UJ)
        .and_then(|t| t.trim().parse::<u64>().ok());
    let rapl = raw
        .text(source::RAPL_ENERGY_SAMPLES)
        .and_then(|t| power::rapl_watts(&t, max_range));
    // hwmon: per device name, its power readings and temperatures.
    let mut hwmon_power: Option<(String, f64)> = None;
    let mut hottest: Option<f64> = None;
    let mut hwmon_names: Vec<&str> = raw
        .names_under(source::HWMON)
        .filter_map(|rest| rest.split_once('/').map(|(d, _)| d))
        .collect();
    hwmon_names.sort_by_key(|d| (d.trim_start_matches("hwmon").parse::<u64>().unwrap_or(u64::MAX), *d));
    hwmon_names.dedup();
    for device in hwmon_names {
        let prefix = format!("{}{device}/", source::HWMON);
        let label = raw
            .text(&format!("{prefix}name"))
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| device.to_owned());
        for attribute in raw.names_under(&prefix).filter(|a| !a.contains('/')) {
            let Some(value) = raw.text(&format!("{prefix}{attribute}")) else {
                continue;
            };
            if attribute.starts_with("power") && attribute.ends_with("_average") && hwmon_power.is_none() {
                if let Some(w) = power::parse_microwatts(&value) {
                    hwmon_power = Some((label.clone(), w));
                }
            } else if attribute.starts_with("temp") && attribute.ends_with("_input") {
                if let Some(c) = power::parse_millidegrees(&value) {
                    hottest = Some(hottest.map_or(c, |h: f64| h.max(c)));
                }
            }
        }
    }
    report.temp_c = hottest;
    match (rapl, hwmon_power) {
        (Some(w), _) => {
            report.power_watts = Some(w);
            report.power_source = Some("rapl package".into());
        }
        (None, Some((label, w))) => {
            report.power_watts = Some(w);
            report.power_source = Some(format!("hwmon {label}"));
        }
        (None, None) => {
            report.power_unavailable_reason = Some(match raw.error(source::RAPL_ENERGY_UJ) {
                Some(reason) => reason.to_owned(),
                None if raw.get(source::RAPL_ENERGY_SAMPLES).is_some() => {
                    "measuring (RAPL needs two readings)".to_owned()
                }
                None => "no power sensor (no RAPL or hwmon power reading)".to_owned(),
            })
        }
    }
    // amdgpu's busy percentage; the first card that has one.
    let mut cards: Vec<&str> = raw
        .names_under(source::DRM)
        .filter(|rest| rest.ends_with("/device/gpu_busy_percent"))
        .collect();
    cards.sort();
    report.gpu_usage = cards.iter().find_map(|rest| {
        raw.text(&format!("{}{rest}", source::DRM))
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p))
            .map(|p| p / 100.0)
    });
}

// ---------------------------------------------------------------------------------------------
// Warnings

/// Conditions in the hardware report (and memory) that need the user's attention.
///
/// `tb_bridge_cycle` rule: the bridge is on and at least two linked host-to-host ports are on
/// bridge member interfaces (or their interface is unknown). A Mac can only see its own links,
/// so this fires for a ring of 3+ Macs (each has two Mac links — the loop), for two cables
/// to the same Mac (also a loop), and for the middle Mac of a chain (not a loop yet, but one
/// more cable closes it); the message says so.
/// The codes [`this_mac_warnings`] derives from the hardware's outputs (a report bundle derives
/// them again; others are kept as recorded).
pub const DERIVED_FROM_HARDWARE: [clusterbar_model::WarningCode; 6] = {
    use clusterbar_model::WarningCode::*;
    [
        TbLinkSlow,
        RdmaDisabled,
        TbBridgeOn,
        TbBridgeCycle,
        MemoryPressure,
        ProbeFailed,
    ]
};

/// This Mac's hardware conditions and every source that failed: what a sample and a report
/// bundle's diagnosis both show.
pub fn this_mac_warnings(report: &HardwareReport, memory: Option<&MemoryInfo>) -> Vec<Warning> {
    let mut warnings = hardware_warnings(report, memory);
    warnings.extend(
        report
            .source_errors
            .iter()
            .map(|error| Warning::probe_failed(&error.source, &error.reason)),
    );
    warnings
}

pub fn hardware_warnings(report: &HardwareReport, memory: Option<&MemoryInfo>) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for port in report.thunderbolt.iter().filter(|p| p.slow) {
        if let Some(gbps) = port.speed_gbps {
            warnings.push(Warning::tb_link_slow(
                port.peer.as_deref(),
                port.socket.as_deref(),
                gbps,
            ));
        }
    }
    let tb5_hardware = report.thunderbolt.iter().any(|p| p.tb5_capable);
    if tb5_hardware && report.rdma.status == RdmaStatus::Disabled {
        warnings.push(Warning::rdma_disabled());
    }
    let bridge_on = report
        .bridge
        .service_enabled
        .unwrap_or(report.bridge.present && report.bridge.active);
    if bridge_on && report.rdma.status == RdmaStatus::Enabled {
        warnings.push(Warning::tb_bridge_on());
    }
    if bridge_on {
        let on_bridge = report
            .thunderbolt
            .iter()
            .filter(|p| p.link_up && p.peer_is_host)
            .filter(|p| match &p.interface {
                Some(interface) => report.bridge.members.iter().any(|m| m == interface),
                None => true,
            })
            .count();
        if on_bridge >= 2 {
            warnings.push(Warning::tb_bridge_cycle(on_bridge));
        }
    }
    if let Some(pressure) = memory.and_then(|m| m.pressure) {
        if pressure != MemoryPressure::Normal {
            warnings.push(Warning::memory_pressure(pressure));
        }
    }
    warnings
}

// ---------------------------------------------------------------------------------------------
// Readers

/// system_profiler (~0.7 s), networksetup and rdma_ctl change rarely: re-run at most this often.
pub const SLOW_SOURCES_TTL: Duration = Duration::from_secs(60);
/// ioreg (Thunderbolt link speeds) and `ifconfig bridge0`: re-run at most this often.
pub const MEDIUM_SOURCES_TTL: Duration = Duration::from_secs(5);
/// A macmon line older than this is stale (macmon samples every second).
const MACMON_MAX_AGE: Duration = Duration::from_secs(10);
/// After macmon exits, wait this long before starting it again.
const MACMON_RESTART_AFTER: Duration = Duration::from_secs(30);

/// How long each source took in one [`HardwareReader::sample_timed`] call.
pub type SourceTimings = Vec<(String, Duration)>;

/// Holds the state between samples: the slow sources' cache, the macmon child, the previous
/// RAPL reading. One per process is enough ([`read_raw`] keeps one).
pub struct HardwareReader {
    epoch: Instant,
    slow: Option<(Instant, RawSources)>,
    medium: Option<(Instant, RawSources)>,
    macmon: Option<MacmonReader>,
    macmon_started: Option<Instant>,
    /// The in-process macmon library (macOS); its error is kept so it is tried once.
    #[cfg(target_os = "macos")]
    macmon_library: Option<Result<power::MacmonInProcess, String>>,
    rapl_previous: Option<(u64, u64)>,
}

impl Default for HardwareReader {
    fn default() -> Self {
        Self::new()
    }
}

impl HardwareReader {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            slow: None,
            medium: None,
            macmon: None,
            macmon_started: None,
            #[cfg(target_os = "macos")]
            macmon_library: None,
            rapl_previous: None,
        }
    }

    /// Reads every source of this OS once (cheap ones each call, slow ones from the cache).
    pub fn sample(&mut self) -> RawSources {
        self.sample_timed().0
    }

    /// [`sample`](Self::sample) plus how long each source took (for benchmarks and `doctor`).
    pub fn sample_timed(&mut self) -> (RawSources, SourceTimings) {
        let mut raw = RawSources::new();
        let mut timings = SourceTimings::new();
        #[cfg(target_os = "macos")]
        self.sample_macos(&mut raw, &mut timings);
        #[cfg(target_os = "linux")]
        self.sample_linux(&mut raw, &mut timings, &super::sysfs_root());
        let started = Instant::now();
        record_interface_addresses(&mut raw);
        timings.push((source::INTERFACE_ADDRESSES.into(), started.elapsed()));
        (raw, timings)
    }

    /// Samples until the sources that need time (macmon's first line, RAPL's second reading)
    /// are there, or `max_wait` passes — for one-shot callers such as `clusterbar report`.
    pub fn sample_settled(&mut self, max_wait: Duration) -> RawSources {
        let deadline = Instant::now() + max_wait;
        loop {
            let raw = self.sample();
            let waiting_for_macmon = raw
                .error(source::MACMON_PIPE)
                .is_some_and(|e| e.starts_with("waiting for"));
            let waiting_for_rapl = raw
                .text(source::RAPL_ENERGY_SAMPLES)
                .is_some_and(|t| t.lines().count() < 2);
            if !(waiting_for_macmon || waiting_for_rapl) || Instant::now() >= deadline {
                return raw;
            }
            std::thread::sleep(Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    fn sample_macos(&mut self, raw: &mut RawSources, timings: &mut SourceTimings) {
        put(raw, source::OS, b"macos");
        // The two tools a sample runs (a fork and exec each, milliseconds of CPU on macOS) are
        // re-run at most every few seconds: the open popover samples every second, a cable
        // change still shows within MEDIUM_SOURCES_TTL.
        cached_sources(&mut self.medium, MEDIUM_SOURCES_TTL, raw, |medium| {
            let commands: [(&str, &str, &[&str]); 2] = [
                (
                    source::IOREG_THUNDERBOLT,
                    "/usr/sbin/ioreg",
                    &["-r", "-c", "IOThunderboltSwitch", "-l", "-w0"],
                ),
                (source::IFCONFIG_BRIDGE0, "/sbin/ifconfig", &["bridge0"]),
            ];
            for (name, program, args) in commands {
                record_command(medium, timings, name, program, args);
            }
        });
        #[cfg(target_os = "macos")]
        for (name, sysctl_name) in [
            (source::SYSCTL_IOGPU_WIRED_LIMIT_MB, "iogpu.wired_limit_mb"),
            (source::SYSCTL_HW_MEMSIZE, "hw.memsize"),
        ] {
            record_read(raw, timings, name, || {
                super::sysctl::integer(sysctl_name).map_err(|e| e.to_string())
            });
        }
        #[cfg(target_os = "macos")]
        record_read(raw, timings, source::METAL_RECOMMENDED_WORKING_SET, || {
            gpu_memory::read_metal_working_set()
                .map(|bytes| bytes.to_string())
                .ok_or_else(|| "no Metal device".to_owned())
        });

        cached_sources(&mut self.slow, SLOW_SOURCES_TTL, raw, |slow| {
            let slow_commands: [(&str, &str, &[&str]); 3] = [
                (
                    source::SYSTEM_PROFILER_THUNDERBOLT_JSON,
                    "/usr/sbin/system_profiler",
                    &["SPThunderboltDataType", "-json"],
                ),
                (
                    source::NETWORKSETUP_HARDWARE_PORTS,
                    "/usr/sbin/networksetup",
                    &["-listallhardwareports"],
                ),
                (
                    source::NETWORKSETUP_BRIDGE_ENABLED,
                    "/usr/sbin/networksetup",
                    &["-getnetworkserviceenabled", "Thunderbolt Bridge"],
                ),
            ];
            for (name, program, args) in slow_commands {
                record_command(slow, timings, name, program, args);
            }
            if Path::new("/usr/bin/rdma_ctl").exists() {
                record_command(slow, timings, source::RDMA_CTL_STATUS, "/usr/bin/rdma_ctl", &["status"]);
            } else {
                set_error(slow, source::RDMA_CTL_STATUS, NOT_PRESENT);
            }
        });
        // Per-port RDMA state matters only when RDMA is on (otherwise ibv_devinfo finds no device).
        let rdma_on = raw
            .text(source::RDMA_CTL_STATUS)
            .is_some_and(|t| rdma::parse_rdma_ctl_status(&t).status == RdmaStatus::Enabled);
        if rdma_on {
            match which::which("ibv_devinfo")
                .ok()
                .or_else(|| existing("/usr/bin/ibv_devinfo"))
            {
                Some(program) => record_command(raw, timings, source::IBV_DEVINFO, &program.to_string_lossy(), &[]),
                None => set_error(raw, source::IBV_DEVINFO, NOT_PRESENT),
            }
        }

        let started = Instant::now();
        self.sample_macmon(raw);
        timings.push((source::MACMON_PIPE.into(), started.elapsed()));
    }

    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    fn sample_macmon(&mut self, raw: &mut RawSources) {
        #[cfg(target_os = "macos")]
        {
            let library = self.macmon_library.get_or_insert_with(power::MacmonInProcess::start);
            match library {
                Ok(library) => {
                    match library.sample() {
                        Ok(line) => put(raw, source::MACMON_PIPE, line.as_bytes()),
                        Err(reason) => set_error(raw, source::MACMON_PIPE, &reason),
                    }
                    return;
                }
                Err(reason) if power::find_macmon().is_none() => {
                    let reason = format!("{reason}; a newer macmon may know this chip: {}", power::MACMON_MISSING);
                    set_error(raw, source::MACMON_PIPE, &reason);
                    return;
                }
                // An installed macmon may be newer than the library: use it.
                Err(_) => {}
            }
        }
        let ended = self.macmon.as_ref().is_some_and(MacmonReader::has_ended);
        let may_restart = self
            .macmon_started
            .is_none_or(|at| at.elapsed() >= MACMON_RESTART_AFTER);
        if ended && may_restart {
            self.macmon = None;
        }
        if self.macmon.is_none() && may_restart {
            let Some(program) = power::find_macmon() else {
                set_error(raw, source::MACMON_PIPE, power::MACMON_MISSING);
                return;
            };
            self.macmon_started = Some(Instant::now());
            match MacmonReader::spawn(&program, &["pipe"]) {
                Ok(reader) => self.macmon = Some(reader),
                Err(e) => {
                    tracing::warn!(error = %e, "starting macmon failed");
                    set_error(raw, source::MACMON_PIPE, &format!("starting macmon: {e}"));
                    return;
                }
            }
        }
        match &self.macmon {
            Some(reader) => match reader.latest(MACMON_MAX_AGE) {
                Ok(line) => put(raw, source::MACMON_PIPE, line.as_bytes()),
                Err(reason) => set_error(raw, source::MACMON_PIPE, &reason),
            },
            None => set_error(raw, source::MACMON_PIPE, "macmon failed to start; retrying shortly"),
        }
    }

    /// Reads the Linux sources below `sysfs` (a real `/sys` or a test tree).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn sample_linux(&mut self, raw: &mut RawSources, timings: &mut SourceTimings, sysfs: &Path) {
        put(raw, source::OS, b"linux");
        let started = Instant::now();
        const TB_ATTRIBUTES: [&str; 11] = [
            "uevent",
            "rx_speed",
            "tx_speed",
            "rx_lanes",
            "tx_lanes",
            "generation",
            "authorized",
            "device_name",
            "vendor_name",
            "unique_id",
            "device",
        ];
        for device in dir_names(&sysfs.join("bus/thunderbolt/devices")) {
            for attribute in TB_ATTRIBUTES {
                let relative = format!("bus/thunderbolt/devices/{device}/{attribute}");
                record_sysfs_file(raw, sysfs, &relative);
            }
        }
        timings.push(("sysfs thunderbolt".into(), started.elapsed()));

        let started = Instant::now();
        for hwmon in dir_names(&sysfs.join("class/hwmon")) {
            let dir = sysfs.join("class/hwmon").join(&hwmon);
            for file in file_names(&dir) {
                let wanted = file == "name"
                    || (file.starts_with("power") && file.ends_with("_average"))
                    || (file.starts_with("temp") && file.ends_with("_input"));
                if wanted {
                    record_sysfs_file(raw, sysfs, &format!("class/hwmon/{hwmon}/{file}"));
                }
            }
        }
        for card in dir_names(&sysfs.join("class/drm")) {
            if card.starts_with("card") && !card.contains('-') {
                record_sysfs_file(raw, sysfs, &format!("class/drm/{card}/device/gpu_busy_percent"));
            }
        }
        timings.push(("sysfs hwmon+drm".into(), started.elapsed()));

        let started = Instant::now();
        self.sample_rapl(raw, sysfs);
        timings.push(("sysfs rapl".into(), started.elapsed()));
    }

    fn sample_rapl(&mut self, raw: &mut RawSources, sysfs: &Path) {
        let relative = |name: &str| name.strip_prefix(source::SYSFS_PREFIX).unwrap_or(name).to_owned();
        record_sysfs_file(raw, sysfs, &relative(source::RAPL_MAX_ENERGY_RANGE_UJ));
        let path = sysfs.join(relative(source::RAPL_ENERGY_UJ));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                let text = String::from_utf8_lossy(&bytes);
                match text.trim().parse::<u64>() {
                    Ok(energy) => {
                        let mut samples = String::new();
                        if let Some((t, e)) = self.rapl_previous {
                            samples.push_str(&format!("{t} {e}\n"));
                        }
                        samples.push_str(&format!("{now_ms} {energy}\n"));
                        put(raw, source::RAPL_ENERGY_SAMPLES, samples.as_bytes());
                        self.rapl_previous = Some((now_ms, energy));
                    }
                    Err(_) => set_error(raw, source::RAPL_ENERGY_UJ, "RAPL energy_uj is not a number"),
                }
                put(raw, source::RAPL_ENERGY_UJ, &bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => set_error(
                raw,
                source::RAPL_ENERGY_UJ,
                "RAPL energy is readable only by root (Linux 5.10+): n/a",
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => set_error(raw, source::RAPL_ENERGY_UJ, &format!("reading {}: {e}", path.display())),
        }
    }
}

/// Samples this machine with the process-wide [`HardwareReader`] (so caches and the macmon
/// child live across calls).
pub fn read_raw() -> RawSources {
    static READER: OnceLock<Mutex<HardwareReader>> = OnceLock::new();
    let reader = READER.get_or_init(|| Mutex::new(HardwareReader::new()));
    let mut guard = match reader.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard.sample()
}

/// [`read_raw`] then [`parse`].
pub fn read() -> HardwareReport {
    parse(&read_raw())
}

fn put(raw: &mut RawSources, name: &str, bytes: &[u8]) {
    if let Err(e) = raw.insert(name, bytes) {
        tracing::debug!(error = %e, "source not recorded");
    }
}

fn set_error(raw: &mut RawSources, name: &str, reason: &str) {
    if let Err(e) = raw.insert_error(name, reason) {
        tracing::debug!(error = %e, "source error not recorded");
    }
}

fn merge_into(raw: &mut RawSources, other: &RawSources) {
    for name in other.names() {
        if let Some(bytes) = other.get(name) {
            put(raw, name, bytes);
        }
    }
    for (name, reason) in other.errors() {
        set_error(raw, name, reason);
    }
}

#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn existing(path: &str) -> Option<PathBuf> {
    Some(PathBuf::from(path)).filter(|p| p.is_file())
}

#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
/// Sources re-read at most every `ttl`: `read` fills a fresh set when the cached one is that old; the
/// cached set goes into `raw` either way.
fn cached_sources(
    cache: &mut Option<(Instant, RawSources)>,
    ttl: Duration,
    raw: &mut RawSources,
    read: impl FnOnce(&mut RawSources),
) {
    if cache.as_ref().is_none_or(|(at, _)| at.elapsed() >= ttl) {
        let mut fresh = RawSources::new();
        read(&mut fresh);
        *cache = Some((Instant::now(), fresh));
    }
    if let Some((_, cached)) = cache {
        merge_into(raw, cached);
    }
}

/// Records what an in-process read returned (or why it failed) and how long it took.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn record_read(
    raw: &mut RawSources,
    timings: &mut SourceTimings,
    name: &str,
    read: impl FnOnce() -> Result<String, String>,
) {
    let started = Instant::now();
    match read() {
        Ok(value) => put(raw, name, value.as_bytes()),
        Err(reason) => set_error(raw, name, &reason),
    }
    timings.push((name.to_owned(), started.elapsed()));
}

fn record_command(raw: &mut RawSources, timings: &mut SourceTimings, name: &str, program: &str, args: &[&str]) {
    let started = Instant::now();
    match super::run_tool(program, args) {
        Ok(output) => put(raw, name, output.as_bytes()),
        // `ifconfig bridge0` on a Mac without the bridge, a missing tool: absent, not broken.
        Err(e @ super::ProbeError::Absent { .. }) => set_error(raw, name, &format!("{NOT_PRESENT}: {e}")),
        Err(e) => set_error(raw, name, &e.to_string()),
    }
    timings.push((name.to_owned(), started.elapsed()));
}

fn record_sysfs_file(raw: &mut RawSources, sysfs: &Path, relative: &str) {
    let name = format!("{}{relative}", source::SYSFS_PREFIX);
    match std::fs::read(sysfs.join(relative)) {
        Ok(bytes) => put(raw, &name, &bytes),
        // Attributes differ by kernel and device type; a missing one is normal.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => set_error(raw, &name, &e.to_string()),
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    entry_names(dir, Path::is_dir)
}

fn file_names(dir: &Path) -> Vec<String> {
    entry_names(dir, Path::is_file)
}

/// The sorted names of the entries of `dir` whose path passes `keep` (none when it cannot be read).
fn entry_names(dir: &Path, keep: fn(&Path) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| keep(&e.path()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn record_interface_addresses(raw: &mut RawSources) {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => {
            let pairs: Vec<(String, std::net::IpAddr)> =
                interfaces.into_iter().map(|i| (i.name.clone(), i.ip())).collect();
            put(
                raw,
                source::INTERFACE_ADDRESSES,
                bridge::format_interface_addresses(&pairs).as_bytes(),
            );
        }
        Err(e) => set_error(raw, source::INTERFACE_ADDRESSES, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::power::tests::{close, jsonc_to_line, MACMON_080};
    use clusterbar_model::warning::Severity;

    const TYPE7_IDLE: &str = include_str!(
        "../../tests/fixtures/macos/ioreg-IOThunderboltSwitchType7-host-idle-excerpt-whatcable-issue52-jshier.txt"
    );
    const M5PRO: &str = include_str!(
        "../../tests/fixtures/macos/ioreg-IOThunderboltSwitch-M5Pro-t6050-host-TB5-asym-excerpt-whatcable-issue52-NoFr1ends.txt"
    );
    const SP_M5MAX: &str =
        include_str!("../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-M5Max-MacBookPro-TB5-peer.json");
    const SP_M3ULTRA: &str = include_str!(
        "../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-M3Ultra-MacStudio-TB5-peer.json"
    );
    const HARDWARE_PORTS: &str =
        include_str!("../../tests/fixtures/macos/networksetup-listallhardwareports-M4Max-MacStudio-macOS26.6.2.txt");
    const IFCONFIG_BRIDGE0: &str =
        include_str!("../../tests/fixtures/macos/ifconfig-bridge0-thunderbolt-bridge-idle-no-ip.txt");
    const WIRED_0: &str = include_str!("../../tests/fixtures/macos/sysctl-iogpu.wired_limit_mb-default-0.txt");
    const WIRED_86016: &str = include_str!("../../tests/fixtures/macos/sysctl-iogpu.wired_limit_mb-raised-86016.txt");
    const TB_UGREEN: &str =
        include_str!("../../tests/fixtures/linux/sys-bus-thunderbolt-0-1-device-intel-host-ugreen.txt");
    const TB_NAS_XDOMAIN: &str =
        include_str!("../../tests/fixtures/linux/sys-bus-thunderbolt-0-3-xdomain-nas-20Gbps-x2-chrisbergeron.txt");
    const RAPL_LS: &str = include_str!("../../tests/fixtures/linux/ls-l-intel-rapl-energy_uj-root-only.txt");
    const GIB: u64 = 1024 * 1024 * 1024;

    fn raw(pairs: &[(&str, &str)]) -> RawSources {
        let mut r = RawSources::new();
        for (k, v) in pairs {
            r.insert(k, v.as_bytes()).unwrap();
        }
        r
    }

    /// `# cat …/attr` followed by its value, as in the captured shell sessions.
    fn cat_values(text: &str) -> Vec<(String, String)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut values = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if let Some((_, path)) = line.split_once("cat ") {
                let attribute = path.trim().rsplit('/').next().unwrap().to_owned();
                let value = lines[i + 1..].iter().find(|l| !l.trim().is_empty()).unwrap();
                values.push((attribute, format!("{}\n", value.trim())));
            }
        }
        values
    }

    fn macos_bundle() -> RawSources {
        let mut r = raw(&[
            (source::OS, "macos\n"),
            (source::IOREG_THUNDERBOLT, TYPE7_IDLE),
            (source::SYSTEM_PROFILER_THUNDERBOLT_JSON, SP_M5MAX),
            (source::NETWORKSETUP_HARDWARE_PORTS, HARDWARE_PORTS),
            (source::IFCONFIG_BRIDGE0, IFCONFIG_BRIDGE0),
            (source::NETWORKSETUP_BRIDGE_ENABLED, "Enabled\n"),
            (source::RDMA_CTL_STATUS, "disabled\n"),
            (source::SYSCTL_IOGPU_WIRED_LIMIT_MB, WIRED_0),
            (source::SYSCTL_HW_MEMSIZE, "137438953472\n"),
            (
                source::INTERFACE_ADDRESSES,
                "lo0 127.0.0.1\nen2 169.254.40.2\nen0 192.168.1.20\n",
            ),
        ]);
        r.insert(source::MACMON_PIPE, jsonc_to_line(MACMON_080)).unwrap();
        r.insert_error(source::IBV_DEVINFO, NOT_PRESENT).unwrap();
        r
    }

    #[test]
    fn m5_max_bundle_report() {
        let report = parse(&macos_bundle());
        assert_eq!(report.os.as_deref(), Some("macos"));
        // ioreg's idle Type7 receptacle 6 plus system_profiler's receptacles 1–3.
        let sockets: Vec<_> = report.thunderbolt.iter().map(|p| p.socket.clone().unwrap()).collect();
        assert_eq!(sockets, ["1", "2", "3", "6"]);
        let studio = &report.thunderbolt[0];
        assert!(studio.link_up && studio.peer_is_host && studio.tb5_capable);
        assert_eq!(studio.speed_gbps, Some(80.0));
        assert_eq!(studio.peer.as_deref(), Some("Mac Studio"));
        assert_eq!(
            studio.peer_domain_uuid.as_deref(),
            Some("28CA4C30-A263-4C55-B302-953416D0B209")
        );
        assert_eq!(studio.interface.as_deref(), Some("en2"));
        assert_eq!(studio.rdma_active, None);
        let idle = &report.thunderbolt[3];
        assert!(!idle.link_up && idle.tb5_capable && idle.speed_gbps.is_none());
        assert_eq!(report.rdma.status, RdmaStatus::Disabled);
        assert_eq!(report.bridge.members, ["en1", "en2", "en3"]);
        assert!(report.bridge.present && !report.bridge.active);
        assert_eq!(report.bridge.service_enabled, Some(true));
        assert_eq!(report.bridge.ips.len(), 1);
        assert_eq!(report.bridge.ips[0].interface, "en2");
        assert!(report.bridge.ips[0].self_assigned);
        assert!(close(report.power_watts, 7.6835761070251465));
        assert_eq!(report.power_source.as_deref(), Some("macmon sys_power"));
        assert_eq!(report.power_unavailable_reason, None);
        assert!(close(report.gpu_usage, 0.32043036818504333));
        assert!(close(report.temp_c, 50.0324592590332));
        assert_eq!(report.gpu_wired_limit_bytes, Some(96 * GIB));
        assert!(report.gpu_wired_limit_estimated);
        assert!(report.source_errors.is_empty(), "{:?}", report.source_errors);

        let codes: Vec<String> = hardware_warnings(&report, None)
            .into_iter()
            .map(|w| w.code.to_string())
            .collect();
        assert_eq!(codes, ["rdma_disabled"]);

        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rdma"]["status"], "disabled");
        assert_eq!(json["thunderbolt"][0]["speed_gbps"], 80.0);
        let back: HardwareReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn m3_ultra_bundle_with_rdma_on_and_active_port() {
        let mut r = raw(&[
            (source::OS, "macos"),
            (source::IOREG_THUNDERBOLT, M5PRO),
            (source::SYSTEM_PROFILER_THUNDERBOLT_JSON, SP_M3ULTRA),
            (source::NETWORKSETUP_HARDWARE_PORTS, HARDWARE_PORTS),
            (source::NETWORKSETUP_BRIDGE_ENABLED, "Disabled"),
            (source::RDMA_CTL_STATUS, "enabled"),
            (
                source::IBV_DEVINFO,
                "hca_id:\trdma_en3\n\t\tport:\t1\n\t\t\tstate:\t\t\tPORT_ACTIVE (4)\n",
            ),
            (source::SYSCTL_IOGPU_WIRED_LIMIT_MB, WIRED_86016),
        ]);
        r.insert_error(source::MACMON_PIPE, power::MACMON_MISSING).unwrap();
        let report = parse(&r);
        let to_mac = report
            .thunderbolt
            .iter()
            .find(|p| p.socket.as_deref() == Some("2"))
            .unwrap();
        assert_eq!(to_mac.peer.as_deref(), Some("MacBook Pro"));
        assert_eq!(
            to_mac.peer_domain_uuid.as_deref(),
            Some("817DCFA4-B481-4100-80FC-91C7AA969F0B")
        );
        assert_eq!(to_mac.speed_gbps, Some(80.0));
        assert_eq!(to_mac.interface.as_deref(), Some("en3"));
        assert_eq!(to_mac.rdma_active, Some(true));
        let envoy = report
            .thunderbolt
            .iter()
            .find(|p| p.socket.as_deref() == Some("4"))
            .unwrap();
        assert_eq!(envoy.rdma_active, Some(false));
        // The M5 Pro excerpt's lane has no Socket ID: it is kept, with its 120 Gb/s asymmetric link.
        assert!(report
            .thunderbolt
            .iter()
            .any(|p| p.socket.is_none() && p.speed_gbps == Some(120.0) && p.asymmetric));
        assert_eq!(report.rdma.status, RdmaStatus::Enabled);
        assert_eq!(report.power_watts, None);
        assert_eq!(report.power_unavailable_reason.as_deref(), Some(power::MACMON_MISSING));
        assert_eq!(report.gpu_wired_limit_bytes, Some(84 * GIB));
        assert!(!report.gpu_wired_limit_estimated);
        assert!(report.source_errors.is_empty(), "{:?}", report.source_errors);
        assert!(hardware_warnings(&report, None).is_empty());
    }

    #[test]
    fn missing_and_broken_macos_sources() {
        let mut r = raw(&[
            (source::OS, "macos"),
            (source::SYSTEM_PROFILER_THUNDERBOLT_JSON, "{\"SPThunderbolt"),
            (source::MACMON_PIPE, "not json"),
            (source::RDMA_CTL_STATUS, "???"),
        ]);
        r.insert_error(source::IOREG_THUNDERBOLT, "running /usr/sbin/ioreg: exit status: 1")
            .unwrap();
        let report = parse(&r);
        assert!(report.thunderbolt.is_empty());
        assert_eq!(report.rdma.status, RdmaStatus::Unknown);
        assert_eq!(report.power_watts, None);
        assert!(report
            .power_unavailable_reason
            .unwrap()
            .starts_with("macmon output unreadable"));
        let failed: Vec<&str> = report.source_errors.iter().map(|e| e.source.as_str()).collect();
        assert_eq!(
            failed,
            [
                source::IOREG_THUNDERBOLT,
                source::SYSTEM_PROFILER_THUNDERBOLT_JSON,
                source::MACMON_PIPE
            ]
        );
        let mut waiting = raw(&[(source::OS, "macos")]);
        waiting
            .insert_error(source::MACMON_PIPE, "waiting for macmon's first sample")
            .unwrap();
        let report = parse(&waiting);
        assert!(report.source_errors.is_empty());
        assert_eq!(
            report.power_unavailable_reason.as_deref(),
            Some("waiting for macmon's first sample")
        );

        let mut old_macos = raw(&[(source::OS, "macos")]);
        old_macos.insert_error(source::RDMA_CTL_STATUS, NOT_PRESENT).unwrap();
        let report = parse(&old_macos);
        assert_eq!(report.rdma.status, RdmaStatus::Unsupported);
        assert!(report.source_errors.is_empty());
        assert_eq!(report.gpu_wired_limit_bytes, None);
        assert_eq!(parse(&RawSources::new()).rdma.status, RdmaStatus::Unknown);
    }

    fn port(socket: &str, gbps: Option<f64>, host: bool, interface: Option<&str>) -> ThunderboltPort {
        ThunderboltPort {
            socket: Some(socket.into()),
            link_up: gbps.is_some(),
            speed_gbps: gbps,
            tb5_capable: true,
            peer: Some("Mac mini".into()),
            peer_is_host: host,
            interface: interface.map(str::to_owned),
            // As `parse` marks it.
            slow: host && clusterbar_model::limits::below_tb5(gbps),
            ..ThunderboltPort::default()
        }
    }

    fn report_with(ports: Vec<ThunderboltPort>, rdma: RdmaStatus, bridge: BridgeInfo) -> HardwareReport {
        let mut report = parse(&raw(&[(source::OS, "macos")]));
        report.thunderbolt = ports;
        report.rdma = RdmaState::new(rdma, None);
        report.bridge = bridge;
        report
    }

    fn codes(report: &HardwareReport, memory: Option<&MemoryInfo>) -> Vec<String> {
        hardware_warnings(report, memory)
            .into_iter()
            .map(|w| w.code.to_string())
            .collect()
    }

    #[test]
    fn warnings_for_links_rdma_and_bridge() {
        let bridge_on = BridgeInfo {
            present: true,
            members: vec!["en2".into(), "en3".into(), "en4".into()],
            active: true,
            service_enabled: Some(true),
            ips: Vec::new(),
        };
        let bridge_off = BridgeInfo {
            service_enabled: Some(false),
            ..bridge_on.clone()
        };
        // A TB4 cable to a Mac: slow. The same speed to a disk: fine. Unknown speed: no claim.
        let slow = report_with(
            vec![
                port("1", Some(40.0), true, Some("en2")),
                port("2", Some(40.0), false, None),
                ThunderboltPort {
                    speed_gbps: None,
                    link_up: true,
                    ..port("3", None, true, Some("en4"))
                },
            ],
            RdmaStatus::Enabled,
            bridge_off.clone(),
        );
        let warnings = hardware_warnings(&slow, None);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "tb_link_slow");
        assert!(warnings[0].message.contains("40 Gb/s") && warnings[0].message.contains("Mac mini"));
        assert!(warnings[0].fix.contains("TB5 cable (80 Gb/s)"));

        let fast = report_with(
            vec![port("1", Some(80.0), true, Some("en2"))],
            RdmaStatus::Enabled,
            bridge_off.clone(),
        );
        assert!(codes(&fast, None).is_empty());

        let rdma_off = report_with(
            vec![port("1", None, false, None)],
            RdmaStatus::Disabled,
            bridge_off.clone(),
        );
        let w = hardware_warnings(&rdma_off, None);
        assert_eq!(w[0].code, "rdma_disabled");
        assert!(w[0].fix.contains("rdma_ctl enable") && w[0].message.contains("~5 vs ~25 tok/s"));
        let mut not_tb5 = rdma_off.clone();
        not_tb5.thunderbolt[0].tb5_capable = false;
        assert!(codes(&not_tb5, None).is_empty());

        let bridge_with_rdma = report_with(
            vec![port("1", Some(80.0), true, Some("en2"))],
            RdmaStatus::Enabled,
            bridge_on.clone(),
        );
        assert_eq!(codes(&bridge_with_rdma, None), ["tb_bridge_on"]);
        let bridge_without_rdma = report_with(
            vec![port("1", Some(80.0), true, Some("en2"))],
            RdmaStatus::Unsupported,
            bridge_on.clone(),
        );
        assert!(codes(&bridge_without_rdma, None).is_empty());

        // Two Mac links on bridge members: a ring (or about to be one).
        let ring = report_with(
            vec![
                port("1", Some(80.0), true, Some("en2")),
                port("2", Some(80.0), true, Some("en3")),
            ],
            RdmaStatus::Unsupported,
            bridge_on.clone(),
        );
        let w = hardware_warnings(&ring, None);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].code, "tb_bridge_cycle");
        assert!(w[0].message.contains("2 Mac links"));
        assert!(codes(
            &report_with(ring.thunderbolt.clone(), RdmaStatus::Unsupported, bridge_off.clone()),
            None
        )
        .is_empty());
        // A link on an interface outside the bridge does not count.
        let outside = report_with(
            vec![
                port("1", Some(80.0), true, Some("en2")),
                port("2", Some(80.0), true, Some("en9")),
            ],
            RdmaStatus::Unsupported,
            bridge_on.clone(),
        );
        assert!(codes(&outside, None).is_empty());
        // Service state unknown: an active bridge counts as on.
        let unknown_service = BridgeInfo {
            service_enabled: None,
            ..bridge_on
        };
        assert_eq!(
            codes(
                &report_with(ring.thunderbolt, RdmaStatus::Enabled, unknown_service),
                None
            ),
            ["tb_bridge_on", "tb_bridge_cycle"]
        );
    }

    #[test]
    fn memory_pressure_warnings() {
        let report = report_with(Vec::new(), RdmaStatus::Unsupported, BridgeInfo::default());
        let mut memory = MemoryInfo {
            total_bytes: 64 * GIB,
            used_bytes: 60 * GIB,
            available_bytes: 4 * GIB,
            wired_bytes: None,
            compressed_bytes: None,
            swap_total_bytes: 0,
            swap_used_bytes: 0,
            pressure: Some(MemoryPressure::Normal),
        };
        assert!(codes(&report, Some(&memory)).is_empty());
        memory.pressure = Some(MemoryPressure::Warn);
        let w = hardware_warnings(&report, Some(&memory));
        assert_eq!(
            (w[0].code.as_str(), w[0].severity),
            ("memory_pressure", Severity::Warning)
        );
        memory.pressure = Some(MemoryPressure::Critical);
        assert_eq!(hardware_warnings(&report, Some(&memory))[0].severity, Severity::Error);
        memory.pressure = None;
        assert!(codes(&report, Some(&memory)).is_empty());
    }

    /// A sysfs tree with the fixtures' values: the Intel host router (0-0), the USB4 disk (0-1),
    /// the NAS's XDomain peer (0-3) and its service (0-3.1), hwmon sensors and RAPL.
    fn linux_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |relative: &str, text: &str| {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let devices = "bus/thunderbolt/devices";
        write(&format!("{devices}/0-0/uevent"), "DEVTYPE=thunderbolt_device\n");
        write(&format!("{devices}/0-0/generation"), "4\n");
        write(&format!("{devices}/0-1/uevent"), "DEVTYPE=thunderbolt_device\n");
        for (attribute, value) in cat_values(TB_UGREEN) {
            write(&format!("{devices}/0-1/{attribute}"), &value);
        }
        write(&format!("{devices}/0-3/uevent"), "DEVTYPE=thunderbolt_xdomain\n");
        write(&format!("{devices}/0-3/device_name"), "Mac mini\n");
        for (attribute, value) in cat_values(TB_NAS_XDOMAIN) {
            write(&format!("{devices}/0-3/{attribute}"), &value);
        }
        write(&format!("{devices}/0-3.1/uevent"), "DEVTYPE=thunderbolt_service\n");
        write("class/hwmon/hwmon0/name", "coretemp\n");
        write("class/hwmon/hwmon0/temp1_input", "45000\n");
        write("class/hwmon/hwmon0/temp2_input", "61500\n");
        write("class/hwmon/hwmon1/name", "amdgpu\n");
        write("class/hwmon/hwmon1/power1_average", "15250000\n");
        write("class/drm/card0/device/gpu_busy_percent", "37\n");
        write("class/powercap/intel-rapl:0/energy_uj", "5000000\n");
        write("class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
        dir
    }

    #[test]
    fn linux_tree_report() {
        let tree = linux_tree();
        let mut reader = HardwareReader::new();
        let mut first = RawSources::new();
        reader.sample_linux(&mut first, &mut SourceTimings::new(), tree.path());
        assert_eq!(
            first.text("sysfs/bus/thunderbolt/devices/0-3/rx_speed").unwrap(),
            "20.0 Gb/s\n"
        );
        let report = parse(&first);
        assert_eq!(report.os.as_deref(), Some("linux"));
        assert_eq!(report.rdma.status, RdmaStatus::Unsupported);
        assert_eq!(report.thunderbolt.len(), 2, "{:?}", report.thunderbolt);
        let disk = &report.thunderbolt[0];
        assert_eq!(disk.socket.as_deref(), Some("1"));
        assert!(disk.link_up && !disk.peer_is_host);
        // The fixture has rx only: 20 Gb/s × 2.
        assert_eq!(
            (disk.per_lane_gbps, disk.lanes, disk.speed_gbps),
            (Some(20.0), Some(2), Some(40.0))
        );
        let nas_peer = &report.thunderbolt[1];
        assert_eq!(nas_peer.socket.as_deref(), Some("3"));
        assert!(nas_peer.link_up && nas_peer.peer_is_host && !nas_peer.tb5_capable);
        assert_eq!(nas_peer.peer.as_deref(), Some("Mac mini"));
        assert_eq!(nas_peer.speed_gbps, Some(40.0));
        // hwmon power until RAPL has two readings; the hottest sensor; amdgpu busy.
        assert_eq!(report.power_source.as_deref(), Some("hwmon amdgpu"));
        assert_eq!(report.power_watts, Some(15.25));
        assert_eq!(report.temp_c, Some(61.5));
        assert_eq!(report.gpu_usage, Some(0.37));
        let warnings = hardware_warnings(&report, None);
        assert_eq!(
            warnings.iter().map(|w| w.code.as_str()).collect::<Vec<_>>(),
            ["tb_link_slow"]
        );

        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(tree.path().join("class/powercap/intel-rapl:0/energy_uj"), "6000000\n").unwrap();
        let mut second = RawSources::new();
        reader.sample_linux(&mut second, &mut SourceTimings::new(), tree.path());
        assert_eq!(second.text(source::RAPL_ENERGY_SAMPLES).unwrap().lines().count(), 2);
        let report = parse(&second);
        assert_eq!(report.power_source.as_deref(), Some("rapl package"));
        assert!(report.power_watts.unwrap() > 0.0);
    }

    #[test]
    fn linux_rapl_root_only_is_na_not_zero() {
        // The captured mode: readable by root only.
        assert!(RAPL_LS.starts_with("-r-------- 1 root root"));
        let mut r = raw(&[(source::OS, "linux")]);
        r.insert_error(
            source::RAPL_ENERGY_UJ,
            "RAPL energy is readable only by root (Linux 5.10+): n/a",
        )
        .unwrap();
        let report = parse(&r);
        assert_eq!(report.power_watts, None);
        assert!(report.power_unavailable_reason.unwrap().contains("only by root"));
        // An empty tree (this build VM has no thunderbolt, hwmon or powercap).
        let empty = tempfile::tempdir().unwrap();
        let mut raw_empty = RawSources::new();
        HardwareReader::new().sample_linux(&mut raw_empty, &mut SourceTimings::new(), empty.path());
        let report = parse(&raw_empty);
        assert!(report.thunderbolt.is_empty());
        assert_eq!(
            report.power_unavailable_reason.as_deref(),
            Some("no power sensor (no RAPL or hwmon power reading)")
        );
        assert!(report.source_errors.is_empty());
    }

    #[test]
    fn raw_sources_round_trip_through_a_directory() {
        let mut r = macos_bundle();
        r.insert("sysfs/class/hwmon/hwmon0/temp1_input", b"45000\n".to_vec())
            .unwrap();
        r.insert("binary", vec![0xff, 0xfe, 0x00, b'\n', 0x80]).unwrap();
        r.insert_error(
            "sysfs/class/powercap/intel-rapl:0/energy_uj",
            "permission denied\nsecond line",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        r.save(&bundle).unwrap();
        assert_eq!(
            std::fs::read(bundle.join("binary")).unwrap(),
            [0xff, 0xfe, 0x00, b'\n', 0x80]
        );
        assert!(bundle.join("ibv_devinfo.error").is_file());
        // Unrelated files and symlinks beside the sources do no harm.
        std::fs::write(bundle.join("snapshot.json"), "{}").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", bundle.join("link")).unwrap();
        let loaded = RawSources::load(&bundle).unwrap();
        assert_eq!(loaded.get("binary").unwrap(), [0xff, 0xfe, 0x00, b'\n', 0x80]);
        assert_eq!(
            loaded.error("sysfs/class/powercap/intel-rapl:0/energy_uj"),
            Some("permission denied")
        );
        assert_eq!(loaded.get("link"), None);
        let mut expected = r.clone();
        expected.insert("snapshot.json", b"{}".to_vec()).unwrap();
        assert_eq!(loaded, expected);
        assert_eq!(parse(&loaded), parse(&r));
        assert!(RawSources::load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn invalid_source_names_are_refused() {
        let mut r = RawSources::new();
        for name in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "x.error",
            "a\\b",
            "nul\0",
        ] {
            assert!(r.insert(name, b"x".to_vec()).is_err(), "{name:?}");
            assert!(r.insert_error(name, "x").is_err(), "{name:?}");
        }
        assert!(r.is_empty());
        r.insert("a", b"1".to_vec()).unwrap();
        r.insert_error("a", "failed").unwrap();
        assert_eq!((r.get("a"), r.error("a")), (None, Some("failed")));
        r.insert("a", b"2".to_vec()).unwrap();
        assert_eq!((r.get("a"), r.error("a")), (Some(&b"2"[..]), None));
        assert_eq!(r.text("a").unwrap(), "2");
    }

    #[test]
    fn this_machine_samples_without_panicking() {
        let mut reader = HardwareReader::new();
        let (raw, timings) = reader.sample_timed();
        assert!(raw.text(source::OS).is_some());
        assert!(timings.iter().any(|(name, _)| name == source::INTERFACE_ADDRESSES));
        let report = parse(&raw);
        assert!(report.power_watts.is_some() || report.power_unavailable_reason.is_some());
        let _ = parse(&read_raw());
    }
}
