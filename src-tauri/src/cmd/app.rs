//! The app itself: the latest snapshot, the popover's size and visibility, logs, quitting.

use clusterbar_core::Snapshot;
use tauri::{AppHandle, Runtime, State};

use crate::error::{CommandError, ErrorCode};
use crate::popover::{hide, painted, POPOVER_HEIGHT, POPOVER_WIDTH};
use crate::state::AppState;

#[tauri::command]
pub(crate) fn snapshot(state: State<'_, AppState>) -> Snapshot {
    state.sampler.latest()
}

#[tauri::command]
pub(crate) fn hide_popover<R: Runtime>(app: AppHandle<R>) {
    hide(&app);
}

/// The page's first frame since the popover opened (for the time-to-open figure).
#[tauri::command]
pub(crate) fn popover_painted(state: State<'_, AppState>) {
    painted(&state);
}

/// The page reports its content height; the popover takes it (up to its maximum) so there
/// is no empty space under short content and a scroll bar only when content is long.
#[tauri::command]
pub(crate) fn fit_popover<R: Runtime>(window: tauri::WebviewWindow<R>, height: f64) -> Result<(), CommandError> {
    if !height.is_finite() || height <= 0.0 {
        return Err(CommandError::new(
            ErrorCode::InvalidArgument,
            format!("invalid popover height {height}"),
        ));
    }
    let height = height.clamp(160.0, POPOVER_HEIGHT);
    Ok(window.set_size(tauri::LogicalSize::new(POPOVER_WIDTH, height))?)
}

/// The Settings window's label (capabilities/default.json lets it call the settings commands).
pub(crate) const SETTINGS_WINDOW: &str = "settings";

/// Opens the Settings window, or brings it forward when it is open; the popover steps aside.
#[tauri::command]
pub(crate) fn open_settings<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    use tauri::Manager;
    let window = match app.get_webview_window(SETTINGS_WINDOW) {
        Some(window) => window,
        None => tauri::WebviewWindowBuilder::new(&app, SETTINGS_WINDOW, tauri::WebviewUrl::App("settings.html".into()))
            .title("Clusterbar Settings")
            .inner_size(440.0, 620.0)
            .min_inner_size(380.0, 420.0)
            .center()
            .build()?,
    };
    window.show()?;
    window.set_focus()?;
    // Pinned open (tests) keeps the popover; otherwise it hides, as a menu does.
    if !app.state::<AppState>().pinned_open {
        hide(&app);
    }
    Ok(())
}

#[tauri::command]
pub(crate) fn open_logs<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    use tauri_plugin_opener::OpenerExt;
    let dir = clusterbar_core::paths::log_dir();
    app.opener()
        .open_path(dir.display().to_string(), None::<&str>)
        .map_err(|e| CommandError::new(ErrorCode::Io, format!("opening {}: {e}", dir.display())))
}

#[tauri::command]
pub(crate) fn quit<R: Runtime>(app: AppHandle<R>) {
    app.exit(0);
}
