//! The popover window: shown under the tray icon, hidden on blur, Escape or a second click.
//!
//! Its web view is created once and kept hidden between opens (`kept`, the default). The other
//! design, `CLUSTERBAR_POPOVER_WEBVIEW=on-demand`, creates it on show and destroys it on hide;
//! it stays as a switch for `scripts/bench-idle.sh`, which measures both.
//!
//! Why kept (2026-11-30, Linux/WebKitGTK, debug build, 2 busy cores, two runs of 20 s windows):
//! on-demand does cost less closed after an open (0.20 % of a core and 6.8 wake-ups/s against
//! 0.79–0.83 % and 45–48/s: the hidden page keeps the app's main loop and IPC threads waking),
//! but each open builds a web process and loads the page, 544–1234 ms to its first painted
//! frame against 30–71 ms for the kept page (321–442 ms the first time it is shown): far over
//! the 150 ms an open may take. The hidden page's cost is the thing to cut instead.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tauri::{AppHandle, Manager, Runtime, WebviewWindowBuilder};

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

/// How the popover's web view lives between opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebviewLife {
    /// Created at start, hidden and shown (the page stays loaded).
    Kept,
    /// Created on show, destroyed on hide (no web process while closed).
    OnDemand,
}

/// Benchmark switch: `CLUSTERBAR_POPOVER_WEBVIEW=on-demand|kept`, read once.
pub(crate) fn webview_life() -> WebviewLife {
    static LIFE: OnceLock<WebviewLife> = OnceLock::new();
    *LIFE.get_or_init(|| match std::env::var("CLUSTERBAR_POPOVER_WEBVIEW").as_deref() {
        Ok("on-demand") => WebviewLife::OnDemand,
        _ => WebviewLife::Kept,
    })
}

/// Creates the popover (hidden) from its entry in tauri.conf.json, which has `create: false`
/// so that the chosen [`WebviewLife`] decides when.
pub(crate) fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<tauri::WebviewWindow<R>> {
    if let Some(window) = app.get_webview_window(POPOVER) {
        return Ok(window);
    }
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == POPOVER)
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

pub(crate) fn show<R: Runtime>(app: &AppHandle<R>) {
    use tauri_plugin_positioner::{Position, WindowExt};
    let requested = Instant::now();
    let window = match create(app) {
        Ok(window) => window,
        Err(error) => {
            tracing::error!(%error, "could not create the popover");
            return;
        }
    };
    if let Some(state) = app.try_state::<AppState>() {
        if let Ok(mut clock) = state.popover.lock() {
            clock.shown_at = Some(requested);
            if !window.is_visible().unwrap_or(false) {
                clock.opening = Some(requested);
            }
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
        match webview_life() {
            WebviewLife::Kept => {
                let _ = window.hide();
            }
            WebviewLife::OnDemand => {
                let _ = window.destroy();
            }
        }
    }
    if let Some(state) = app.try_state::<AppState>() {
        state.popover_visible(false);
        if webview_life() == WebviewLife::OnDemand {
            // The page is gone: its feeds stop now rather than at their next send.
            for slot in [&state.subscription, &state.throughput_subscription] {
                if let Some(task) = slot.lock().ok().and_then(|mut s| s.take()) {
                    task.abort();
                }
            }
        }
    }
}

/// The page painted for the first time since the popover opened: logs the time to open
/// (show request → first frame with a snapshot, as `scripts/bench-idle.sh` reads it).
pub(crate) fn painted(state: &AppState) {
    let opening = state.popover.lock().ok().and_then(|mut c| c.opening.take());
    if let Some(at) = opening {
        let ms = at.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(ms = format!("{ms:.1}"), webview = ?webview_life(), "popover open: first paint");
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
