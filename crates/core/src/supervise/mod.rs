//! Finding, starting, adopting and stopping the programs Clusterbar looks after: exo and the
//! Porten agent. One generic mechanism ([`Supervisor`]) serves both; their specifics live in
//! [`SupervisorSpec::exo`] and [`SupervisorSpec::porten`].

pub use clusterbar_model::service::{ServiceState, ServiceStatus, SupervisedState, SupervisedStatus};
pub mod group;
pub mod logfile;
pub mod pidfile;
pub mod process;
pub mod secret;
pub mod spec;

pub use process::{ForegroundEnd, StopOutcome, SuperviseError, Supervisor};
pub use secret::Secret;
pub use spec::{AdoptRule, Env, EnvValue, SupervisorSpec, Timings};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use crate::settings::Settings;
use clusterbar_model::Services;

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

/// Why a program could not be located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("the configured {program} path {} is not an executable file", .path.display())]
    ConfiguredNotExecutable { program: &'static str, path: PathBuf },
    #[error("exo not found: install EXO.app, or set the path to exo in Settings")]
    ExoNotFound,
    #[error("porten not found: install the Porten agent, or set its path in Settings")]
    PortenNotFound,
}

/// Locates a program: the configured path wins (and is reported when it is wrong), then
/// PATH, then well-known install locations.
pub fn locate(kind: ServiceKind, settings: &Settings) -> Result<PathBuf, LocateError> {
    if let Some(path) = kind.configured_path(settings) {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(LocateError::ConfiguredNotExecutable {
                program: kind.program(),
                path: path.to_owned(),
            })
        };
    }
    if let Ok(found) = which::which(kind.program()) {
        return Ok(found);
    }
    kind.well_known_paths()
        .into_iter()
        .find(|p| is_executable(p))
        .ok_or(match kind {
            ServiceKind::Exo => LocateError::ExoNotFound,
            ServiceKind::Porten => LocateError::PortenNotFound,
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
        self.copies(program, process_scope().as_deref())
    }

    /// Running copies of `program` wherever they live (not limited by [`process_scope`]): for
    /// finding Clusterbar's own processes.
    pub fn pids_of_anywhere(&self, program: &str) -> Result<Vec<u32>, String> {
        Ok(self.copies(program, None)?.into_iter().map(|c| c.pid).collect())
    }

    fn copies(&self, program: &str, scope: Option<&Path>) -> Result<Vec<RunningCopy>, String> {
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
            .filter(|(_, path)| in_scope(scope, path.as_deref()))
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

/// `CLUSTERBAR_PROCESS_SCOPE`: a directory. When set, Clusterbar counts (and adopts) only copies
/// whose program lies under it — how the test suite keeps to what it started itself on a machine
/// where EXO.app or a developer's exo runs. Unset in normal use.
pub fn process_scope() -> Option<PathBuf> {
    std::env::var_os("CLUSTERBAR_PROCESS_SCOPE")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// Whether a copy running `path` is inside `scope` (everything is, without a scope).
pub fn in_scope(scope: Option<&Path>, path: Option<&Path>) -> bool {
    match scope {
        None => true,
        Some(scope) => path.is_some_and(|p| p.starts_with(scope)),
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

/// The version of the exo at `executable`, remembered per path (it is asked every sample).
pub fn exo_version(executable: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(known) = seen.lock().ok().and_then(|m| m.get(executable).cloned()) {
        return known;
    }
    let version = read_exo_version(executable);
    if let Ok(mut map) = seen.lock() {
        map.insert(executable.to_owned(), version.clone());
    }
    version
}

fn read_exo_version(executable: &Path) -> Option<String> {
    // EXO.app: …/EXO.app/Contents/Resources/exo/exo → …/EXO.app/Contents/Info.plist.
    if let Some(contents) = executable.ancestors().find(|a| a.ends_with("Contents")) {
        if let Ok(plist) = std::fs::read_to_string(contents.join("Info.plist")) {
            return version_from_plist(&plist);
        }
    }
    // A Python install: <prefix>/bin/exo beside <prefix>/lib/python3.X/site-packages/exo-V.dist-info.
    let prefix = executable.parent()?.parent()?;
    let lib = std::fs::read_dir(prefix.join("lib")).ok()?;
    lib.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .filter_map(|e| std::fs::read_dir(e.path().join("site-packages")).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .find_map(|e| version_from_dist_info(&e.file_name().to_string_lossy()))
}

/// `CFBundleShortVersionString` from an Info.plist (XML form).
pub fn version_from_plist(plist: &str) -> Option<String> {
    let after = plist.split("<key>CFBundleShortVersionString</key>").nth(1)?;
    let value = after.trim_start().strip_prefix("<string>")?;
    let value = value.split("</string>").next()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// `exo-0.3.70.dist-info` → `0.3.70` (not `exo_rs-…`, not `exodus-…`).
pub fn version_from_dist_info(name: &str) -> Option<String> {
    let version = name.strip_prefix("exo-")?.strip_suffix(".dist-info")?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_owned())
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
        (a, b) => a.map(|e| e.to_string()).or(b),
    };
    let version = match kind {
        ServiceKind::Exo => executable.as_deref().and_then(exo_version),
        ServiceKind::Porten => None,
    };
    ServiceStatus {
        state,
        executable,
        pids,
        child_processes,
        version,
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
    fn exo_versions_from_the_app_and_from_a_python_install() {
        let plist = "<dict>\n\t<key>CFBundleName</key>\n\t<string>EXO</string>\n\t<key>CFBundleShortVersionString</key>\n\t<string>1.0.70</string>\n</dict>";
        assert_eq!(version_from_plist(plist).as_deref(), Some("1.0.70"));
        assert_eq!(version_from_plist("<dict></dict>"), None);
        assert_eq!(
            version_from_dist_info("exo-0.3.70.dist-info").as_deref(),
            Some("0.3.70")
        );
        assert_eq!(version_from_dist_info("exo_rs-0.1.0.dist-info"), None);
        assert_eq!(version_from_dist_info("exodus-1.0.dist-info"), None);

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("lib/python3.13/site-packages/exo-0.3.70.dist-info")).unwrap();
        std::fs::create_dir_all(dir.path().join("lib/python3.13/site-packages/exo_rs-0.0.1.dist-info")).unwrap();
        assert_eq!(exo_version(&dir.path().join("bin/exo")).as_deref(), Some("0.3.70"));
        assert_eq!(exo_version(Path::new("/nonexistent/bin/exo")), None);
    }

    #[test]
    fn a_scope_keeps_to_programs_under_it() {
        let scope = Path::new("/tmp/test-run-7");
        assert!(in_scope(None, None));
        assert!(in_scope(
            None,
            Some(Path::new("/Applications/EXO.app/Contents/Resources/exo/exo"))
        ));
        assert!(in_scope(Some(scope), Some(Path::new("/tmp/test-run-7/bin/exo"))));
        assert!(!in_scope(
            Some(scope),
            Some(Path::new("/Applications/EXO.app/Contents/Resources/exo/exo"))
        ));
        assert!(
            !in_scope(Some(scope), Some(Path::new("/tmp/test-run-70/exo"))),
            "a path prefix is not a folder"
        );
        assert!(
            !in_scope(Some(scope), None),
            "a copy whose program is unknown is outside any scope"
        );
    }

    #[test]
    fn configured_path_that_is_missing_is_reported() {
        let settings = Settings {
            exo_path: Some(PathBuf::from("/nonexistent/exo")),
            ..Settings::default()
        };
        let err = locate(ServiceKind::Exo, &settings).unwrap_err();
        assert!(
            matches!(&err, LocateError::ConfiguredNotExecutable { program: "exo", path } if path == Path::new("/nonexistent/exo")),
            "{err:?}"
        );
        assert!(err.to_string().contains("/nonexistent/exo"), "{err}");
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
