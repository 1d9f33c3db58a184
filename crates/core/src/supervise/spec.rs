//! What to supervise and how: the generic [`SupervisorSpec`], with small constructors that hold
//! everything exo- or Porten-specific.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::logfile::LogConfig;
use super::secret::Secret;

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
}

/// An executable shell script at `dir/name`, for the launch specs' tests (exo's and Porten's).
#[cfg(test)]
pub(crate) fn test_executable(dir: &std::path::Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
