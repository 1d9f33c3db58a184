//! The Clusterbar menu-bar app: a thin shell over `clusterbar-core`.
//!
//! It owns the tray icon, the popover window and the commands the page may call. Every
//! figure it shows comes from the core's `Snapshot`, pushed to the page over a
//! `tauri::ipc::Channel` whenever the sampler publishes a new one (the page never polls).
//!
//! - `state`: what the app holds while it runs ([`AppState`]).
//! - `cmd`: the commands, by domain; they fail with [`CommandError`] (`{code, detail}`).
//! - `popover`, `tray`: the window and the menu-bar icon.

mod cmd;
mod error;
mod login_item;
mod popover;
mod state;
#[cfg(test)]
mod tests;
mod tray;
mod updates;

use clusterbar_core::settings::SettingsStore;
use tauri::{Manager, Runtime, WindowEvent};

pub use cmd::join::JoinUpdate;
pub use cmd::meter::ThroughputUpdate;
pub use cmd::models::LoadableModel;
pub use error::{CommandError, ErrorCode};
pub use state::{AppState, SettingsView};

/// The runtime-generic part, shared with the MockRuntime tests.
pub fn build_app<R: Runtime>(builder: tauri::Builder<R>, state: AppState) -> tauri::Builder<R> {
    builder.manage(state).invoke_handler(tauri::generate_handler![
        cmd::app::snapshot,
        cmd::meter::subscribe,
        cmd::meter::subscribe_throughput,
        cmd::history::history_series,
        cmd::settings::settings,
        cmd::settings::update_settings,
        cmd::app::hide_popover,
        cmd::app::fit_popover,
        cmd::app::popover_painted,
        cmd::exo::exo_start,
        cmd::exo::exo_stop,
        cmd::join::join_preflight,
        cmd::models::models_loadable,
        cmd::models::model_load,
        cmd::models::model_unload,
        cmd::bench::run_benchmark,
        cmd::bench::run_ollama_benchmark,
        cmd::join::join_cluster,
        cmd::join::join_cancel,
        cmd::porten::porten_login,
        cmd::porten::porten_login_cancel,
        cmd::porten::porten_enroll,
        cmd::porten::porten_set_api_key,
        cmd::porten::porten_api_key_source,
        cmd::app::open_logs,
        cmd::app::open_settings,
        cmd::app::quit
    ])
}

pub fn run() {
    let _log_guard = match clusterbar_core::logging::init_app("clusterbar-app") {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("clusterbar: logging to a file is off: {e}");
            None
        }
    };
    let pinned_open = popover::pinned_open_from_env();
    let state = match AppState::start(SettingsStore::platform(), pinned_open) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("clusterbar: could not start the sampler: {e}");
            std::process::exit(1);
        }
    };
    let builder = tauri::Builder::default()
        // First, so a second launch only opens the running copy's popover.
        // `--hide` closes it instead (for scripts/bench-idle.sh, which opens and closes it).
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if argv.iter().any(|a| a == "--hide") {
                popover::hide(app)
            } else {
                popover::show(app)
            }
        }))
        .plugin(tauri_plugin_positioner::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        // Checks only when the user chooses Check for Updates… (updates.rs).
        .plugin(tauri_plugin_updater::Builder::new().build());
    // macOS registers the login item itself, through SMAppService (login_item.rs).
    #[cfg(not(target_os = "macos"))]
    let builder = builder.plugin(tauri_plugin_autostart::init(
        tauri_plugin_autostart::MacosLauncher::LaunchAgent,
        None,
    ));
    let app = build_app(builder, state)
        .setup(move |app| {
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            app.state::<AppState>().start_meter();
            app.state::<AppState>().start_recording();
            tray::setup_tray(app)?;
            if popover::webview_life() == popover::WebviewLife::Kept {
                popover::create(app.handle())?;
            }
            if pinned_open {
                popover::show(app.handle());
            }
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "Clusterbar started");
            Ok(())
        })
        .on_window_event(|window, event| match event {
            // The Settings window closes and blurs as any window does; only the popover hides.
            _ if window.label() != popover::POPOVER => {}
            WindowEvent::Focused(false) => popover::on_blur(window.app_handle()),
            WindowEvent::CloseRequested { api, .. } => {
                // Closing the popover hides it; the app lives in the menu bar until Quit.
                api.prevent_close();
                popover::hide(window.app_handle());
            }
            _ => {}
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("clusterbar: could not start the app: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| match event {
        // The last window closing (a popover destroyed on hide) is not quitting: the app lives
        // in the menu bar. Quit exits with a code.
        tauri::RunEvent::ExitRequested { code: None, api, .. } => api.prevent_exit(),
        tauri::RunEvent::Exit => {
            // Quitting stops everything the app started: no child process is left behind.
            tracing::info!("Clusterbar quitting");
            state::stop_children(app);
        }
        _ => {}
    });
}
