//! The menu-bar icon: its menu, its image and tooltip (which follow the snapshot), the live
//! token rate beside it, and the notifications raised from the same snapshots.

use std::time::{Duration, Instant};

use clusterbar_core::snapshot::TrayState;
use clusterbar_core::warnings::Latch;
use clusterbar_core::Snapshot;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::popover::{show, toggle};
use crate::state::AppState;

const TRAY_ID: &str = "clusterbar";

fn tray_icon(state: TrayState) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match state {
        TrayState::Running => include_bytes!("../../icons/tray/running@2x.png"),
        TrayState::Stopped => include_bytes!("../../icons/tray/stopped@2x.png"),
        TrayState::Degraded => include_bytes!("../../icons/tray/degraded@2x.png"),
    };
    Image::from_bytes(bytes)
}

fn tooltip(snapshot: &Snapshot) -> String {
    format!("Clusterbar — {}", snapshot.state_line())
}

/// Notifications are latched (a warning is raised after two consecutive samples and never
/// repeated while it lasts) and cluster events are sent once each. The popover shows the same
/// state, since many users deny the notification prompt.
fn notify_changes<R: Runtime>(app: &AppHandle<R>, latch: &mut Latch, snapshot: &Snapshot) {
    use tauri_plugin_notification::NotificationExt;
    let changes = latch.observe(&snapshot.warnings);
    let mut notes: Vec<(String, String)> = changes.raised.into_iter().map(|w| (w.message, w.fix)).collect();
    notes.extend(snapshot.events.iter().map(|e| e.describe()));
    for (title, body) in notes {
        tracing::info!(%title, "notification");
        if let Err(e) = app.notification().builder().title(&title).body(&body).show() {
            tracing::warn!(error = %e, "could not show a notification");
        }
    }
    for (code, scope) in changes.cleared {
        tracing::info!(%code, ?scope, "condition cleared");
    }
}

/// The live figure beside the menu-bar icon (a setting, off by default); back to the bare
/// icon after 5 s without tokens.
fn follow_tokens_in_title<R: Runtime>(app: &AppHandle<R>, tray: tauri::tray::TrayIcon<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let Ok(mut updates) = state
        .meter
        .lock()
        .map_err(|_| ())
        .and_then(|m| m.as_ref().map(|h| h.subscribe()).map_err(|_| ()))
    else {
        return;
    };
    let settings = state.settings.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut last_tokens_at: Option<Instant> = None;
        let mut shown = false;
        while updates.changed().await.is_ok() {
            let rate = updates.borrow_and_update().cluster.tokens_per_s;
            let wanted = settings.borrow().show_tokens_in_menu_bar;
            if rate > 0.0 {
                last_tokens_at = Some(Instant::now());
            }
            let idle = last_tokens_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(5));
            if wanted && !idle {
                let _ = tray.set_title(Some(format!("{rate:.0} tok/s")));
                shown = true;
            } else if shown {
                let _ = tray.set_title(None::<&str>);
                shown = false;
            }
        }
    });
}

pub(crate) fn setup_tray<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<()> {
    let state = app.state::<AppState>();
    let start_at_login = state.settings().start_at_login;
    if let Ok(enabled_now) = crate::login_item::is_enabled(app.handle()) {
        if enabled_now != start_at_login {
            if let Err(e) = crate::login_item::apply(app.handle(), start_at_login) {
                tracing::warn!("{e}");
            }
        }
    }
    let open = MenuItem::with_id(app, "open", "Open Clusterbar", true, None::<&str>)?;
    let login = CheckMenuItem::with_id(
        app,
        "start_at_login",
        "Start at Login",
        true,
        start_at_login,
        None::<&str>,
    )?;
    let check_updates = crate::updates::menu_item(app)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Clusterbar", true, Some("CmdOrCtrl+Q"))?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &login,
            &check_updates,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let first = state.sampler.latest();
    let login_item = login.clone();
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(tray_icon(first.tray_state())?)
        .icon_as_template(true)
        .tooltip(tooltip(&first))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "open" => show(app),
            "start_at_login" => {
                let wanted = login_item.is_checked().unwrap_or(false);
                let result = crate::login_item::apply(app, wanted).and_then(|()| {
                    app.state::<AppState>()
                        .update_settings(|s| s.start_at_login = wanted)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = result {
                    tracing::error!("{e}");
                    let _ = login_item.set_checked(!wanted);
                }
            }
            crate::updates::MENU_ID => crate::updates::on_click(app),
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            tauri_plugin_positioner::on_tray_event(tray.app_handle(), &event);
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                toggle(tray.app_handle());
            }
        })
        .build(app)?;
    follow_tokens_in_title(app.handle(), tray.clone());

    // The icon and tooltip follow the snapshot; set only when they change.
    let mut updates = state.sampler.subscribe();
    let app_handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = first.tray_state();
        let mut latch = Latch::default();
        latch.observe(&first.warnings);
        while updates.changed().await.is_ok() {
            let snapshot = updates.borrow_and_update().clone();
            notify_changes(&app_handle, &mut latch, &snapshot);
            let now = snapshot.tray_state();
            if now != shown {
                match tray_icon(now) {
                    Ok(icon) => {
                        let _ = tray.set_icon(Some(icon));
                        let _ = tray.set_icon_as_template(true);
                        shown = now;
                    }
                    Err(e) => tracing::error!(error = %e, "tray icon"),
                }
            }
            let _ = tray.set_tooltip(Some(tooltip(&snapshot)));
        }
    });
    Ok(())
}
