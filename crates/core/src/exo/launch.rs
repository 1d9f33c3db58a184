//! How exo is started and recognised: its arguments and environment from the settings, and
//! the pid file exo itself holds locked while it runs (adoption never doubles an exo).

use std::path::PathBuf;

use crate::settings::{Settings, DEFAULT_EXO_API_PORT};
use crate::supervise::secret::Secret;
use crate::supervise::spec::{AdoptRule, SupervisorSpec};
use crate::supervise::{locate, LocateError, ServiceKind};

/// Why exo's launch could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExoSpecError {
    #[error(transparent)]
    Locate(#[from] LocateError),
    #[error("models directories cannot be joined into EXO_MODELS_DIRS: {0}")]
    ModelsDirs(String),
}

fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_owned())
}

/// The variable exo read its namespace from before 2026-06; exo now refuses to start with it.
pub const LEGACY_NAMESPACE_VAR: &str = "EXO_LIBP2P_NAMESPACE";

/// exo's pid file, which it holds locked while it runs (one exo per user): `EXO_CACHE_HOME/exo.pid`,
/// that is `~/.exo` on macOS, `$XDG_CACHE_HOME/exo` (else `~/.cache/exo`) on Linux, or
/// `~/$EXO_HOME` when that is set (exo's `shared/constants.py`).
pub fn exo_pid_file() -> Option<PathBuf> {
    let home = home()?;
    let cache = match std::env::var_os("EXO_HOME") {
        Some(exo_home) => home.join(exo_home),
        None if cfg!(target_os = "linux") => match std::env::var_os("XDG_CACHE_HOME") {
            Some(xdg) if !xdg.is_empty() => PathBuf::from(xdg).join("exo"),
            _ => home.join(".cache/exo"),
        },
        None => home.join(".exo"),
    };
    Some(cache.join("exo.pid"))
}

/// What the user chose for exo beyond the executable (kept out of `Settings` so the caller
/// decides where these come from, e.g. the token from the keychain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExoLaunch {
    /// exo's `--namespace`: only nodes with the same namespace form a cluster. exo's default
    /// is its own version, so boxes on different exo versions never see each other.
    pub namespace: Option<String>,
    /// `EXO_MODELS_DIRS`: extra model directories.
    pub models_dirs: Vec<PathBuf>,
    /// `HF_TOKEN`, e.g. from [`crate::supervise::secret::keychain_secret`].
    pub hf_token: Option<Secret>,
}

impl SupervisorSpec {
    /// exo: located as `locate` does; adopts any running `exo` or the one in `~/.exo/exo.pid`.
    pub fn exo(settings: &Settings, launch: &ExoLaunch) -> Result<Self, ExoSpecError> {
        let mut spec = Self::new("exo", locate(ServiceKind::Exo, settings)?);
        // Only a non-default port is passed, so a default setup runs exo with no arguments.
        if settings.exo_api_port != DEFAULT_EXO_API_PORT {
            spec.args = vec!["--api-port".to_owned(), settings.exo_api_port.to_string()];
        }
        if let Some(namespace) = launch.namespace.as_ref().or(settings.exo_namespace.as_ref()) {
            spec.args.extend(["--namespace".to_owned(), namespace.clone()]);
        }
        // exo moved from libp2p to zenoh (June 2026) and now exits with an error when this is
        // set; an old guide's `export` in the user's shell must not keep exo from starting.
        spec.env_remove.push(LEGACY_NAMESPACE_VAR.to_owned());
        if !launch.models_dirs.is_empty() {
            let joined =
                std::env::join_paths(&launch.models_dirs).map_err(|e| ExoSpecError::ModelsDirs(e.to_string()))?;
            spec.env
                .insert("EXO_MODELS_DIRS".into(), joined.to_string_lossy().into_owned().into());
        }
        if let Some(token) = &launch.hf_token {
            spec.env.insert("HF_TOKEN".into(), token.clone().into());
        }
        spec.adopt = Self::exo_adopt_rule();
        Ok(spec)
    }

    /// How a running exo is recognised: by name, or the pid in exo's own lock file.
    pub fn exo_adopt_rule() -> AdoptRule {
        AdoptRule {
            process_name: Some(ServiceKind::Exo.program().to_owned()),
            pid_file: exo_pid_file(),
            finder: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::spec::test_executable as executable;
    use crate::supervise::EnvValue;

    #[test]
    fn exo_spec_carries_env_and_redacts_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            exo_path: Some(executable(dir.path(), "exo")),
            exo_api_port: 52416,
            ..Settings::default()
        };
        let launch = ExoLaunch {
            namespace: Some("studio".into()),
            models_dirs: vec![PathBuf::from("/Volumes/Models"), PathBuf::from("/m2")],
            hf_token: Some(Secret::new("hf_supersecret")),
        };
        let spec = SupervisorSpec::exo(&settings, &launch).unwrap();
        assert_eq!(spec.args, vec!["--api-port", "52416", "--namespace", "studio"]);
        assert!(!spec.env.contains_key(LEGACY_NAMESPACE_VAR), "exo exits when it is set");
        assert_eq!(spec.env_remove, [LEGACY_NAMESPACE_VAR]);
        assert_eq!(
            spec.env["EXO_MODELS_DIRS"],
            EnvValue::Plain("/Volumes/Models:/m2".into())
        );
        assert_eq!(spec.env["HF_TOKEN"].expose(), "hf_supersecret");
        assert!(!format!("{spec:?}").contains("supersecret"));
        assert_eq!(spec.adopt.process_name.as_deref(), Some("exo"));
        assert!(spec.adopt.pid_file.as_ref().unwrap().ends_with("exo/exo.pid"));
        assert!(spec.log.path.ends_with("exo.log"));
        assert!(spec.pid_file.ends_with("exo.pid.json"));

        let default_port = Settings {
            exo_api_port: DEFAULT_EXO_API_PORT,
            ..settings
        };
        assert!(SupervisorSpec::exo(&default_port, &ExoLaunch::default())
            .unwrap()
            .args
            .is_empty());
    }
}
