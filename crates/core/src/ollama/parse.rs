//! Pure parsers for Ollama's answers (`/api/ps`, `/api/tags`, `/api/version`, as Ollama's
//! `docs/api.md` documents them) and for its duration values (`OLLAMA_KEEP_ALIVE`).
//!
//! Lenient: a field that is missing or `null` (exo's Ollama-compatible `/ollama/api/ps` sends
//! `null` for digest, details, expiry and VRAM) is unknown, never a failure; only an answer that
//! is not the documented object at all is an error.

use serde_json::Value;

use super::OllamaError;
use clusterbar_model::limits::OLLAMA_PINNED_AFTER_S;
use clusterbar_model::ollama::{OllamaInstalledModel, OllamaLoadedModel};

fn models_array<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], OllamaError> {
    match value.get("models") {
        Some(Value::Array(models)) => Ok(models),
        // Ollama sends `{"models": []}`, but a `null` list is still "none".
        Some(Value::Null) => Ok(&[]),
        _ => Err(OllamaError::Shape {
            path: path.to_owned(),
            detail: "no \"models\" list".into(),
        }),
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn detail(model: &Value, key: &str) -> Option<String> {
    model
        .get("details")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A model's name: `name`, else `model` (both carry `model:tag`).
fn name(model: &Value) -> Option<String> {
    text(model, "name")
        .filter(|n| !n.is_empty())
        .or_else(|| text(model, "model").filter(|n| !n.is_empty()))
}

/// `GET /api/ps`: the models in memory. `now_unix_ms` tells a pinned model (an expiry
/// centuries away) from one that unloads.
pub fn parse_ps(value: &Value, now_unix_ms: u64) -> Result<Vec<OllamaLoadedModel>, OllamaError> {
    let mut out = Vec::new();
    for model in models_array(value, "/api/ps")? {
        let Some(name) = name(model) else { continue };
        let expires = model
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(parse_timestamp_ms);
        let pinned_after = now_unix_ms.saturating_add(OLLAMA_PINNED_AFTER_S.saturating_mul(1000));
        let pinned = expires.is_some_and(|at| at > pinned_after);
        out.push(OllamaLoadedModel {
            name,
            size_bytes: model.get("size").and_then(Value::as_u64).unwrap_or(0),
            vram_bytes: model.get("size_vram").and_then(Value::as_u64),
            context_length: model.get("context_length").and_then(Value::as_u64),
            parameter_size: detail(model, "parameter_size"),
            quantization: detail(model, "quantization_level"),
            expires_at_unix_ms: expires.filter(|_| !pinned),
            pinned,
        });
    }
    Ok(out)
}

/// `GET /api/tags`: the models on disk.
pub fn parse_tags(value: &Value) -> Result<Vec<OllamaInstalledModel>, OllamaError> {
    Ok(models_array(value, "/api/tags")?
        .iter()
        .filter_map(|model| {
            Some(OllamaInstalledModel {
                name: name(model)?,
                size_bytes: model.get("size").and_then(Value::as_u64).unwrap_or(0),
                parameter_size: detail(model, "parameter_size"),
                quantization: detail(model, "quantization_level"),
            })
        })
        .collect())
}

/// `GET /api/version`: `{"version": "0.5.1"}`.
pub fn parse_version(value: &Value) -> Result<String, OllamaError> {
    text(value, "version").ok_or_else(|| OllamaError::Shape {
        path: "/api/version".into(),
        detail: "no \"version\" text".into(),
    })
}

/// An RFC 3339 time (Go's format: nanoseconds and an offset) → Unix ms; `None` for Go's zero
/// time ("0001-01-01T00:00:00Z") and anything before 1970.
pub fn parse_timestamp_ms(text: &str) -> Option<u64> {
    let time = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    u64::try_from(time.timestamp_millis()).ok()
}

/// A keep-alive as Ollama reads it (docs/faq: "a duration string (such as "10m" or "24h")", "a
/// number in seconds", "any negative number which will keep the model loaded in memory"), in
/// whole seconds; negative = forever. Go duration units: ns, us/µs, ms, s, m, h, combined
/// ("1h30m") and fractional ("1.5h").
pub fn parse_keep_alive_s(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches('"');
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds
            .is_finite()
            .then_some(if seconds < 0.0 { -1 } else { seconds as i64 });
    }
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() {
        return None;
    }
    Some(if negative && total > 0.0 { -1 } else { total as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/ollama/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// 2024-06-04T14:38:31.83753-07:00 = 21:38:31.837 UTC.
    const DOCS_EXPIRY_MS: u64 = 1_717_537_111_837;

    #[test]
    fn ps_from_the_docs_example() {
        let now = DOCS_EXPIRY_MS - 3 * 3600 * 1000;
        let models = parse_ps(&fixture("api_ps.docs.json"), now).unwrap();
        assert_eq!(models.len(), 1);
        let m = &models[0];
        assert_eq!(m.name, "mistral:latest");
        assert_eq!(m.size_bytes, 5_137_025_024);
        assert_eq!(m.vram_bytes, Some(5_137_025_024));
        assert_eq!(m.parameter_size.as_deref(), Some("7.2B"));
        assert_eq!(m.quantization.as_deref(), Some("Q4_0"));
        assert_eq!(m.expires_at_unix_ms, Some(DOCS_EXPIRY_MS));
        assert!(!m.pinned);
        assert_eq!(m.unload_text(now), "unloads in 3 h");
        assert_eq!(m.context_length, None, "docs/api.md's example has none");
        let with_context = parse_ps(&fixture("api_ps.openapi.json"), now).unwrap();
        assert_eq!(with_context[0].context_length, Some(4096));
        assert_eq!(with_context[0].vram_bytes, Some(5_333_539_264));
    }

    #[test]
    fn a_far_future_expiry_is_pinned() {
        let ps = serde_json::json!({"models": [
            {"name": "qwen3:235b", "size": 1, "expires_at": "2318-09-15T03:12:44.123456789+02:00"}
        ]});
        let models = parse_ps(&ps, DOCS_EXPIRY_MS).unwrap();
        assert!(models[0].pinned);
        assert_eq!(models[0].expires_at_unix_ms, None);
        assert_eq!(models[0].unload_text(DOCS_EXPIRY_MS), "pinned");
    }

    #[test]
    fn exos_ollama_compatible_ps_with_nulls_parses() {
        let models = parse_ps(&fixture("exo_real_linux_ollama_api_ps.json"), 0).unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].name, "local/tiny-llama");
        assert_eq!(models[0].vram_bytes, None);
        assert_eq!(models[0].expires_at_unix_ms, None);
        assert!(!models[0].pinned);
        assert_eq!(models[0].unload_text(0), "—");
    }

    #[test]
    fn tags_and_version_from_the_docs() {
        let tags = parse_tags(&fixture("api_tags.docs.json")).unwrap();
        let names: Vec<&str> = tags.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["deepseek-r1:latest", "llama3.2:latest"]);
        assert_eq!(tags[0].size_bytes, 4_683_075_271);
        assert_eq!(tags[0].parameter_size.as_deref(), Some("7.6B"));
        assert_eq!(tags[1].quantization.as_deref(), Some("Q4_K_M"));
        assert_eq!(parse_version(&fixture("api_version.docs.json")).unwrap(), "0.5.1");
    }

    #[test]
    fn wrong_shapes_are_errors_and_empty_is_not() {
        assert!(parse_ps(&serde_json::json!({"error": "x"}), 0).is_err());
        assert!(parse_tags(&serde_json::json!([1, 2])).is_err());
        assert!(parse_version(&serde_json::json!({"version": 5})).is_err());
        assert!(parse_ps(&serde_json::json!({"models": []}), 0).unwrap().is_empty());
        assert!(parse_ps(&serde_json::json!({"models": null}), 0).unwrap().is_empty());
        // A nameless entry is skipped, not fatal.
        assert!(parse_ps(&serde_json::json!({"models": [{"size": 3}]}), 0)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn keep_alive_values_as_ollama_reads_them() {
        assert_eq!(parse_keep_alive_s("24h"), Some(86_400));
        assert_eq!(parse_keep_alive_s("10m"), Some(600));
        assert_eq!(parse_keep_alive_s("1h30m"), Some(5_400));
        assert_eq!(parse_keep_alive_s("1.5h"), Some(5_400));
        assert_eq!(parse_keep_alive_s("3600"), Some(3_600));
        assert_eq!(parse_keep_alive_s("-1"), Some(-1));
        assert_eq!(parse_keep_alive_s("-1m"), Some(-1));
        assert_eq!(parse_keep_alive_s("0"), Some(0));
        assert_eq!(parse_keep_alive_s("500ms"), Some(0));
        assert_eq!(parse_keep_alive_s("\"5m\""), Some(300));
        for bad in ["", "forever", "5 minutes", "h", "1x"] {
            assert_eq!(parse_keep_alive_s(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("not a time"), None);
    }
}
