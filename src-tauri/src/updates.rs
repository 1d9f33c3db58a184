//! *Check for Updates…* in the tray menu, through `tauri-plugin-updater`: the signed `latest.json` of the
//! GitHub release (endpoint and public key in `tauri.conf.json`).
//!
//! Nothing happens unless the user asks: a click checks and says what it found in a notification. A found
//! update turns the item into *Install Update X and Restart…*; a click on that is the confirmation. It is
//! refused while exo runs under Clusterbar or the Porten agent is enrolled, since the restart would stop
//! what the cluster and the Hub are using; the user stops them first.

use std::sync::Mutex;

use clusterbar_core::runtime::RuntimeReport;
use clusterbar_model::porten::AgentState;
use clusterbar_model::service::SupervisedState;
use tauri::menu::MenuItem;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::state::AppState;

pub(crate) const MENU_ID: &str = "check_updates";
const CHECK_LABEL: &str = "Check for Updates…";

/// The menu item and the update a check found, waiting for the user's confirmation.
pub(crate) struct Updates<R: Runtime> {
    item: MenuItem<R>,
    pending: Mutex<Option<Update>>,
}

/// The menu item; its state is managed so a click can relabel it.
pub(crate) fn menu_item<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<MenuItem<R>> {
    let item = MenuItem::with_id(app, MENU_ID, CHECK_LABEL, true, None::<&str>)?;
    app.manage(Updates {
        item: item.clone(),
        pending: Mutex::new(None),
    });
    Ok(item)
}

/// Why an update must not restart the app now, if it must not: something is serving.
pub(crate) fn serving(report: &RuntimeReport) -> Option<String> {
    let mut busy = Vec::new();
    if let Some(exo) = &report.exo {
        // An adopted exo (EXO.app's) outlives Clusterbar's restart; one we supervise does not.
        let ours = !matches!(
            exo.state,
            SupervisedState::Stopped | SupervisedState::GaveUp | SupervisedState::Adopted
        );
        if ours {
            busy.push("exo");
        }
    }
    if let Some(agent) = &report.porten_agent {
        // Held = enrolled and waiting for a model: still enrolled, the Hub expects it back.
        if !matches!(agent.state, AgentState::Stopped | AgentState::GaveUp) {
            busy.push("the Porten agent");
        }
    }
    (!busy.is_empty()).then(|| {
        format!(
            "Updating restarts Clusterbar, which would stop {}. Stop {} in Clusterbar first, then choose Install again.",
            busy.join(" and "),
            if busy.len() > 1 { "them" } else { "it" }
        )
    })
}

/// The click: check when nothing is pending, install (after the serving check) when an update is.
pub(crate) fn on_click<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(updates) = app.try_state::<Updates<R>>() else {
            return;
        };
        let pending = updates.pending.lock().map(|mut p| p.take()).unwrap_or(None);
        match pending {
            None => check(&app, &updates).await,
            Some(update) => install(&app, &updates, update).await,
        }
    });
}

async fn check<R: Runtime>(app: &AppHandle<R>, updates: &Updates<R>) {
    let _ = updates.item.set_enabled(false);
    let _ = updates.item.set_text("Checking for Updates…");
    let found = match app.updater() {
        Ok(updater) => updater.check().await,
        Err(e) => Err(e),
    };
    let _ = updates.item.set_enabled(true);
    match found {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, current = %update.current_version, "update available");
            let _ = updates
                .item
                .set_text(format!("Install Update {} and Restart…", update.version));
            notify(
                app,
                &format!("Clusterbar {} is available", update.version),
                &format!(
                    "You have {}. To install it, choose \"Install Update {} and Restart…\" in the menu.",
                    update.current_version, update.version
                ),
            );
            if let Ok(mut slot) = updates.pending.lock() {
                *slot = Some(update);
            }
        }
        Ok(None) => {
            let _ = updates.item.set_text(CHECK_LABEL);
            notify(
                app,
                "Clusterbar is up to date",
                &format!("Version {} is the latest.", app.package_info().version),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "update check failed");
            let _ = updates.item.set_text(CHECK_LABEL);
            notify(app, "Could not check for updates", &e.to_string());
        }
    }
}

async fn install<R: Runtime>(app: &AppHandle<R>, updates: &Updates<R>, update: Update) {
    let refusal = app.try_state::<AppState>().and_then(|s| serving(&s.head.report()));
    if let Some(why) = refusal {
        tracing::info!(version = %update.version, "update not installed: {why}");
        notify(app, &format!("Clusterbar {} not installed yet", update.version), &why);
        if let Ok(mut slot) = updates.pending.lock() {
            *slot = Some(update);
        }
        return;
    }
    let _ = updates.item.set_enabled(false);
    let _ = updates.item.set_text(format!("Installing {}…", update.version));
    match update.download_and_install(|_, _| {}, || {}).await {
        Ok(()) => {
            tracing::info!(version = %update.version, "update installed; restarting");
            // The exit handler stops whatever the app started, as Quit does.
            app.restart();
        }
        Err(e) => {
            tracing::error!(error = %e, "update failed");
            let _ = updates.item.set_enabled(true);
            let _ = updates.item.set_text(CHECK_LABEL);
            notify(app, "Could not install the update", &e.to_string());
        }
    }
}

fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    use tauri_plugin_notification::NotificationExt;
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!(error = %e, "could not show a notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterbar_model::porten::AgentStatus;
    use clusterbar_model::service::SupervisedStatus;

    fn exo(state: SupervisedState) -> SupervisedStatus {
        SupervisedStatus {
            state,
            pid: Some(42),
            started_by_us: true,
            uptime_s: Some(1),
            restarts: 0,
            last_exit: None,
            next_restart_in_s: None,
            gave_up_reason: None,
            last_lines: vec![],
            log_path: "exo.log".into(),
        }
    }

    #[test]
    fn nothing_serving_allows_the_restart() {
        assert_eq!(serving(&RuntimeReport::default()), None);
        let report = RuntimeReport {
            exo: Some(exo(SupervisedState::Stopped)),
            ..RuntimeReport::default()
        };
        assert_eq!(serving(&report), None);
        let adopted = RuntimeReport {
            exo: Some(exo(SupervisedState::Adopted)),
            ..RuntimeReport::default()
        };
        assert_eq!(serving(&adopted), None, "EXO.app's exo survives our restart");
    }

    #[test]
    fn supervised_exo_or_enrolled_agent_refuses() {
        for state in [
            SupervisedState::Running,
            SupervisedState::Starting,
            SupervisedState::BackingOff,
        ] {
            let report = RuntimeReport {
                exo: Some(exo(state)),
                ..RuntimeReport::default()
            };
            let why = serving(&report).expect("refused");
            assert!(why.contains("exo"), "{why}");
        }
        let agent = AgentStatus {
            logged_in: Some(true),
            key_path: None,
            state: AgentState::Held,
            pid: None,
            uptime_s: None,
            hold_reason: Some("no model loaded".into()),
            env: vec![],
            budget: None,
            models: vec![],
            pending_restart_in_s: None,
            last_error: None,
            restarts: 0,
            last_lines: vec![],
            log_path: None,
            run_by_porten_app: false,
        };
        let report = RuntimeReport {
            exo: Some(exo(SupervisedState::Running)),
            porten_agent: Some(agent),
            ..RuntimeReport::default()
        };
        let why = serving(&report).expect("refused");
        assert!(why.contains("exo and the Porten agent"), "{why}");
    }
}
