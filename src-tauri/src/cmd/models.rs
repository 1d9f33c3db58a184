//! The models exo can load, loading and unloading them.

use clusterbar_core::exo::fit::DEFAULT_CONTEXT_TOKENS;
use clusterbar_core::exo::FitVerdict;
use serde::{Deserialize, Serialize};
use tauri::State;

use super::blocking;
use crate::error::{CommandError, ErrorCode};
use crate::state::AppState;

/// A model exo can load, with whether it fits the cluster's usable memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadableModel {
    pub id: String,
    pub name: Option<String>,
    pub storage_size_bytes: Option<u64>,
    pub fit: Option<FitVerdict>,
}

/// The models exo knows that fit the pool (those that do not are left out; those whose size
/// is unknown are listed without a verdict), largest first.
#[tauri::command]
pub(crate) async fn models_loadable(state: State<'_, AppState>) -> Result<Vec<LoadableModel>, CommandError> {
    let client = state.exo_client();
    let pool = state
        .sampler
        .latest()
        .cluster
        .and_then(|c| c.pool)
        .ok_or_else(|| CommandError::new(ErrorCode::ExoNotReady, "exo's cluster is not available yet"))?;
    let cards = blocking("listing exo's models", move || Ok(client.models()?)).await?;
    let mut loadable: Vec<LoadableModel> = cards
        .iter()
        .map(|card| LoadableModel {
            id: card.id.clone(),
            name: card.name.clone(),
            storage_size_bytes: card.storage_size_bytes,
            fit: clusterbar_core::exo::fit_model(card, DEFAULT_CONTEXT_TOKENS, &pool),
        })
        .filter(|m| m.fit.as_ref().is_none_or(|f| f.fits))
        .collect();
    loadable.sort_by(|a, b| b.storage_size_bytes.cmp(&a.storage_size_bytes).then(a.id.cmp(&b.id)));
    Ok(loadable)
}

#[tauri::command]
pub(crate) async fn model_load(state: State<'_, AppState>, id: String) -> Result<String, CommandError> {
    let client = state.exo_client();
    let accepted = blocking("loading a model", move || {
        client.place_instance(&id, 1).map_err(CommandError::about_model)
    })
    .await?;
    state.sampler.sample_now();
    Ok(accepted.message.unwrap_or_else(|| "accepted".to_owned()))
}

#[tauri::command]
pub(crate) async fn model_unload(state: State<'_, AppState>, instance_id: String) -> Result<String, CommandError> {
    let client = state.exo_client();
    let accepted = blocking("unloading a model", move || {
        client.delete_instance(&instance_id).map_err(CommandError::about_model)
    })
    .await?;
    state.sampler.sample_now();
    Ok(accepted.message.unwrap_or_else(|| "accepted".to_owned()))
}
