//! The head node's runtime: everything Clusterbar *does* — exo's supervisor, the Porten agent
//! and the Hub's catalog checks — in one place that the app and `clusterbar serve` share.
//!
//! Collection only reads (see [`crate::snapshot::Collector`]); the runtime acts on what was read.
//! [`HeadNode::step`] takes each new snapshot on a thread of its own (the sampler starts it), so a
//! slow Hub or an agent's stop ladder never delays a memory figure; what it found comes back to
//! the next sample through [`HeadNode::report`], which never waits on a lock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use clusterbar_model::porten::{AgentState, AgentStatus, HubCheck};
use clusterbar_model::service::{SupervisedState, SupervisedStatus};
use clusterbar_model::{Snapshot, Warning};
use tokio::sync::watch;

use crate::exo::launch::ExoLaunch;
use crate::porten::{loaded_model_ids, AgentAction, AgentController, CatalogChecker};
use crate::settings::Settings;
use crate::supervise::{StopOutcome, SuperviseError, Supervisor, SupervisorSpec};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("exo was not started or adopted by Clusterbar; press Start first to adopt it")]
    ExoNotSupervised,
    #[error("exo cannot be started: {0}")]
    ExoNotStartable(#[from] crate::exo::launch::ExoSpecError),
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
}

/// How [`HeadNode::start_exo`] got exo running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExoStart {
    /// Clusterbar started it.
    Started,
    /// One was already running (EXO.app, a terminal): watched, never doubled.
    Adopted,
    /// Clusterbar already supervised it (stopped or given up): asked to start again.
    StartedAgain,
}

impl ExoStart {
    pub fn describe(self) -> &'static str {
        match self {
            ExoStart::Started | ExoStart::StartedAgain => "exo starting",
            ExoStart::Adopted => "adopted the exo already running",
        }
    }
}

/// What the runtime adds to a snapshot: the supervised exo, the agent and the Hub's view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeReport {
    pub exo: Option<SupervisedStatus>,
    pub porten_agent: Option<AgentStatus>,
    pub porten_hub: Option<HubCheck>,
}

impl RuntimeReport {
    /// The conditions the runtime knows of: exo or the agent crashing or given up, and what
    /// the Hub said about the loaded models.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings: Vec<Warning> = Vec::new();
        warnings.extend(
            self.exo
                .as_ref()
                .and_then(|s| Warning::from_supervised(clusterbar_model::Program::Exo, s)),
        );
        if let Some(agent) = &self.porten_agent {
            warnings.extend(agent_warning(agent));
        }
        if let Some(hub) = &self.porten_hub {
            warnings.extend(hub.warnings());
        }
        warnings
    }
}

/// A Porten agent that Clusterbar stopped restarting is a broken node on the Hub: say so.
fn agent_warning(agent: &AgentStatus) -> Option<Warning> {
    (agent.state == AgentState::GaveUp).then(|| {
        let status = SupervisedStatus {
            state: SupervisedState::GaveUp,
            pid: agent.pid,
            started_by_us: true,
            uptime_s: None,
            restarts: agent.restarts,
            last_exit: None,
            next_restart_in_s: None,
            gave_up_reason: agent.last_error.clone(),
            last_lines: agent.last_lines.clone(),
            log_path: agent.log_path.clone().unwrap_or_default(),
        };
        Warning::from_supervised(clusterbar_model::Program::Porten, &status)
    })?
}

/// The Hub, API URL and key location a catalog checker was made for: a change of any of them
/// makes a new one at once.
type CatalogKey = (String, Option<String>, String, Option<std::path::PathBuf>);

fn catalog_key(settings: &Settings) -> CatalogKey {
    (
        settings.porten_hub_url.clone(),
        settings.porten_api_url.clone(),
        settings.porten_api_key_keychain_item.clone(),
        settings.porten_api_key_file.clone(),
    )
}

/// The actuators of this Mac as the head of its cluster. Cheap to share (`Arc`); every method
/// takes `&self`.
pub struct HeadNode {
    settings: watch::Receiver<Settings>,
    exo: Mutex<Option<Supervisor>>,
    agent: Mutex<Option<AgentController>>,
    catalog: Mutex<Option<(CatalogKey, CatalogChecker)>>,
    /// The agent and Hub parts of the last step (exo's status is read live).
    stepped: Mutex<RuntimeReport>,
}

/// A poisoned lock only means another thread panicked mid-update; the data is still the best
/// there is, and the runtime must keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl HeadNode {
    pub fn new(settings: watch::Receiver<Settings>) -> Arc<Self> {
        Arc::new(Self {
            settings,
            exo: Mutex::new(None),
            agent: Mutex::new(None),
            catalog: Mutex::new(None),
            stepped: Mutex::new(RuntimeReport::default()),
        })
    }

    fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    /// What the next snapshot shows. Never blocks: exo's status is read live unless a start or
    /// stop holds its slot this instant — then the last status read stands in, so a sample taken
    /// while exo starts never shows it as unsupervised.
    pub fn report(&self) -> RuntimeReport {
        let live = match self.exo.try_lock() {
            Ok(slot) => Some(slot.as_ref().map(Supervisor::status)),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().as_ref().map(Supervisor::status)),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let mut stepped = lock(&self.stepped);
        if let Some(exo) = live {
            stepped.exo = exo;
        }
        stepped.clone()
    }

    /// Starts exo under Clusterbar's supervisor, or adopts the copy already running: never a
    /// second one. Blocks while the supervisor starts (call it off the UI thread).
    pub fn start_exo(&self, launch: &ExoLaunch) -> Result<ExoStart, RuntimeError> {
        let mut slot = lock(&self.exo);
        if let Some(supervisor) = slot.as_ref() {
            supervisor.start_again()?;
            return Ok(ExoStart::StartedAgain);
        }
        let spec = SupervisorSpec::exo(&self.settings(), launch)?;
        let supervisor = Supervisor::start(spec)?;
        let adopted = !supervisor.status().started_by_us;
        *slot = Some(supervisor);
        Ok(if adopted { ExoStart::Adopted } else { ExoStart::Started })
    }

    /// Hands an already running supervisor to the runtime (`clusterbar serve --exo-url` has none).
    pub fn supervise_exo(&self, supervisor: Supervisor) {
        let previous = lock(&self.exo).replace(supervisor);
        if let Some(previous) = previous {
            previous.shutdown();
        }
    }

    /// Takes exo's supervisor out (the join drives it and hands it back with
    /// [`HeadNode::supervise_exo`]).
    pub fn take_exo(&self) -> Option<Supervisor> {
        lock(&self.exo).take()
    }

    /// Stops exo. `force_adopted`: the user asked, so a copy Clusterbar did not start stops too.
    pub fn stop_exo(&self, force_adopted: bool) -> Result<StopOutcome, RuntimeError> {
        let slot = lock(&self.exo);
        let supervisor = slot.as_ref().ok_or(RuntimeError::ExoNotSupervised)?;
        Ok(supervisor.stop(force_adopted)?)
    }

    /// Enrolls this cluster: from the next step on the agent runs (or is adopted) with the
    /// pooled budget and the loaded models, talking to exo through `meter_url`.
    /// Enrolling again while enrolled changes nothing.
    pub fn enroll(&self, meter_url: &str) {
        let mut slot = lock(&self.agent);
        if slot.is_none() {
            *slot = Some(AgentController::from_settings(&self.settings(), meter_url));
        }
    }

    /// Stops the agent (an adopted one keeps running) and forgets the enrollment.
    pub fn unenroll(&self) -> Result<(), RuntimeError> {
        let controller = lock(&self.agent).take();
        let mut stepped = lock(&self.stepped);
        stepped.porten_agent = None;
        stepped.porten_hub = None;
        drop(stepped);
        match controller {
            Some(mut controller) => Ok(controller.stop()?),
            None => Ok(()),
        }
    }

    pub fn enrolled(&self) -> bool {
        lock(&self.agent).is_some()
    }

    /// Keeps the agent in step with the cluster (restarted, debounced, when the budget or the
    /// models change) and checks the loaded models against the Hub's catalog.
    pub fn step(&self, snapshot: &Snapshot) {
        let settings = self.settings();
        let now = Instant::now();
        let agent = {
            let mut slot = lock(&self.agent);
            let Some(controller) = slot.as_mut() else {
                *lock(&self.catalog) = None;
                return;
            };
            let action = if settings.porten_engine == crate::porten::ollama_engine::ENGINE {
                let plan = crate::porten::ollama_engine::plan_ollama_agent(
                    snapshot.ollama.as_ref(),
                    snapshot.this_node.hardware.gpu_wired_limit_bytes,
                    &settings.ollama_local_url(),
                    controller.hub_url(),
                );
                controller.observe_plan(plan, now)
            } else {
                controller.observe(snapshot.cluster.as_ref(), now)
            };
            if let AgentAction::Failed(reason) = action {
                tracing::warn!(%reason, "the Porten agent could not be (re)started");
            }
            let mut status = controller.status(&settings, now);
            status.run_by_porten_app = snapshot
                .porten_app
                .as_ref()
                .zip(status.pid)
                .is_some_and(|(app, pid)| app.pids.contains(&pid));
            status
        };
        let loaded: Vec<String> = snapshot
            .cluster
            .as_ref()
            .map(|c| loaded_model_ids(&c.models))
            .unwrap_or_default();
        // The Hub is asked outside every lock but the checker's own: a slow Hub delays only
        // the next step, never a sample or a command.
        let hub = (!loaded.is_empty()).then(|| {
            let mut catalog = lock(&self.catalog);
            let wanted = catalog_key(&settings);
            let checker = match catalog.take() {
                Some((made_for, checker)) if made_for == wanted => checker,
                _ => CatalogChecker::from_settings(&settings),
            };
            let (_, checker) = catalog.insert((wanted, checker));
            checker.check(&loaded, now)
        });
        let mut stepped = lock(&self.stepped);
        stepped.porten_agent = Some(agent);
        stepped.porten_hub = hub;
    }

    /// Stops everything Clusterbar started, agent first (it talks to exo), then exo; an adopted
    /// exo keeps running. Reports what could not be stopped.
    pub fn shutdown(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.unenroll() {
            problems.push(format!("agent: {e}"));
        }
        if let Some(exo) = lock(&self.exo).take() {
            match exo.stop(false) {
                Ok(StopOutcome::LeftAdoptedRunning { pid }) => {
                    tracing::info!(pid, "left exo running: Clusterbar did not start it")
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("exo: {e}")),
            }
            exo.shutdown();
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterbar_model::porten::AgentState;

    fn agent(state: AgentState) -> AgentStatus {
        AgentStatus {
            logged_in: Some(true),
            key_path: None,
            state,
            pid: Some(42),
            uptime_s: None,
            hold_reason: None,
            env: Vec::new(),
            budget: None,
            models: Vec::new(),
            pending_restart_in_s: None,
            last_error: Some("exit code 3".into()),
            restarts: 5,
            last_lines: vec!["boom".into()],
            log_path: Some("/tmp/porten.log".into()),
            run_by_porten_app: false,
        }
    }

    #[test]
    fn an_agent_that_gave_up_is_a_warning_and_a_running_one_is_not() {
        let report = RuntimeReport {
            porten_agent: Some(agent(AgentState::GaveUp)),
            ..RuntimeReport::default()
        };
        let warnings = report.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "porten_gave_up");
        assert!(warnings[0].message.contains("exit code 3"), "{}", warnings[0].message);
        let running = RuntimeReport {
            porten_agent: Some(agent(AgentState::Running)),
            ..RuntimeReport::default()
        };
        assert!(running.warnings().is_empty());
    }

    #[test]
    fn stopping_exo_that_was_never_started_is_a_typed_error() {
        let (_tx, rx) = watch::channel(Settings::default());
        let head = HeadNode::new(rx);
        assert!(matches!(head.stop_exo(true), Err(RuntimeError::ExoNotSupervised)));
        assert_eq!(head.report(), RuntimeReport::default());
        assert!(head.shutdown().is_empty());
    }

    #[test]
    fn while_a_start_holds_exos_slot_the_last_status_stands_in() {
        let (_tx, rx) = watch::channel(Settings::default());
        let head = HeadNode::new(rx);
        let status = SupervisedStatus {
            state: SupervisedState::Starting,
            pid: Some(7),
            started_by_us: true,
            uptime_s: None,
            restarts: 0,
            last_exit: None,
            next_restart_in_s: None,
            gave_up_reason: None,
            last_lines: Vec::new(),
            log_path: "/tmp/exo.log".into(),
        };
        lock(&head.stepped).exo = Some(status.clone());
        let held = head.exo.lock().unwrap();
        assert_eq!(
            head.report().exo,
            Some(status),
            "the slot is busy: the last status, not none"
        );
        drop(held);
        assert_eq!(head.report().exo, None, "read live again: nothing supervised");
    }

    #[test]
    fn a_step_without_enrollment_reports_no_agent_and_asks_no_hub() {
        let (_tx, rx) = watch::channel(Settings::default());
        let head = HeadNode::new(rx);
        let snapshot = crate::snapshot::Collector::default().collect(&Settings::default(), &[], None);
        head.step(&snapshot);
        let report = head.report();
        assert!(report.porten_agent.is_none() && report.porten_hub.is_none());
    }
}
