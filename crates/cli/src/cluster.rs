//! The cluster part of `clusterbar status`: read exo, attach the view, print it.

use clusterbar_core::exo::{ClusterView, ExoClient, LinkKind, ModelState};
use clusterbar_core::format::{bytes, printable};
use clusterbar_core::settings::Settings;

/// The exo client for `--exo-url`, else the local exo on the configured port.
pub fn client(exo_url: Option<&str>, settings: &Settings) -> Result<ExoClient, String> {
    match exo_url {
        Some(url) => ExoClient::new(url).map_err(|e| e.to_string()),
        None => Ok(ExoClient::local(settings.exo_api_port)),
    }
}

/// The human lines for the cluster, appended after the status table.
pub fn render(view: Option<&ClusterView>) -> String {
    let Some(view) = view else {
        return "Cluster       — (exo is not running, or not answering: see warnings)".into();
    };
    let mut lines = Vec::new();
    let held = view
        .held_ms
        .map(|ms| {
            format!(
                " (last view, {:.0} s old: exo is electing a master)",
                ms as f64 / 1000.0
            )
        })
        .unwrap_or_default();
    let power = match view.power_watts {
        Some(watts) => format!("{watts:.0} W"),
        None => "power — (no box reports it)".to_owned(),
    };
    let boxes = match view.nodes.len() {
        1 => "1 box".to_owned(),
        n => format!("{n} boxes"),
    };
    lines.push(format!(
        "Cluster       {boxes} · {} free of {} · {power}{held}",
        bytes(view.memory_available_bytes),
        bytes(view.memory_total_bytes),
    ));
    if let Some(age) = view.frozen_for_s {
        lines.push(format!(
            "              FROZEN: exo's view has not moved for {age:.0} s; what follows is not live"
        ));
    }
    for node in &view.nodes {
        let mut parts = vec![node.chip.clone().unwrap_or_else(|| "chip —".into())];
        if let (Some(free), Some(total)) = (node.memory_available_bytes, node.memory_total_bytes) {
            parts.push(format!("{} free of {}", bytes(free), bytes(total)));
        }
        if let Some(gpu) = node.gpu_usage {
            parts.push(format!("GPU {:.0}%", gpu * 100.0));
        }
        if let Some(watts) = node.power_watts {
            parts.push(format!("{watts:.0} W"));
        }
        parts.push(match node.rdma_enabled {
            Some(true) => "RDMA on".into(),
            Some(false) => "RDMA off".into(),
            None => "RDMA —".into(),
        });
        let me = if node.is_this_node { " (this Mac)" } else { "" };
        // Names, chips and model ids come from exo's /state, i.e. from other machines.
        lines.push(format!(
            "  {}{me}: {}",
            printable(&node.name),
            printable(&parts.join(" · "))
        ));
    }
    for link in &view.links {
        let kind = match link.kind {
            LinkKind::Rdma => "RDMA",
            LinkKind::Thunderbolt => "Thunderbolt",
            LinkKind::Ethernet => "Ethernet",
            LinkKind::Wifi => "Wi-Fi",
            LinkKind::Unknown => "unknown link",
        };
        let speed = link.speed_gbps.map(|s| format!(" {s} Gb/s")).unwrap_or_default();
        lines.push(format!(
            "  {} ↔ {}: {kind}{speed}",
            printable(&link.from),
            printable(&link.to)
        ));
    }
    for model in &view.models {
        lines.push(format!(
            "  model {}: {}",
            printable(&model.id),
            model_state_text(model.state, model.progress)
        ));
    }
    lines.join("\n")
}

pub fn model_state_text(state: ModelState, progress: Option<f64>) -> String {
    let word = match state {
        ModelState::Downloading => "downloading",
        ModelState::Loading => "loading",
        ModelState::Ready => "ready",
        ModelState::Running => "running",
        ModelState::Failed => "failed",
        ModelState::Stopping => "stopping",
        ModelState::Unknown => "unknown",
    };
    match (state, progress) {
        (ModelState::Downloading | ModelState::Loading, Some(p)) => format!("{word} {:.0}%", p * 100.0),
        _ => word.to_owned(),
    }
}
