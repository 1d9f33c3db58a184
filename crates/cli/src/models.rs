//! `clusterbar models list|load|unload|fit`.

use clap::Subcommand;
use clusterbar_core::exo::fit::{fit_with, Architecture, DEFAULT_CONTEXT_TOKENS};
use clusterbar_core::exo::{self, ExoClient, FitVerdict, Pool, PoolConfig};
use clusterbar_core::format::{bytes, printable};
use clusterbar_core::snapshot::now_unix_ms;
use serde_json::json;
use std::time::{Duration, Instant};

use crate::cluster::model_state_text;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Models loaded in the cluster, then every model exo knows.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Load a model (the id from `models list`) on at least MIN_NODES boxes.
    Load {
        id: String,
        #[arg(long, default_value_t = 1)]
        min_nodes: u32,
        /// Wait until it is ready (or failed), at most this many seconds.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Unload a model: an instance id, or a model id (every instance of it).
    Unload { id: String },
    /// Will a model fit the cluster? By id (its card's size) or by --params-b and --bits.
    Fit {
        /// A model id from `models list`.
        id: Option<String>,
        /// Parameters, in billions.
        #[arg(long, requires = "bits", conflicts_with = "id", value_parser = positive_number)]
        params_b: Option<f64>,
        /// Bits per weight (4 for INT4, 16 for bf16).
        #[arg(long, requires = "params_b", value_parser = positive_number)]
        bits: Option<f64>,
        /// Context length to reserve KV cache for, in tokens.
        #[arg(long, default_value_t = DEFAULT_CONTEXT_TOKENS)]
        context: u64,
        #[arg(long)]
        json: bool,
    },
}

/// A finite number above zero: NaN, infinities, 0 and negatives are usage errors (exit 2), not a
/// model that "fits".
fn positive_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        Ok(_) => Err(format!("{text} is not a finite number above 0")),
        Err(e) => Err(format!("{text} is not a number: {e}")),
    }
}

pub fn run(command: ModelsCommand, client: &ExoClient) -> Result<String, String> {
    match command {
        ModelsCommand::List { json } => list(client, json),
        ModelsCommand::Load { id, min_nodes, wait } => load(client, &id, min_nodes, wait),
        ModelsCommand::Unload { id } => unload(client, &id),
        ModelsCommand::Fit {
            id,
            params_b,
            bits,
            context,
            json,
        } => fit(client, id.as_deref(), params_b.zip(bits), context, json),
    }
}

fn list(client: &ExoClient, as_json: bool) -> Result<String, String> {
    let cards = client.models().map_err(|e| e.to_string())?;
    let view = client.cluster_view(now_unix_ms()).map_err(|e| e.to_string())?;
    if as_json {
        let value = json!({"loaded": view.models, "available": cards});
        return serde_json::to_string_pretty(&value).map_err(|e| format!("encoding: {e}"));
    }
    let mut lines = Vec::new();
    if view.models.is_empty() {
        lines.push("Loaded: none".to_owned());
    } else {
        lines.push("Loaded:".to_owned());
        for model in &view.models {
            // Everything here but the state word comes from exo: made printable.
            let boxes: Vec<&str> = model.shards.iter().map(|s| s.node.as_str()).collect();
            let error = model.error.as_ref().map(|e| format!(" — {e}")).unwrap_or_default();
            lines.push(format!(
                "  {}  {}  on {}  (instance {}){}",
                printable(&model.id),
                model_state_text(model.state, model.progress),
                printable(&boxes.join(", ")),
                printable(&model.instance_id),
                printable(&error)
            ));
        }
    }
    lines.push(format!("Available ({}):", cards.len()));
    for card in &cards {
        let size = card.storage_size_bytes.map(bytes).unwrap_or_else(|| "—".into());
        lines.push(format!("  {}  {size}", printable(&card.id)));
    }
    Ok(lines.join("\n"))
}

fn load(client: &ExoClient, id: &str, min_nodes: u32, wait: Option<u64>) -> Result<String, String> {
    let before: Vec<String> = client
        .cluster_view(now_unix_ms())
        .map(|v| v.models.into_iter().map(|m| m.instance_id).collect())
        .map_err(|e| e.to_string())?;
    client.place_instance(id, min_nodes).map_err(|e| e.to_string())?;
    let Some(seconds) = wait else {
        return Ok(format!(
            "exo is placing {id}; `clusterbar models list` shows its progress."
        ));
    };
    let deadline = clusterbar_core::clock::deadline_after(Duration::from_secs(seconds));
    loop {
        let view = client.cluster_view(now_unix_ms()).map_err(|e| e.to_string())?;
        let placed = view
            .models
            .iter()
            .find(|m| m.id == id && !before.contains(&m.instance_id));
        if let Some(model) = placed {
            match model.state {
                exo::ModelState::Ready | exo::ModelState::Running => {
                    return Ok(format!("{id} is ready (instance {}).", printable(&model.instance_id)))
                }
                exo::ModelState::Failed => {
                    return Err(format!(
                        "{id} failed to load: {}",
                        model.error.as_deref().unwrap_or("no reason given")
                    ))
                }
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("{id} was not ready after {seconds} s"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn unload(client: &ExoClient, id: &str) -> Result<String, String> {
    let view = client.cluster_view(now_unix_ms()).map_err(|e| e.to_string())?;
    let mut instances: Vec<&str> = view
        .models
        .iter()
        .filter(|m| m.instance_id == id || m.id == id)
        .map(|m| m.instance_id.as_str())
        .collect();
    instances.dedup();
    if instances.is_empty() {
        return Err(format!(
            "no loaded model or instance {id} (see `clusterbar models list`)"
        ));
    }
    for instance in &instances {
        client.delete_instance(instance).map_err(|e| e.to_string())?;
    }
    Ok(format!("exo is unloading {} ({} instance(s)).", id, instances.len()))
}

fn fit(
    client: &ExoClient,
    id: Option<&str>,
    params: Option<(f64, f64)>,
    context: u64,
    as_json: bool,
) -> Result<String, String> {
    let view = client.cluster_view(now_unix_ms()).map_err(|e| e.to_string())?;
    let pool = Pool::from_view(&view, &PoolConfig::default());
    let verdict: FitVerdict = match (id, params) {
        (Some(id), _) => {
            let cards = client.models().map_err(|e| e.to_string())?;
            let card = cards
                .iter()
                .find(|c| c.id == id)
                .ok_or_else(|| format!("exo knows no model {id} (see `clusterbar models list`)"))?;
            exo::fit_model(card, context, &pool)
                .ok_or_else(|| format!("exo's card for {id} gives neither its size nor its parameter count"))?
        }
        (None, Some((params_b, bits))) => fit_with(params_b, bits, context, Architecture::default(), None, &pool),
        (None, None) => return Err("give a model id, or --params-b N --bits B".into()),
    };
    if as_json {
        return serde_json::to_string_pretty(&json!({"pool": pool, "verdict": verdict}))
            .map_err(|e| format!("encoding: {e}"));
    }
    let mut lines = vec![verdict.summary.clone()];
    for b in &pool.per_box {
        lines.push(format!(
            "  {}: {} usable of {}",
            printable(&b.name),
            bytes(b.usable_bytes),
            bytes(b.total_bytes)
        ));
    }
    Ok(lines.join("\n"))
}
