//! Evictions, seen by comparing one sample's `/api/ps` with the previous one (as exo's
//! `Watcher` compares views): a model that left **before its keep-alive ran out** while the box
//! was full — it held `OLLAMA_MAX_LOADED_MODELS` models (Ollama's default, 3, when the setting is
//! unknown), or another model took its place.
//!
//! Ollama unloads the least recently used model *before* it cold-loads the new one (30–60 s for
//! a heavy model), so the newcomer may show up in `/api/ps` samples later: a model that left
//! early waits [`OLLAMA_EVICTION_WINDOW_S`] for it. A user's own early unload (`ollama stop`,
//! `keep_alive: 0`) followed by another load within that window reads as an eviction too: the
//! API does not tell them apart.

use std::collections::BTreeMap;

use clusterbar_model::limits::{OLLAMA_DEFAULT_MAX_LOADED_MODELS, OLLAMA_EVICTION_SHOWN_S, OLLAMA_EVICTION_WINDOW_S};
use clusterbar_model::ollama::{OllamaEviction, OllamaLoadedModel};

/// Leaving within this of its expiry is the keep-alive running out, not an eviction (samples
/// are up to 10 s apart).
const EXPIRY_SLACK_MS: u64 = 15_000;

#[derive(Debug, Default)]
struct BoxHistory {
    /// Name → (expiry, pinned) in the previous sample.
    previous: BTreeMap<String, (Option<u64>, bool)>,
    /// Left early while the box was not (known to be) full: waiting for a newcomer.
    pending: Vec<(String, u64)>,
    evictions: Vec<OllamaEviction>,
}

#[derive(Debug, Default)]
pub struct EvictionTracker {
    boxes: BTreeMap<String, BoxHistory>,
}

impl EvictionTracker {
    /// One sample of a reachable box; returns the evictions to show now. An unreachable box is
    /// not observed (its models did not leave: it did not answer).
    pub fn observe(
        &mut self,
        address: &str,
        loaded: &[OllamaLoadedModel],
        max_loaded: Option<u32>,
        now_unix_ms: u64,
    ) -> Vec<OllamaEviction> {
        let first = !self.boxes.contains_key(address);
        let history = self.boxes.entry(address.to_owned()).or_default();
        let current: BTreeMap<String, (Option<u64>, bool)> = loaded
            .iter()
            .map(|m| (m.name.clone(), (m.expires_at_unix_ms, m.pinned)))
            .collect();
        if !first {
            let max = max_loaded.unwrap_or(OLLAMA_DEFAULT_MAX_LOADED_MODELS).max(1) as usize;
            let was_full = history.previous.len() >= max;
            let newcomers: Vec<&String> = current.keys().filter(|n| !history.previous.contains_key(*n)).collect();
            let left_early = history.previous.iter().filter(|(name, (expires, pinned))| {
                !current.contains_key(*name)
                    && (*pinned || expires.is_some_and(|at| at > now_unix_ms.saturating_add(EXPIRY_SLACK_MS)))
            });
            let mut left: Vec<(String, u64)> = left_early.map(|(name, _)| (name.clone(), now_unix_ms)).collect();
            // Everything gone at once with nothing new is a restart or an unload of all, until a
            // newcomer says otherwise (with room for one model only, an eviction looks the same).
            let all_gone = left.len() == history.previous.len() && newcomers.is_empty();
            if was_full && !all_gone {
                // Full: an eviction now, whoever comes.
                for (model, at) in left.drain(..) {
                    history.evictions.push(OllamaEviction {
                        model,
                        by: newcomers.first().map(|n| (*n).clone()),
                        at_unix_ms: at,
                    });
                }
            }
            history.pending.append(&mut left);
            let window_ms = OLLAMA_EVICTION_WINDOW_S * 1000;
            history
                .pending
                .retain(|(_, at)| now_unix_ms.saturating_sub(*at) <= window_ms);
            if let Some(newcomer) = newcomers.first() {
                for (model, at) in history.pending.drain(..) {
                    history.evictions.push(OllamaEviction {
                        model,
                        by: Some((*newcomer).clone()),
                        at_unix_ms: at,
                    });
                }
                for eviction in &mut history.evictions {
                    if eviction.by.is_none() && now_unix_ms.saturating_sub(eviction.at_unix_ms) <= window_ms {
                        eviction.by = Some((*newcomer).clone());
                    }
                }
            }
        }
        let shown_ms = OLLAMA_EVICTION_SHOWN_S * 1000;
        history
            .evictions
            .retain(|e| now_unix_ms.saturating_sub(e.at_unix_ms) <= shown_ms);
        history.previous = current;
        history.evictions.clone()
    }

    /// The box did not answer: what it had loaded is no longer known (a restarted daemon comes
    /// back empty, which is no eviction).
    pub fn forget(&mut self, address: &str) {
        if let Some(history) = self.boxes.get_mut(address) {
            history.previous.clear();
            history.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn m(name: &str, expires: u64) -> OllamaLoadedModel {
        crate::ollama::loaded_model(name, Some(expires), false)
    }

    #[test]
    fn a_third_model_on_a_box_of_two_evicts_the_least_recent() {
        let mut t = EvictionTracker::default();
        let now = 1_000 * HOUR;
        assert!(t
            .observe("b", &[m("a", now + HOUR), m("b", now + HOUR)], Some(2), now)
            .is_empty());
        // The eviction, the newcomer still loading.
        let shown = t.observe("b", &[m("b", now + HOUR)], Some(2), now + 1_000);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].model, "a");
        assert_eq!(shown[0].by, None);
        // The newcomer appears: named as the cause.
        let shown = t.observe("b", &[m("b", now + HOUR), m("c", now + HOUR)], Some(2), now + 40_000);
        assert_eq!(shown[0].by.as_deref(), Some("c"));
        // Still shown a while, then gone.
        assert_eq!(
            t.observe("b", &[m("b", now + HOUR), m("c", now + HOUR)], Some(2), now + 60_000)
                .len(),
            1
        );
        assert!(t
            .observe(
                "b",
                &[m("b", now + HOUR), m("c", now + HOUR)],
                Some(2),
                now + 10 * 60_000
            )
            .is_empty());
    }

    #[test]
    fn with_the_maximum_unknown_a_newcomer_within_the_window_tells() {
        let mut t = EvictionTracker::default();
        let now = 1_000 * HOUR;
        t.observe("b", &[m("a", now + HOUR), m("b", now + HOUR)], None, now);
        assert!(t.observe("b", &[m("b", now + HOUR)], None, now + 1_000).is_empty());
        let shown = t.observe("b", &[m("b", now + HOUR), m("c", now + HOUR)], None, now + 30_000);
        assert_eq!((shown[0].model.as_str(), shown[0].by.as_deref()), ("a", Some("c")));
    }

    #[test]
    fn a_restart_is_no_eviction() {
        let mut t = EvictionTracker::default();
        let now = 1_000 * HOUR;
        let full = [m("a", now + HOUR), m("b", now + HOUR)];
        t.observe("b", &full, Some(2), now);
        // Seen down, then back empty and loading something else.
        t.forget("b");
        assert!(t.observe("b", &[], Some(2), now + 10_000).is_empty());
        assert!(t.observe("b", &[m("c", now + HOUR)], Some(2), now + 20_000).is_empty());
        // Restarted between two samples: all gone at once is not taken for an eviction by itself.
        let mut t = EvictionTracker::default();
        t.observe("b", &full, Some(2), now);
        assert!(t.observe("b", &[], Some(2), now + 1_000).is_empty());
    }

    #[test]
    fn an_expired_keep_alive_or_a_first_sample_is_no_eviction() {
        let mut t = EvictionTracker::default();
        let now = 1_000 * HOUR;
        t.observe("b", &[m("a", now + 5_000), m("b", now + HOUR)], Some(2), now);
        // a's keep-alive ran out; c loads after.
        assert!(t.observe("b", &[m("b", now + HOUR)], Some(2), now + 10_000).is_empty());
        assert!(t
            .observe("b", &[m("b", now + HOUR), m("c", now + HOUR)], Some(2), now + 20_000)
            .is_empty());
        // Another box's first sample.
        assert!(t.observe("other", &[m("x", now + HOUR)], Some(1), now).is_empty());
    }
}
