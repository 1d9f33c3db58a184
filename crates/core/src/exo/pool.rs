//! The cluster's memory as one pool for model weights.
//!
//! On Apple Silicon the GPU may wire only part of RAM (its "working-set ceiling"; raised with
//! `sysctl iogpu.wired_limit_mb`). When that ceiling is known for a box it is the usable
//! memory; otherwise a fraction of RAM (default 0.75, macOS's default ceiling on large Macs).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::state::ClusterView;
use crate::format::saturating_sum;

pub const DEFAULT_USABLE_FRACTION: f64 = 0.75;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// Share of RAM usable for a model on a box whose GPU ceiling is unknown (0–1).
    pub usable_fraction: f64,
    /// Per-box override of `usable_fraction`, keyed by box name.
    pub fraction_by_box: HashMap<String, f64>,
    /// Known GPU working-set ceilings, bytes, keyed by box name.
    pub gpu_ceiling_bytes_by_box: HashMap<String, u64>,
    /// This box's ceiling (the caller measured it locally); applies to the node exo calls "this".
    pub this_box_gpu_ceiling_bytes: Option<u64>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            usable_fraction: DEFAULT_USABLE_FRACTION,
            fraction_by_box: HashMap::new(),
            gpu_ceiling_bytes_by_box: HashMap::new(),
            this_box_gpu_ceiling_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsableSource {
    GpuCeiling,
    Fraction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolBox {
    pub name: String,
    pub total_bytes: u64,
    pub usable_bytes: u64,
    pub source: UsableSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub memory_total_bytes: u64,
    pub memory_usable_bytes: u64,
    /// `memory_usable_bytes` in MiB, the unit inference runtimes take.
    pub vram_budget_mb: u64,
    /// Largest usable first.
    pub per_box: Vec<PoolBox>,
}

impl Pool {
    /// Boxes as (name, RAM bytes, GPU ceiling if known).
    pub fn from_boxes<I>(boxes: I, config: &PoolConfig) -> Self
    where
        I: IntoIterator<Item = (String, u64, Option<u64>)>,
    {
        let fraction_for = |name: &str| {
            let f = config
                .fraction_by_box
                .get(name)
                .copied()
                .unwrap_or(config.usable_fraction);
            if f.is_finite() {
                f.clamp(0.0, 1.0)
            } else {
                DEFAULT_USABLE_FRACTION
            }
        };
        let mut per_box: Vec<PoolBox> = boxes
            .into_iter()
            .map(|(name, total_bytes, ceiling)| {
                let ceiling = ceiling.or_else(|| config.gpu_ceiling_bytes_by_box.get(&name).copied());
                let (usable_bytes, source) = match ceiling {
                    Some(c) => (c.min(total_bytes), UsableSource::GpuCeiling),
                    None => (
                        (total_bytes as f64 * fraction_for(&name)) as u64,
                        UsableSource::Fraction,
                    ),
                };
                PoolBox {
                    name,
                    total_bytes,
                    usable_bytes,
                    source,
                }
            })
            .collect();
        per_box.sort_by(|a, b| b.usable_bytes.cmp(&a.usable_bytes).then_with(|| a.name.cmp(&b.name)));
        let memory_usable_bytes = saturating_sum(per_box.iter().map(|b| b.usable_bytes));
        Self {
            memory_total_bytes: saturating_sum(per_box.iter().map(|b| b.total_bytes)),
            memory_usable_bytes,
            vram_budget_mb: memory_usable_bytes / (1024 * 1024),
            per_box,
        }
    }

    /// The members of `view` whose RAM exo reports (boxes without a figure add nothing).
    pub fn from_view(view: &ClusterView, config: &PoolConfig) -> Self {
        Self::from_boxes(
            view.nodes.iter().filter_map(|n| {
                let ceiling = if n.is_this_node {
                    config.this_box_gpu_ceiling_bytes
                } else {
                    None
                };
                Some((n.name.clone(), n.memory_total_bytes?, ceiling))
            }),
            config,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn ceiling_beats_fraction_and_overrides_apply() {
        let mut config = PoolConfig::default();
        config.fraction_by_box.insert("mini".into(), 0.5);
        let pool = Pool::from_boxes(
            [
                ("studio".to_owned(), 512 * GIB, Some(480 * GIB)),
                ("mini".to_owned(), 64 * GIB, None),
                ("air".to_owned(), 16 * GIB, None),
            ],
            &config,
        );
        assert_eq!(pool.memory_total_bytes, 592 * GIB);
        assert_eq!(pool.per_box[0].usable_bytes, 480 * GIB);
        assert_eq!(pool.per_box[0].source, UsableSource::GpuCeiling);
        assert_eq!(pool.per_box[1].usable_bytes, 32 * GIB);
        assert_eq!(pool.per_box[2].usable_bytes, 12 * GIB);
        assert_eq!(pool.memory_usable_bytes, 524 * GIB);
        assert_eq!(pool.vram_budget_mb, 524 * 1024);
    }

    #[test]
    fn a_ceiling_above_ram_is_capped_and_bad_fractions_are_clamped() {
        let mut config = PoolConfig {
            usable_fraction: 7.0,
            ..PoolConfig::default()
        };
        config.fraction_by_box.insert("nan".into(), f64::NAN);
        let pool = Pool::from_boxes(
            [
                ("a".to_owned(), 8 * GIB, Some(100 * GIB)),
                ("b".to_owned(), 8 * GIB, None),
                ("nan".to_owned(), 8 * GIB, None),
            ],
            &config,
        );
        assert_eq!(
            pool.per_box.iter().find(|b| b.name == "a").unwrap().usable_bytes,
            8 * GIB
        );
        assert_eq!(
            pool.per_box.iter().find(|b| b.name == "b").unwrap().usable_bytes,
            8 * GIB
        );
        assert_eq!(
            pool.per_box.iter().find(|b| b.name == "nan").unwrap().usable_bytes,
            6 * GIB
        );
    }

    /// Issue #11: figures near u64::MAX wrapped the cluster totals (a pool smaller than one box).
    #[test]
    fn huge_figures_saturate_instead_of_wrapping() {
        let huge = u64::MAX - 10;
        let pool = Pool::from_boxes(
            [
                ("a".to_owned(), huge, Some(huge)),
                ("b".to_owned(), 64 * GIB, Some(48 * GIB)),
            ],
            &PoolConfig::default(),
        );
        assert_eq!(pool.memory_total_bytes, u64::MAX);
        assert_eq!(pool.memory_usable_bytes, u64::MAX);
        assert!(pool.memory_usable_bytes >= pool.per_box[0].usable_bytes);

        let fit = crate::exo::fit::fit_with(
            1.0,
            4.0,
            8192,
            crate::exo::fit::Architecture::default(),
            Some(u64::MAX),
            &pool,
        );
        assert_eq!(fit.need_bytes, u64::MAX);

        let mut state: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/exo/state-2node.derived.json")).unwrap();
        for node in state["nodeMemory"].as_object_mut().unwrap().values_mut() {
            node["ramTotal"]["inBytes"] = serde_json::json!(huge);
            node["ramAvailable"]["inBytes"] = serde_json::json!(huge);
        }
        let view = super::super::state::parse_state(&state, None, 0);
        assert_eq!(view.memory_total_bytes, u64::MAX);
        assert_eq!(view.memory_available_bytes, u64::MAX);
        assert_eq!(
            Pool::from_view(&view, &PoolConfig::default()).memory_total_bytes,
            u64::MAX
        );
    }
}
