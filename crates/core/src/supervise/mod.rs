//! Finding, starting, adopting and stopping the programs Clusterbar looks after: exo and the
//! Porten agent. One generic mechanism ([`Supervisor`]) serves both; their specifics live in
//! [`SupervisorSpec::exo`] and [`SupervisorSpec::porten`].

pub mod group;
pub mod logfile;
pub mod pidfile;
pub mod process;
pub mod secret;
pub mod spec;

pub use process::{ForegroundEnd, StopOutcome, SuperviseError, SupervisedState, SupervisedStatus, Supervisor};
pub use secret::Secret;
pub use spec::{AdoptRule, Env, EnvValue, ExoLaunch, SupervisorSpec, Timings};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use crate::settings::Settings;
use crate::snapshot::Services;

/// The programs Clusterbar looks after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Exo,
    Porten,
}

impl ServiceKind {
    /// The executable's file name, also the process name it runs under.
    pub fn program(self) -> &'static str {
        match self {
            ServiceKind::Exo => "exo",
            ServiceKind::Porten => "porten",
        }
    }

    /// Where the program lives when it was installed the usual way but is not on PATH.
    fn well_known_paths(self) -> Vec<PathBuf> {
        match self {
            ServiceKind::Exo => vec![PathBuf::from("/Applications/EXO.app/Contents/Resources/exo/exo")],
            ServiceKind::Porten => Vec::new(),
        }
    }

    fn configured_path(self, settings: &Settings) -> Option<&Path> {
        match self {
            ServiceKind::Exo => settings.exo_path.as_deref(),
            ServiceKind::Porten => settings.porten_path.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    NotInstalled,
    Stopped,
    Running,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// The executable that would be (or is being) run.
    pub executable: Option<PathBuf>,
    /// Process ids of running copies — the main process of each, never its threads or the
    /// workers it spawned (more than one means something else started a second copy).
    pub pids: Vec<u32>,
    /// Processes the running copies started themselves (exo's model runners), counted.
    #[serde(default)]
    pub child_processes: u32,
    /// Why the state is what it is, when that is not obvious (e.g. a configured path is missing).
    pub detail: Option<String>,
    /// Set when Clusterbar supervises (or has adopted) this program: restarts, uptime, why it
    /// gave up, where its log is.
    #[serde(default)]
    pub supervised: Option<SupervisedStatus>,
}

impl ServiceStatus {
    /// Folds in what the supervisor knows: its view of running beats the process table's
    /// (a program it is restarting is not "stopped" from the user's point of view).
    pub fn apply_supervised(&mut self, status: SupervisedStatus) {
        if let Some(pid) = status.pid {
            if !self.pids.contains(&pid) {
                self.pids.push(pid);
            }
        }
        if matches!(
            status.state,
            SupervisedState::Running | SupervisedState::Adopted | SupervisedState::Starting
        ) {
            self.state = ServiceState::Running;
        }
        self.supervised = Some(status);
    }
}

/// Locates a program: the configured path wins (and is reported when it is wrong), then
/// PATH, then well-known install locations.
pub fn locate(kind: ServiceKind, settings: &Settings) -> Result<PathBuf, String> {
    if let Some(path) = kind.configured_path(settings) {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(format!(
                "the configured {} path {} is not an executable file",
                kind.program(),
                path.display()
            ))
        };
    }
    if let Ok(found) = which::which(kind.program()) {
        return Ok(found);
    }
    kind.well_known_paths()
        .into_iter()
        .find(|p| is_executable(p))
        .ok_or_else(|| match kind {
            ServiceKind::Exo => "exo not found: install EXO.app, or set the path to exo in Settings".to_owned(),
            ServiceKind::Porten => "porten not found: install the Porten agent, or set its path in Settings".to_owned(),
        })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether a process is a copy of `program`: its name or its argv[0], or — for script entry
/// points such as exo installed with uv, which run as `python …/bin/exo` — the script that an
/// interpreter runs. (`clusterbar exo run` has "exo" second too, but is no copy of exo.)
pub fn process_matches(program: &str, process_name: &str, argv: &[String]) -> bool {
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let is_interpreter = |s: &str| {
        let name = base(s).to_ascii_lowercase();
        name.starts_with("python") || ["sh", "bash", "zsh", "dash", "env", "uv"].contains(&name.as_str())
    };
    process_name == program
        || argv.first().is_some_and(|a| base(a) == program)
        || (argv.first().is_some_and(|a| is_interpreter(a)) && argv.get(1).is_some_and(|a| base(a) == program))
}

/// Keeps the process table between samples so each refresh only reads what changed.
pub struct ProcessTable {
    system: Result<System, String>,
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self {
            system: System::new().map_err(|e| format!("could not list processes: {e}")),
        }
    }
}

impl ProcessTable {
    pub fn refresh(&mut self) {
        if let Ok(system) = &mut self.system {
            let kind = ProcessRefreshKind::nothing().with_cmd(UpdateKind::OnlyIfNotSet);
            system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        }
    }

    /// Running copies of `program` (never this process itself): main processes only.
    pub fn pids_of(&self, program: &str) -> Result<Vec<u32>, String> {
        Ok(self.copies_of(program)?.into_iter().map(|c| c.pid).collect())
    }

    /// Running copies of `program`, each with the script or executable it runs and the number
    /// of processes below it. On Linux the process table also lists every thread (exo's Python
    /// has a dozen); a thread, or a process whose parent is itself a copy, is no copy.
    pub fn copies_of(&self, program: &str) -> Result<Vec<RunningCopy>, String> {
        let system = self.system.as_ref().map_err(Clone::clone)?;
        let own = std::process::id();
        let processes = system.processes();
        let argv_of = |process: &sysinfo::Process| -> Vec<String> {
            process.cmd().iter().map(|a| a.to_string_lossy().into_owned()).collect()
        };
        let matching: std::collections::BTreeMap<u32, Option<PathBuf>> = processes
            .iter()
            .filter(|(pid, process)| process.thread_kind().is_none() && pid.as_u32() != own)
            .filter_map(|(pid, process)| {
                let argv = argv_of(process);
                process_matches(program, &process.name().to_string_lossy(), &argv)
                    .then(|| (pid.as_u32(), program_path(program, &argv)))
            })
            .collect();
        // Walk up from every process: the topmost copy above it owns it.
        let parent_of = |pid: u32| {
            processes
                .get(&sysinfo::Pid::from_u32(pid))
                .and_then(|p| p.parent())
                .map(|p| p.as_u32())
        };
        let topmost_copy_above = |pid: u32| {
            let mut found = None;
            let mut current = parent_of(pid);
            // Bounded: a process table changing under us cannot loop forever.
            for _ in 0..64 {
                let Some(p) = current.filter(|p| *p > 1) else { break };
                if matching.contains_key(&p) {
                    found = Some(p);
                }
                current = parent_of(p);
            }
            found
        };
        let mut copies: std::collections::BTreeMap<u32, RunningCopy> = matching
            .iter()
            .filter(|(pid, _)| topmost_copy_above(**pid).is_none())
            .map(|(pid, path)| {
                let copy = RunningCopy {
                    pid: *pid,
                    path: path.clone(),
                    children: 0,
                };
                (*pid, copy)
            })
            .collect();
        for (pid, process) in processes {
            if process.thread_kind().is_some() || copies.contains_key(&pid.as_u32()) {
                continue;
            }
            if let Some(owner) = topmost_copy_above(pid.as_u32()) {
                if let Some(copy) = copies.get_mut(&owner) {
                    copy.children += 1;
                }
            }
        }
        Ok(copies.into_values().collect())
    }
}

/// One running copy of a program (see [`ProcessTable::copies_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningCopy {
    pub pid: u32,
    /// The program file it runs (for `python …/bin/exo`, the script), when the command line says.
    pub path: Option<PathBuf>,
    /// Processes below it (exo's runners and their helpers).
    pub children: u32,
}

/// The path of `program` on a command line that [`process_matches`] accepted.
fn program_path(program: &str, argv: &[String]) -> Option<PathBuf> {
    argv.iter()
        .take(2)
        .map(Path::new)
        .find(|a| a.file_name().is_some_and(|f| f == program) && a.is_absolute())
        .map(Path::to_path_buf)
}

pub fn service_status(kind: ServiceKind, settings: &Settings, table: &ProcessTable) -> ServiceStatus {
    let (copies, table_error) = match table.copies_of(kind.program()) {
        Ok(copies) => (copies, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let pids: Vec<u32> = copies.iter().map(|c| c.pid).collect();
    let child_processes = copies.iter().map(|c| c.children).sum();
    let located = locate(kind, settings);
    let state = match (&located, pids.is_empty()) {
        (_, false) => ServiceState::Running,
        (Ok(_), true) => ServiceState::Stopped,
        (Err(_), true) => ServiceState::NotInstalled,
    };
    // A copy that runs is installed, wherever it lives (a venv Clusterbar cannot locate, say):
    // never "running" beside "not found".
    let running_path = copies.iter().find_map(|c| c.path.clone());
    let (executable, located_error) = match located {
        Ok(path) => (Some(path), None),
        Err(_) if !pids.is_empty() => (running_path, None),
        Err(reason) => (None, Some(reason)),
    };
    let detail = match (located_error, table_error) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    ServiceStatus {
        state,
        executable,
        pids,
        child_processes,
        detail,
        supervised: None,
    }
}

pub fn discover_services(settings: &Settings, table: &ProcessTable) -> Services {
    Services {
        exo: service_status(ServiceKind::Exo, settings, table),
        porten: service_status(ServiceKind::Porten, settings, table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matches_by_name_or_script_entry_point() {
        assert!(process_matches("exo", "exo", &[]));
        assert!(process_matches(
            "exo",
            "python3.13",
            &args(&["/usr/bin/python3", "/Users/a/exo/.venv/bin/exo"])
        ));
        // `python -m exo` has "exo" only in third place: not recognised by argv alone.
        assert!(!process_matches("exo", "python3", &args(&["python3", "-m", "exo"])));
        assert!(!process_matches("exo", "exodus", &args(&["exodus"])));
        assert!(!process_matches("exo", "vim", &args(&["vim", "notes", "exo"])));
        assert!(!process_matches(
            "exo",
            "clusterbar",
            &args(&["/usr/local/bin/clusterbar", "exo", "run"])
        ));
        assert!(!process_matches("exo", "less", &args(&["less", "exo"])));
        assert!(process_matches("exo", "sh", &args(&["/bin/sh", "/opt/exo/bin/exo"])));
        assert!(process_matches(
            "exo",
            "Python",
            &args(&["/opt/homebrew/bin/exo", "--api-port", "1"])
        ));
    }

    #[test]
    fn configured_path_that_is_missing_is_reported() {
        let settings = Settings {
            exo_path: Some(PathBuf::from("/nonexistent/exo")),
            ..Settings::default()
        };
        let err = locate(ServiceKind::Exo, &settings).unwrap_err();
        assert!(err.contains("/nonexistent/exo"), "{err}");
    }

    #[test]
    fn configured_executable_is_found_and_a_running_copy_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("porten");
        std::fs::write(&path, "#!/bin/sh\nwhile :; do sleep 0.1; done\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let settings = Settings {
            porten_path: Some(path.clone()),
            ..Settings::default()
        };
        let mut table = ProcessTable::default();
        table.refresh();
        let before = service_status(ServiceKind::Porten, &settings, &table);
        assert_eq!(before.executable.as_deref(), Some(path.as_path()));
        assert_eq!(before.state, ServiceState::Stopped);

        let mut child = std::process::Command::new(&path).spawn().unwrap();
        let mut seen = false;
        for _ in 0..50 {
            table.refresh();
            if table.pids_of("porten").unwrap().contains(&child.id()) {
                seen = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen, "running porten script not seen");
    }
}
