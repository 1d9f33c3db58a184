//! Memory of this machine.
//!
//! "Used" means memory that cannot be handed to a new program without swapping:
//! - Linux: `MemTotal − MemAvailable` (the kernel's own estimate of what is reclaimable).
//! - macOS: app memory (anonymous − purgeable pages) + wired + compressor-occupied pages,
//!   which is the "Memory Used" figure Activity Monitor shows, so the two agree.

pub use clusterbar_model::host::{MemoryInfo, MemoryPressure};
use std::collections::HashMap;

use super::ProbeError;

/// Parses `/proc/meminfo` (values in kB).
pub fn parse_meminfo(text: &str) -> Result<MemoryInfo, ProbeError> {
    let mut kb: HashMap<&str, u64> = HashMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        let factor = match parts.next() {
            Some("kB") => 1024,
            None => 1,
            Some(_) => continue,
        };
        kb.insert(key.trim(), value.saturating_mul(factor));
    }
    let field = |name: &'static str| {
        kb.get(name).copied().ok_or(ProbeError::Parse {
            what: "/proc/meminfo",
            reason: format!("no {name} line"),
        })
    };
    let total = field("MemTotal")?;
    if total == 0 {
        return Err(ProbeError::Parse {
            what: "/proc/meminfo",
            reason: "MemTotal is 0".into(),
        });
    }
    // MemAvailable exists since Linux 3.14; older kernels get the classic estimate.
    let available = match field("MemAvailable") {
        Ok(v) => v,
        Err(_) => field("MemFree")?
            .saturating_add(kb.get("Buffers").copied().unwrap_or(0))
            .saturating_add(kb.get("Cached").copied().unwrap_or(0)),
    }
    .min(total);
    let swap_total = kb.get("SwapTotal").copied().unwrap_or(0);
    let swap_free = kb.get("SwapFree").copied().unwrap_or(0).min(swap_total);
    Ok(MemoryInfo {
        total_bytes: total,
        used_bytes: total - available,
        available_bytes: available,
        wired_bytes: None,
        compressed_bytes: kb.get("Zswap").copied(),
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_total - swap_free,
        pressure: None,
    })
}

/// Reads Linux PSI (`/proc/pressure/memory`): the share of the last 10 s in which some task
/// stalled on memory. Thresholds follow what desktop OOM daemons treat as pressure.
pub fn parse_psi_memory(text: &str) -> Option<MemoryPressure> {
    let some_avg10 = text
        .lines()
        .find(|line| line.starts_with("some "))?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("avg10="))?
        .parse::<f64>()
        .ok()?;
    Some(if some_avg10 >= 40.0 {
        MemoryPressure::Critical
    } else if some_avg10 >= 10.0 {
        MemoryPressure::Warn
    } else {
        MemoryPressure::Normal
    })
}

/// Pages counted by `vm_stat`, keyed by their label, plus the page size from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmStat {
    pub page_size: u64,
    pub pages: HashMap<String, u64>,
}

/// Parses macOS `vm_stat` output.
pub fn parse_vm_stat(text: &str) -> Result<VmStat, ProbeError> {
    let err = |reason: &str| ProbeError::Parse {
        what: "vm_stat",
        reason: reason.to_owned(),
    };
    let header = text.lines().next().ok_or_else(|| err("empty output"))?;
    let page_size = header
        .split("page size of")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| err("no page size in the header"))?;
    let mut pages = HashMap::new();
    for line in text.lines().skip(1) {
        let Some((key, value)) = line.rsplit_once(':') else {
            continue;
        };
        let Ok(value) = value.trim().trim_end_matches('.').parse::<u64>() else {
            continue;
        };
        pages.insert(key.trim().trim_matches('"').to_owned(), value);
    }
    Ok(VmStat { page_size, pages })
}

/// `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical.
pub fn parse_pressure_level(text: &str) -> Option<MemoryPressure> {
    match text.trim() {
        "1" => Some(MemoryPressure::Normal),
        "2" => Some(MemoryPressure::Warn),
        "4" => Some(MemoryPressure::Critical),
        _ => None,
    }
}

/// Combines the macOS readings into [`MemoryInfo`] with the Activity Monitor formula.
pub fn macos_memory(
    total_bytes: u64,
    vm: &VmStat,
    swap: Option<(u64, u64)>,
    pressure: Option<MemoryPressure>,
) -> Result<MemoryInfo, ProbeError> {
    let page = |label: &str| {
        vm.pages.get(label).copied().ok_or(ProbeError::Parse {
            what: "vm_stat",
            reason: format!("no \"{label}\" line"),
        })
    };
    let to_bytes = |pages: u64| pages.saturating_mul(vm.page_size);
    let anonymous = page("Anonymous pages")?;
    let purgeable = page("Pages purgeable").unwrap_or(0);
    let wired = to_bytes(page("Pages wired down")?);
    let compressed = to_bytes(page("Pages occupied by compressor")?);
    let app = to_bytes(anonymous.saturating_sub(purgeable));
    let used = app.saturating_add(wired).saturating_add(compressed).min(total_bytes);
    let (swap_total, swap_used) = swap.unwrap_or((0, 0));
    Ok(MemoryInfo {
        total_bytes,
        used_bytes: used,
        available_bytes: total_bytes - used,
        wired_bytes: Some(wired),
        compressed_bytes: Some(compressed),
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_used.min(swap_total),
        pressure,
    })
}

#[cfg(target_os = "linux")]
pub fn read() -> Result<MemoryInfo, ProbeError> {
    let root = super::procfs_root();
    let mut info = parse_meminfo(&super::read_text(&root.join("meminfo"))?)?;
    // PSI is absent on kernels built without it: "unknown", not an error.
    info.pressure = super::read_text(&root.join("pressure/memory"))
        .ok()
        .as_deref()
        .and_then(parse_psi_memory);
    Ok(info)
}

#[cfg(target_os = "macos")]
pub fn read() -> Result<MemoryInfo, ProbeError> {
    let total: u64 = super::sysctl::integer("hw.memsize")?
        .trim()
        .parse()
        .map_err(|_| ProbeError::Parse {
            what: "hw.memsize",
            reason: "not a number".into(),
        })?;
    let vm = parse_vm_stat(&super::run_tool("/usr/bin/vm_stat", &[])?)?;
    let swap = super::sysctl::swap_usage().ok();
    let pressure = super::sysctl::integer("kern.memorystatus_vm_pressure_level")
        .ok()
        .as_deref()
        .and_then(parse_pressure_level);
    macos_memory(total, &vm, swap, pressure)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn read() -> Result<MemoryInfo, ProbeError> {
    Err(ProbeError::Parse {
        what: "memory",
        reason: "this OS is not supported".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = include_str!("../../tests/fixtures/linux/proc-meminfo-firecracker-vm-6.18-24GiB.txt");
    const PSI: &str = include_str!("../../tests/fixtures/linux/proc-pressure-memory-firecracker-vm-6.18.txt");
    const VM_STAT: &str = include_str!("../../tests/fixtures/macos/vm_stat-apple-silicon-16k-pages-with-MTE-tags.txt");
    const PRESSURE: &str =
        include_str!("../../tests/fixtures/macos/sysctl-n-kern.memorystatus_vm_pressure_level-normal.txt");

    #[test]
    fn meminfo_from_the_build_vm() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.total_bytes, 24_684_092 * 1024);
        assert_eq!(m.available_bytes, 23_306_756 * 1024);
        assert_eq!(m.used_bytes, (24_684_092 - 23_306_756) * 1024);
        assert_eq!(m.swap_total_bytes, 0);
        assert_eq!(m.compressed_bytes, Some(0));
    }

    #[test]
    fn meminfo_without_memavailable_uses_free_buffers_cached() {
        let m = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n").unwrap();
        assert_eq!(m.available_bytes, 400 * 1024);
        // Issue #11: absurd figures saturate instead of overflowing.
        let huge = "MemTotal: 18446744073709551615 kB\nMemFree: 18446744073709551615 kB\nCached: 9 kB\n";
        assert_eq!(parse_meminfo(huge).unwrap().available_bytes, u64::MAX);
    }

    #[test]
    fn meminfo_rejects_garbage_without_panicking() {
        assert!(parse_meminfo("").is_err());
        assert!(parse_meminfo("MemTotal: lots\n").is_err());
        assert!(parse_meminfo("MemTotal: 0 kB\n").is_err());
        assert!(parse_meminfo(&String::from_utf8_lossy(b"MemTotal: 12\xff\xfe kB\n")).is_err());
        // Truncated mid-file still yields what is there.
        let cut = &MEMINFO[..60];
        assert!(parse_meminfo(cut).is_ok());
    }

    #[test]
    fn psi_from_the_build_vm_is_normal() {
        assert_eq!(parse_psi_memory(PSI), Some(MemoryPressure::Normal));
        assert_eq!(
            parse_psi_memory("some avg10=12.50 avg60=1.00 avg300=0.00 total=5\n"),
            Some(MemoryPressure::Warn)
        );
        assert_eq!(parse_psi_memory("full avg10=90.0\n"), None);
    }

    #[test]
    fn vm_stat_with_16k_pages_and_mte_lines() {
        let vm = parse_vm_stat(VM_STAT).unwrap();
        assert_eq!(vm.page_size, 16384);
        assert_eq!(vm.pages["Pages wired down"], 281_024);
        assert_eq!(vm.pages["Translation faults"], 15_300_959_692);
        let total = 64 * 1024 * 1024 * 1024;
        let m = macos_memory(total, &vm, Some((2 << 30, 1 << 30)), parse_pressure_level(PRESSURE)).unwrap();
        let expected = (1_537_638u64 - 15_844 + 281_024 + 700_328) * 16384;
        assert_eq!(m.used_bytes, expected);
        assert_eq!(m.available_bytes, total - expected);
        assert_eq!(m.wired_bytes, Some(281_024 * 16384));
        assert_eq!(m.pressure, Some(MemoryPressure::Normal));
    }

    #[test]
    fn vm_stat_malformed() {
        assert!(parse_vm_stat("").is_err());
        assert!(parse_vm_stat("Mach Virtual Memory Statistics:\n").is_err());
        let vm = parse_vm_stat("Mach Virtual Memory Statistics: (page size of 4096 bytes)\nPages free: 12.\n").unwrap();
        assert!(macos_memory(1 << 30, &vm, None, None).is_err());
    }

    #[test]
    fn pressure_levels() {
        assert_eq!(parse_pressure_level("4\n"), Some(MemoryPressure::Critical));
        assert_eq!(parse_pressure_level("3"), None);
    }
}
