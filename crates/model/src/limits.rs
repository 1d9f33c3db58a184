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
