//! How much memory the GPU may wire (the ceiling on model size for Metal inference).
//!
//! `iogpu.wired_limit_mb` is 0 by default, meaning "the OS default"; Metal then reports the
//! default as `recommendedMaxWorkingSetSize`. Without Metal (we cannot call it from this
//! cross-platform core) we estimate the default the way macOS sets it on Apple Silicon:
//! 75 % of RAM on machines with more than 36 GiB, two thirds at or below, and label it
//! `estimated`. (A 96 GiB machine therefore defaults to 72 GiB; raising the limit to
//! 86016 MB makes Metal report 84.0 GiB, which is what the fixture's note says.)

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

/// The ceiling from the sysctl value and RAM size. `None` when neither is known.
pub fn gpu_memory_limit(wired_limit_mb: Option<u64>, total_ram_bytes: Option<u64>) -> Option<GpuMemoryLimit> {
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
        let limit = gpu_memory_limit(parse_wired_limit_mb(RAISED), Some(96 * GIB)).unwrap();
        // Metal reported 84.0 GiB on that machine.
        assert_eq!(limit.limit_bytes, 84 * GIB);
        assert!(!limit.estimated);
    }

    #[test]
    fn default_limit_is_estimated_from_ram() {
        assert_eq!(parse_wired_limit_mb(DEFAULT_0), Some(0));
        // The fixture's machine: an M2 Pro with 32 GiB → two thirds.
        let limit = gpu_memory_limit(parse_wired_limit_mb(DEFAULT_0), Some(32 * GIB)).unwrap();
        assert!(limit.estimated);
        assert_eq!(limit.limit_bytes, 32 * GIB / 3 * 2);
        assert_eq!(estimated_default_limit(96 * GIB), 72 * GIB);
        assert_eq!(estimated_default_limit(36 * GIB), 24 * GIB);
        assert_eq!(gpu_memory_limit(Some(0), None), None);
        assert_eq!(gpu_memory_limit(None, Some(0)), None);
    }

    #[test]
    fn malformed_sysctl() {
        assert_eq!(parse_wired_limit_mb("86016\n"), Some(86016));
        assert_eq!(parse_wired_limit_mb(""), None);
        assert_eq!(parse_wired_limit_mb("iogpu.wired_limit_mb: -1"), None);
        assert_eq!(parse_wired_limit_mb("sysctl: unknown oid 'iogpu.wired_limit_mb'"), None);
        assert_eq!(
            gpu_memory_limit(Some(u64::MAX), None).map(|l| l.limit_bytes),
            Some(u64::MAX)
        );
    }
}
