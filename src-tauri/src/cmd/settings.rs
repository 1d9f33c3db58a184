//! The Settings panel: reading settings and applying the fields it changed.

use clusterbar_core::settings::Settings;
use tauri::State;

use crate::error::{CommandError, ErrorCode};
use crate::state::{AppState, SettingsView};

#[tauri::command]
pub(crate) fn settings(state: State<'_, AppState>) -> SettingsView {
    state.settings_view()
}

/// Applies the fields the Settings panel changed. Unknown keys and invalid values are refused
/// with the reason, and nothing is written then; the file is replaced atomically otherwise.
#[tauri::command]
pub(crate) fn update_settings(
    state: State<'_, AppState>,
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<SettingsView, CommandError> {
    let invalid = |detail: String| CommandError::new(ErrorCode::SettingsInvalid, detail);
    let mut current = serde_json::to_value(state.settings()).map_err(CommandError::internal)?;
    let known = serde_json::to_value(Settings::default()).map_err(CommandError::internal)?;
    let fields = current
        .as_object_mut()
        .ok_or_else(|| CommandError::internal("settings are not an object"))?;
    for (key, value) in patch {
        if known.get(&key).is_none() {
            return Err(invalid(format!("unknown setting {key:?}")));
        }
        if key == "start_at_login" {
            // The menu's check item owns it, so the two never disagree.
            return Err(invalid(
                "Start at Login is set from the menu-bar icon's menu".to_owned(),
            ));
        }
        fields.insert(key, value);
    }
    let next: Settings = serde_json::from_value(current).map_err(|e| invalid(format!("invalid setting: {e}")))?;
    next.validate()?;
    state.update_settings(|s| *s = next)?;
    Ok(state.settings_view())
}
