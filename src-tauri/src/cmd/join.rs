//! Joining the cluster: the preflight checklist, the join itself, cancelling it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clusterbar_core::exo::launch::ExoLaunch;
use clusterbar_core::exo::ExoClient;
use clusterbar_core::join::{JoinOptions, JoinProgress, PreflightItem};
use clusterbar_core::supervise::{ServiceKind, Supervisor, SupervisorSpec};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{CommandError, ErrorCode};
use crate::state::AppState;

/// The preflight checklist for joining, from the latest sample.
#[tauri::command]
pub(crate) fn join_preflight(state: State<'_, AppState>) -> Vec<PreflightItem> {
    let settings = state.settings();
    let located = clusterbar_core::supervise::locate(ServiceKind::Exo, &settings);
    clusterbar_core::join::preflight(&state.sampler.latest(), &located)
}

/// One step of joining, or its end, for the popover.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JoinUpdate {
    Progress { progress: JoinProgress },
    Joined { peers: Vec<String> },
    Failed { reason: String },
}

/// Starts (or adopts) exo and waits until this Mac is a member with at least one peer;
/// progress goes to the page as it happens. The supervisor then belongs to the app.
#[tauri::command]
pub(crate) fn join_cluster(state: State<'_, AppState>, on_update: Channel<JoinUpdate>) -> Result<(), CommandError> {
    let cancel = Arc::new(AtomicBool::new(false));
    *state.join_cancel.lock().map_err(|_| CommandError::poisoned("join"))? = Some(cancel.clone());
    let settings = state.settings();
    let head = state.head.clone();
    let existing = head.take_exo();
    std::thread::Builder::new()
        .name("clusterbar-join".into())
        .spawn(move || {
            let client = ExoClient::local(settings.exo_api_port);
            // The join reports a failed start to the page as text (JoinUpdate::Failed).
            let start = move || match existing {
                Some(supervisor) => supervisor.start_again().map(|()| supervisor).map_err(|e| e.to_string()),
                None => {
                    Supervisor::start(SupervisorSpec::exo(&settings, &ExoLaunch::default()).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())
                }
            };
            let progress = |p: &JoinProgress| {
                tracing::info!(step = ?p, "join");
                if let Err(e) = on_update.send(JoinUpdate::Progress { progress: p.clone() }) {
                    tracing::warn!(error = %e, "join progress did not reach the page");
                }
            };
            let result = clusterbar_core::join::join(&client, start, &JoinOptions::default(), &cancel, progress);
            let update = match result {
                Ok((joined, supervisor)) => {
                    head.supervise_exo(supervisor);
                    JoinUpdate::Joined { peers: joined.peers }
                }
                Err(error) => JoinUpdate::Failed {
                    reason: error.to_string(),
                },
            };
            let _ = on_update.send(update);
        })
        .map_err(|e| CommandError::new(ErrorCode::JoinFailed, format!("starting the join: {e}")))?;
    Ok(())
}

#[tauri::command]
pub(crate) fn join_cancel(state: State<'_, AppState>) {
    if let Ok(Some(cancel)) = state.join_cancel.lock().map(|c| c.clone()) {
        cancel.store(true, Ordering::SeqCst);
    }
}
