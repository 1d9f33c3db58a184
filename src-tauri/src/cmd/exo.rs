//! Starting and stopping exo from the popover.

use clusterbar_core::supervise::{ExoLaunch, Supervisor, SupervisorSpec};
use tauri::State;

use super::blocking;
use crate::error::{CommandError, ErrorCode};
use crate::state::AppState;

/// Starts exo under Clusterbar's supervisor, or adopts the copy already running (EXO.app,
/// a terminal): never a second one.
#[tauri::command]
pub(crate) async fn exo_start(state: State<'_, AppState>) -> Result<String, CommandError> {
    let slot = state.sampler.exo_supervisor();
    let settings = state.settings();
    let message = blocking("starting exo", move || {
        let mut guard = slot.lock().map_err(|_| CommandError::poisoned("supervisor"))?;
        if let Some(supervisor) = guard.as_ref() {
            supervisor.start_again()?;
            return Ok("exo starting");
        }
        // With the default launch the spec fails only when exo cannot be located.
        let spec = SupervisorSpec::exo(&settings, &ExoLaunch::default())
            .map_err(|why| CommandError::new(ErrorCode::ProgramNotFound, why))?;
        let supervisor = Supervisor::start(spec)?;
        let adopted = !supervisor.status().started_by_us;
        *guard = Some(supervisor);
        Ok(if adopted {
            "adopted the exo already running"
        } else {
            "exo starting"
        })
    })
    .await?;
    state.sampler.sample_now();
    tracing::info!("{message}");
    Ok(message.to_owned())
}

/// Stops exo. The user asked, so an adopted copy (one Clusterbar did not start) stops too.
#[tauri::command]
pub(crate) async fn exo_stop(state: State<'_, AppState>) -> Result<String, CommandError> {
    let slot = state.sampler.exo_supervisor();
    let message = blocking("stopping exo", move || {
        let guard = slot.lock().map_err(|_| CommandError::poisoned("supervisor"))?;
        let Some(supervisor) = guard.as_ref() else {
            return Err(CommandError::new(
                ErrorCode::NotStartedByClusterbar,
                "exo was not started or adopted by Clusterbar; press Start first to adopt it",
            ));
        };
        Ok(format!("{:?}", supervisor.stop(true)?))
    })
    .await?;
    state.sampler.sample_now();
    tracing::info!(outcome = %message, "exo stopped");
    Ok(message)
}
