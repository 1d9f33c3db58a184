//! Starting and stopping exo from the popover, through the head node's runtime.

use clusterbar_core::exo::launch::ExoLaunch;
use tauri::State;

use super::blocking;
use crate::error::CommandError;
use crate::state::AppState;

/// Starts exo under Clusterbar's supervisor, or adopts the copy already running (EXO.app,
/// a terminal): never a second one.
#[tauri::command]
pub(crate) async fn exo_start(state: State<'_, AppState>) -> Result<String, CommandError> {
    let head = state.head.clone();
    let started = blocking("starting exo", move || Ok(head.start_exo(&ExoLaunch::default())?)).await?;
    state.sampler.sample_now();
    tracing::info!("{}", started.describe());
    Ok(started.describe().to_owned())
}

/// Stops exo. The user asked, so an adopted copy (one Clusterbar did not start) stops too.
#[tauri::command]
pub(crate) async fn exo_stop(state: State<'_, AppState>) -> Result<String, CommandError> {
    let head = state.head.clone();
    let outcome = blocking("stopping exo", move || Ok(head.stop_exo(true)?)).await?;
    let message = format!("{outcome:?}");
    state.sampler.sample_now();
    tracing::info!(outcome = %message, "exo stopped");
    Ok(message)
}
