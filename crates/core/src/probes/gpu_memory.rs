//! How much memory the GPU may wire (the ceiling on model size for Metal inference).
//!
//! Metal's `recommendedMaxWorkingSetSize` is the effective ceiling and wins when it was read
//! (macOS, [`read_metal_working_set`]). Otherwise `iogpu.wired_limit_mb`, when set; it is 0 by
//! default, meaning "the OS default", which we then estimate the way macOS sets it on Apple
//! Silicon: 75 % of RAM on machines with more than 36 GiB, two thirds at or below, labelled
//! `estimated` (a bundle from a Mac whose Metal figure was not captured, say). A 96 GiB machine
//! therefore defaults to 72 GiB; raising the limit to 86016 MB makes Metal report 84.0 GiB,
//! which is what the fixture's note says.

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuMemoryLimit {
    pub limit_bytes: u64,
    /// The figure is our estimate of the OS default, not a value the OS printed.
    pub estimated: bool,
}

/// `sysctl iogpu.wired_limit_mb` (`iogpu.wired_limit_mb: 0`) or `sysctl -n` (`0`) → MiB.
pub fn parse_wired_limit_mb(text: &str) -> Option<u64> {
    let value = match text.split_once(':') {
        Some((_, v)) => v,
        None => text,
    };
    value.trim().parse().ok()
}

/// The macOS default GPU wired limit for a machine with `total_ram_bytes` of RAM.
pub fn estimated_default_limit(total_ram_bytes: u64) -> u64 {
    if total_ram_bytes > 36 * GIB {
        total_ram_bytes / 4 * 3
    } else {
        total_ram_bytes / 3 * 2
    }
}

/// Metal's figure as recorded in a sample: the decimal byte count.
pub fn parse_metal_working_set(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|bytes| *bytes > 0)
}

/// `recommendedMaxWorkingSetSize` of the default Metal device, in bytes.
#[cfg(target_os = "macos")]
pub fn read_metal_working_set() -> Option<u64> {
    use objc2_metal::MTLDevice;
    objc2_metal::MTLCreateSystemDefaultDevice()
        .map(|device| device.recommendedMaxWorkingSetSize())
        .filter(|bytes| *bytes > 0)
}

/// The ceiling from Metal's figure, the sysctl value and the RAM size, best first. `None` when
/// none is known.
pub fn gpu_memory_limit(
    metal_working_set_bytes: Option<u64>,
    wired_limit_mb: Option<u64>,
    total_ram_bytes: Option<u64>,
) -> Option<GpuMemoryLimit> {
    if let Some(bytes) = metal_working_set_bytes.filter(|b| *b > 0) {
        return Some(GpuMemoryLimit {
            limit_bytes: bytes,
            estimated: false,
        });
    }
    match wired_limit_mb {
        Some(mb) if mb > 0 => Some(GpuMemoryLimit {
            limit_bytes: mb.saturating_mul(MIB),
            estimated: false,
        }),
        _ => total_ram_bytes.filter(|t| *t > 0).map(|total| GpuMemoryLimit {
            limit_bytes: estimated_default_limit(total),
            estimated: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_0: &str = include_str!("../../tests/fixtures/macos/sysctl-iogpu.wired_limit_mb-default-0.txt");
    const RAISED: &str = include_str!("../../tests/fixtures/macos/sysctl-iogpu.wired_limit_mb-raised-86016.txt");

    #[test]
    fn raised_limit_is_exact() {
        assert_eq!(parse_wired_limit_mb(RAISED), Some(86016));
        let limit = gpu_memory_limit(None, parse_wired_limit_mb(RAISED), Some(96 * GIB)).unwrap();
        // Metal reported 84.0 GiB on that machine.
        assert_eq!(limit.limit_bytes, 84 * GIB);
        assert!(!limit.estimated);
    }

    #[test]
    fn default_limit_is_estimated_from_ram() {
        assert_eq!(parse_wired_limit_mb(DEFAULT_0), Some(0));
        // The fixture's machine: an M2 Pro with 32 GiB → two thirds.
        let limit = gpu_memory_limit(None, parse_wired_limit_mb(DEFAULT_0), Some(32 * GIB)).unwrap();
        assert!(limit.estimated);
        assert_eq!(limit.limit_bytes, 32 * GIB / 3 * 2);
        assert_eq!(estimated_default_limit(96 * GIB), 72 * GIB);
        assert_eq!(estimated_default_limit(36 * GIB), 24 * GIB);
        assert_eq!(gpu_memory_limit(None, Some(0), None), None);
        assert_eq!(gpu_memory_limit(None, None, Some(0)), None);
    }

    #[test]
    fn metal_figure_wins_and_a_zero_or_garbage_one_is_ignored() {
        // Metal's 84.0 GiB on the fixture's raised machine, whatever the sysctl or RAM say.
        let metal = parse_metal_working_set("90194313216\n");
        assert_eq!(metal, Some(84 * GIB));
        let limit = gpu_memory_limit(metal, Some(0), Some(96 * GIB)).unwrap();
        assert_eq!((limit.limit_bytes, limit.estimated), (84 * GIB, false));
        assert_eq!(parse_metal_working_set("0"), None);
        assert_eq!(parse_metal_working_set("n/a"), None);
        let fallback = gpu_memory_limit(parse_metal_working_set("0"), Some(0), Some(96 * GIB)).unwrap();
        assert!(fallback.estimated);
    }

    #[test]
    fn malformed_sysctl() {
        assert_eq!(parse_wired_limit_mb("86016\n"), Some(86016));
        assert_eq!(parse_wired_limit_mb(""), None);
        assert_eq!(parse_wired_limit_mb("iogpu.wired_limit_mb: -1"), None);
        assert_eq!(parse_wired_limit_mb("sysctl: unknown oid 'iogpu.wired_limit_mb'"), None);
        assert_eq!(
            gpu_memory_limit(None, Some(u64::MAX), None).map(|l| l.limit_bytes),
            Some(u64::MAX)
        );
    }
}
