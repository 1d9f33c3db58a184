//! Signalling process groups and telling whether processes are still alive (zombies count as
//! dead: they have exited and only wait to be reaped, possibly by a parent that never will).

use std::process::Child;
use std::time::{Duration, Instant};

/// What to signal: a whole process group (a child we started with `process_group(0)`, or a
/// group leader), or one process (an adopted copy inside someone else's group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Group(u32),
    Pid(u32),
}

pub const SIGNAL_LADDER: [(libc::c_int, &str); 3] = [
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGKILL, "SIGKILL"),
];

fn send(target: Target, signal: libc::c_int) -> bool {
    let Ok(id) = libc::pid_t::try_from(match target {
        Target::Group(id) | Target::Pid(id) => id,
    }) else {
        return false;
    };
    if id <= 1 {
        // 0 and 1 would mean "our own group" / init: never.
        return false;
    }
    // SAFETY: plain syscalls with no memory arguments.
    let result = unsafe {
        match target {
            Target::Group(_) => libc::killpg(id, signal),
            Target::Pid(_) => libc::kill(id, signal),
        }
    };
    result == 0
}

/// Whether `/proc/<pid>/stat` text describes a zombie, and the process group it is in.
/// The command name may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<(char, i64)> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_proc_stat(&t))
        .is_some_and(|(state, _)| state == 'Z' || state == 'X')
}

#[cfg(not(target_os = "linux"))]
fn is_zombie(pid: u32) -> bool {
    let mut system = match sysinfo::System::new() {
        Ok(s) => s,
        Err(_) => return false,
    };
    let pid = sysinfo::Pid::from_u32(pid);
    system.refresh_processes_specifics(
        sysinfo::ProcessesToUpdate::Some(&[pid]),
        true,
        sysinfo::ProcessRefreshKind::nothing(),
    );
    system
        .process(pid)
        .is_some_and(|p| p.status() == sysinfo::ProcessStatus::Zombie)
}

/// Whether a process exists and has not exited (a zombie has). EPERM means it exists.
pub fn process_alive(pid: u32) -> bool {
    let Ok(id) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if id <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let exists =
        unsafe { libc::kill(id, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

/// Whether any live (non-zombie) process remains in the group.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(id) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    if id <= 1 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let exists =
        unsafe { libc::killpg(id, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        // Members that already exited linger as zombies until their (new) parent reaps them,
        // which in a container's init may be never.
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return true;
        };
        entries.flatten().any(|entry| {
            entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()).is_some()
                && std::fs::read_to_string(entry.path().join("stat"))
                    .ok()
                    .and_then(|t| parse_proc_stat(&t))
                    .is_some_and(|(state, group)| group == i64::from(pgid) && state != 'Z' && state != 'X')
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

fn target_alive(target: Target, child: &mut Option<&mut Child>) -> bool {
    if let Some(child) = child {
        // Reap our own child as soon as it exits, or it stays a zombie in the group.
        if matches!(child.try_wait(), Ok(None)) {
            return true;
        }
    }
    match target {
        Target::Group(pgid) => group_alive(pgid),
        Target::Pid(pid) => process_alive(pid),
    }
}

/// How long to wait after each signal of [`SIGNAL_LADDER`] before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopGraces {
    pub after_interrupt: Duration,
    pub after_terminate: Duration,
    pub after_kill: Duration,
}

/// SIGINT, wait; SIGTERM, wait; SIGKILL, wait — until nothing of the target is alive. Returns
/// the signal that ended it (`None`: it was already gone), or an error when even SIGKILL did not.
pub fn terminate(
    target: Target,
    mut child: Option<&mut Child>,
    graces: StopGraces,
) -> Result<Option<&'static str>, String> {
    if !target_alive(target, &mut child) {
        return Ok(None);
    }
    let waits = [graces.after_interrupt, graces.after_terminate, graces.after_kill];
    for ((signal, name), wait) in SIGNAL_LADDER.into_iter().zip(waits) {
        tracing::debug!(?target, signal = name, "stopping");
        send(target, signal);
        let deadline = Instant::now() + wait;
        loop {
            if !target_alive(target, &mut child) {
                return Ok(Some(name));
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(format!("{target:?} still alive after SIGKILL"))
}

/// Whether `pid` leads its own process group (so signalling the group hits only its family).
pub fn leads_own_group(pid: u32) -> bool {
    let Ok(id) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: plain syscall.
    let pgid = unsafe { libc::getpgid(id) };
    pgid == id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_awkward_names() {
        assert_eq!(parse_proc_stat("42 (exo) S 1 42 42 0 -1 4194560"), Some(('S', 42)));
        assert_eq!(parse_proc_stat("42 (a) b (c) Z 1 7 7 0"), Some(('Z', 7)));
        assert_eq!(parse_proc_stat("42 (exo"), None);
        assert_eq!(parse_proc_stat("42 (exo) S 1"), None);
        assert_eq!(parse_proc_stat("42 (exo) S 1 notanumber"), None);
        assert_eq!(parse_proc_stat(""), None);
    }

    #[test]
    fn refuses_to_signal_init_or_our_own_group() {
        assert!(!send(Target::Group(0), 0));
        assert!(!send(Target::Group(1), 0));
        assert!(!send(Target::Pid(1), 0));
        assert!(!process_alive(0));
        assert!(process_alive(std::process::id()));
    }
}
