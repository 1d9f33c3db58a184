//! *Start at Login*: the OS entry that follows the setting.
//!
//! macOS: `SMAppService.mainApp` (macOS 13+), through `auto-launch`'s `SMAppService` mode. It registers the
//! running bundle itself, so System Settings › General › Login Items lists *Clusterbar* with its icon,
//! under "Open at Login" rather than the developer's name under "Allow in the Background" (which a
//! `~/Library/LaunchAgents` plist gets). `tauri-plugin-autostart` 2.x offers only a LaunchAgent or an
//! AppleScript login item, so on macOS we call the same crate it wraps, in the mode it does not expose.
//! Elsewhere (Linux: an XDG autostart `.desktop` entry): the plugin, as before.

use tauri::{AppHandle, Runtime};

#[cfg(target_os = "macos")]
fn launcher() -> Result<auto_launch::AutoLaunch, String> {
    // The name and path are ignored in this mode: the service is the running app's bundle.
    auto_launch::AutoLaunchBuilder::new()
        .set_macos_launch_mode(auto_launch::MacOSLaunchMode::SMAppService)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(target_os = "macos")]
pub(crate) fn is_enabled<R: Runtime>(_app: &AppHandle<R>) -> Result<bool, String> {
    launcher()?.is_enabled().map_err(|e| e.to_string())
}

#[cfg(target_os = "macos")]
fn set<R: Runtime>(_app: &AppHandle<R>, enabled: bool) -> Result<(), String> {
    let launcher = launcher()?;
    if enabled {
        launcher.enable().map_err(|e| e.to_string())
    } else if launcher.is_enabled().unwrap_or(true) {
        // Unregistering a service that is not registered is an error: only when it is (or unknown).
        launcher.disable().map_err(|e| e.to_string())
    } else {
        Ok(())
    }
}

#[cfg(not(target_os = "macos"))]
pub(crate) fn is_enabled<R: Runtime>(app: &AppHandle<R>) -> Result<bool, String> {
    use tauri_plugin_autostart::ManagerExt;
    app.autolaunch().is_enabled().map_err(|e| e.to_string())
}

#[cfg(not(target_os = "macos"))]
fn set<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let result = if enabled { launcher.enable() } else { launcher.disable() };
    result.map_err(|e| e.to_string())
}

/// Settings are the source of truth for "Start at login"; the OS entry follows them.
pub(crate) fn apply<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> Result<(), String> {
    set(app, enabled).map_err(|e| {
        format!(
            "could not {} start at login: {e}",
            if enabled { "enable" } else { "disable" }
        )
    })
}
