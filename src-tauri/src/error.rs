//! The one error type every Tauri command returns. The page receives it as
//! `{"code": "...", "detail": "..."}`: `code` is stable and machine-readable (the page may act on
//! it), `detail` is the sentence shown to the user.

use clusterbar_core::exo::ExoError;
use clusterbar_core::porten::api_key::ApiKeyError;
use clusterbar_core::runtime::RuntimeError;
use clusterbar_core::settings::SettingsError;
use clusterbar_core::supervise::SuperviseError;
use clusterbar_meter::bench::BenchError;
use serde::{Deserialize, Serialize};

/// What went wrong, in a word the page can rely on. Serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// exo does not answer on its port, or not in time.
    ExoUnreachable,
    /// exo answered the request with an error status.
    ExoRefused,
    /// exo's answer could not be read.
    ExoBadAnswer,
    /// exo's cluster has not been read yet.
    ExoNotReady,
    /// The supervisor of exo or the Porten agent could not be started, or is gone.
    SupervisorFailed,
    /// exo or the Porten agent could not be stopped.
    StopFailed,
    /// The program runs, but Clusterbar did not start or adopt it.
    NotStartedByClusterbar,
    /// Another Clusterbar already supervises the program.
    AlreadySupervised,
    /// exo or porten is not installed where Clusterbar looks (or the configured path is wrong).
    ProgramNotFound,
    /// The model or instance named is unknown to exo.
    ModelNotFound,
    /// exo runs but has no model loaded.
    NoModelLoaded,
    /// A setting was refused (unknown, owned elsewhere, or out of range); nothing was written.
    SettingsInvalid,
    /// The token meter is not running.
    MeterUnavailable,
    /// The benchmark could not run or finish.
    BenchFailed,
    /// The Porten API key is malformed.
    ApiKeyInvalid,
    /// The Porten API key could not be stored or read.
    ApiKeyUnavailable,
    /// `porten login` could not be started.
    PortenLoginFailed,
    /// Joining the cluster could not be started.
    JoinFailed,
    /// The same action is already running.
    Busy,
    /// An argument from the page is out of range.
    InvalidArgument,
    /// A file or OS call failed.
    Io,
    /// A bug or a broken invariant in the app (a poisoned lock, a lost task).
    /// Nothing is recorded yet, or the history database cannot be read.
    HistoryUnavailable,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{detail}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub detail: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, detail: impl std::fmt::Display) -> Self {
        Self {
            code,
            detail: detail.to_string(),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, detail)
    }

    /// A poisoned lock: a thread panicked while holding `what`.
    pub fn poisoned(what: &str) -> Self {
        Self::internal(format!("{what} lock poisoned"))
    }

    /// An exo error from a request about a model or an instance: exo's 404 there means the id
    /// is unknown.
    pub fn about_model(error: ExoError) -> Self {
        match error {
            ExoError::Status { status: 404, .. } => Self::new(ErrorCode::ModelNotFound, error),
            other => other.into(),
        }
    }
}

impl From<clusterbar_core::history::HistoryError> for CommandError {
    fn from(error: clusterbar_core::history::HistoryError) -> Self {
        Self::new(ErrorCode::HistoryUnavailable, error)
    }
}

/// A blocking task that panicked, a page channel that closed, a window call that failed.
impl From<tauri::Error> for CommandError {
    fn from(error: tauri::Error) -> Self {
        Self::internal(error)
    }
}

impl From<ExoError> for CommandError {
    fn from(error: ExoError) -> Self {
        let code = match &error {
            ExoError::NotAnswering { .. } | ExoError::Timeout { .. } | ExoError::Transport { .. } => {
                ErrorCode::ExoUnreachable
            }
            // The URL is built from the port in Settings.
            ExoError::BadUrl { .. } => ErrorCode::SettingsInvalid,
            ExoError::Status { .. } => ErrorCode::ExoRefused,
            ExoError::TooLarge { .. } | ExoError::BadBody { .. } => ErrorCode::ExoBadAnswer,
        };
        Self::new(code, error)
    }
}

impl From<SuperviseError> for CommandError {
    fn from(error: SuperviseError) -> Self {
        let code = match &error {
            SuperviseError::Thread { .. } | SuperviseError::Gone { .. } => ErrorCode::SupervisorFailed,
            SuperviseError::Adopted { .. } => ErrorCode::NotStartedByClusterbar,
            SuperviseError::Stop { .. } => ErrorCode::StopFailed,
            SuperviseError::AlreadySupervised { .. } => ErrorCode::AlreadySupervised,
            SuperviseError::PidFile(_) => ErrorCode::Io,
        };
        Self::new(code, error)
    }
}

impl From<RuntimeError> for CommandError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Supervise(error) => error.into(),
            RuntimeError::ExoNotSupervised => Self::new(ErrorCode::NotStartedByClusterbar, error),
            // With the default launch the spec fails only when exo cannot be located.
            RuntimeError::ExoNotStartable(_) => Self::new(ErrorCode::ProgramNotFound, error),
        }
    }
}

impl From<SettingsError> for CommandError {
    fn from(error: SettingsError) -> Self {
        let code = match &error {
            SettingsError::Invalid(_) => ErrorCode::SettingsInvalid,
            SettingsError::Write { .. } => ErrorCode::Io,
            SettingsError::Encode(_) => ErrorCode::Internal,
        };
        Self::new(code, error)
    }
}

impl From<ApiKeyError> for CommandError {
    fn from(error: ApiKeyError) -> Self {
        let code = match &error {
            ApiKeyError::Malformed { .. } => ErrorCode::ApiKeyInvalid,
            ApiKeyError::Keychain(_) | ApiKeyError::File { .. } | ApiKeyError::KeychainStore(_) => {
                ErrorCode::ApiKeyUnavailable
            }
        };
        Self::new(code, error)
    }
}

impl From<BenchError> for CommandError {
    fn from(error: BenchError) -> Self {
        let code = match &error {
            BenchError::NoModels { .. } => ErrorCode::NoModelLoaded,
            BenchError::BadUrl(_) | BenchError::Request { .. } => ErrorCode::BenchFailed,
        };
        Self::new(code, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_and_detail() {
        let error = CommandError::new(ErrorCode::NotStartedByClusterbar, "exo was not started");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"code": "not_started_by_clusterbar", "detail": "exo was not started"})
        );
    }

    #[test]
    fn core_errors_keep_their_message_and_get_a_code_by_variant() {
        let unreachable = CommandError::from(ExoError::NotAnswering {
            address: "127.0.0.1:52415".into(),
        });
        assert_eq!(unreachable.code, ErrorCode::ExoUnreachable);
        assert_eq!(unreachable.detail, "exo is not answering on 127.0.0.1:52415");

        let status = |status| ExoError::Status {
            address: "127.0.0.1:52415".into(),
            method: "DELETE",
            path: "/instance/x".into(),
            status,
            message: "Instance not found".into(),
        };
        assert_eq!(CommandError::about_model(status(404)).code, ErrorCode::ModelNotFound);
        assert_eq!(CommandError::about_model(status(400)).code, ErrorCode::ExoRefused);
        assert_eq!(CommandError::from(status(404)).code, ErrorCode::ExoRefused);

        let adopted = CommandError::from(SuperviseError::Adopted {
            name: "exo".into(),
            pid: 42,
        });
        assert_eq!(adopted.code, ErrorCode::NotStartedByClusterbar);
        let invalid = CommandError::from(SettingsError::Invalid("exo_api_port must be 1-65535".into()));
        assert_eq!(invalid.code, ErrorCode::SettingsInvalid);
        assert!(invalid.detail.contains("exo_api_port"));
    }
}
