//! What to supervise and how: the generic [`SupervisorSpec`], with small constructors that hold
//! everything exo- or Porten-specific.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::logfile::LogConfig;
use super::secret::Secret;
use super::{locate, ServiceKind};
use crate::settings::{Settings, DEFAULT_EXO_API_PORT};

/// An environment value for the child; secrets stay redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret(Secret),
}

impl EnvValue {
    pub(crate) fn expose(&self) -> &str {
        match self {
            EnvValue::Plain(v) => v,
            EnvValue::Secret(s) => s.expose(),
        }
    }
}

impl From<&str> for EnvValue {
    fn from(v: &str) -> Self {
        EnvValue::Plain(v.to_owned())
    }
}

impl From<String> for EnvValue {
    fn from(v: String) -> Self {
        EnvValue::Plain(v)
    }
}

impl From<Secret> for EnvValue {
    fn from(v: Secret) -> Self {
        EnvValue::Secret(v)
    }
}

/// Variables added to (or replacing those in) the environment the child inherits from us.
pub type Env = BTreeMap<String, EnvValue>;

/// Every wait the supervisor makes; the defaults are the product's, tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timings {
    /// Stop: SIGINT, then wait this long before SIGTERM …
    pub interrupt_grace: Duration,
    /// … then this long before SIGKILL …
    pub terminate_grace: Duration,
    /// … then this long before giving up on the process.
    pub kill_grace: Duration,
    /// First restart delay; doubles with each crash in a row.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A run this long resets the backoff to `backoff_initial`.
    pub stable_after: Duration,
    /// `max_crashes` exits within `crash_window` and the supervisor gives up.
    pub crash_window: Duration,
    pub max_crashes: u32,
    /// How often a started child is checked for exit.
    pub poll: Duration,
    /// How often an adopted process (which we cannot wait for) is checked.
    pub adopted_poll: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            interrupt_grace: Duration::from_secs(5),
            terminate_grace: Duration::from_secs(3),
            kill_grace: Duration::from_secs(2),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            crash_window: Duration::from_secs(120),
            max_crashes: 5,
            poll: Duration::from_millis(100),
            adopted_poll: Duration::from_secs(1),
        }
    }
}

/// How to recognise a copy that someone else (EXO.app, an earlier `clusterbar exo run`, a
/// terminal) already runs, so we adopt it instead of starting a second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdoptRule {
    /// A running process of this name (see [`super::process_matches`]).
    pub process_name: Option<String>,
    /// A pid file another program keeps, e.g. `~/.exo/exo.pid`.
    pub pid_file: Option<PathBuf>,
    /// Any other way to find a running copy, e.g. Porten's desktop app's agent.
    pub finder: Option<Finder>,
}

/// A search for a running copy by some other means than a name or a pid file.
#[derive(Clone)]
pub struct Finder(std::sync::Arc<dyn Fn() -> Option<u32> + Send + Sync>);

impl Finder {
    pub fn new(find: impl Fn() -> Option<u32> + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(find))
    }

    pub fn find(&self) -> Option<u32> {
        (self.0)()
    }
}

impl std::fmt::Debug for Finder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Finder(..)")
    }
}

/// The same search, not an equal one: closures cannot be compared.
impl PartialEq for Finder {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Finder {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSpec {
    /// Shown in messages and the log ("exo", "porten").
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Env,
    /// Variables removed from the environment the child inherits.
    pub env_remove: Vec<String>,
    pub log: LogConfig,
    /// Where we record the process we started (ours alone; see `pidfile`).
    pub pid_file: PathBuf,
    pub adopt: AdoptRule,
    pub timings: Timings,
    /// Also copy the child's output to our stderr (`clusterbar exo run` in a terminal).
    pub echo_output: bool,
}

/// Where pid files live: `CLUSTERBAR_RUN_DIR`, else `run/` in the config directory.
pub fn run_dir() -> PathBuf {
    match std::env::var_os("CLUSTERBAR_RUN_DIR") {
        Some(dir) => dir.into(),
        None => crate::paths::config_dir().join("run"),
    }
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
    /// `HF_TOKEN`, e.g. from [`super::secret::keychain_secret`].
    pub hf_token: Option<Secret>,
}

impl SupervisorSpec {
    /// A spec with default timings, the log at `<log_dir>/<name>.log` and the pid file at
    /// `<run_dir>/<name>.pid.json`, adopting nothing.
    pub fn new(name: &str, program: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            program,
            args: Vec::new(),
            env: Env::new(),
            env_remove: Vec::new(),
            log: LogConfig::new(crate::paths::log_dir().join(format!("{name}.log"))),
            pid_file: run_dir().join(format!("{name}.pid.json")),
            adopt: AdoptRule::default(),
            timings: Timings::default(),
            echo_output: false,
        }
    }

    /// exo: located as `locate` does; adopts any running `exo` or the one in `~/.exo/exo.pid`.
    pub fn exo(settings: &Settings, launch: &ExoLaunch) -> Result<Self, String> {
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
            let joined = std::env::join_paths(&launch.models_dirs)
                .map_err(|e| format!("models directories cannot be joined into EXO_MODELS_DIRS: {e}"))?;
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

    /// The Porten agent with the caller's environment (e.g. `PORTEN_ENGINE=openai`, the
    /// advertised budget and models) and arguments; adopts a running `porten`, or the agent
    /// Porten's desktop app runs (see `porten::app`): never a second agent with the same key.
    pub fn porten(settings: &Settings, env: Env, args: Vec<String>) -> Result<Self, String> {
        let rules = crate::porten::app::AppRules::from_settings(settings);
        let program = match locate(ServiceKind::Porten, settings) {
            Ok(program) => program,
            // A Mac with only Porten's app: its bundled CLI if it has one, else nothing to
            // start — but its running agent is still adopted (and the reason kept if it stops).
            Err(reason) => match crate::porten::app::bundled_cli(&rules) {
                Some(program) => program,
                None if crate::porten::app::find_app_agent(&rules).is_some() => PathBuf::from("porten"),
                None => return Err(reason),
            },
        };
        let mut spec = Self::new("porten", program);
        spec.env = env;
        spec.args = args;
        spec.adopt = Self::porten_adopt_rule(settings);
        Ok(spec)
    }

    /// How a running agent is recognised: Porten's app's, or any `porten`.
    pub fn porten_adopt_rule(settings: &Settings) -> AdoptRule {
        let rules = crate::porten::app::AppRules::from_settings(settings);
        AdoptRule {
            process_name: Some(ServiceKind::Porten.program().to_owned()),
            pid_file: None,
            finder: Some(Finder::new(move || {
                crate::porten::app::find_app_agent(&rules).map(|app| app.pid)
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(dir: &std::path::Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

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

    #[test]
    fn porten_spec_takes_the_callers_env_and_a_missing_agent_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            porten_path: Some(executable(dir.path(), "porten")),
            ..Settings::default()
        };
        let env = Env::from([("PORTEN_ENGINE".to_owned(), EnvValue::from("openai"))]);
        let spec = SupervisorSpec::porten(&settings, env.clone(), vec!["serve".into()]).unwrap();
        assert_eq!(spec.env, env);
        assert_eq!(spec.args, vec!["serve"]);
        let missing = Settings {
            porten_path: Some(dir.path().join("nope")),
            ..Settings::default()
        };
        assert!(SupervisorSpec::porten(&missing, Env::new(), Vec::new()).is_err());
    }
}
