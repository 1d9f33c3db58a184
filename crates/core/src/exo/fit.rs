//! Will a model fit the cluster's memory pool?
//!
//! need = weights + KV cache + runtime overhead, where
//! - **weights** = parameters × bits / 8 (or the model card's storage size when known);
//! - **KV cache** (fp16, 2 bytes a value) = 2 (K and V) × layers × KV width × context × 2 bytes,
//!   with KV width = KV heads × head size (head size = hidden / 32 when the attention-head count
//!   is not known, capped at 128, the common size). When the architecture is unknown, a rule of
//!   thumb: **≈ 45 KB per token × √(parameters in billions)** — within ~20 % of Llama-3 1B/8B/70B
//!   (32/128/320 KB per token) and conservative for larger and mixture-of-experts models;
//! - **overhead** = 5 % of the weights (activations, buffers) + 1 GiB per box the model spans.
//!
//! It fits when need ≤ the pool's usable memory; `min_boxes` is how few boxes (largest first)
//! could hold it.

use serde::{Deserialize, Serialize};

use super::models::ModelCard;
use super::pool::Pool;

pub const KV_BYTES_PER_VALUE: f64 = 2.0;
pub const RULE_OF_THUMB_KV_BYTES_PER_TOKEN_PER_SQRT_B: f64 = 45_000.0;
pub const OVERHEAD_FRACTION: f64 = 0.05;
pub const OVERHEAD_BYTES_PER_BOX: u64 = 1 << 30;
pub const DEFAULT_CONTEXT_TOKENS: u64 = 8192;

/// Architecture figures from a model card, when known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub kv_heads: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitVerdict {
    pub fits: bool,
    pub need_bytes: u64,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub overhead_bytes: u64,
    pub usable_bytes: u64,
    /// usable − need; negative when it does not fit.
    pub headroom_bytes: i64,
    /// Fewest boxes (largest first) whose usable memory holds it; `None` when even all cannot.
    pub min_boxes: Option<usize>,
    /// How the KV cache was estimated: "architecture" or "rule_of_thumb".
    pub kv_method: String,
    /// One line for people.
    pub summary: String,
}

/// Fit by parameter count (billions) and bits per weight.
pub fn fit(params_b: f64, bits: f64, context_tokens: u64, pool: &Pool) -> FitVerdict {
    fit_with(params_b, bits, context_tokens, Architecture::default(), None, pool)
}

/// Fit a model card from `/v1/models`: its storage size is the weights.
pub fn fit_model(card: &ModelCard, context_tokens: u64, pool: &Pool) -> Option<FitVerdict> {
    let params_b = card.params_b();
    let weights = card.storage_size_bytes.or_else(|| {
        let bits = card.bits_per_weight()?;
        Some((params_b? * 1e9 * bits / 8.0) as u64)
    })?;
    let arch = Architecture {
        layers: card.n_layers,
        hidden_size: card.hidden_size,
        kv_heads: card.num_key_value_heads,
    };
    // Without a parameter count, the rule of thumb is taken from the 4-bit equivalent size.
    let params_for_kv = params_b.unwrap_or(weights as f64 * 2.0 / 1e9);
    Some(fit_with(params_for_kv, 0.0, context_tokens, arch, Some(weights), pool))
}

/// The general form: `weights_bytes` overrides params × bits / 8 when given.
pub fn fit_with(
    params_b: f64,
    bits: f64,
    context_tokens: u64,
    arch: Architecture,
    weights_bytes: Option<u64>,
    pool: &Pool,
) -> FitVerdict {
    let params_b = if params_b.is_finite() { params_b.max(0.0) } else { 0.0 };
    let bits = if bits.is_finite() { bits.max(0.0) } else { 0.0 };
    let weights = weights_bytes.unwrap_or((params_b * 1e9 * bits / 8.0) as u64);
    let (kv, kv_method) = kv_cache_bytes(params_b, context_tokens, arch);
    let base_overhead = (weights as f64 * OVERHEAD_FRACTION) as u64;

    // The overhead grows with the boxes used, so find the fewest boxes that hold everything.
    let mut min_boxes = None;
    let mut cumulative = 0u64;
    for (index, b) in pool.per_box.iter().enumerate() {
        cumulative = cumulative.saturating_add(b.usable_bytes);
        let need = weights
            .saturating_add(kv)
            .saturating_add(base_overhead)
            .saturating_add(OVERHEAD_BYTES_PER_BOX.saturating_mul(index as u64 + 1));
        if need <= cumulative {
            min_boxes = Some(index + 1);
            break;
        }
    }
    let boxes_used = min_boxes.unwrap_or(pool.per_box.len()).max(1) as u64;
    let overhead = base_overhead.saturating_add(OVERHEAD_BYTES_PER_BOX.saturating_mul(boxes_used));
    let need = weights.saturating_add(kv).saturating_add(overhead);
    let usable = pool.memory_usable_bytes;
    let fits = min_boxes.is_some() && need <= usable;
    let headroom = usable as i128 - need as i128;
    let gb = |b: u64| b as f64 / (1u64 << 30) as f64;
    let summary = if fits {
        format!(
            "Fits: needs {:.1} GB of {:.1} GB usable ({:.1} GB weights, {:.1} GB KV cache for {context_tokens} tokens) on {} box(es).",
            gb(need), gb(usable), gb(weights), gb(kv), boxes_used
        )
    } else {
        format!(
            "Does not fit: needs {:.1} GB but the cluster has {:.1} GB usable ({:.1} GB weights, {:.1} GB KV cache for {context_tokens} tokens).",
            gb(need), gb(usable), gb(weights), gb(kv)
        )
    };
    FitVerdict {
        fits,
        need_bytes: need,
        weights_bytes: weights,
        kv_cache_bytes: kv,
        overhead_bytes: overhead,
        usable_bytes: usable,
        headroom_bytes: headroom.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        min_boxes,
        kv_method: kv_method.to_owned(),
        summary,
    }
}

/// The KV cache for `context_tokens` tokens; see the module docs for the formula.
pub fn kv_cache_bytes(params_b: f64, context_tokens: u64, arch: Architecture) -> (u64, &'static str) {
    let tokens = context_tokens as f64;
    if let (Some(layers), Some(hidden)) = (arch.layers, arch.hidden_size) {
        let head_size = (hidden as f64 / 32.0).clamp(1.0, 128.0);
        let kv_width = match arch.kv_heads {
            Some(heads) if heads > 0 => (heads as f64 * head_size).min(hidden as f64),
            _ => hidden as f64,
        };
        let bytes = 2.0 * layers as f64 * kv_width * tokens * KV_BYTES_PER_VALUE;
        return (bytes as u64, "architecture");
    }
    let per_token = RULE_OF_THUMB_KV_BYTES_PER_TOKEN_PER_SQRT_B * params_b.max(0.0).sqrt();
    ((per_token * tokens) as u64, "rule_of_thumb")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exo::pool::PoolConfig;

    const GIB: u64 = 1 << 30;

    fn pool(sizes_gib: &[u64]) -> Pool {
        Pool::from_boxes(
            sizes_gib
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("box{i}"), s * GIB, None)),
            &PoolConfig::default(),
        )
    }

    #[test]
    fn a_trillion_parameters_at_int4_do_not_fit_two_256_gb_boxes() {
        let verdict = fit(1000.0, 4.0, 8192, &pool(&[256, 256]));
        assert!(!verdict.fits, "{verdict:?}");
        assert_eq!(verdict.weights_bytes, 500_000_000_000);
        assert_eq!(verdict.min_boxes, None);
        assert!(verdict.headroom_bytes < 0);
        assert!(verdict.summary.starts_with("Does not fit"));
    }

    #[test]
    fn a_70b_model_at_4_bit_fits_one_128_gb_box_with_room() {
        let verdict = fit(70.0, 4.0, 8192, &pool(&[128, 64]));
        assert!(verdict.fits, "{verdict:?}");
        assert_eq!(verdict.min_boxes, Some(1));
        // KV cache for 8k tokens of a 70B model: ~2.5–3.5 GB.
        assert!(
            (2_500_000_000..3_500_000_000).contains(&verdict.kv_cache_bytes),
            "{verdict:?}"
        );
        assert_eq!(verdict.overhead_bytes, 1_750_000_000 + GIB);
    }

    #[test]
    fn a_model_that_needs_two_boxes_says_so() {
        let verdict = fit(235.0, 4.0, 8192, &pool(&[128, 128]));
        assert!(verdict.fits, "{verdict:?}");
        assert_eq!(verdict.min_boxes, Some(2));
    }

    #[test]
    fn architecture_gives_the_exact_kv_size() {
        // Llama 3.2 1B: 16 layers, hidden 2048, 8 KV heads of 64 → 32 KiB a token.
        let arch = Architecture {
            layers: Some(16),
            hidden_size: Some(2048),
            kv_heads: Some(8),
        };
        assert_eq!(kv_cache_bytes(1.0, 1, arch), (32 * 1024, "architecture"));
        assert_eq!(kv_cache_bytes(1.0, 0, arch).0, 0);
    }

    #[test]
    fn nonsense_inputs_do_not_panic() {
        let empty = pool(&[]);
        let verdict = fit(f64::NAN, f64::INFINITY, u64::MAX, &empty);
        assert!(!verdict.fits);
        assert!(!fit(-5.0, 4.0, 0, &empty).fits);
    }

    #[test]
    fn fit_by_card_uses_its_storage_size() {
        let card = ModelCard {
            id: "mlx-community/Llama-3.2-1B-Instruct-4bit".into(),
            name: None,
            family: None,
            quantization: Some("4bit".into()),
            base_model: Some("Llama 3.2 1B".into()),
            context_length: Some(131072),
            storage_size_bytes: Some(696 << 20),
            n_layers: None,
            hidden_size: None,
            num_key_value_heads: None,
            tasks: vec![],
        };
        let verdict = fit_model(&card, 4096, &pool(&[16])).unwrap();
        assert!(verdict.fits);
        assert_eq!(verdict.weights_bytes, 696 << 20);
        assert_eq!(verdict.kv_method, "rule_of_thumb");
        let without_size = ModelCard {
            storage_size_bytes: None,
            quantization: None,
            ..card
        };
        assert!(fit_model(&without_size, 4096, &pool(&[16])).is_none());
    }
}
