//! The Porten agent with `PORTEN_ENGINE=ollama` (setting `porten_engine`): for a cluster that runs
//! Ollama instead of exo.
//!
//! What Porten documents (porten.ai/docs/running-a-node, see /work/shared/notes/porten.md):
//! `PORTEN_ENGINE=builtin | ollama | openai`, that the `ollama` engine "advertises an allow-list of
//! your Ollama models", and `PORTEN_VRAM_BUDGET_MB` ("how much VRAM the agent may use", it
//! "overrides detected VRAM"). Not documented, so chosen here and said so:
//! - `PORTEN_ENGINE_URL` for the ollama engine: the cluster guide shows it for `openai` only; it
//!   is set to this Mac's Ollama (`http://127.0.0.1:<ollama_local_port>`), the daemon the agent
//!   reaches. Ollama's port is not the meter's, so these tokens are not counted as served to Porten.
//! - `PORTEN_ENGINE_MODELS` as the allow-list: the models **loaded** in that daemon, named exactly
//!   as Ollama names them (`llama3.2:latest`) — never one only installed, whose 30–60 s cold load
//!   would outlast the Hub's warm-up budget (Porten documents a 503 `model_warming` for that).
//!   Models on other boxes are reached only through their own address (nginx's port), which one
//!   engine URL cannot express: they are not advertised.
//! - The budget: this Mac's GPU working-set ceiling when known (what Ollama can load into), else
//!   the GPU memory the loaded models hold.

use crate::porten::agent::AgentPlan;
use crate::supervise::{Env, EnvValue};
use clusterbar_model::ollama::OllamaView;

pub const ENGINE: &str = "ollama";

/// The agent's environment for the ollama engine.
pub fn ollama_agent_env(models: &[String], budget_mb: u64, engine_url: &str, hub_url: &str) -> Env {
    Env::from([
        ("PORTEN_ENGINE".to_owned(), EnvValue::from(ENGINE)),
        ("PORTEN_ENGINE_URL".to_owned(), EnvValue::from(engine_url)),
        ("PORTEN_VRAM_BUDGET_MB".to_owned(), budget_mb.to_string().into()),
        ("PORTEN_ENGINE_MODELS".to_owned(), models.join(",").into()),
        ("PORTEN_HUB_URL".to_owned(), EnvValue::from(hub_url)),
    ])
}

/// Whether the agent should run with the ollama engine, and with what: from the local Ollama box
/// in the Snapshot and this Mac's GPU ceiling.
pub fn plan_ollama_agent(
    ollama: Option<&OllamaView>,
    gpu_ceiling_bytes: Option<u64>,
    engine_url: &str,
    hub_url: &str,
) -> AgentPlan {
    let local = ollama.and_then(|view| view.boxes.iter().find(|b| b.is_local && b.reachable));
    let Some(local) = local else {
        return AgentPlan::Hold(format!(
            "Ollama is not answering on this Mac ({engine_url}), so there is nothing to offer"
        ));
    };
    let mut models: Vec<String> = local.loaded.iter().map(|m| m.name.clone()).collect();
    models.sort();
    models.dedup();
    if models.is_empty() {
        return AgentPlan::Hold(
            "no model is loaded in this Mac's Ollama; load one (e.g. `ollama run NAME`) to offer it on Porten".into(),
        );
    }
    let held: u64 = local
        .loaded
        .iter()
        .map(|m| m.vram_bytes.unwrap_or(m.size_bytes))
        .fold(0, u64::saturating_add);
    let budget_mb = gpu_ceiling_bytes.unwrap_or(held) / (1 << 20);
    if budget_mb == 0 {
        return AgentPlan::Hold("the GPU memory budget is unknown".into());
    }
    AgentPlan::Run(ollama_agent_env(&models, budget_mb, engine_url, hub_url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterbar_model::ollama::{OllamaBox, OllamaLoadedModel};

    fn view(loaded: &[&str], reachable: bool) -> OllamaView {
        OllamaView {
            boxes: vec![OllamaBox {
                address: "127.0.0.1:11434".into(),
                name: "this Mac".into(),
                is_local: true,
                reachable,
                error: None,
                version: Some("0.12.6".into()),
                loaded: loaded
                    .iter()
                    .map(|name| OllamaLoadedModel {
                        name: (*name).into(),
                        size_bytes: 4 << 30,
                        vram_bytes: Some(4 << 30),
                        context_length: None,
                        parameter_size: None,
                        quantization: None,
                        expires_at_unix_ms: None,
                        pinned: true,
                    })
                    .collect(),
                installed: vec![],
                env: None,
                route: None,
                evictions: vec![],
            }],
        }
    }

    #[test]
    fn the_loaded_models_are_advertised_as_ollama_names_them() {
        let url = "http://127.0.0.1:11434";
        let AgentPlan::Run(env) = plan_ollama_agent(
            Some(&view(&["qwen3:32b", "llama3.2:latest"], true)),
            Some(192 << 30),
            url,
            "wss://porten.ai",
        ) else {
            panic!("should run")
        };
        let get = |k: &str| env.get(k).map(|v| v.expose().to_owned()).unwrap_or_default();
        assert_eq!(get("PORTEN_ENGINE"), "ollama");
        assert_eq!(get("PORTEN_ENGINE_URL"), url);
        assert_eq!(get("PORTEN_ENGINE_MODELS"), "llama3.2:latest,qwen3:32b");
        assert_eq!(get("PORTEN_VRAM_BUDGET_MB"), (192 * 1024).to_string());
        assert_eq!(get("PORTEN_HUB_URL"), "wss://porten.ai");
        // Without the ceiling: what the loaded models hold.
        let AgentPlan::Run(env) = plan_ollama_agent(Some(&view(&["a:latest"], true)), None, url, "h") else {
            panic!("should run")
        };
        assert_eq!(env.get("PORTEN_VRAM_BUDGET_MB").map(|v| v.expose()), Some("4096"));
    }

    #[test]
    fn nothing_loaded_or_no_ollama_holds_with_the_reason() {
        let url = "http://127.0.0.1:11434";
        let hold = |plan| matches!(plan, AgentPlan::Hold(_));
        assert!(hold(plan_ollama_agent(None, Some(1 << 30), url, "h")));
        assert!(hold(plan_ollama_agent(Some(&view(&[], true)), Some(1 << 30), url, "h")));
        assert!(hold(plan_ollama_agent(
            Some(&view(&["a"], false)),
            Some(1 << 30),
            url,
            "h"
        )));
    }
}
