//! `clusterbar report --out DIR` saves the raw outputs the probes read (plus the Snapshot and
//! exo's `/state`); `clusterbar doctor --from DIR` parses such a bundle on any machine — a Linux
//! box can diagnose a Mac's bundle — and prints the same status and warnings.
//!
//! Secrets never enter a bundle: the hardware sources are OS tool outputs and sysfs files,
//! the Snapshot holds no environment and of the Porten API key only where it came from, and
//! exo's `/state` carries no credentials.

use std::path::Path;
use std::time::Duration;

use clusterbar_core::exo::{parse_state, ExoClient};
use clusterbar_core::files::{read_regular, BUNDLE_FILE_MAX_BYTES};
use clusterbar_core::probes::hardware::{self, RawSources};
use clusterbar_core::settings::Settings;
use clusterbar_core::snapshot::{now_unix_ms, Collector, Snapshot};
use clusterbar_core::warnings::WarningScope;

const SNAPSHOT_FILE: &str = "snapshot.json";
const EXO_STATE_FILE: &str = "exo_state.json";
const EXO_NODE_ID_FILE: &str = "exo_node_id.txt";
/// A node id is a few dozen characters.
const NODE_ID_MAX_BYTES: u64 = 4096;

/// Bundle files are written only when `doctor` will read them back (see `files`'s caps).
fn write_bundle_file(out: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 > BUNDLE_FILE_MAX_BYTES {
        return Err(format!(
            "{name} would be {} bytes, over the {BUNDLE_FILE_MAX_BYTES}-byte limit of a bundle file",
            bytes.len()
        ));
    }
    std::fs::write(out.join(name), bytes).map_err(|e| format!("writing {name}: {e}"))
}

/// Writes the bundle and returns a one-line summary.
pub fn save(out: &Path, settings: &Settings, exo_url: Option<&str>) -> Result<String, String> {
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| format!("reading {}: {e}", out.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty; choose a new directory so nothing is overwritten",
            out.display()
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let mut collector = match exo_url {
        Some(url) => Collector::with_exo_url(url).map_err(|e| e.to_string())?,
        None => Collector::default(),
    };
    // One settled sample (it waits up to 2 s for the power readers' first figures): the raw
    // outputs saved are the ones the saved snapshot was built from.
    let (snapshot, raw) = collector.collect_settled(settings, Duration::from_secs(2));
    raw.save(out).map_err(|e| format!("saving the raw sources: {e}"))?;
    let json = serde_json::to_vec_pretty(&snapshot).map_err(|e| format!("encoding the snapshot: {e}"))?;
    write_bundle_file(out, SNAPSHOT_FILE, &json)?;
    let client = match exo_url {
        Some(url) => ExoClient::new(url).map_err(|e| e.to_string())?,
        None => ExoClient::local(settings.exo_api_port),
    };
    let exo_part = match (client.state(), client.node_id()) {
        (Ok(state), node_id) => {
            // Compact, so the /state the client accepted (up to the same cap) fits a bundle file;
            // one that still does not fit is left out and the summary says so.
            let body = serde_json::to_vec(&state).map_err(|e| format!("encoding exo's state: {e}"))?;
            match write_bundle_file(out, EXO_STATE_FILE, &body) {
                Ok(()) => {
                    if let Ok(id) = node_id {
                        write_bundle_file(out, EXO_NODE_ID_FILE, id.as_bytes())?;
                    }
                    "exo's /state included".to_owned()
                }
                Err(reason) => format!("no exo state ({reason})"),
            }
        }
        (Err(e), _) => format!("no exo state ({e})"),
    };
    Ok(format!(
        "saved {} raw sources, the snapshot and {exo_part} to {}",
        raw.names().count(),
        out.display()
    ))
}

/// Rebuilds the Snapshot from a bundle: the hardware part is parsed again from the raw
/// outputs (so a newer Clusterbar re-reads an old bundle with its newer parsers), the cluster
/// from the saved `/state`, and the warnings are derived anew.
pub fn diagnose(from: &Path) -> Result<Snapshot, String> {
    let raw = RawSources::load(from).map_err(|e| format!("reading the bundle: {e}"))?;
    let saved = read_regular(&from.join(SNAPSHOT_FILE), BUNDLE_FILE_MAX_BYTES).map_err(|e| {
        if e.is_not_found() {
            format!("{} has no {SNAPSHOT_FILE}; is it a Clusterbar report?", from.display())
        } else {
            format!("reading the bundle: {e}")
        }
    })?;
    let mut snapshot: Snapshot =
        serde_json::from_slice(&saved).map_err(|e| format!("{SNAPSHOT_FILE} is not a Clusterbar snapshot: {e}"))?;
    let report = hardware::parse(&raw);
    // The hardware's warnings exactly as a live sample derives them (one function for both).
    let mut warnings = hardware::this_mac_warnings(&report, snapshot.this_node.memory.as_ref());
    // Standing conditions that are not re-derivable from raw outputs stay as recorded; the
    // cluster's are derived again from the saved /state below. Ollama's boxes are not in exo's
    // /state: the saved `ollama` view is shown as recorded (times relative to when it was taken),
    // with its warnings — remote boxes' ones too (unreachable, evicted, off Thunderbolt).
    for kept in snapshot.warnings.iter() {
        let rederived = kept.scope == WarningScope::ThisMac && hardware::DERIVED_FROM_HARDWARE.contains(&kept.code);
        let ollama = kept.code.as_str().starts_with("ollama_");
        if !rederived && (kept.scope != WarningScope::Cluster || ollama) {
            warnings.push(kept.clone());
        }
    }
    snapshot.this_node.hardware = report;
    snapshot.warnings = warnings;
    snapshot.cluster = None;
    // Optional files: absent is fine, anything else wrong with them is said.
    let optional = |name: &str, max_bytes: u64| match read_regular(&from.join(name), max_bytes) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(format!("reading the bundle: {e}")),
    };
    if let Some(state) = optional(EXO_STATE_FILE, BUNDLE_FILE_MAX_BYTES)? {
        let value: serde_json::Value =
            serde_json::from_slice(&state).map_err(|e| format!("{EXO_STATE_FILE} is not JSON: {e}"))?;
        let node_id = optional(EXO_NODE_ID_FILE, NODE_ID_MAX_BYTES)?.map(|b| String::from_utf8_lossy(&b).into_owned());
        let taken = if snapshot.taken_at_unix_ms > 0 {
            snapshot.taken_at_unix_ms
        } else {
            now_unix_ms()
        };
        let view = parse_state(&value, node_id.as_deref().map(str::trim), taken);
        clusterbar_core::exo::attach_cluster(&mut snapshot, Ok(view));
    }
    snapshot.derive_state();
    Ok(snapshot)
}
