//! The pooled memory the cluster advertises: per box, the usable share (the GPU's wired
//! ceiling when known, else a fraction of RAM), summed without ever wrapping.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use ts_rs::TS;

fn saturating_sum(values: impl Iterator<Item = u64>) -> u64 {
    values.fold(0u64, u64::saturating_add)
}

pub const DEFAULT_USABLE_FRACTION: f64 = 0.75;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UsableSource {
    GpuCeiling,
    Fraction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PoolBox {
    pub name: String,
    pub total_bytes: u64,
    pub usable_bytes: u64,
    pub source: UsableSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
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
}
