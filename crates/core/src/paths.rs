//! Where Clusterbar keeps its files. Each location can be moved with an environment variable
//! so tests (and people with unusual setups) never touch the real home directory.

use std::path::PathBuf;

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "Clusterbar")
}

fn home() -> PathBuf {
    directories::BaseDirs::new()
        .map(|b| b.home_dir().to_owned())
        .unwrap_or_else(std::env::temp_dir)
}

/// Settings live here: `~/Library/Application Support/Clusterbar` on macOS,
/// `$XDG_CONFIG_HOME/clusterbar` on Linux; `CLUSTERBAR_CONFIG_DIR` overrides.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLUSTERBAR_CONFIG_DIR") {
        return dir.into();
    }
    project_dirs()
        .map(|p| p.config_dir().to_owned())
        .unwrap_or_else(|| home().join(".clusterbar"))
}

/// Logs: `~/Library/Logs/Clusterbar` on macOS (where Console.app looks), the XDG state dir
/// on Linux; `CLUSTERBAR_LOG_DIR` overrides.
pub fn log_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLUSTERBAR_LOG_DIR") {
        return dir.into();
    }
    if cfg!(target_os = "macos") {
        return home().join("Library/Logs/Clusterbar");
    }
    project_dirs()
        .and_then(|p| p.state_dir().map(|d| d.join("logs")))
        .unwrap_or_else(|| home().join(".clusterbar/logs"))
}
