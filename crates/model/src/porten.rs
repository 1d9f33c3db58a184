//! The Porten agent, the Hub's view of the loaded models, Porten's own app and the tokens
//! served to the agent.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use ts_rs::TS;

use crate::pool::PoolBox;
use crate::warning::{Severity, Warning};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not started: see `hold_reason`.
    Held,
    Starting,
    Running,
    /// Porten's own app runs an agent; Clusterbar watches it and cannot change its environment.
    Adopted,
    Restarting,
    GaveUp,
    Stopped,
}

/// The budget the agent advertises and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BudgetBreakdown {
    pub vram_budget_mb: u64,
    pub per_box: Vec<PoolBox>,
}

/// What the Snapshot (and `clusterbar porten status`) shows about the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct AgentStatus {
    /// From the key file; `None` when the home directory is unknown.
    pub logged_in: Option<bool>,
    pub key_path: Option<PathBuf>,
    pub state: AgentState,
    pub pid: Option<u32>,
    pub uptime_s: Option<u64>,
    /// Why the agent is not running (no model loaded, exo down, not installed …).
    pub hold_reason: Option<String>,
    /// The environment it runs with (no secrets: these are all plain values).
    pub env: Vec<(String, String)>,
    pub budget: Option<BudgetBreakdown>,
    pub models: Vec<String>,
    /// A new environment is waiting to hold steady; it applies in this many seconds.
    pub pending_restart_in_s: Option<u64>,
    /// The last thing that went wrong starting or restarting it.
    pub last_error: Option<String>,
    pub restarts: u32,
    pub last_lines: Vec<String>,
    pub log_path: Option<PathBuf>,
    /// The agent is the one Porten's desktop app runs (adopted, never doubled); set by the
    /// sampler from the Snapshot's `porten_app`.
    #[serde(default)]
    pub run_by_porten_app: bool,
}

/// Where the key in use came from (what `porten check` and the Snapshot show instead of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    Environment,
    Keychain,
    File,
}

impl KeySource {
    pub fn describe(self) -> &'static str {
        match self {
            KeySource::Environment => "from PORTEN_API_KEY",
            KeySource::Keychain => "from the Keychain",
            KeySource::File => "from the key file",
        }
    }
}

/// A model's warming state as the Hub reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Warming {
    pub ready: bool,
    /// `downloading`, `loading`, `ready` — or another word a newer Hub uses, kept as sent.
    pub phase: Option<String>,
    pub done_mb: Option<u64>,
    pub total_mb: Option<u64>,
    /// 0–100.
    pub pct: Option<f64>,
}

impl Warming {
    /// Still on its way to ready.
    pub fn in_progress(&self) -> bool {
        !self.ready && self.phase.as_deref() != Some("ready")
    }

    /// "22 of 49 GB (45 %)". The Hub counts in MB; the docs' 22272 of 49131 MB reads as
    /// 22 of 49 GB, so a GB here is 1000 MB.
    pub fn amount(&self) -> Option<String> {
        let gb = |mb: u64| (mb as f64 / 1000.0).round() as u64;
        let pct = self.pct.map(|p| format!(" ({p:.0} %)"));
        match (self.done_mb, self.total_mb) {
            (Some(done), Some(total)) if total > 0 => {
                Some(format!("{} of {} GB{}", gb(done), gb(total), pct.unwrap_or_default()))
            }
            _ => self.pct.map(|p| format!("{p:.0} %")),
        }
    }

    /// "Porten is loading qwen3-coder-next: 22 of 49 GB (45 %)".
    pub fn describe(&self, id: &str) -> String {
        match self.amount() {
            Some(amount) => format!("Porten is loading {id}: {amount}"),
            None => format!("Porten is loading {id}"),
        }
    }
}

/// How far the catalog check got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CatalogState {
    /// The Hub listed what it offers.
    Checked,
    /// No API key is set: nothing was asked (information, not a problem).
    NeedsKey,
    /// 401: the key is wrong or revoked.
    KeyRejected,
    /// 403: the key may not read the catalog here (e.g. a region policy).
    Forbidden,
    /// The Hub could not be asked or answered something else.
    Unreachable,
    /// The settings name no usable Hub, or the key itself is unusable.
    Invalid,
}

/// One loaded model against the Hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ModelCheck {
    /// exo's id, as the agent advertises it.
    pub id: String,
    /// Whether the catalog lists exactly this id; `None` when the catalog was not read.
    pub offered: Option<bool>,
    /// The offered id it is probably meant to be, when it is not offered.
    pub closest: Option<String>,
    pub warming: Option<Warming>,
    /// Why the warming state is unknown (404: the Hub does not know the id).
    pub warming_error: Option<String>,
}

/// What `clusterbar porten check` prints and the Snapshot carries as `porten_hub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct HubCheck {
    pub hub_url: String,
    /// The catalog's base (`https://porten.ai/v1`), when the settings give one.
    pub api_url: Option<String>,
    /// Where the API key came from; the key itself is never shown.
    pub api_key: Option<KeySource>,
    pub catalog: CatalogState,
    /// One line about the catalog check when it did not run: the missing key, the Hub's refusal.
    pub note: Option<String>,
    pub offered: Vec<String>,
    pub models: Vec<ModelCheck>,
    pub checked_at_unix_ms: u64,
}

impl HubCheck {
    /// The warnings this check raises: `model_not_offered`, `model_warming`,
    /// `porten_key_rejected` (401/403) and `porten_hub_unreachable`. A missing key raises none.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        let note = self.note.clone().unwrap_or_default();
        match self.catalog {
            CatalogState::KeyRejected => warnings.push(Warning::new(
                crate::warning::WarningCode::PortenKeyRejected,
                Severity::Warning,
                format!("The Porten Hub refused the API key: {note}."),
                "Create a new key in Porten's portal and store it (Settings, or PORTEN_API_KEY for the CLI).",
            )),
            CatalogState::Forbidden => warnings.push(Warning::new(
                crate::warning::WarningCode::PortenKeyRejected,
                Severity::Warning,
                format!("The Porten Hub does not allow this key to read its catalog: {note}."),
                "Check the key's permissions and region in Porten's portal.",
            )),
            CatalogState::Unreachable | CatalogState::Invalid => warnings.push(hub_unreachable(&note)),
            CatalogState::Checked | CatalogState::NeedsKey => {}
        }
        for model in &self.models {
            if model.offered == Some(false) {
                let fix = match &model.closest {
                    Some(close) => format!(
                        "Did you mean {close}? Load that exact id in exo; Porten only routes ids in its catalog."
                    ),
                    None => "Load a model from Porten's catalog (porten.ai/models); others get no requests.".to_owned(),
                };
                warnings.push(Warning::new(
                    crate::warning::WarningCode::ModelNotOffered,
                    Severity::Warning,
                    format!(
                        "{} is loaded in exo but Porten does not offer it, so the agent gets no requests for it.",
                        model.id
                    ),
                    fix,
                ));
            }
            if let Some(warming) = model.warming.as_ref().filter(|w| w.in_progress()) {
                let phase = match warming.phase.as_deref() {
                    Some("downloading") => "Porten's nodes are downloading it",
                    Some("loading") => "Porten's nodes are loading it into memory",
                    _ => "Porten is preparing it",
                };
                warnings.push(Warning::new(
                    crate::warning::WarningCode::ModelWarming,
                    Severity::Warning,
                    warming.describe(&model.id),
                    format!("Nothing to do: {phase}; requests start when it is ready."),
                ));
            }
        }
        warnings
    }
}

/// The Hub could not be asked; the catalog checks are skipped.
pub fn hub_unreachable(reason: &str) -> Warning {
    Warning::new(
        crate::warning::WarningCode::PortenHubUnreachable,
        Severity::Warning,
        format!("Cannot read Porten's model catalog: {reason}."),
        "Check the network and the Hub URL in Settings; the agent's models are not checked until then.",
    )
}

/// How a process was recognised as Porten's app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AppMatch {
    /// Its launchd job carries the app's bundle id (surest: launchd started it for the app).
    BundleId,
    /// Its executable lies inside the app's bundle.
    ExecutablePath,
    /// Only its name says so.
    ProcessName,
}

/// Porten's app's agent as found on this Mac (the Snapshot's `porten_app`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PortenApp {
    /// The process Clusterbar adopts as the agent.
    pub pid: u32,
    pub how: AppMatch,
    /// The launchd label or the executable path that matched, or the process name.
    pub detail: String,
    /// Every process recognised as the app's (its agent may be a child of the app).
    pub pids: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum TokensSource {
    /// The running meter (live).
    Meter,
    /// The ledger file (no meter runs; figures as of its last save).
    Ledger,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DayTokens {
    /// Local calendar day, `YYYY-MM-DD`.
    pub date: String,
    pub tokens: u64,
}

/// The Snapshot's `porten_tokens` (in `clusterbar status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PortenTokens {
    pub source: TokensSource,
    /// Completion tokens served to the agent since local midnight.
    pub tokens_today: u64,
    /// Since the ledger began (`since`).
    pub tokens_total: u64,
    pub since: Option<String>,
    /// Requests the agent sent since the meter started (only from a running meter).
    pub requests: Option<u64>,
    /// The last 30 days with tokens, oldest first.
    pub days: Vec<DayTokens>,
}
