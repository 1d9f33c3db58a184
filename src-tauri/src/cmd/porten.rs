//! Porten: the API key, signing in, enrolling this cluster.

use std::time::Duration;

use clusterbar_core::porten::{CancelHandle, KeySource, LoginEvent, LoginOptions};
use clusterbar_core::supervise::ServiceKind;
use tauri::ipc::Channel;
use tauri::State;

use super::blocking;
use crate::error::{CommandError, ErrorCode};
use crate::state::AppState;

/// Stores the optional Porten API key (the Keychain on macOS, the key file elsewhere); the
/// key never comes back to the page, only where it went.
#[tauri::command]
pub(crate) async fn porten_set_api_key(state: State<'_, AppState>, key: String) -> Result<KeySource, CommandError> {
    let settings = state.settings();
    let stored = blocking("storing the key", move || {
        // A malformed key is `api_key_invalid`, a Keychain or file that refuses it `api_key_unavailable`.
        Ok(clusterbar_core::porten::api_key::store(&settings, &key)?)
    })
    .await?;
    state.sampler.sample_now();
    Ok(stored)
}

/// Where the Porten API key in use comes from (`null` = none); never the key.
#[tauri::command]
pub(crate) async fn porten_api_key_source(state: State<'_, AppState>) -> Result<Option<KeySource>, CommandError> {
    let settings = state.settings();
    blocking("looking up the key", move || {
        Ok(clusterbar_core::porten::api_key::lookup(&settings)?.map(|k| k.source))
    })
    .await
}

/// Runs `porten login`: the code and URL go to the page as soon as they appear, the URL opens
/// in the browser only if it is on the Hub's host, and the result follows.
#[tauri::command]
pub(crate) fn porten_login(state: State<'_, AppState>, on_event: Channel<LoginEvent>) -> Result<(), CommandError> {
    let settings = state.settings();
    let program = clusterbar_core::supervise::locate(ServiceKind::Porten, &settings)
        .map_err(|why| CommandError::new(ErrorCode::ProgramNotFound, why))?;
    let options = LoginOptions::new(
        program,
        &settings.porten_hub_url,
        Duration::from_secs(settings.porten_login_timeout_s),
    );
    let cancel = CancelHandle::new();
    *state.login_cancel.lock().map_err(|_| CommandError::poisoned("login"))? = Some(cancel.clone());
    std::thread::Builder::new()
        .name("clusterbar-login".into())
        .spawn(move || {
            let outcome = clusterbar_core::porten::login(&options, &cancel, |event| {
                let _ = on_event.send(event.clone());
            });
            tracing::info!(result = ?outcome.result, "porten login finished");
        })
        .map_err(|e| CommandError::new(ErrorCode::PortenLoginFailed, format!("starting porten login: {e}")))?;
    Ok(())
}

#[tauri::command]
pub(crate) fn porten_login_cancel(state: State<'_, AppState>) {
    if let Ok(Some(cancel)) = state.login_cancel.lock().map(|c| c.clone()) {
        cancel.cancel();
    }
}

/// Enrolls this cluster: from now on the agent runs (or is adopted) with the budget and the
/// loaded models, restarted when they change. `enabled = false` stops it.
#[tauri::command]
pub(crate) async fn porten_enroll(state: State<'_, AppState>, enabled: bool) -> Result<(), CommandError> {
    let head = state.head.clone();
    let meter = state.agent_meter_url();
    blocking("enrolling", move || {
        if enabled {
            if !head.enrolled() {
                let meter = meter.map_err(|e| {
                    CommandError::new(e.code, format!("cannot enroll without the token meter: {}", e.detail))
                })?;
                head.enroll(&meter);
            }
        } else {
            head.unenroll()?;
        }
        Ok(())
    })
    .await?;
    state.sampler.sample_now();
    Ok(())
}
