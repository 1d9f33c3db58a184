//! exo's model catalogue: `GET /v1/models` lists every model card exo knows (built-in and
//! custom), not the loaded ones — those are the instances in `/state`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The id to send to `place_instance` and to chat clients.
    pub id: String,
    pub name: Option<String>,
    pub family: Option<String>,
    /// e.g. "4bit", "8bit", "bf16".
    pub quantization: Option<String>,
    pub base_model: Option<String>,
    pub context_length: Option<u64>,
    /// The weights on disk (≈ in memory), from `storage_size_megabytes` (MiB).
    pub storage_size_bytes: Option<u64>,
    /// Present in exo's full model cards (not always in `/v1/models`).
    pub n_layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub num_key_value_heads: Option<u64>,
    pub tasks: Vec<String>,
}

impl ModelCard {
    /// Bits per weight from the quantization label ("4bit" → 4, "bf16" → 16), if recognisable.
    pub fn bits_per_weight(&self) -> Option<f64> {
        let q = self.quantization.as_deref()?.to_ascii_lowercase();
        if let Some(n) = q.strip_suffix("bit").or_else(|| q.strip_suffix("-bit")) {
            return n.trim().parse::<f64>().ok().filter(|b| *b > 0.0 && *b <= 32.0);
        }
        match q.as_str() {
            "bf16" | "fp16" | "f16" | "float16" | "bfloat16" => Some(16.0),
            "fp32" | "f32" | "float32" => Some(32.0),
            "fp8" | "int8" | "q8" | "mxfp8" => Some(8.0),
            "int4" | "q4" | "mxfp4" | "nvfp4" => Some(4.0),
            _ => None,
        }
    }

    /// Parameters in billions: from the name ("Llama 3.2 1B", "Qwen3-235B-A22B" → 235), else
    /// from the storage size and the bits per weight.
    pub fn params_b(&self) -> Option<f64> {
        let named = [self.base_model.as_deref(), self.name.as_deref(), Some(self.id.as_str())]
            .into_iter()
            .flatten()
            .find_map(params_from_name);
        named.or_else(|| {
            let bits = self.bits_per_weight()?;
            Some(self.storage_size_bytes? as f64 * 8.0 / bits / 1e9)
        })
    }
}

/// The largest "<number>B" / "<number>T" token in a model name, in billions.
pub fn params_from_name(name: &str) -> Option<f64> {
    let mut best: Option<f64> = None;
    for token in name.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
        let lower = token.to_ascii_lowercase();
        let (digits, scale) = if let Some(d) = lower.strip_suffix('b') {
            (d, 1.0)
        } else if let Some(d) = lower.strip_suffix('t') {
            (d, 1000.0)
        } else if let Some(d) = lower.strip_suffix('m') {
            (d, 0.001)
        } else {
            continue;
        };
        if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = digits.parse::<f64>() {
            let b = n * scale;
            best = Some(best.map_or(b, |m: f64| m.max(b)));
        }
    }
    best
}

/// Parses `/v1/models` (`{"data": [...]}`; a bare list is accepted). Entries without an id are skipped.
pub fn parse_models(value: &Value) -> Vec<ModelCard> {
    let list = value.get("data").and_then(Value::as_array).or_else(|| value.as_array());
    let Some(list) = list else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|m| {
            let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
            let n = |k: &str| m.get(k).and_then(Value::as_u64);
            Some(ModelCard {
                id: s("id")?,
                name: s("name"),
                family: s("family"),
                quantization: s("quantization"),
                base_model: s("base_model"),
                context_length: n("context_length"),
                storage_size_bytes: n("storage_size_megabytes")
                    .map(|mib| mib.saturating_mul(1 << 20))
                    .or_else(|| n("storage_size_bytes")),
                n_layers: n("n_layers"),
                hidden_size: n("hidden_size"),
                num_key_value_heads: n("num_key_value_heads"),
                tasks: m
                    .get("tasks")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/exo/v1-models.derived.json");

    #[test]
    fn parses_the_derived_model_list() {
        let models = parse_models(&serde_json::from_str(FIXTURE).unwrap());
        assert_eq!(models.len(), 1);
        let card = &models[0];
        assert_eq!(card.id, "mlx-community/Llama-3.2-1B-Instruct-4bit");
        assert_eq!(card.storage_size_bytes, Some(696 * 1024 * 1024));
        assert_eq!(card.context_length, Some(131072));
        assert_eq!(card.bits_per_weight(), Some(4.0));
        assert_eq!(card.params_b(), Some(1.0));
    }

    #[test]
    fn tolerates_odd_lists() {
        assert!(parse_models(&serde_json::json!({"data": "nope"})).is_empty());
        assert!(parse_models(&serde_json::json!(null)).is_empty());
        let odd =
            serde_json::json!([{"name": "no id"}, {"id": "x", "storage_size_megabytes": -1, "tasks": [1, "Chat"]}]);
        let models = parse_models(&odd);
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].storage_size_bytes, None);
        assert_eq!(models[0].tasks, vec!["Chat".to_owned()]);
    }

    #[test]
    fn names_give_parameter_counts() {
        assert_eq!(params_from_name("Qwen3-235B-A22B-4bit"), Some(235.0));
        assert_eq!(params_from_name("Kimi-K2-Instruct 1T"), Some(1000.0));
        assert_eq!(params_from_name("Llama 3.2 1B"), Some(1.0));
        assert_eq!(params_from_name("gpt-oss-120b"), Some(120.0));
        assert_eq!(params_from_name("no size here 4bit"), None);
    }
}
