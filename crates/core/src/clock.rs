//! Time: deadlines from waits the user (or a settings file) chose, and the wall clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest wait a deadline stands for; longer ones are clamped to it. A century is "never"
/// for a person and still far from where `Instant + Duration` overflows.
pub const LONGEST_WAIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `Instant::now() + wait`, without the panic `+` has when the sum does not fit (a timeout of
/// u64::MAX seconds): the wait is clamped to [`LONGEST_WAIT`].
pub fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait.min(LONGEST_WAIT))
        // The clock itself is too close to its end for a century: wait as long as it can.
        .or_else(|| now.checked_add(Duration::from_secs(u32::MAX.into())))
        .unwrap_or(now)
}

/// Wall-clock time, milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11: `Instant + Duration` panicked for a timeout of u64::MAX seconds.
    #[test]
    fn huge_waits_are_clamped_not_a_panic() {
        let before = Instant::now();
        let far = deadline_after(Duration::MAX);
        assert!(far >= before + LONGEST_WAIT);
        assert!(deadline_after(Duration::from_secs(u64::MAX)) > before + Duration::from_secs(365 * 24 * 3600));
        let soon = deadline_after(Duration::from_secs(5));
        assert!(soon >= before + Duration::from_secs(5) && soon < before + Duration::from_secs(60));
    }
}
