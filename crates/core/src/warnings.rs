//! Conditions that need the user's attention. Each has a stable `code` that scripts and the
//! notification latch key on, a one-line cause and the fix.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Works, but slower or less safe than it should (amber).
    Warning,
    /// Broken (red).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: String,
    pub severity: Severity,
    /// One line: what is wrong.
    pub message: String,
    /// One line: what to do about it.
    pub fix: String,
}

impl Warning {
    pub fn new(code: &str, severity: Severity, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            severity,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A reader failed; its part of the snapshot is empty.
    pub fn probe_failed(probe: &str, reason: &str) -> Self {
        Self::new(
            "probe_failed",
            Severity::Error,
            format!("Could not read {probe}: {reason}"),
            "See the log (Logs in the popover footer) and report it if it persists.",
        )
    }

    /// The settings file was unreadable and defaults are in use.
    pub fn settings_reset(problem: &str) -> Self {
        Self::new(
            "settings_reset",
            Severity::Warning,
            problem,
            "Check Settings; the old file is kept beside the new one as settings.json.bad.",
        )
    }
}
