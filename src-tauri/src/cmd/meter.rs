//! The page's two feeds: snapshots from the sampler and throughput from the token meter.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use clusterbar_core::Snapshot;
use clusterbar_meter::MeterStats;
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;
use tokio::sync::watch;

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
    let task = forward_while_shown(
        updates,
        state.popover_shown.subscribe(),
        on_snapshot,
        "snapshot",
        Snapshot::clone,
    );
    replace_subscription(&state.subscription, task)
}

/// Sends each new value of `updates` to the page, as `page_value` makes it, while the popover is
/// on screen. Hidden, nothing is sent — it would only wake WebKit to repaint what nobody sees —
/// and the newest goes the moment it opens. Ends when either channel or the page's closes.
fn forward_while_shown<T, U>(
    mut updates: watch::Receiver<T>,
    mut shown: watch::Receiver<bool>,
    page: Channel<U>,
    what: &'static str,
    page_value: impl Fn(&T) -> U + Send + 'static,
) -> tauri::async_runtime::JoinHandle<()>
where
    T: Send + Sync + 'static,
    U: tauri::ipc::IpcResponse + Send + 'static,
{
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { break },
                changed = shown.changed() => if changed.is_err() { break },
            }
            // Either way both changes are marked seen.
            let visible = *shown.borrow_and_update();
            let next = {
                let latest = updates.borrow_and_update();
                visible.then(|| page_value(&latest))
            };
            let Some(next) = next else { continue };
            if let Err(e) = page.send(next) {
                tracing::debug!(error = %e, what, "page channel closed");
                break;
            }
        }
    })
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
    let page_value = move |stats: &Arc<MeterStats>| ThroughputUpdate {
        meter_url: Some(url.clone()),
        error: None,
        stats: Some(stats.as_ref().clone()),
    };
    let first = page_value(&updates.borrow_and_update());
    on_update
        .send(first)
        .map_err(|e| CommandError::internal(format!("sending throughput to the page: {e}")))?;
    let task = forward_while_shown(
        updates,
        state.popover_shown.subscribe(),
        on_update,
        "throughput",
        page_value,
    );
    replace_subscription(&state.throughput_subscription, task)
}
