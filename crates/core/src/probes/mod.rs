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
    #[error("parsing {what}: {reason}")]
    Parse { what: &'static str, reason: String },
}

/// Runs an OS tool and returns its standard output as text (lossy: a stray non-UTF-8 byte
/// must not lose the whole reading).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn run_tool(program: &str, args: &[&str]) -> Result<String, ProbeError> {
    let command = format!("{program} {}", args.join(" "));
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ProbeError::Command {
            command: command.clone(),
            reason: e.to_string(),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ProbeError::Command {
            command,
            reason: format!("{} {}", output.status, stderr.lines().next().unwrap_or("")),
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
