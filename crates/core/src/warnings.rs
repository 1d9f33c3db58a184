//! Conditions that need the user's attention. Each has a stable `code` that scripts and the
//! notification latch key on, a one-line cause and the fix.

pub use clusterbar_model::warning::{Severity, Warning};

/// Turns the warnings of successive samples into notifications that neither flicker nor
/// nag: a condition is raised once it was present in [`Latch::RAISE_AFTER`] consecutive
/// samples, is never raised again while it stays, and is cleared once when it goes away.
#[derive(Debug, Default)]
pub struct Latch {
    /// Code → consecutive samples it has been present in.
    streak: std::collections::HashMap<String, u32>,
    raised: std::collections::HashSet<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct LatchChanges {
    pub raised: Vec<Warning>,
    /// Codes of conditions that were raised and are now gone.
    pub cleared: Vec<String>,
}

impl Latch {
    pub const RAISE_AFTER: u32 = 2;

    pub fn observe(&mut self, warnings: &[Warning]) -> LatchChanges {
        let mut changes = LatchChanges::default();
        let present: std::collections::HashSet<&str> = warnings.iter().map(|w| w.code.as_str()).collect();
        self.streak.retain(|code, _| present.contains(code.as_str()));
        let mut cleared: Vec<String> = self
            .raised
            .iter()
            .filter(|c| !present.contains(c.as_str()))
            .cloned()
            .collect();
        cleared.sort();
        for code in &cleared {
            self.raised.remove(code);
        }
        changes.cleared = cleared;
        for warning in warnings {
            let streak = self.streak.entry(warning.code.clone()).or_insert(0);
            *streak = streak.saturating_add(1);
            if *streak >= Self::RAISE_AFTER && self.raised.insert(warning.code.clone()) {
                changes.raised.push(warning.clone());
            }
        }
        changes
    }
}

#[cfg(test)]
mod latch_tests {
    use super::*;

    fn w(code: &str) -> Warning {
        Warning::new(code, Severity::Warning, "m", "f")
    }

    #[test]
    fn raised_after_two_readings_once_and_cleared_once() {
        let mut latch = Latch::default();
        assert!(
            latch.observe(&[w("tb_link_slow")]).raised.is_empty(),
            "one reading is not enough"
        );
        let second = latch.observe(&[w("tb_link_slow")]);
        assert_eq!(second.raised, vec![w("tb_link_slow")]);
        for _ in 0..5 {
            assert_eq!(
                latch.observe(&[w("tb_link_slow")]),
                LatchChanges::default(),
                "never repeated"
            );
        }
        assert_eq!(latch.observe(&[]).cleared, vec!["tb_link_slow".to_owned()]);
        assert_eq!(latch.observe(&[]), LatchChanges::default());
    }

    #[test]
    fn a_flicker_is_never_raised() {
        let mut latch = Latch::default();
        for i in 0..6 {
            let now: Vec<Warning> = if i % 2 == 0 { vec![w("node_stale")] } else { vec![] };
            let changes = latch.observe(&now);
            assert!(changes.raised.is_empty() && changes.cleared.is_empty());
        }
    }
}
