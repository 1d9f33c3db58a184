//! Pid files. Ours records enough to recognise the very process we started (pid, start time,
//! executable, process group) so a recycled pid is never mistaken for it, and why the supervisor
//! gave up, for `clusterbar exo status` in another process; other programs' pid files (exo's
//! `~/.exo/exo.pid`) are read leniently: a number, or our JSON.
//!
//! Beside it, `<pid file>.lock` is held with an exclusive `flock` for a supervisor's whole life, so
//! exactly one supervisor owns the pid file. The lock is on a file of its own because the record
//! is replaced by rename (readers never see half of one), which would leave a lock on the old file.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidRecord {
    pub pid: u32,
    /// Seconds since the epoch, as the OS reports the process's start.
    pub start_time_unix_s: u64,
    pub exe: Option<PathBuf>,
    /// The Clusterbar process (app or `clusterbar exo run`) that supervises it.
    pub supervisor_pid: u32,
    /// Its process group, when it leads one (as the children we start do): what to stop when it
    /// died but left processes behind (its children, reparented to init).
    #[serde(default)]
    pub pgid: Option<u32>,
    /// Set when the supervisor gave up on a crash loop (then `pid` is 0: nothing runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<GaveUpRecord>,
}

/// Why a supervisor gave up, kept for other processes to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GaveUpRecord {
    pub reason: String,
    pub last_exit: Option<String>,
    #[serde(default)]
    pub last_lines: Vec<String>,
}

/// What the OS says about a live process: start time and executable (unknown when unreadable).
pub fn identity(pid: u32) -> Option<(u64, Option<PathBuf>)> {
    let mut system = sysinfo::System::new().ok()?;
    let spid = sysinfo::Pid::from_u32(pid);
    system.refresh_processes_specifics(
        sysinfo::ProcessesToUpdate::Some(&[spid]),
        true,
        sysinfo::ProcessRefreshKind::nothing().with_exe(sysinfo::UpdateKind::Always),
    );
    let process = system.process(spid)?;
    if process.status() == sysinfo::ProcessStatus::Zombie {
        return None;
    }
    Some((process.start_time(), process.exe().map(Path::to_owned)))
}

impl PidRecord {
    pub fn of_running(pid: u32) -> Option<Self> {
        let (start_time_unix_s, exe) = identity(pid)?;
        Some(Self {
            pid,
            start_time_unix_s,
            exe,
            supervisor_pid: std::process::id(),
            // Only a group of its own: never one that holds us or someone else.
            pgid: super::group::leads_own_group(pid).then_some(pid),
            gave_up: None,
        })
    }

    /// The record left when a supervisor gave up: no process, the reason.
    pub fn gave_up(gave_up: GaveUpRecord) -> Self {
        Self {
            pid: 0,
            start_time_unix_s: 0,
            exe: None,
            supervisor_pid: std::process::id(),
            pgid: None,
            gave_up: Some(gave_up),
        }
    }

    /// Whether the process this record describes is still running: same pid and same start
    /// time (a second of slack for rounding). The executable is not compared: a launcher script
    /// that `exec`s the real program changes it, while the start time survives `exec`.
    pub fn still_running(&self) -> bool {
        self.pid > 1 && identity(self.pid).is_some_and(|(start, _)| self.same_process(start))
    }

    pub fn same_process(&self, start_time_unix_s: u64) -> bool {
        self.start_time_unix_s.abs_diff(start_time_unix_s) <= 1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("writing the pid file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the pid file {path} is not readable: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// `<pid file>.lock`.
pub fn lock_path(pid_file: &Path) -> PathBuf {
    let mut name = pid_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive `flock` on `<pid file>.lock`, released when dropped (or when the process dies,
/// however it dies). The file is opened close-on-exec, so children never inherit the lock.
#[derive(Debug)]
pub struct SupervisorLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another supervisor holds it; `holder` is its pid when it could be read.
    #[error("another supervisor holds {path}")]
    Busy { path: PathBuf, holder: Option<u32> },
    #[error("locking {path}: {reason}")]
    Unavailable { path: PathBuf, reason: String },
}

/// Takes the supervisor lock for `pid_file` without waiting, and writes our pid into the lock
/// file so a loser can say who holds it.
pub fn try_lock(pid_file: &Path) -> Result<SupervisorLock, LockError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let path = lock_path(pid_file);
    let unavailable = |reason: String| LockError::Unavailable {
        path: path.clone(),
        reason,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| unavailable(e.to_string()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        // Something other than a regular file put there must not block the open.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .mode(0o644)
        .open(&path)
        .map_err(|e| unavailable(e.to_string()))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(unavailable("not a regular file".into()));
    }
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            break;
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                // The holder writes its pid just after taking the lock (an older, dead holder's
                // may still be there): give it a moment.
                let holder = (0..25).find_map(|_| {
                    let holder = lock_holder(pid_file).filter(|&p| super::group::process_alive(p));
                    if holder.is_none() {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    holder
                });
                return Err(LockError::Busy { holder, path });
            }
            _ => return Err(unavailable(error.to_string())),
        }
    }
    // Ours now; a failure to note our pid only makes a loser's message vaguer.
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()));
    Ok(SupervisorLock { _file: file })
}

/// The pid written into the lock file by the supervisor that took it last.
pub fn lock_holder(pid_file: &Path) -> Option<u32> {
    let bytes = crate::files::read_regular(&lock_path(pid_file), 64).ok()?;
    parse_pid_text(&String::from_utf8_lossy(&bytes))
}

/// Writes atomically (temp file + rename) so a reader never sees half a record.
pub fn write(path: &Path, record: &PidRecord) -> Result<(), PidFileError> {
    let err = |source| PidFileError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    let text = serde_json::to_vec(record).map_err(|e| err(std::io::Error::other(e)))?;
    file.write_all(&text).map_err(err)?;
    file.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Our record; `Ok(None)` when there is no file.
pub fn read(path: &Path) -> Result<Option<PidRecord>, PidFileError> {
    match crate::files::read_regular(path, crate::files::PID_FILE_MAX_BYTES) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PidFileError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(PidFileError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the pid file");
        }
    }
}

/// A pid from someone else's pid file: a plain number (whitespace around it allowed) or a JSON
/// object with a `pid` field. Anything else (0, negative, text) is no pid.
pub fn parse_pid_text(text: &str) -> Option<u32> {
    let trimmed = text.trim();
    let pid = match trimmed.parse::<u32>() {
        Ok(pid) => pid,
        Err(_) => serde_json::from_str::<serde_json::Value>(trimmed)
            .ok()?
            .get("pid")?
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())?,
    };
    (pid > 1).then_some(pid)
}

pub fn read_foreign_pid(path: &Path) -> Option<u32> {
    // Someone else's file: a FIFO or a device there must not hang or flood us.
    let bytes = crate::files::read_regular(path, 4096).ok()?;
    parse_pid_text(&String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_foreign_pid_files() {
        assert_eq!(parse_pid_text("4242\n"), Some(4242));
        assert_eq!(parse_pid_text(" 4242 "), Some(4242));
        assert_eq!(parse_pid_text(r#"{"pid": 77, "other": true}"#), Some(77));
        assert_eq!(parse_pid_text("0"), None);
        assert_eq!(parse_pid_text("1"), None);
        assert_eq!(parse_pid_text("-5"), None);
        assert_eq!(parse_pid_text("exo"), None);
        assert_eq!(parse_pid_text(""), None);
        assert_eq!(parse_pid_text(r#"{"pid": "12"}"#), None);
    }

    #[test]
    fn round_trips_and_recognises_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/exo.pid.json");
        assert!(read(&path).unwrap().is_none());
        let record = PidRecord::of_running(std::process::id()).unwrap();
        write(&path, &record).unwrap();
        let back = read(&path).unwrap().unwrap();
        assert_eq!(back, record);
        assert!(back.still_running());
        let recycled = PidRecord {
            start_time_unix_s: record.start_time_unix_s - 1000,
            ..record.clone()
        };
        assert!(!recycled.still_running());
        // exec changes the executable but not the process.
        let execed = PidRecord {
            exe: Some(PathBuf::from("/nonexistent/exo")),
            ..record
        };
        assert!(execed.still_running());
        // Records written before pgid and gave_up existed still read.
        let old = r#"{"pid": 42, "start_time_unix_s": 7, "exe": null, "supervisor_pid": 9}"#;
        std::fs::write(&path, old).unwrap();
        let back = read(&path).unwrap().unwrap();
        assert_eq!((back.pgid, back.gave_up), (None, None));
        // A gave-up record describes no process.
        let gave_up = PidRecord::gave_up(GaveUpRecord {
            reason: "exo exited 5 times".into(),
            last_exit: Some("exit code 1".into()),
            last_lines: vec!["boom".into()],
        });
        write(&path, &gave_up).unwrap();
        let back = read(&path).unwrap().unwrap();
        assert_eq!(back, gave_up);
        assert!(!back.still_running());
        std::fs::write(&path, b"{truncated").unwrap();
        assert!(read(&path).is_err());
        remove(&path);
        remove(&path);
        assert!(!path.exists());
    }

    /// Issue #11: two supervisors at once both started exo. The lock lets exactly one in.
    #[test]
    fn one_supervisor_lock_at_a_time_and_the_loser_learns_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("run/exo.pid.json");
        let lock = try_lock(&pid_file).unwrap();
        match try_lock(&pid_file) {
            Err(LockError::Busy { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("a second lock: {other:?}"),
        }
        drop(lock);
        let again = try_lock(&pid_file).unwrap();
        drop(again);
        assert!(lock_path(&pid_file).ends_with("exo.pid.json.lock"));
    }
}
