//! Follows the cluster over time: keeps the last good view through exo's master elections
//! (when `/state` is briefly empty) and turns changes into events for latched notifications.

pub use clusterbar_model::cluster::ClusterEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::state::{exo_view_frozen_warning, ClusterView, LinkKind, ModelState, NODE_STALE_AFTER_S};

/// How long an empty `/state` is treated as an election in progress.
pub const ELECTION_DEBOUNCE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
struct LinkState {
    kind: LinkKind,
    gbps: Option<f64>,
}

#[derive(Debug, Default)]
pub struct Watcher {
    debounce_ms: u64,
    last_good: Option<(ClusterView, u64)>,
    /// Boxes last known to be members; survives exo being unreachable, so a restart of exo
    /// does not read as everyone leaving and joining.
    members: Option<BTreeSet<String>>,
    links: BTreeMap<(String, String), LinkState>,
    model_states: BTreeMap<String, ModelState>,
    /// exo's `lastEventAppliedIdx` and when it last moved (ms): a live exo applies events
    /// several times a second even when idle, so an index that stands still means a frozen view.
    event_idx: Option<(u64, u64)>,
}

/// What one observation yields: the view to show (possibly the held last good one) and events.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub view: ClusterView,
    pub events: Vec<ClusterEvent>,
}

impl Watcher {
    pub fn new(debounce: Duration) -> Self {
        Self {
            debounce_ms: debounce.as_millis() as u64,
            ..Self::default()
        }
    }

    pub fn last_good(&self) -> Option<&ClusterView> {
        self.last_good.as_ref().map(|(v, _)| v)
    }

    /// Feeds one freshly parsed view taken at `now_unix_ms`.
    pub fn observe(&mut self, view: ClusterView, now_unix_ms: u64) -> Observation {
        if view.is_empty() {
            if let Some((good, at)) = &self.last_good {
                let age = now_unix_ms.saturating_sub(*at);
                if age <= self.debounce_ms {
                    let mut held = good.clone();
                    held.held_ms = Some(age);
                    return Observation {
                        view: held,
                        events: Vec::new(),
                    };
                }
            }
        }
        let mut view = view;
        self.check_frozen(&mut view, now_unix_ms);
        let events = self.diff(&view);
        if !view.is_empty() {
            self.last_good = Some((view.clone(), now_unix_ms));
        }
        Observation { view, events }
    }

    /// Marks the view frozen when exo's event index has not moved for longer than a box may
    /// stay silent (the parser already catches this exo's own `lastSeen` ageing).
    fn check_frozen(&mut self, view: &mut ClusterView, now_unix_ms: u64) {
        let Some(idx) = view.last_event_applied_idx else {
            self.event_idx = None;
            return;
        };
        let since = match self.event_idx {
            Some((last, since)) if last == idx => since,
            _ => now_unix_ms,
        };
        self.event_idx = Some((idx, since));
        let still_s = now_unix_ms.saturating_sub(since) as f64 / 1000.0;
        if view.frozen_for_s.is_none() && still_s > NODE_STALE_AFTER_S {
            view.frozen_for_s = Some(still_s);
            view.warnings
                .retain(|w| w.code != clusterbar_model::WarningCode::NodeStale);
            view.warnings.push(exo_view_frozen_warning(still_s));
        }
    }

    fn diff(&mut self, view: &ClusterView) -> Vec<ClusterEvent> {
        let mut events = Vec::new();
        let members: BTreeSet<String> = view.nodes.iter().map(|n| n.name.clone()).collect();
        let links: BTreeMap<(String, String), LinkState> = view
            .links
            .iter()
            .map(|l| {
                (
                    (l.from.clone(), l.to.clone()),
                    LinkState {
                        kind: l.kind,
                        gbps: l.speed_gbps,
                    },
                )
            })
            .collect();
        let models: BTreeMap<String, (ModelState, &str, Option<&String>)> = view
            .models
            .iter()
            .map(|m| (m.instance_id.clone(), (m.state, m.id.as_str(), m.error.as_ref())))
            .collect();

        // The first view is the baseline: nothing "joined" or "became ready" then.
        if let Some(before) = &self.members {
            events.extend(
                members
                    .difference(before)
                    .map(|name| ClusterEvent::NodeJoined { name: name.clone() }),
            );
            events.extend(
                before
                    .difference(&members)
                    .map(|name| ClusterEvent::NodeLeft { name: name.clone() }),
            );
            for ((from, to), was) in &self.links {
                if !(members.contains(from) && members.contains(to)) {
                    continue;
                }
                let now = links.get(&(from.clone(), to.clone()));
                let slower = match now {
                    None => true,
                    Some(now) => now.kind < was.kind || matches!((was.gbps, now.gbps), (Some(w), Some(n)) if n < w),
                };
                if slower {
                    events.push(ClusterEvent::LinkSlower {
                        from: from.clone(),
                        to: to.clone(),
                        was_kind: was.kind,
                        now_kind: now.map(|n| n.kind),
                        was_gbps: was.gbps,
                        now_gbps: now.and_then(|n| n.gbps),
                    });
                }
            }
            for (instance_id, (state, id, error)) in &models {
                let before = self.model_states.get(instance_id).copied();
                if *state == ModelState::Failed && before != Some(ModelState::Failed) {
                    events.push(ClusterEvent::ModelFailed {
                        id: (*id).to_owned(),
                        instance_id: instance_id.clone(),
                        error: error.cloned(),
                    });
                }
                let ready = |s: Option<ModelState>| matches!(s, Some(ModelState::Ready | ModelState::Running));
                if ready(Some(*state)) && !ready(before) {
                    events.push(ClusterEvent::ModelReady {
                        id: (*id).to_owned(),
                        instance_id: instance_id.clone(),
                    });
                }
            }
        }
        self.members = Some(members);
        self.links = links;
        self.model_states = models.into_iter().map(|(k, (s, _, _))| (k, s)).collect();
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exo::state::parse_state;
    use serde_json::json;

    const FIXTURE: &str = include_str!("../../tests/fixtures/exo/state-2node.derived.json");

    fn two_nodes() -> ClusterView {
        parse_state(&serde_json::from_str(FIXTURE).unwrap(), None, 0)
    }

    #[test]
    fn an_election_gap_keeps_the_last_view_then_gives_up() {
        let mut watcher = Watcher::new(ELECTION_DEBOUNCE);
        let first = watcher.observe(two_nodes(), 1_000);
        assert!(first.events.is_empty(), "the first view is the baseline");
        let gap = watcher.observe(parse_state(&json!({}), None, 0), 5_000);
        assert_eq!(gap.view.nodes.len(), 2);
        assert_eq!(gap.view.held_ms, Some(4_000));
        assert!(gap.events.is_empty());
        let back = watcher.observe(two_nodes(), 6_000);
        assert!(back.events.is_empty());
        assert_eq!(back.view.held_ms, None);
        let long_gap = watcher.observe(parse_state(&json!({}), None, 0), 16_001);
        assert!(long_gap.view.nodes.is_empty());
        let mut left: Vec<_> = long_gap
            .events
            .iter()
            .filter(|e| matches!(e, ClusterEvent::NodeLeft { .. }))
            .collect();
        left.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn leaving_joining_slower_links_and_model_changes_are_events() {
        let mut watcher = Watcher::new(ELECTION_DEBOUNCE);
        watcher.observe(two_nodes(), 0);

        let mut state: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        // The mini's runner finishes loading; the RDMA edges go; speeds drop to 40.
        state["runners"]["0b7f1c9e-2222-4c2b-9d1e-bbbbbbbbbbbb"] = json!({"RunnerReady": {}});
        for (a, b) in [
            ("8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6", "a1b2c3d4e5f60718293a4b5c6d7e8f90"),
            ("a1b2c3d4e5f60718293a4b5c6d7e8f90", "8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6"),
        ] {
            let edges = state["topology"]["connections"][a][b].as_array_mut().unwrap();
            edges.retain(|e| e.get("sinkRdmaIface").is_none());
        }
        let observed = watcher.observe(parse_state(&state, None, 0), 1_000);
        assert!(observed.events.contains(&ClusterEvent::ModelReady {
            id: "mlx-community/Llama-3.2-1B-Instruct-4bit".into(),
            instance_id: "5d0c6f0e-6a43-4a53-9a3e-2f4f1c8b7a10".into(),
        }));
        let slower = observed
            .events
            .iter()
            .find(|e| matches!(e, ClusterEvent::LinkSlower { .. }))
            .expect("a slower link");
        assert!(matches!(
            slower,
            ClusterEvent::LinkSlower {
                was_kind: LinkKind::Rdma,
                now_kind: Some(LinkKind::Thunderbolt),
                ..
            }
        ));

        // The runner fails; the mini leaves.
        state["runners"]["0b7f1c9e-2222-4c2b-9d1e-bbbbbbbbbbbb"] =
            json!({"RunnerFailed": {"errorMessage": "Metal OOM", "diagnostics": []}});
        state["topology"]["nodes"] = json!(["8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6"]);
        let observed = watcher.observe(parse_state(&state, None, 0), 2_000);
        assert!(observed
            .events
            .contains(&ClusterEvent::NodeLeft { name: "mini-2".into() }));
        assert!(observed.events.iter().any(|e| matches!(
            e,
            ClusterEvent::ModelFailed { error: Some(msg), .. } if msg.contains("Metal OOM")
        )));
        // No link event for a link whose box left.
        assert!(!observed
            .events
            .iter()
            .any(|e| matches!(e, ClusterEvent::LinkSlower { .. })));

        state["topology"]["nodes"] = json!(["8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6", "a1b2c3d4e5f60718293a4b5c6d7e8f90"]);
        let observed = watcher.observe(parse_state(&state, None, 0), 3_000);
        assert!(observed
            .events
            .contains(&ClusterEvent::NodeJoined { name: "mini-2".into() }));
        // Still failed: not reported twice.
        assert!(!observed
            .events
            .iter()
            .any(|e| matches!(e, ClusterEvent::ModelFailed { .. })));
    }
}
