//! Conditions that need the user's attention. Each has a stable `code` that scripts and the
//! notification latch key on, a one-line cause and the fix.

pub use clusterbar_model::warning::{add_warning, Severity, Warning, WarningCode, WarningScope};

use std::collections::{BTreeMap, BTreeSet};

/// A condition as the latch knows it: its code in its scope (this Mac's slow link and the
/// cluster's are two conditions).
pub type Condition = (WarningCode, WarningScope);

/// Turns the warnings of successive samples into notifications that neither flicker nor
/// nag: a condition is raised once it was present in [`Latch::RAISE_AFTER`] consecutive
/// samples, is never raised again while it stays, and is cleared once when it goes away.
#[derive(Debug, Default)]
pub struct Latch {
    /// Condition → consecutive samples it has been present in.
    streak: BTreeMap<Condition, u32>,
    raised: BTreeSet<Condition>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct LatchChanges {
    pub raised: Vec<Warning>,
    /// Conditions that were raised and are now gone.
    pub cleared: Vec<Condition>,
}

impl Latch {
    pub const RAISE_AFTER: u32 = 2;

    pub fn observe(&mut self, warnings: &[Warning]) -> LatchChanges {
        let mut changes = LatchChanges::default();
        let present: BTreeSet<Condition> = warnings.iter().map(|w| (w.code, w.scope)).collect();
        self.streak.retain(|condition, _| present.contains(condition));
        let cleared: Vec<Condition> = self.raised.difference(&present).copied().collect();
        for condition in &cleared {
            self.raised.remove(condition);
        }
        changes.cleared = cleared;
        for warning in warnings {
            let condition = (warning.code, warning.scope);
            let streak = self.streak.entry(condition).or_insert(0);
            *streak = streak.saturating_add(1);
            if *streak >= Self::RAISE_AFTER && self.raised.insert(condition) {
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
        let code = match code {
            "tb_link_slow" => WarningCode::TbLinkSlow,
            "node_stale" => WarningCode::NodeStale,
            other => panic!("no test code {other}"),
        };
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
        assert_eq!(
            latch.observe(&[]).cleared,
            vec![(WarningCode::TbLinkSlow, WarningScope::ThisMac)]
        );
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
