//! The commands the page may call, by domain. Their names and argument names are the page's
//! API (`invoke("exo_start")` in ui/src): renaming one breaks the page.

pub(crate) mod app;
pub(crate) mod bench;
pub(crate) mod exo;
pub(crate) mod history;
pub(crate) mod join;
pub(crate) mod meter;
pub(crate) mod models;
pub(crate) mod porten;
pub(crate) mod settings;

use std::sync::Mutex;

use crate::error::CommandError;

/// Runs work that may block (a lock held through a stop ladder, a network call) off the async
/// runtime; `what` names it if the task itself is lost.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::internal(format!("{what}: {e}")))?
}

/// A page that subscribes again (after a reload) replaces its old feed, which stops.
pub(crate) fn replace_subscription(
    slot: &Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    task: tauri::async_runtime::JoinHandle<()>,
) -> Result<(), CommandError> {
    let mut slot = slot.lock().map_err(|_| CommandError::poisoned("subscription"))?;
    if let Some(previous) = slot.replace(task) {
        previous.abort();
    }
    Ok(())
}
