//! Porten's own desktop app. Porten's install guide says that on a Mac its installer "installs
//! the desktop app instead" of the CLI service, so a head Mac may already run Porten's agent,
//! signed in with the same key. Clusterbar must adopt that agent — never start a second one —
//! and say who runs it.
//!
//! The app's layout is not documented, so what identifies it is in settings (with defaults):
//! - a launchd job whose label is one of `porten_app_bundle_ids` or starts with one and a dot
//!   (`ai.porten` matches `ai.porten.agent`), read from `launchctl list` (macOS);
//! - a process whose executable lies inside one of `porten_app_paths`
//!   (`/Applications/Porten.app`, `~/Applications/Porten.app`);
//! - a process named one of `porten_app_process_names` (`Porten`, `porten-agent`).
//!
//! The parsers ([`parse_launchctl_list`], [`match_process`]) are pure and tested anywhere; only
//! [`launchctl_list`] calls the OS, on macOS.

pub use clusterbar_model::porten::{AppMatch, PortenApp};
use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// What identifies the app; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppRules {
    /// Bundle directories, `~/` already expanded.
    pub paths: Vec<PathBuf>,
    pub bundle_ids: Vec<String>,
    pub process_names: Vec<String>,
}

impl AppRules {
    pub fn from_settings(settings: &Settings) -> Self {
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_owned());
        let paths = settings
            .porten_app_paths
            .iter()
            .filter_map(|p| match p.strip_prefix("~") {
                Ok(rest) => home.as_ref().map(|h| h.join(rest)),
                Err(_) => Some(p.clone()),
            })
            .collect();
        Self {
            paths,
            bundle_ids: settings.porten_app_bundle_ids.clone(),
            process_names: settings.porten_app_process_names.clone(),
        }
    }
}

/// One process as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub name: String,
    pub exe: Option<PathBuf>,
    pub argv: Vec<String>,
}

/// Whether `process` is the app's, and how: inside the bundle (by its executable, or by
/// argv[0] where the executable cannot be read), else by name.
pub fn match_process(process: &ProcessInfo, rules: &AppRules) -> Option<(AppMatch, String)> {
    let inside = |path: &Path| {
        rules
            .paths
            .iter()
            .any(|bundle| path.starts_with(bundle) && path != bundle.as_path())
    };
    let argv0 = process.argv.first().map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(path) = process.exe.iter().chain(argv0.iter()).find(|p| inside(p)) {
        return Some((AppMatch::ExecutablePath, path.display().to_string()));
    }
    rules
        .process_names
        .contains(&process.name)
        .then(|| (AppMatch::ProcessName, process.name.clone()))
}

/// A `porten` executable inside the app's bundle (where an app that ships its CLI would keep
/// it), for a Mac where only the app is installed.
pub fn bundled_cli(rules: &AppRules) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    rules
        .paths
        .iter()
        .flat_map(|bundle| {
            [
                "Contents/MacOS/porten",
                "Contents/Resources/porten",
                "Contents/Resources/bin/porten",
            ]
            .map(|inside| bundle.join(inside))
        })
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// One `launchctl list` line: the pid (`-` when the job is not running), the last exit status
/// and the label. The header line and anything malformed are skipped.
pub fn parse_launchctl_list(text: &str) -> Vec<(Option<u32>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let pid = fields.next()?.trim();
            let _status = fields.next()?;
            let label = fields.next()?.trim();
            if label.is_empty() || pid == "PID" {
                return None;
            }
            let pid = match pid {
                "-" => None,
                number => Some(number.parse::<u32>().ok()?),
            };
            Some((pid, label.to_owned()))
        })
        .collect()
}

/// `ai.porten` matches `ai.porten` and `ai.porten.agent`, not `ai.portent`; launchd labels of
/// app-registered jobs may carry a prefix such as `application.` — matched after a dot too.
pub fn label_matches(label: &str, bundle_ids: &[String]) -> bool {
    bundle_ids.iter().filter(|id| !id.is_empty()).any(|id| {
        let at_boundary = |rest: &str| rest.is_empty() || rest.starts_with('.');
        label.strip_prefix(id.as_str()).is_some_and(at_boundary)
            || label
                .match_indices(&format!(".{id}"))
                .any(|(at, m)| at_boundary(&label[at + m.len()..]))
    })
}

/// The best match among the running processes and launchd's jobs (see [`AppMatch`]: a
/// launchd job first, then a process named like the agent inside the bundle, then any process
/// inside the bundle, then a name).
pub fn pick(processes: &[ProcessInfo], launchd: &[(Option<u32>, String)], rules: &AppRules) -> Option<PortenApp> {
    let mut found: Vec<(AppMatch, bool, u32, String)> = Vec::new();
    for (pid, label) in launchd {
        if let (Some(pid), true) = (pid, label_matches(label, &rules.bundle_ids)) {
            found.push((AppMatch::BundleId, false, *pid, label.clone()));
        }
    }
    for process in processes {
        if let Some((how, detail)) = match_process(process, rules) {
            // Inside the bundle, the agent program itself beats the app's window process.
            // (`porten` is the agent's program; `Porten`, capitalised, the app's window.)
            let agent_named = process.name == "porten" || process.name.to_ascii_lowercase().ends_with("agent");
            found.push((how, !agent_named, process.pid, detail));
        }
    }
    found.sort();
    let mut pids: Vec<u32> = found.iter().map(|f| f.2).collect();
    pids.sort_unstable();
    pids.dedup();
    let (how, _, pid, detail) = found.into_iter().next()?;
    Some(PortenApp { pid, how, detail, pids })
}

/// `launchctl list` (this user's jobs), parsed; nothing elsewhere or when it fails.
pub fn launchctl_list() -> Vec<(Option<u32>, String)> {
    #[cfg(target_os = "macos")]
    {
        match std::process::Command::new("/bin/launchctl")
            .arg("list")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
        {
            Ok(output) if output.status.success() => parse_launchctl_list(&String::from_utf8_lossy(&output.stdout)),
            Ok(_) | Err(_) => Vec::new(),
        }
    }
    #[cfg(not(target_os = "macos"))]
    {
        Vec::new()
    }
}

/// The processes of this machine with their executables (a fresh, full read: for the
/// supervisor's adoption check and [`AppWatch`]'s spaced-out scans).
pub fn process_list(system: &mut sysinfo::System) -> Vec<ProcessInfo> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, UpdateKind};
    let kind = ProcessRefreshKind::nothing()
        .with_cmd(UpdateKind::OnlyIfNotSet)
        .with_exe(UpdateKind::OnlyIfNotSet);
    system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    let own = std::process::id();
    system
        .processes()
        .iter()
        .filter(|(pid, p)| p.thread_kind().is_none() && pid.as_u32() != own)
        .map(|(pid, p)| ProcessInfo {
            pid: pid.as_u32(),
            name: p.name().to_string_lossy().into_owned(),
            exe: p.exe().map(Path::to_path_buf),
            argv: p.cmd().iter().map(|a| a.to_string_lossy().into_owned()).collect(),
        })
        .collect()
}

/// Porten's app's agent, if it runs now (one full scan).
pub fn find_app_agent(rules: &AppRules) -> Option<PortenApp> {
    let processes = match sysinfo::System::new() {
        Ok(mut system) => process_list(&mut system),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list processes to find Porten's app");
            Vec::new()
        }
    };
    pick(&processes, &launchctl_list(), rules)
}

/// The sampler's view of the app: scanned at most every [`AppWatch::EVERY`], since a full
/// process scan (and `launchctl` on macOS) is not worth doing every second.
#[derive(Default)]
pub struct AppWatch {
    system: Option<sysinfo::System>,
    last: Option<(std::time::Instant, AppRules, Option<PortenApp>)>,
}

impl AppWatch {
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

    pub fn find(&mut self, rules: &AppRules, now: std::time::Instant) -> Option<PortenApp> {
        if let Some((at, made_for, found)) = &self.last {
            let alive = found
                .as_ref()
                .is_none_or(|app| crate::supervise::group::process_alive(app.pid));
            if made_for == rules && alive && now.saturating_duration_since(*at) < Self::EVERY {
                return found.clone();
            }
        }
        if self.system.is_none() {
            self.system = sysinfo::System::new().ok();
        }
        let processes = self.system.as_mut().map(process_list).unwrap_or_default();
        let found = pick(&processes, &launchctl_list(), rules);
        self.last = Some((now, rules.clone(), found.clone()));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AppRules {
        AppRules {
            paths: vec![PathBuf::from("/Applications/Porten.app")],
            bundle_ids: vec!["ai.porten".into()],
            process_names: vec!["Porten".into(), "porten-agent".into()],
        }
    }

    fn process(pid: u32, name: &str, exe: Option<&str>, argv: &[&str]) -> ProcessInfo {
        ProcessInfo {
            pid,
            name: name.into(),
            exe: exe.map(PathBuf::from),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn launchctl_list_is_parsed() {
        let text = "PID\tStatus\tLabel\n-\t0\tcom.apple.SafariHistoryServiceAgent\n4821\t0\tai.porten.agent\n\
                    612\t-9\tapplication.ai.porten.Porten.1234.5678\nbad line\nx\t0\tai.porten.bad\n";
        assert_eq!(
            parse_launchctl_list(text),
            vec![
                (None, "com.apple.SafariHistoryServiceAgent".to_owned()),
                (Some(4821), "ai.porten.agent".to_owned()),
                (Some(612), "application.ai.porten.Porten.1234.5678".to_owned()),
            ]
        );
    }

    #[test]
    fn labels_match_at_dots_only() {
        let ids = vec!["ai.porten".to_owned()];
        assert!(label_matches("ai.porten", &ids));
        assert!(label_matches("ai.porten.agent", &ids));
        assert!(label_matches("application.ai.porten.Porten.1234.5678", &ids));
        assert!(!label_matches("ai.portent", &ids));
        assert!(!label_matches("com.example.ai.portenx", &ids));
        assert!(!label_matches("ai.porten", &[String::new()]));
    }

    #[test]
    fn processes_inside_the_bundle_or_by_name() {
        let r = rules();
        let inside = process(
            7,
            "porten",
            Some("/Applications/Porten.app/Contents/Resources/porten"),
            &[],
        );
        assert_eq!(match_process(&inside, &r).map(|m| m.0), Some(AppMatch::ExecutablePath));
        // The executable unreadable (another user's): argv[0] says it.
        let by_argv = process(8, "Porten", None, &["/Applications/Porten.app/Contents/MacOS/Porten"]);
        assert_eq!(match_process(&by_argv, &r).map(|m| m.0), Some(AppMatch::ExecutablePath));
        let by_name = process(9, "porten-agent", Some("/opt/x/porten-agent"), &[]);
        assert_eq!(match_process(&by_name, &r).map(|m| m.0), Some(AppMatch::ProcessName));
        // Our own CLI agent, or a lookalike bundle, is not the app's.
        assert_eq!(
            match_process(&process(10, "porten", Some("/usr/local/bin/porten"), &[]), &r),
            None
        );
        let lookalike = process(11, "x", Some("/Applications/Porten.app.old/x"), &[]);
        assert_eq!(match_process(&lookalike, &r), None);
    }

    #[test]
    fn the_surest_match_is_adopted() {
        let r = rules();
        let window = process(
            20,
            "Porten",
            Some("/Applications/Porten.app/Contents/MacOS/Porten"),
            &[],
        );
        let agent = process(
            21,
            "porten",
            Some("/Applications/Porten.app/Contents/Resources/porten"),
            &[],
        );
        let found = pick(&[window.clone(), agent.clone()], &[], &r).unwrap();
        assert_eq!((found.pid, found.how), (21, AppMatch::ExecutablePath));
        assert_eq!(found.pids, vec![20, 21]);
        let launchd = vec![
            (Some(30), "ai.porten.agent".to_owned()),
            (None, "ai.porten.updater".to_owned()),
        ];
        let found = pick(&[window, agent], &launchd, &r).unwrap();
        assert_eq!(
            (found.pid, found.how, found.detail.as_str()),
            (30, AppMatch::BundleId, "ai.porten.agent")
        );
        assert_eq!(pick(&[], &[(None, "ai.porten.agent".to_owned())], &r), None);
    }

    #[test]
    fn home_relative_paths_are_expanded() {
        let settings = Settings::default();
        let rules = AppRules::from_settings(&settings);
        assert_eq!(rules.paths[0], PathBuf::from("/Applications/Porten.app"));
        assert!(rules.paths[1].is_absolute() && rules.paths[1].ends_with("Applications/Porten.app"));
        assert!(!rules.paths[1].starts_with("~"));
    }
}
