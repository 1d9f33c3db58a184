//! "Does it fit?" without a running cluster: `clusterbar models fit MODEL_OR_SIZE --boxes 256,256`.
//!
//! The model is given as a size ("500GB", "42.5GiB", "1.2TB": decimal units as model pages
//! print them, GiB/TiB binary) or as parameters and a quantization in the way model names carry
//! them ("1T-int4", "70b-q4_K_M", "qwen3:235b-a22b-q8_0", "8b-fp16"; the `a22b` of a
//! mixture-of-experts is its active share, not its size). Bits are nominal: GGUF K-quants carry
//! ~0.5–0.9 bit more per weight, so give the file size when it is known. The boxes are GB of
//! unified memory as Apple sells it (256 = 256 GiB). The verdict is `exo::fit::fit_with` over a
//! pool built the way the app builds one (75 % of RAM usable when the GPU ceiling is unknown).

use crate::exo::fit::{fit_with, Architecture, FitVerdict};
use crate::exo::pool::{Pool, PoolConfig};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelSpec {
    /// The weights' size in bytes.
    Size(u64),
    /// Parameters (billions) and bits per weight.
    Params { params_b: f64, bits: f64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{0:?} names no size (e.g. 500GB) and no parameter count with a quantization (e.g. 1T-int4, 70b-q4_K_M)")]
    Unreadable(String),
    #[error("{0:?} gives the parameters but not the bits per weight: add the quantization (e.g. {0}-q4, {0}-fp16) or --bits")]
    NoBits(String),
    #[error("box memory {0:?} is not a number of GB above 0 (e.g. --boxes 256,256)")]
    BadBox(String),
}

fn number_with_suffix(token: &str) -> Option<(f64, &str)> {
    let end = token
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(token.len());
    let number: f64 = token[..end].parse().ok()?;
    (number.is_finite() && number > 0.0).then_some((number, &token[end..]))
}

/// A size with its unit, the whole text ("500GB", "42.5 GiB").
fn parse_size(text: &str) -> Option<u64> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (number, unit) = number_with_suffix(&compact)?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "mib" => (1u64 << 20) as f64,
        "gib" => (1u64 << 30) as f64,
        "tib" => (1u64 << 40) as f64,
        _ => return None,
    };
    Some((number * scale) as u64)
}

/// Bits per weight from a quantization token ("int4", "q4", "4bit", "fp16", "bf16", "mxfp4").
fn parse_bits(token: &str) -> Option<f64> {
    let token = token.to_ascii_lowercase();
    let rest = ["mxfp", "int", "fp", "bf", "q", "f", "w"]
        .iter()
        .find_map(|prefix| token.strip_prefix(prefix))
        .or_else(|| token.strip_suffix("bit"))
        .or_else(|| token.strip_suffix("-bit"))?;
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let bits: f64 = rest[..end].parse().ok()?;
    let tail = &rest[end..];
    (bits > 0.0 && bits <= 32.0 && (tail.is_empty() || tail == "bit")).then_some(bits)
}

/// Parameters from a token ("1t", "70b", "7.6b", "500m") in billions.
fn parse_params(token: &str) -> Option<f64> {
    let (number, unit) = number_with_suffix(token)?;
    match unit.to_ascii_lowercase().as_str() {
        "t" => Some(number * 1000.0),
        "b" => Some(number),
        "m" => Some(number / 1000.0),
        _ => None,
    }
}

pub fn parse_model_spec(text: &str) -> Result<ModelSpec, SpecError> {
    if let Some(bytes) = parse_size(text) {
        return Ok(ModelSpec::Size(bytes));
    }
    let tokens: Vec<&str> = text
        .split(['-', '_', ':', '@', '/', ' ', ','])
        .filter(|t| !t.is_empty())
        .collect();
    let params_b = tokens.iter().find_map(|t| parse_params(t));
    let bits = tokens.iter().find_map(|t| parse_bits(t));
    match (params_b, bits) {
        (Some(params_b), Some(bits)) => Ok(ModelSpec::Params { params_b, bits }),
        (Some(_), None) => Err(SpecError::NoBits(text.to_owned())),
        _ => Err(SpecError::Unreadable(text.to_owned())),
    }
}

/// `--boxes 256,256` → GiB each.
pub fn parse_boxes(text: &str) -> Result<Vec<u64>, SpecError> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let gb = part
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|gb| gb.is_finite() && *gb > 0.0 && *gb <= 1e6)
                .ok_or_else(|| SpecError::BadBox(part.to_owned()))?;
            Ok((gb * (1u64 << 30) as f64) as u64)
        })
        .collect()
}

/// The pool of boxes of these sizes (bytes), named box 1, box 2 …, as the app would pool them.
pub fn pool_of(boxes_bytes: &[u64]) -> Pool {
    Pool::from_boxes(
        boxes_bytes
            .iter()
            .enumerate()
            .map(|(i, bytes)| (format!("box {}", i + 1), *bytes, None)),
        &PoolConfig::default(),
    )
}

pub fn fit_spec(spec: ModelSpec, context_tokens: u64, pool: &Pool) -> FitVerdict {
    match spec {
        ModelSpec::Params { params_b, bits } => {
            fit_with(params_b, bits, context_tokens, Architecture::default(), None, pool)
        }
        // Without a parameter count the KV rule of thumb takes the 4-bit equivalent, as a card's size does.
        ModelSpec::Size(bytes) => fit_with(
            bytes as f64 * 2.0 / 1e9,
            0.0,
            context_tokens,
            Architecture::default(),
            Some(bytes),
            pool,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_as_model_names_carry_them() {
        let p = |params_b, bits| Ok(ModelSpec::Params { params_b, bits });
        assert_eq!(parse_model_spec("1T-int4"), p(1000.0, 4.0));
        assert_eq!(parse_model_spec("70b-q4_K_M"), p(70.0, 4.0));
        assert_eq!(parse_model_spec("qwen3:235b-a22b-q8_0"), p(235.0, 8.0));
        assert_eq!(parse_model_spec("llama3.1:8b-instruct-fp16"), p(8.0, 16.0));
        assert_eq!(parse_model_spec("gpt-oss:120b-mxfp4"), p(120.0, 4.0));
        assert_eq!(parse_model_spec("Kimi-K2 1T 4bit"), p(1000.0, 4.0));
        assert_eq!(parse_model_spec("500GB"), Ok(ModelSpec::Size(500_000_000_000)));
        assert_eq!(parse_model_spec("42 GiB"), Ok(ModelSpec::Size(42 << 30)));
        assert!(matches!(parse_model_spec("qwen3:32b"), Err(SpecError::NoBits(_))));
        assert!(matches!(parse_model_spec("llama3.2"), Err(SpecError::Unreadable(_))));
        assert!(matches!(parse_model_spec("NaNGB"), Err(SpecError::Unreadable(_))));
    }

    #[test]
    fn a_trillion_at_int4_on_two_256_gb_boxes_is_short_by_about_110_gb() {
        let boxes = parse_boxes("256,256").unwrap();
        assert_eq!(boxes, vec![256 << 30, 256 << 30]);
        let pool = pool_of(&boxes);
        let verdict = fit_spec(parse_model_spec("1T-int4").unwrap(), 8192, &pool);
        assert!(!verdict.fits);
        assert_eq!(verdict.usable_bytes, 384 << 30);
        let short_gib = -verdict.headroom_bytes as f64 / (1u64 << 30) as f64;
        assert!((100.0..130.0).contains(&short_gib), "{short_gib}");
        assert!(parse_boxes("256,abc").is_err());
        assert!(parse_boxes("0").is_err());
        assert_eq!(parse_boxes("512GB").unwrap(), vec![512 << 30]);
    }
}
