//! What the history database gives back (rows per tier, per box, per model) and the energy
//! figures derived from it: the types the CLI prints, the charts draw and the Snapshot carries.
//! The database itself is `clusterbar_core::history`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ts_rs::TS;

/// A box's row as read back (averages over the row's span in the coarser tiers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BoxRow {
    pub at_unix_s: u64,
    pub memory_used_bytes: Option<f64>,
    pub memory_total_bytes: Option<f64>,
    pub power_watts: Option<f64>,
    pub gpu_usage: Option<f64>,
    pub temp_c: Option<f64>,
}

/// The cluster's row as read back. `tokens`, `requests`, `errors` and `porten_tokens` are the
/// increments within the row; `tokens_served_total` the meter's counter at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ClusterRow {
    pub at_unix_s: u64,
    pub power_watts: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    pub tokens: u64,
    pub porten_tokens: u64,
    pub tokens_served_total: Option<u64>,
}

/// A model's row as read back: mean tokens/s, and the requests and tokens within the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ModelRow {
    pub at_unix_s: u64,
    pub tokens_per_s: Option<f64>,
    pub requests: u64,
    pub tokens: u64,
}

/// What `clusterbar history` prints: one resolution over a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Series {
    pub from_unix_s: u64,
    pub to_unix_s: u64,
    pub resolution_s: u64,
    pub cluster: Vec<ClusterRow>,
    /// Box name → its rows, oldest first.
    pub boxes: BTreeMap<String, Vec<BoxRow>>,
    /// Model id → its rows, oldest first (models that were served in the span).
    pub models: BTreeMap<String, Vec<ModelRow>>,
}

/// Energy and tokens over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct EnergyWindow {
    pub from_unix_s: u64,
    pub to_unix_s: u64,
    pub energy_wh: f64,
    /// Seconds of the window with power on record (gaps excluded).
    pub covered_s: u64,
    pub tokens: u64,
    pub porten_tokens: u64,
    /// `None` when no token was served.
    pub wh_per_million_tokens: Option<f64>,
    /// With a tariff.
    pub cost: Option<f64>,
    pub cost_per_million_tokens: Option<f64>,
}

/// What the Throughput section and `status --json` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct EnergyFigures {
    pub now: EnergyWindow,
    pub today: EnergyWindow,
    pub week: EnergyWindow,
    pub currency: Option<String>,
}
