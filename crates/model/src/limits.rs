//! The thresholds every view shares, defined once. Readers set flags from them (`slow`,
//! `stale`) so the CLI and the page never re-derive them.

/// A Thunderbolt link between two Macs slower than this runs below Thunderbolt 5 (a TB4 or
/// TB3 cable or port): exo's ring halves its bandwidth.
pub const TB5_LINK_GBPS: f64 = 80.0;

/// A member exo has not heard from for longer than this is shown stale.
pub const NODE_STALE_AFTER_S: f64 = 30.0;

/// Whether a Mac-to-Mac Thunderbolt speed is below Thunderbolt 5's; unknown is not slow.
pub fn below_tb5(speed_gbps: Option<f64>) -> bool {
    speed_gbps.is_some_and(|gbps| gbps < TB5_LINK_GBPS)
}

/// Whether a member's last sighting is too old; unknown is not stale.
pub fn is_stale(last_seen_s: Option<f64>) -> bool {
    last_seen_s.is_some_and(|age| age > NODE_STALE_AFTER_S)
}

/// Ollama's own default keep-alive (docs/faq: 5m) when `OLLAMA_KEEP_ALIVE` is unset.
pub const OLLAMA_DEFAULT_KEEP_ALIVE_S: i64 = 5 * 60;

/// Ollama's default `OLLAMA_MAX_LOADED_MODELS` (docs/faq: 3 × GPUs, 3 for CPU; a Mac has one GPU).
pub const OLLAMA_DEFAULT_MAX_LOADED_MODELS: u32 = 3;

/// A cold load of a heavy model takes 30–60 s on these Macs: the slow end, unless the settings
/// (`ollama_cold_load_s`) say otherwise.
pub const OLLAMA_DEFAULT_COLD_LOAD_S: u64 = 60;

/// The keep-alive should outlast this many cold loads: with less, an idle gap a little longer
/// than the keep-alive makes the next request wait a whole load (Ollama's 5m default against a
/// 60 s load warns; `24h` or `-1` does not).
pub const OLLAMA_KEEP_ALIVE_COLD_LOADS: u64 = 10;

/// An expiry further ahead than this is a pinned model (`keep_alive: -1`; Ollama reports a
/// date centuries away).
pub const OLLAMA_PINNED_AFTER_S: u64 = 10 * 365 * 86_400;

/// How long an eviction stays shown (and warned about) after it was seen.
pub const OLLAMA_EVICTION_SHOWN_S: u64 = 5 * 60;

/// How long a model that left early waits for the one that took its place to appear (a cold
/// load runs between the eviction and the newcomer showing in `/api/ps`).
pub const OLLAMA_EVICTION_WINDOW_S: u64 = 120;

/// Whether a keep-alive (seconds; negative = forever) is short against a cold load.
pub fn keep_alive_too_short(keep_alive_s: i64, cold_load_s: u64) -> bool {
    keep_alive_s >= 0 && (keep_alive_s as u64) < cold_load_s.saturating_mul(OLLAMA_KEEP_ALIVE_COLD_LOADS)
}

/// Whether an `OLLAMA_HOST` value binds every interface ("0.0.0.0", ":11434", "[::]:11434",
/// "http://0.0.0.0:11434").
pub fn binds_every_interface(host: &str) -> bool {
    let host = host.trim();
    let host = host
        .strip_prefix("http://")
        .or_else(|| host.strip_prefix("https://"))
        .unwrap_or(host);
    let host = host.split('/').next().unwrap_or_default();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else if host.matches(':').count() > 1 {
        host // a bare IPv6 address
    } else {
        host.split(':').next().unwrap_or_default()
    };
    matches!(name, "" | "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_bindings_are_recognised() {
        for all in [
            "0.0.0.0",
            "0.0.0.0:11434",
            ":11434",
            "[::]:11434",
            "::",
            "http://0.0.0.0:11434",
        ] {
            assert!(binds_every_interface(all), "{all}");
        }
        for one in ["127.0.0.1:11434", "192.168.99.2:11434", "[::1]:11434", "localhost"] {
            assert!(!binds_every_interface(one), "{one}");
        }
    }

    #[test]
    fn keep_alive_against_cold_loads() {
        assert!(keep_alive_too_short(300, 60));
        assert!(!keep_alive_too_short(24 * 3600, 60));
        assert!(!keep_alive_too_short(-1, 60));
    }
}
