//! Readers of this machine's own sources. Each is a pure parser over text the OS produced
//! (tested with real captured samples) plus a few lines that run the OS call.

pub mod bridge;
pub mod gpu_memory;
pub mod hardware;
pub mod host;
pub mod memory;
pub mod power;
pub mod rdma;
#[cfg(target_os = "macos")]
pub mod sysctl;
pub mod thunderbolt;

use std::path::PathBuf;

/// Root of procfs. Tests and users point it at a captured tree with `CLUSTERBAR_PROCFS_ROOT`.
pub fn procfs_root() -> PathBuf {
    std::env::var_os("CLUSTERBAR_PROCFS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc"))
}

/// Root of sysfs, overridable with `CLUSTERBAR_SYSFS_ROOT`.
pub fn sysfs_root() -> PathBuf {
    std::env::var_os("CLUSTERBAR_SYSFS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys"))
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("running {command}: {reason}")]
    Command { command: String, reason: String },
    /// The tool is not installed, or it said that what it was asked about does not exist
    /// (`ifconfig bridge0` on a Mac without the bridge): absent, not broken.
    #[error("running {command}: {reason}")]
    Absent { command: String, reason: String },
    #[error("parsing {what}: {reason}")]
    Parse { what: &'static str, reason: String },
}

/// Runs an OS tool and returns its standard output as text (lossy: a stray non-UTF-8 byte
/// must not lose the whole reading).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn run_tool(program: &str, args: &[&str]) -> Result<String, ProbeError> {
    let command = format!("{program} {}", args.join(" "));
    let output = std::process::Command::new(program).args(args).output().map_err(|e| {
        let (command, reason) = (command.clone(), e.to_string());
        // A tool that is not installed is absent (the io error's kind says so), not broken.
        if e.kind() == std::io::ErrorKind::NotFound {
            ProbeError::Absent { command, reason }
        } else {
            ProbeError::Command { command, reason }
        }
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr.lines().next().unwrap_or("");
        let reason = format!("{} {said}", output.status);
        // The tools' exit status does not tell "no such interface/file" from a failure; their
        // one-line message does (this reads the tool's output, as the parsers do).
        return Err(if said.contains("does not exist") || said.contains("No such file") {
            ProbeError::Absent { command, reason }
        } else {
            ProbeError::Command { command, reason }
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn read_text(path: &std::path::Path) -> Result<String, ProbeError> {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|source| ProbeError::Read {
            path: path.display().to_string(),
            source,
        })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_or_a_missing_thing_is_absent_and_other_failures_are_not() {
        let missing = run_tool("/nonexistent/clusterbar-tool", &[]);
        assert!(matches!(missing, Err(ProbeError::Absent { .. })), "{missing:?}");
        let no_bridge = run_tool(
            "/bin/sh",
            &["-c", "echo 'ifconfig: interface bridge0 does not exist' >&2; exit 1"],
        );
        assert!(matches!(no_bridge, Err(ProbeError::Absent { .. })), "{no_bridge:?}");
        let failed = run_tool("/bin/sh", &["-c", "echo 'permission denied' >&2; exit 1"]);
        assert!(matches!(failed, Err(ProbeError::Command { .. })), "{failed:?}");
    }
}
