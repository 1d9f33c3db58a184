//! The Ollama daemon's settings on this Mac: `OLLAMA_HOST`, `OLLAMA_KEEP_ALIVE`,
//! `OLLAMA_MAX_LOADED_MODELS`.
//!
//! - **macOS**: the Ollama app takes its environment from launchd (Ollama's FAQ: `launchctl
//!   setenv OLLAMA_HOST …`, then restart the app), so `launchctl getenv NAME` is what it runs
//!   with. An `ollama serve` started from a shell has its shell's environment instead, which
//!   Clusterbar cannot see (documented, not guessed at).
//! - **Linux**: the environment of the running `ollama` process (`/proc/PID/environ`, readable
//!   for the same user or root only — a systemd service's `Environment=` lines land there too).
//!   No readable process: unknown (`None`), never Ollama's defaults presented as read.
//!
//! Other OSes: unknown.

use clusterbar_model::ollama::{OllamaEnv, OllamaEnvSource};

pub const NAMES: [&str; 3] = ["OLLAMA_HOST", "OLLAMA_KEEP_ALIVE", "OLLAMA_MAX_LOADED_MODELS"];

/// What `launchctl getenv NAME` printed: the value and a newline, nothing when unset.
pub fn parse_launchctl_getenv(output: &str) -> Option<String> {
    let value = output.trim_end_matches(['\n', '\r']);
    (!value.trim().is_empty()).then(|| value.to_owned())
}

/// `/proc/PID/environ`: `KEY=VALUE` entries separated by NUL bytes → the value of `name`.
pub fn parse_environ(bytes: &[u8], name: &str) -> Option<String> {
    bytes.split(|b| *b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        let (key, value) = entry.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// Builds the env from the three values as read (`lookup(NAME)`).
pub fn from_values(source: OllamaEnvSource, lookup: impl Fn(&str) -> Option<String>) -> OllamaEnv {
    let keep_alive = lookup("OLLAMA_KEEP_ALIVE").filter(|v| !v.trim().is_empty());
    OllamaEnv {
        host: lookup("OLLAMA_HOST").filter(|v| !v.trim().is_empty()),
        keep_alive_s: keep_alive.as_deref().and_then(super::parse::parse_keep_alive_s),
        keep_alive,
        max_loaded_models: lookup("OLLAMA_MAX_LOADED_MODELS").and_then(|v| v.trim().parse().ok()),
        source,
    }
}

/// Reads this machine's Ollama daemon settings (a few forks on macOS: call it rarely).
pub fn read_local() -> Option<OllamaEnv> {
    #[cfg(target_os = "macos")]
    {
        let values: Vec<(&str, Option<String>)> = NAMES
            .iter()
            .map(|name| {
                let value = crate::probes::run_tool("/bin/launchctl", &["getenv", name])
                    .ok()
                    .and_then(|out| parse_launchctl_getenv(&out));
                (*name, value)
            })
            .collect();
        let lookup = |name: &str| values.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.clone());
        Some(from_values(OllamaEnvSource::Launchctl, lookup))
    }
    #[cfg(target_os = "linux")]
    {
        let environ = ollama_process_environ(&crate::probes::procfs_root())?;
        Some(from_values(OllamaEnvSource::ProcessEnviron, |name| {
            parse_environ(&environ, name)
        }))
    }
    #[cfg(not(any(target_os = "macos", target_os = "linux")))]
    {
        None
    }
}

/// The environment of the first `ollama` process whose environ this user may read.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn ollama_process_environ(procfs: &std::path::Path) -> Option<Vec<u8>> {
    let entries = std::fs::read_dir(procfs).ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = entry.path();
        let is_ollama = std::fs::read_to_string(dir.join("comm")).is_ok_and(|comm| comm.trim() == "ollama");
        if !is_ollama {
            continue;
        }
        match std::fs::read(dir.join("environ")) {
            Ok(bytes) => return Some(bytes),
            Err(error) => {
                tracing::debug!(%error, pid = %name.to_string_lossy(), "ollama's environment is not readable")
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launchctl_prints_the_value_or_nothing() {
        assert_eq!(
            parse_launchctl_getenv("0.0.0.0:11434\n").as_deref(),
            Some("0.0.0.0:11434")
        );
        assert_eq!(parse_launchctl_getenv("\n"), None);
        assert_eq!(parse_launchctl_getenv(""), None);
    }

    #[test]
    fn the_launchd_settings_of_the_example_cluster() {
        let values = [
            ("OLLAMA_HOST", "0.0.0.0:11434"),
            ("OLLAMA_KEEP_ALIVE", "24h"),
            ("OLLAMA_MAX_LOADED_MODELS", "2"),
        ];
        let env = from_values(OllamaEnvSource::Launchctl, |name| {
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        });
        assert_eq!(env.host.as_deref(), Some("0.0.0.0:11434"));
        assert_eq!(env.keep_alive_s, Some(86_400));
        assert_eq!(env.max_loaded_models, Some(2));
        let unset = from_values(OllamaEnvSource::Launchctl, |_| None);
        assert_eq!(
            (unset.host, unset.keep_alive_s, unset.max_loaded_models),
            (None, None, None)
        );
    }

    #[test]
    fn a_process_environ_is_read_from_a_captured_proc_tree() {
        let proc = tempfile::tempdir().unwrap();
        let other = proc.path().join("41");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("comm"), "bash\n").unwrap();
        std::fs::write(other.join("environ"), b"OLLAMA_HOST=wrong\0").unwrap();
        let ollama = proc.path().join("42");
        std::fs::create_dir_all(&ollama).unwrap();
        std::fs::write(ollama.join("comm"), "ollama\n").unwrap();
        std::fs::write(
            ollama.join("environ"),
            b"HOME=/usr/share/ollama\0OLLAMA_HOST=0.0.0.0\0OLLAMA_KEEP_ALIVE=-1\0",
        )
        .unwrap();
        std::fs::create_dir_all(proc.path().join("self")).unwrap();
        let environ = ollama_process_environ(proc.path()).unwrap();
        assert_eq!(parse_environ(&environ, "OLLAMA_HOST").as_deref(), Some("0.0.0.0"));
        assert_eq!(parse_environ(&environ, "OLLAMA_KEEP_ALIVE").as_deref(), Some("-1"));
        assert_eq!(parse_environ(&environ, "OLLAMA_MAX_LOADED_MODELS"), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(ollama_process_environ(empty.path()), None);
    }
}
