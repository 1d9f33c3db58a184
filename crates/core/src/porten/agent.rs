//! The Porten agent on the head Mac: the environment it runs with (derived from the cluster),
//! and the controller that (re)starts it when that environment changes.
//!
//! The agent advertises what the cluster can serve, so its environment follows exo: the
//! memory budget of the pool and the models that are loaded and ready. A change restarts the
//! agent only once it has held for the debounce time (an exo election empties the view for a
//! few seconds; that must not bounce the agent twice).

pub use clusterbar_model::porten::{AgentState, AgentStatus, BudgetBreakdown};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::exo::{ClusterView, ModelView, Pool};
use crate::settings::Settings;
use crate::supervise::{Env, EnvValue, SuperviseError, SupervisedState, SupervisedStatus, Supervisor};

pub const ENGINE: &str = "openai";

pub use crate::exo::loaded_model_ids;

/// The agent's environment: engine `openai` behind the local token meter, the pool's budget,
/// the loaded models (see [`loaded_model_ids`]) and the Hub.
pub fn agent_env(pool: &Pool, models: &[ModelView], meter_url: &str, hub_url: &str) -> Env {
    Env::from([
        ("PORTEN_ENGINE".to_owned(), EnvValue::from(ENGINE)),
        ("PORTEN_ENGINE_URL".to_owned(), EnvValue::from(meter_url)),
        (
            "PORTEN_VRAM_BUDGET_MB".to_owned(),
            pool.vram_budget_mb.to_string().into(),
        ),
        (
            "PORTEN_ENGINE_MODELS".to_owned(),
            loaded_model_ids(models).join(",").into(),
        ),
        ("PORTEN_HUB_URL".to_owned(), EnvValue::from(hub_url)),
    ])
}

/// Whether the agent should run, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentPlan {
    Run(Env),
    /// Not now, and why (shown to the user).
    Hold(String),
}

/// Decides from the cluster view (as the Snapshot carries it, pool included).
pub fn plan_agent(cluster: Option<&ClusterView>, meter_url: &str, hub_url: &str) -> AgentPlan {
    let Some(view) = cluster else {
        return AgentPlan::Hold("exo is not answering, so there is nothing to offer".into());
    };
    let Some(pool) = view.pool.as_ref().filter(|p| p.vram_budget_mb > 0) else {
        return AgentPlan::Hold("exo reports no memory for its boxes yet, so the budget is unknown".into());
    };
    if loaded_model_ids(&view.models).is_empty() {
        return AgentPlan::Hold("no model is loaded and ready in exo; load one to offer it on Porten".into());
    }
    AgentPlan::Run(agent_env(pool, &view.models, meter_url, hub_url))
}

/// The key file the agent keeps once logged in: the setting, else `~/.porten/key`.
pub fn key_path(settings: &Settings) -> Option<PathBuf> {
    settings
        .porten_key_path
        .clone()
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join(".porten").join("key")))
}

/// Whether the agent is logged in, judged by its key file (never read, only looked at).
pub fn logged_in(settings: &Settings) -> Option<bool> {
    let path = key_path(settings)?;
    Some(
        std::fs::metadata(path)
            .map(|m| m.is_file() && m.len() > 0)
            .unwrap_or(false),
    )
}

/// Starts the agent supervisor with an environment (tests pass one over a stand-in agent).
pub type AgentFactory = Box<dyn FnMut(Env) -> Result<Supervisor, String> + Send>;

/// What [`AgentController::observe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAction {
    Nothing,
    Started,
    Restarted,
    Stopped,
    /// A change is waiting out the debounce.
    Waiting,
    Failed(String),
}

/// Keeps the agent in step with the cluster; feed it every snapshot's cluster view.
pub struct AgentController {
    meter_url: String,
    hub_url: String,
    debounce: Duration,
    factory: AgentFactory,
    supervisor: Option<Supervisor>,
    running_env: Option<Env>,
    /// The plan that differs from what runs, and since when it holds.
    pending: Option<(AgentPlan, Instant)>,
    hold_reason: Option<String>,
    last_error: Option<String>,
    last_pool: Option<Pool>,
}

impl AgentController {
    pub fn new(meter_url: &str, hub_url: &str, debounce: Duration, factory: AgentFactory) -> Self {
        Self {
            meter_url: meter_url.to_owned(),
            hub_url: hub_url.to_owned(),
            debounce,
            factory,
            supervisor: None,
            running_env: None,
            pending: None,
            hold_reason: Some("waiting for the first look at the cluster".into()),
            last_error: None,
            last_pool: None,
        }
    }

    /// The agent as Settings describe it: `porten <porten_run_args>`, adopting a running copy.
    pub fn hub_url(&self) -> &str {
        &self.hub_url
    }

    pub fn from_settings(settings: &Settings, meter_url: &str) -> Self {
        let factory_settings = settings.clone();
        let factory: AgentFactory = Box::new(move |env| {
            let spec = crate::supervise::SupervisorSpec::porten(
                &factory_settings,
                env,
                factory_settings.porten_run_args.clone(),
            )
            .map_err(|e| e.to_string())?;
            Supervisor::start(spec).map_err(|e| e.to_string())
        });
        Self::new(
            meter_url,
            &settings.porten_hub_url,
            Duration::from_secs(settings.porten_restart_debounce_s),
            factory,
        )
    }

    pub fn supervisor(&self) -> Option<&Supervisor> {
        self.supervisor.as_ref()
    }

    /// Takes one look at the cluster and acts: first start at once; a change of budget or
    /// models (or nothing left to offer) only after it held for the debounce time.
    pub fn observe(&mut self, cluster: Option<&ClusterView>, now: Instant) -> AgentAction {
        if let Some(pool) = cluster.and_then(|c| c.pool.clone()) {
            self.last_pool = Some(pool);
        }
        let plan = plan_agent(cluster, &self.meter_url, &self.hub_url);
        self.observe_plan(plan, now)
    }

    /// The same for a plan made elsewhere (the ollama engine's, `porten::ollama_engine`).
    pub fn observe_plan(&mut self, plan: AgentPlan, now: Instant) -> AgentAction {
        let current = match &self.running_env {
            Some(env) => AgentPlan::Run(env.clone()),
            None => AgentPlan::Hold(self.hold_reason.clone().unwrap_or_default()),
        };
        if plan == current {
            self.pending = None;
            return AgentAction::Nothing;
        }
        // Nothing runs yet: a first start waits for nothing, a new reason to hold is just noted.
        if self.running_env.is_none() {
            self.pending = None;
            return match plan {
                AgentPlan::Hold(reason) => {
                    self.hold_reason = Some(reason);
                    AgentAction::Nothing
                }
                AgentPlan::Run(env) => self.apply_run(env),
            };
        }
        let since = match &self.pending {
            Some((pending, since)) if *pending == plan => *since,
            _ => {
                self.pending = Some((plan, now));
                return AgentAction::Waiting;
            }
        };
        if now.saturating_duration_since(since) < self.debounce {
            return AgentAction::Waiting;
        }
        self.pending = None;
        match plan {
            AgentPlan::Run(env) => self.apply_run(env),
            AgentPlan::Hold(reason) => {
                self.hold_reason = Some(reason);
                self.running_env = None;
                match self.supervisor.take() {
                    Some(supervisor) => {
                        let result = supervisor.stop(false);
                        supervisor.shutdown();
                        match result {
                            Ok(_) => AgentAction::Stopped,
                            Err(e) => self.fail(e.to_string()),
                        }
                    }
                    None => AgentAction::Stopped,
                }
            }
        }
    }

    fn fail(&mut self, reason: String) -> AgentAction {
        tracing::warn!(%reason, "porten agent");
        self.last_error = Some(reason.clone());
        AgentAction::Failed(reason)
    }

    fn apply_run(&mut self, env: Env) -> AgentAction {
        let action = match &self.supervisor {
            Some(supervisor) => match supervisor.restart_with_env(env.clone()) {
                Ok(()) => AgentAction::Restarted,
                Err(SuperviseError::Adopted { pid, .. }) => {
                    return self.fail(format!(
                        "the agent (pid {pid}) was started by Porten's own app, so Clusterbar cannot change what it offers; quit it there to let Clusterbar run it"
                    ));
                }
                Err(e) => return self.fail(e.to_string()),
            },
            None => match (self.factory)(env.clone()) {
                Ok(supervisor) => {
                    self.supervisor = Some(supervisor);
                    AgentAction::Started
                }
                Err(reason) => {
                    self.hold_reason = Some(format!("could not start the agent: {reason}"));
                    return self.fail(reason);
                }
            },
        };
        self.running_env = Some(env);
        self.hold_reason = None;
        self.last_error = None;
        action
    }

    /// Stops what was started (an adopted agent keeps running).
    pub fn stop(&mut self) -> Result<(), SuperviseError> {
        self.running_env = None;
        self.pending = None;
        self.hold_reason = Some("stopped".into());
        if let Some(supervisor) = self.supervisor.take() {
            let result = supervisor.stop(false).map(|_| ());
            supervisor.shutdown();
            return result;
        }
        Ok(())
    }

    pub fn status(&self, settings: &Settings, now: Instant) -> AgentStatus {
        let supervised = self.supervisor.as_ref().map(Supervisor::status);
        let env = self.running_env.clone().unwrap_or_default();
        let models = env
            .get("PORTEN_ENGINE_MODELS")
            .map(|v| {
                v.expose()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let budget = match (env.get("PORTEN_VRAM_BUDGET_MB"), &self.last_pool) {
            (Some(mb), pool) => Some(BudgetBreakdown {
                vram_budget_mb: mb.expose().parse().unwrap_or(0),
                per_box: pool.as_ref().map(|p| p.per_box.clone()).unwrap_or_default(),
            }),
            (None, _) => None,
        };
        let pending_restart_in_s = self.pending.as_ref().map(|(_, since)| {
            self.debounce
                .saturating_sub(now.saturating_duration_since(*since))
                .as_secs()
        });
        AgentStatus {
            logged_in: logged_in(settings),
            key_path: key_path(settings),
            state: agent_state(self.running_env.is_some(), supervised.as_ref()),
            pid: supervised.as_ref().and_then(|s| s.pid),
            uptime_s: supervised.as_ref().and_then(|s| s.uptime_s),
            hold_reason: self.hold_reason.clone(),
            env: env
                .iter()
                .map(|(k, v)| {
                    let shown = match v {
                        EnvValue::Plain(p) => p.clone(),
                        EnvValue::Secret(_) => "(hidden)".to_owned(),
                    };
                    (k.clone(), shown)
                })
                .collect(),
            budget,
            models,
            pending_restart_in_s,
            last_error: self.last_error.clone(),
            restarts: supervised.as_ref().map(|s| s.restarts).unwrap_or(0),
            last_lines: self
                .supervisor
                .as_ref()
                .map(|_| {
                    supervised
                        .as_ref()
                        .map(|s| {
                            crate::supervise::logfile::tail(
                                &crate::supervise::logfile::LogConfig::new(s.log_path.clone()),
                                10,
                            )
                        })
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            log_path: supervised.as_ref().map(|s| s.log_path.clone()),
            run_by_porten_app: false,
        }
    }
}

fn agent_state(should_run: bool, supervised: Option<&SupervisedStatus>) -> AgentState {
    match (should_run, supervised.map(|s| s.state)) {
        (_, Some(SupervisedState::Adopted)) => AgentState::Adopted,
        (_, Some(SupervisedState::Running)) => AgentState::Running,
        (_, Some(SupervisedState::Starting)) => AgentState::Starting,
        (_, Some(SupervisedState::BackingOff)) => AgentState::Restarting,
        (_, Some(SupervisedState::GaveUp)) => AgentState::GaveUp,
        (true, Some(SupervisedState::Stopping | SupervisedState::Stopped)) => AgentState::Stopped,
        (false, _) => AgentState::Held,
        (true, None) => AgentState::Starting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exo::pool::PoolConfig;
    use crate::exo::ModelState;

    const GIB: u64 = 1 << 30;

    fn model(id: &str, state: ModelState) -> ModelView {
        ModelView {
            id: id.into(),
            instance_id: format!("i-{id}"),
            state,
            progress: None,
            download_speed_bytes_per_s: None,
            eta_ms: None,
            shards: Vec::new(),
            error: None,
        }
    }

    fn pool(gib: &[u64]) -> Pool {
        Pool::from_boxes(
            gib.iter()
                .enumerate()
                .map(|(i, g)| (format!("box{i}"), g * GIB, Some(g * GIB))),
            &PoolConfig::default(),
        )
    }

    #[test]
    fn only_ready_models_are_advertised_sorted_and_once() {
        let models = [
            model("mlx-community/Qwen3-30B", ModelState::Running),
            model("mlx-community/Llama-3.3-70B", ModelState::Ready),
            model("mlx-community/Qwen3-30B", ModelState::Ready),
            model("mlx-community/DeepSeek", ModelState::Downloading),
            model("mlx-community/Kimi", ModelState::Loading),
            model("mlx-community/Broken", ModelState::Failed),
            model("  ", ModelState::Ready),
        ];
        let env = agent_env(&pool(&[64, 16]), &models, "http://127.0.0.1:52416", "wss://porten.ai");
        let get = |k: &str| env[k].expose().to_owned();
        assert_eq!(get("PORTEN_ENGINE"), "openai");
        assert_eq!(get("PORTEN_ENGINE_URL"), "http://127.0.0.1:52416");
        assert_eq!(get("PORTEN_VRAM_BUDGET_MB"), (80 * 1024).to_string());
        assert_eq!(
            get("PORTEN_ENGINE_MODELS"),
            "mlx-community/Llama-3.3-70B,mlx-community/Qwen3-30B"
        );
        assert_eq!(get("PORTEN_HUB_URL"), "wss://porten.ai");
    }

    fn view(pool_gib: &[u64], models: Vec<ModelView>) -> ClusterView {
        ClusterView {
            models,
            pool: Some(pool(pool_gib)),
            ..ClusterView::default()
        }
    }

    #[test]
    fn nothing_loaded_or_no_exo_holds_the_agent_with_a_reason() {
        let hold = |p: AgentPlan| match p {
            AgentPlan::Hold(reason) => reason,
            AgentPlan::Run(_) => panic!("should hold"),
        };
        assert!(hold(plan_agent(None, "m", "h")).contains("exo"));
        let loading = view(&[64], vec![model("a", ModelState::Loading)]);
        assert!(hold(plan_agent(Some(&loading), "m", "h")).contains("no model"));
        let no_pool = ClusterView {
            models: vec![model("a", ModelState::Ready)],
            ..ClusterView::default()
        };
        assert!(hold(plan_agent(Some(&no_pool), "m", "h")).contains("budget"));
        assert!(matches!(
            plan_agent(Some(&view(&[64], vec![model("a", ModelState::Ready)])), "m", "h"),
            AgentPlan::Run(_)
        ));
    }

    /// A factory that records every env it was asked to start with; the supervisor it returns
    /// runs `sleep`, which is enough for the controller's bookkeeping.
    fn recording_factory(log: std::sync::Arc<std::sync::Mutex<Vec<Env>>>, dir: PathBuf) -> AgentFactory {
        Box::new(move |env: Env| {
            log.lock().unwrap().push(env.clone());
            let mut spec = crate::supervise::SupervisorSpec::new("agent-test", PathBuf::from("/bin/sleep"));
            spec.args = vec!["30".into()];
            spec.env = env;
            spec.pid_file = dir.join("agent.pid.json");
            spec.log = crate::supervise::logfile::LogConfig::new(dir.join("agent.log"));
            spec.timings.interrupt_grace = Duration::from_millis(200);
            Supervisor::start(spec).map_err(|e| e.to_string())
        })
    }

    #[test]
    fn changes_restart_only_after_the_debounce_and_an_empty_cluster_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let starts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let factory = recording_factory(starts.clone(), dir.path().to_owned());
        let mut controller = AgentController::new(
            "http://127.0.0.1:1",
            "wss://porten.ai",
            Duration::from_secs(10),
            factory,
        );
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let one = view(&[64], vec![model("a", ModelState::Ready)]);
        let two = view(&[64, 64], vec![model("a", ModelState::Ready)]);

        assert_eq!(controller.observe(None, s(0)), AgentAction::Nothing);
        assert_eq!(controller.observe(Some(&one), s(0)), AgentAction::Started);
        assert_eq!(controller.observe(Some(&one), s(1)), AgentAction::Nothing);
        // A flicker (election gap) shorter than the debounce changes nothing.
        assert_eq!(
            controller.observe(Some(&ClusterView::default()), s(2)),
            AgentAction::Waiting
        );
        assert_eq!(controller.observe(Some(&one), s(3)), AgentAction::Nothing);
        // A second box joins: the budget doubles, applied once it has held 10 s.
        assert_eq!(controller.observe(Some(&two), s(4)), AgentAction::Waiting);
        assert_eq!(controller.observe(Some(&two), s(13)), AgentAction::Waiting);
        let status = controller.status(&Settings::default(), s(13));
        assert_eq!(status.pending_restart_in_s, Some(1));
        assert_eq!(controller.observe(Some(&two), s(14)), AgentAction::Restarted);
        let status = controller.status(&Settings::default(), s(14));
        assert_eq!(status.budget.as_ref().unwrap().vram_budget_mb, 128 * 1024);
        assert_eq!(status.budget.as_ref().unwrap().per_box.len(), 2);
        assert_eq!(status.models, vec!["a"]);
        // Every model unloaded: the agent stops after the debounce and says why.
        let none = view(&[64, 64], vec![]);
        assert_eq!(controller.observe(Some(&none), s(20)), AgentAction::Waiting);
        assert_eq!(controller.observe(Some(&none), s(30)), AgentAction::Stopped);
        let status = controller.status(&Settings::default(), s(30));
        assert_eq!(status.state, AgentState::Held);
        assert!(status.hold_reason.unwrap().contains("no model"));
        assert_eq!(starts.lock().unwrap().len(), 1, "restarts go through restart_with_env");
    }

    #[test]
    fn an_agent_that_cannot_start_is_reported() {
        let factory: AgentFactory = Box::new(|_| Err("porten not found".into()));
        let mut controller = AgentController::new("m", "h", Duration::from_secs(10), factory);
        let one = view(&[64], vec![model("a", ModelState::Ready)]);
        assert_eq!(
            controller.observe(Some(&one), Instant::now()),
            AgentAction::Failed("porten not found".into())
        );
        let status = controller.status(&Settings::default(), Instant::now());
        assert_eq!(status.state, AgentState::Held);
        assert!(status.hold_reason.unwrap().contains("porten not found"));
    }
}
