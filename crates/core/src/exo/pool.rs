//! The cluster's memory as one pool for model weights.
//!
//! On Apple Silicon the GPU may wire only part of RAM (its "working-set ceiling"; raised with
//! `sysctl iogpu.wired_limit_mb`). When that ceiling is known for a box it is the usable
//! memory; otherwise a fraction of RAM (default 0.75, macOS's default ceiling on large Macs).

pub use clusterbar_model::pool::{Pool, PoolBox, PoolConfig, UsableSource, DEFAULT_USABLE_FRACTION};

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
