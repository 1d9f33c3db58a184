//! The charts' history: the same query as `clusterbar history --json --points N`.

use clusterbar_core::history::{self, History, Series};
use tauri::State;

use super::blocking;
use crate::error::{CommandError, ErrorCode};
use crate::state::AppState;

/// Points per series the charts ask for: about one per pixel of the popover's chart.
pub(crate) const CHART_POINTS: usize = 360;

/// The rows of the last `span_s` seconds (one of the charts' spans: 1 h, 24 h, 7 d, 90 d).
#[tauri::command]
pub(crate) async fn history_series(state: State<'_, AppState>, span_s: u64) -> Result<Series, CommandError> {
    if !history::query::CHART_SPANS_S.contains(&span_s) {
        return Err(CommandError::new(
            ErrorCode::InvalidArgument,
            format!("no chart spans {span_s} s (the spans are 1 h, 24 h, 7 d and 90 d)"),
        ));
    }
    let path = state.history_path.clone();
    blocking("reading the history", move || {
        let db = History::open_read_only(&path)?;
        let now = clusterbar_core::clock::now_unix_ms() / 1000;
        Ok(history::query::since(&db, span_s, now, None, Some(CHART_POINTS))?)
    })
    .await
}
