//! The popover window: shown under the tray icon, hidden on blur, Escape or a second click.

use std::time::{Duration, Instant};

use tauri::{AppHandle, Manager, Runtime};

use crate::state::AppState;

pub(crate) const POPOVER: &str = "main";
/// The popover's size as set in tauri.conf.json.
pub(crate) const POPOVER_WIDTH: f64 = 380.0;
pub(crate) const POPOVER_HEIGHT: f64 = 600.0;
/// Blur events this soon after showing (the opening click itself) or before a tray click
/// (the click that should close the popover) are not the user leaving.
const BLUR_GUARD: Duration = Duration::from_millis(300);

/// Test switch: `CLUSTERBAR_SHOW=1` shows the popover at start and keeps it open on blur,
/// so WebDriver and screenshots can see it (bare Xvfb sends a blur right after focus).
pub(crate) fn pinned_open_from_env() -> bool {
    std::env::var("CLUSTERBAR_SHOW").map(|v| v == "1").unwrap_or(false)
}

pub(crate) fn show<R: Runtime>(app: &AppHandle<R>) {
    use tauri_plugin_positioner::{Position, WindowExt};
    let Some(window) = app.get_webview_window(POPOVER) else {
        return;
    };
    if let Some(state) = app.try_state::<AppState>() {
        if let Ok(mut clock) = state.popover.lock() {
            clock.shown_at = Some(Instant::now());
        }
        state.popover_visible(true);
    }
    let _ = window.show();
    // Under the tray icon when its position is known (macOS, after a tray click), else the
    // top-right corner of the screen, where menu-bar and panel icons live.
    if window
        .as_ref()
        .window()
        .move_window_constrained(Position::TrayBottomCenter)
        .is_err()
    {
        place_top_right(&window);
    }
    let _ = window.set_focus();
}

/// The positioner's own TopRight reads the window's size, which a never-mapped window on
/// Linux reports as zero (placing it off-screen); the configured size is known, so use it.
fn place_top_right<R: Runtime>(window: &tauri::WebviewWindow<R>) {
    let Ok(Some(monitor)) = window.current_monitor().or_else(|_| window.primary_monitor()) else {
        return;
    };
    let scale = monitor.scale_factor();
    let size = window
        .outer_size()
        .ok()
        .filter(|s| s.width > 0)
        .unwrap_or_else(|| tauri::LogicalSize::new(POPOVER_WIDTH, POPOVER_HEIGHT).to_physical::<u32>(scale));
    let margin = (8.0 * scale) as i32;
    let x = monitor.position().x + monitor.size().width as i32 - size.width as i32 - margin;
    let y = monitor.position().y + margin;
    let _ = window.set_position(tauri::PhysicalPosition::new(x.max(monitor.position().x), y));
}

pub(crate) fn hide<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(POPOVER) {
        let _ = window.hide();
    }
    if let Some(state) = app.try_state::<AppState>() {
        state.popover_visible(false);
    }
}

pub(crate) fn toggle<R: Runtime>(app: &AppHandle<R>) {
    let visible = app
        .get_webview_window(POPOVER)
        .and_then(|w| w.is_visible().ok())
        .unwrap_or(false);
    if visible {
        hide(app);
        return;
    }
    // The click that was meant to close the popover already did, through the blur it caused.
    let just_hidden = app
        .try_state::<AppState>()
        .and_then(|s| s.popover.lock().ok().and_then(|c| c.hidden_by_blur_at))
        .is_some_and(|at| at.elapsed() < BLUR_GUARD);
    if !just_hidden {
        show(app);
    }
}

pub(crate) fn on_blur<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.pinned_open {
        return;
    }
    {
        let Ok(mut clock) = state.popover.lock() else {
            return;
        };
        if clock.shown_at.is_some_and(|at| at.elapsed() < BLUR_GUARD) {
            return;
        }
        clock.hidden_by_blur_at = Some(Instant::now());
    }
    hide(app);
}
