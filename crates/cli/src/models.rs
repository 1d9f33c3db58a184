//! `clusterbar models list|load|unload|fit`.

use clap::Subcommand;
use clusterbar_core::exo::fit::{fit_with, Architecture, DEFAULT_CONTEXT_TOKENS};
use clusterbar_core::exo::{self, ExoClient, FitVerdict};
use clusterbar_core::format::{bytes, printable};
use clusterbar_core::settings::Settings;
use clusterbar_core::snapshot::{now_unix_ms, Collector};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cluster::model_state_text;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Models loaded in the cluster, then every model exo knows.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Load a model on at least MIN_NODES boxes: an id from `models list`, or a local model
    /// folder (`…/org--name`, in one of exo's model folders), which exo is told about first.
    Load {
        /// A model id, or the path of a local model folder.
        id: String,
        #[arg(long, default_value_t = 1)]
        min_nodes: u32,
        /// Wait until it is ready (or failed), at most this many seconds.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Make a model known to exo without loading it: an id, or a local model folder.
    Add {
        /// A model id (`org/name`), or the path of a local model folder (`…/org--name`).
        id: String,
    },
    /// Unload a model: an instance id, or a model id (every instance of it).
    Unload { id: String },
    /// Will a model fit the cluster? By id (its card's size) or by --params-b and --bits. With
    /// --boxes, no cluster is asked: MODEL_OR_SIZE is a size (500GB) or parameters with a
    /// quantization as model names carry them (1T-int4, 70b-q4_K_M).
    Fit {
        /// A model id from `models list`; with --boxes, a size or parameters and quantization.
        #[arg(value_name = "MODEL_OR_SIZE")]
        id: Option<String>,
        /// Fit against boxes of this much unified memory each, in GB (e.g. 256,256), instead of
        /// the running cluster.
        #[arg(long, value_name = "GB,GB,…")]
        boxes: Option<String>,
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

pub fn run(command: ModelsCommand, client: &ExoClient, settings: &Settings) -> Result<String, String> {
    match command {
        ModelsCommand::List { json } => list(client, json),
        ModelsCommand::Load { id, min_nodes, wait } => load(client, &id, min_nodes, wait),
        ModelsCommand::Add { id } => {
            let (id, how) = known_to_exo(client, &id)?;
            Ok(format!("{id}: {how}"))
        }
        ModelsCommand::Unload { id } => unload(client, &id),
        ModelsCommand::Fit {
            id,
            boxes: Some(boxes),
            params_b,
            bits,
            context,
            json,
        } => fit_boxes(&boxes, id.as_deref(), params_b.zip(bits), context, json),
        ModelsCommand::Fit {
            id,
            boxes: None,
            params_b,
            bits,
            context,
            json,
        } => fit(client, settings, id.as_deref(), params_b.zip(bits), context, json),
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

/// The model id for what the user typed: an id, or a local model folder named the way exo
/// names them on disk (`org--name` for `org/name`).
fn model_id_for(input: &str) -> Result<String, String> {
    let path = Path::new(input);
    if !path.is_dir() {
        if input.contains('/') && !input.starts_with(['/', '.', '~']) {
            return Ok(input.to_owned());
        }
        return Err(format!("{input} is neither a model id (org/name) nor a model folder"));
    }
    let folder = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((org, name)) = folder.split_once("--").filter(|(o, n)| !o.is_empty() && !n.is_empty()) else {
        return Err(format!(
            "exo finds a local model by its folder's name, org--name (for org/name): rename {} (e.g. to local--{folder})",
            path.display()
        ));
    };
    if !path.join("config.json").is_file() {
        return Err(format!("{} has no config.json: not a model folder", path.display()));
    }
    let has_index = std::fs::read_dir(path)
        .map_err(|e| format!("reading {}: {e}", path.display()))?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().ends_with(".safetensors.index.json"));
    if !has_index {
        return Err(format!(
            "{} has no *.safetensors.index.json, which exo needs to load a local model",
            path.display()
        ));
    }
    Ok(format!("{org}/{name}"))
}

/// Makes sure exo knows the model (adding it when it does not); says how.
fn known_to_exo(client: &ExoClient, input: &str) -> Result<(String, &'static str), String> {
    let id = model_id_for(input)?;
    let cards = client.models().map_err(|e| e.to_string())?;
    if cards.iter().any(|c| c.id == id) {
        return Ok((id, "exo knows it already"));
    }
    match client.add_model(&id) {
        Ok(added) => {
            // exo answers before the cluster has applied the new card; a placement sent now can
            // reach a master that does not know the model yet and is dropped. Wait until the
            // card is in the cluster's state (`customModelCards`).
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let known = client
                    .state()
                    .ok()
                    .is_some_and(|state| state.pointer("/customModelCards").and_then(|c| c.get(&added)).is_some());
                if known {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok((added, "added to exo's models (every box of the cluster learns it)"))
        }
        Err(exo::ExoError::Status {
            status: 400, message, ..
        }) => Err(format!(
            "exo could not read {id}: {message}. exo loads a local model only from its model folders \
             (EXO_MODELS_DIRS / EXO_MODELS_READ_ONLY_DIRS when exo starts), as a folder named {}",
            id.replacen('/', "--", 1)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// How long a placement may take before it is taken as dropped and asked for again (exo's
/// master places within milliseconds when it can).
const RETRY_PLACEMENT: Duration = Duration::from_secs(10);

fn load(client: &ExoClient, input: &str, min_nodes: u32, wait: Option<u64>) -> Result<String, String> {
    let before: Vec<String> = client
        .cluster_view(now_unix_ms())
        .map(|v| v.models.into_iter().map(|m| m.instance_id).collect())
        .map_err(|e| e.to_string())?;
    let (id, _) = known_to_exo(client, input)?;
    let id = id.as_str();
    client.place_instance(id, min_nodes).map_err(|e| e.to_string())?;
    let Some(seconds) = wait else {
        return Ok(format!(
            "exo is placing {id}; `clusterbar models list` shows its progress."
        ));
    };
    let deadline = clusterbar_core::clock::deadline_after(Duration::from_secs(seconds));
    let had_instance = client
        .cluster_view(now_unix_ms())
        .is_ok_and(|v| v.models.iter().any(|m| m.id == id));
    let new_instance = || {
        client
            .cluster_view(now_unix_ms())
            .is_ok_and(|v| v.models.iter().any(|m| m.id == id && !before.contains(&m.instance_id)))
    };
    // First: did exo place it at all? exo accepts every request, and its master then places it
    // or drops it (no room, or a cluster still settling: links not yet known both ways, a box's
    // memory not yet reported). A dropped placement is asked for again every 10 s.
    let mut requests = 1;
    loop {
        let window = RETRY_PLACEMENT.min(deadline.saturating_duration_since(Instant::now()));
        if had_instance {
            std::thread::sleep(window);
        } else {
            match client.await_instance(id, window) {
                Ok(_) => {}
                // An older exo without /instance/await: the state tells.
                Err(exo::ExoError::Status { status: 404 | 405, .. }) => std::thread::sleep(window),
                Err(e) => return Err(e.to_string()),
            }
        }
        if new_instance() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "exo placed no instance of {id} within {seconds} s ({requests} placement request(s)): not enough free memory on {min_nodes} box(es)? See `clusterbar models fit {id}`, and exo's log on the box that leads the cluster"
            ));
        }
        client.place_instance(id, min_nodes).map_err(|e| e.to_string())?;
        requests += 1;
    }
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
    settings: &Settings,
    id: Option<&str>,
    params: Option<(f64, f64)>,
    context: u64,
    as_json: bool,
) -> Result<String, String> {
    // The pool exactly as the app computes it (one sample: this Mac's measured GPU ceiling for a
    // local exo), so the CLI and the popover never disagree on whether a model fits.
    let mut collector = Collector::with_exo_url(client.base_url()).map_err(|e| e.to_string())?;
    let snapshot = collector.collect(settings, &[], None);
    let pool = match snapshot.cluster.and_then(|c| c.pool) {
        Some(pool) => pool,
        None => {
            let why = snapshot
                .warnings
                .iter()
                .find(|w| w.code == clusterbar_core::warnings::WarningCode::ExoUnreachable)
                .map(|w| w.message.clone())
                .unwrap_or_else(|| format!("exo at {} gave no cluster", client.base_url()));
            return Err(printable(&why).into_owned());
        }
    };
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

/// `models fit MODEL_OR_SIZE --boxes 256,256`: no cluster asked.
fn fit_boxes(
    boxes: &str,
    spec: Option<&str>,
    params: Option<(f64, f64)>,
    context: u64,
    as_json: bool,
) -> Result<String, String> {
    use clusterbar_core::ollama::fit::{fit_spec, parse_boxes, parse_model_spec, pool_of, ModelSpec};
    let sizes = parse_boxes(boxes).map_err(|e| e.to_string())?;
    let spec = match (spec, params) {
        (Some(text), _) => parse_model_spec(text).map_err(|e| e.to_string())?,
        (None, Some((params_b, bits))) => ModelSpec::Params { params_b, bits },
        (None, None) => return Err("give a model (1T-int4, 70b-q4, 500GB), or --params-b N --bits B".into()),
    };
    let pool = pool_of(&sizes);
    let verdict = fit_spec(spec, context, &pool);
    if as_json {
        return serde_json::to_string_pretty(&json!({"pool": pool, "verdict": verdict}))
            .map_err(|e| format!("encoding: {e}"));
    }
    let mut lines = vec![verdict.summary.clone()];
    if verdict.headroom_bytes < 0 {
        lines.push(format!(
            "  short by {} (needs {}, {} usable on {} box(es))",
            bytes(verdict.headroom_bytes.unsigned_abs()),
            bytes(verdict.need_bytes),
            bytes(verdict.usable_bytes),
            pool.per_box.len()
        ));
    } else {
        lines.push(format!("  {} to spare", bytes(verdict.headroom_bytes as u64)));
    }
    for b in &pool.per_box {
        lines.push(format!(
            "  {}: {} usable of {} (75 % of RAM: the GPU's default ceiling)",
            b.name,
            bytes(b.usable_bytes),
            bytes(b.total_bytes)
        ));
    }
    Ok(lines.join("\n"))
}
