//! The page's two feeds: snapshots from the sampler and throughput from the token meter.

use std::sync::atomic::Ordering;

use clusterbar_core::Snapshot;
use clusterbar_meter::MeterStats;
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;

use super::replace_subscription;
use crate::error::CommandError;
use crate::state::AppState;

/// Pushes the current Snapshot at once, then every new one, until the page subscribes again
/// (a reload) or the channel closes.
#[tauri::command]
pub(crate) fn subscribe(state: State<'_, AppState>, on_snapshot: Channel<Snapshot>) -> Result<(), CommandError> {
    // More than one subscription in a run means the page was reloaded (e.g. its web process
    // restarted): anything it was showing in flight is gone, so say so in the log. A web view
    // created on each open loads the page each time.
    let count = state.page_loads.fetch_add(1, Ordering::SeqCst) + 1;
    if count > 1 && crate::popover::webview_life() == crate::popover::WebviewLife::Kept {
        tracing::warn!(count, "the popover page loaded again");
    }
    let mut updates = state.sampler.subscribe();
    let current = updates.borrow_and_update().clone();
    on_snapshot
        .send(current)
        .map_err(|e| CommandError::internal(format!("sending the snapshot to the page: {e}")))?;
    let mut shown = state.popover_shown.subscribe();
    let task = tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { break },
                changed = shown.changed() => if changed.is_err() { break },
            }
            // Hidden: nothing is sent (the newest is, the moment the popover opens); either way
            // both changes are marked seen.
            let visible = *shown.borrow_and_update();
            let next = {
                let latest = updates.borrow_and_update();
                visible.then(|| latest.clone())
            };
            let Some(next) = next else { continue };
            if let Err(e) = on_snapshot.send(next) {
                tracing::debug!(error = %e, "snapshot channel closed");
                break;
            }
        }
    });
    replace_subscription(&state.subscription, task)
}

/// What the Throughput section shows: the meter's figures, or why there are none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputUpdate {
    /// Where local clients and the Porten agent send requests (the meter's address).
    pub meter_url: Option<String>,
    pub error: Option<String>,
    pub stats: Option<MeterStats>,
}

/// Pushes the meter's figures as the meter publishes them (about once a second) while the
/// popover is on screen.
#[tauri::command]
pub(crate) fn subscribe_throughput(
    state: State<'_, AppState>,
    on_update: Channel<ThroughputUpdate>,
) -> Result<(), CommandError> {
    let started = match state.meter.lock() {
        Ok(meter) => match meter.as_ref() {
            Ok(handle) => Ok((format!("http://{}", handle.local_addr()), handle.subscribe())),
            Err(reason) => Err(reason.clone()),
        },
        Err(_) => Err("meter lock poisoned".to_owned()),
    };
    let (url, mut updates) = match started {
        Ok(started) => started,
        // A meter that is not running is a state the section shows, not a failed command.
        Err(reason) => {
            let update = ThroughputUpdate {
                meter_url: None,
                error: Some(reason),
                stats: None,
            };
            return Ok(on_update.send(update)?);
        }
    };
    let first = updates.borrow_and_update().as_ref().clone();
    let update = ThroughputUpdate {
        meter_url: Some(url.clone()),
        error: None,
        stats: Some(first),
    };
    on_update
        .send(update)
        .map_err(|e| CommandError::internal(format!("sending throughput to the page: {e}")))?;
    let mut shown = state.popover_shown.subscribe();
    let task = tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { break },
                changed = shown.changed() => if changed.is_err() { break },
            }
            // As for snapshots: a hidden page is sent nothing (it would only wake WebKit to
            // repaint a chart nobody sees); the newest figures go the moment it opens.
            let visible = *shown.borrow_and_update();
            let stats = {
                let latest = updates.borrow_and_update();
                visible.then(|| latest.as_ref().clone())
            };
            let Some(stats) = stats else { continue };
            let update = ThroughputUpdate {
                meter_url: Some(url.clone()),
                error: None,
                stats: Some(stats),
            };
            if on_update.send(update).is_err() {
                break;
            }
        }
    });
    replace_subscription(&state.throughput_subscription, task)
}
