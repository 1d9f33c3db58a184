//! The Ollama boxes in `clusterbar status` (text): one line per box, one per loaded model.

use clusterbar_core::format::{bytes, printable};
use clusterbar_core::ollama::{InterfaceKind, OllamaView};

pub fn render(view: &OllamaView, now_unix_ms: u64) -> String {
    let mut lines = Vec::new();
    for (i, b) in view.boxes.iter().enumerate() {
        let label = if i == 0 { "Ollama" } else { "" };
        let mut about = vec![format!("{} ({})", b.name, b.address)];
        if !b.reachable {
            about.push(format!("not reachable: {}", b.error.as_deref().unwrap_or("no answer")));
        } else {
            about.push(match &b.version {
                Some(v) => format!("version {v}"),
                None => "version —".into(),
            });
            about.push(format!("{} loaded, {} installed", b.loaded.len(), b.installed.len()));
            if let Some(error) = &b.error {
                about.push(format!("({error})"));
            }
        }
        if let Some(route) = &b.route {
            let kind = match route.kind {
                InterfaceKind::Thunderbolt => "Thunderbolt",
                InterfaceKind::Ethernet => "Ethernet",
                InterfaceKind::Wifi => "Wi-Fi",
                InterfaceKind::Loopback => "loopback",
                InterfaceKind::Other => "other",
            };
            about.push(format!("via {} ({kind})", route.interface));
        }
        lines.push(row(label, &about.join(" · ")));
        for model in &b.loaded {
            let vram = model
                .vram_bytes
                .map(|v| format!(", {} in GPU memory", bytes(v)))
                .unwrap_or_default();
            let context = model
                .context_length
                .map(|c| format!(", context {c}"))
                .unwrap_or_default();
            lines.push(row(
                "",
                &format!(
                    "  {} — {}{vram}{context} — {}",
                    model.name,
                    bytes(model.size_bytes),
                    model.unload_text(now_unix_ms)
                ),
            ));
        }
        if let Some(env) = &b.env {
            let source = match env.source {
                clusterbar_core::ollama::OllamaEnvSource::Launchctl => "launchctl",
                clusterbar_core::ollama::OllamaEnvSource::ProcessEnviron => "the process environment",
            };
            lines.push(row(
                "",
                &format!(
                    "  OLLAMA_HOST {} · OLLAMA_KEEP_ALIVE {} · OLLAMA_MAX_LOADED_MODELS {} (from {source})",
                    env.host.as_deref().unwrap_or("unset (127.0.0.1:11434)"),
                    env.keep_alive.as_deref().unwrap_or("unset (5m)"),
                    env.max_loaded_models
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "unset (3)".into()),
                ),
            ));
        }
        for eviction in &b.evictions {
            let by = eviction.by.as_deref().map(|m| format!(" for {m}")).unwrap_or_default();
            lines.push(row("", &format!("  evicted {}{by}", eviction.model)));
        }
    }
    lines.join("\n")
}

/// Names and addresses come from other machines: printable, like every status row.
fn row(label: &str, value: &str) -> String {
    format!("{label:<14}{}", printable(value))
}
