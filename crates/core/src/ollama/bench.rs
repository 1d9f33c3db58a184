//! What "benchmark before routing" asks each Ollama box (one function for `clusterbar bench
//! --ollama` and the popover's Benchmark): its loaded models, or the named ones it has
//! installed, with keep-alives that leave each model's unload time as it was found.

use std::collections::BTreeMap;

use clusterbar_meter::bench::BenchTarget;

use super::{OllamaBox, OllamaLoadedModel};

/// Seconds to send as `keep_alive` so a bench leaves a loaded model's unload time about as it found
/// it (a request without one resets it to the daemon's default; a pinned model would lose its pin):
/// pinned → -1, else what was left, at least a minute so it does not unload between runs.
pub fn keep_alive_to_keep(model: &OllamaLoadedModel, now_unix_ms: u64) -> Option<i64> {
    if model.pinned {
        return Some(-1);
    }
    let left_s = model.expires_at_unix_ms?.saturating_sub(now_unix_ms) / 1000;
    Some(i64::try_from(left_s).unwrap_or(i64::MAX).max(60))
}

/// What to ask each box: its loaded models, or the named ones it has installed.
pub fn targets(boxes: &[OllamaBox], named: &[String], now_unix_ms: u64) -> Vec<BenchTarget> {
    boxes
        .iter()
        .map(|b| {
            let mut target = BenchTarget {
                address: b.address.clone(),
                is_local: b.is_local,
                models: Vec::new(),
                keep_alive_s: b
                    .loaded
                    .iter()
                    .filter_map(|m| Some((m.name.clone(), keep_alive_to_keep(m, now_unix_ms)?)))
                    .collect::<BTreeMap<_, _>>(),
                problem: None,
            };
            if !b.reachable {
                target.problem = Some(b.error.clone().unwrap_or_else(|| "not answering".into()));
                return target;
            }
            if named.is_empty() {
                target.models = b.loaded.iter().map(|m| m.name.clone()).collect();
                if target.models.is_empty() {
                    target.problem = Some("no model loaded (pass --model to load one)".into());
                }
                return target;
            }
            let mut missing = Vec::new();
            for name in named {
                let loaded = same_model(b.loaded.iter().map(|m| m.name.as_str()), name);
                // Installed unknown (its /api/tags failed): asked anyway.
                let installed = b.installed.is_empty() || same_model(b.installed.iter().map(|m| m.name.as_str()), name);
                if loaded || installed {
                    target.models.push(name.clone());
                } else {
                    missing.push(name.as_str());
                }
            }
            if !missing.is_empty() {
                target.problem = Some(format!("not installed here: {}", missing.join(", ")));
            }
            target
        })
        .collect()
}

/// Ollama takes "llama3.2" for "llama3.2:latest"; the name is sent as given.
pub fn same_model<'a>(mut names: impl Iterator<Item = &'a str>, name: &str) -> bool {
    let full = if name.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    };
    names.any(|n| n == name || n == full)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ollama::loaded_model as loaded;

    fn ollama_box(address: &str, loaded: Vec<crate::ollama::OllamaLoadedModel>, installed: &[&str]) -> OllamaBox {
        OllamaBox {
            address: address.into(),
            name: address.into(),
            is_local: false,
            reachable: true,
            error: None,
            version: None,
            loaded,
            installed: installed
                .iter()
                .map(|name| crate::ollama::OllamaInstalledModel {
                    name: (*name).into(),
                    size_bytes: 1,
                    parameter_size: None,
                    quantization: None,
                })
                .collect(),
            env: None,
            route: None,
            evictions: vec![],
        }
    }

    #[test]
    fn each_box_is_asked_its_loaded_models_or_the_named_ones_it_has() {
        let now = 1_000_000_000;
        let full = ollama_box(
            "192.168.99.2:11434",
            vec![
                loaded("llama3.2:latest", Some(now + 3 * 3_600_000), false),
                loaded("qwen3:32b", None, true),
                loaded("soon:1b", Some(now + 5_000), false),
                loaded("unknown:1b", None, false),
            ],
            &[
                "llama3.2:latest",
                "qwen3:32b",
                "soon:1b",
                "unknown:1b",
                "mistral:latest",
            ],
        );
        let empty = ollama_box("127.0.0.1:11436", vec![], &["mistral:latest"]);
        let mut gone = ollama_box("192.168.99.3:11434", vec![], &[]);
        gone.reachable = false;
        gone.error = Some("not answering".into());

        let asked = targets(&[full.clone(), empty.clone(), gone.clone()], &[], now);
        assert_eq!(
            asked[0].models,
            ["llama3.2:latest", "qwen3:32b", "soon:1b", "unknown:1b"]
        );
        let keep: Vec<(&str, i64)> = asked[0].keep_alive_s.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(keep, [("llama3.2:latest", 10_800), ("qwen3:32b", -1), ("soon:1b", 60)]);
        assert_eq!(asked[0].problem, None);
        assert!(asked[1].models.is_empty());
        assert!(asked[1].problem.as_deref().unwrap().contains("no model loaded"));
        assert_eq!(asked[2].problem.as_deref(), Some("not answering"));

        let named = ["mistral".to_owned(), "gemma3:27b".to_owned()];
        let asked = targets(&[full, empty, gone], &named, now);
        assert_eq!(asked[0].models, ["mistral"]);
        assert_eq!(asked[0].problem.as_deref(), Some("not installed here: gemma3:27b"));
        assert_eq!(asked[1].models, ["mistral"]);
        assert!(asked[2].models.is_empty());
    }
}
