//! Enrolling the cluster in Porten: signing the agent in ([`login`]), running it with an
//! environment that follows the cluster ([`agent`]), and checking the loaded models against the
//! Hub's catalog and warming state ([`catalog`], with the optional API key of [`api_key`]).
//!
//! The head Mac runs the Porten agent `porten` with engine `openai`, pointed at the local token
//! meter (which forwards to exo) — or, with the setting `porten_engine` = `ollama`, with engine
//! `ollama` pointed at this Mac's Ollama ([`ollama_engine`]). Porten's own desktop app may
//! already run an agent: it is adopted, never doubled.

pub mod agent;
pub mod api_key;
pub mod app;
pub mod catalog;
pub mod launch;
pub mod login;
pub mod ollama_engine;
pub mod tokens;

pub use agent::{
    agent_env, loaded_model_ids, plan_agent, AgentAction, AgentController, AgentFactory, AgentPlan, AgentState,
    AgentStatus, BudgetBreakdown,
};
pub use api_key::{ApiKey, KeySource};
pub use app::{AppMatch, PortenApp};
pub use catalog::{closest_offered, CatalogChecker, CatalogState, HubCheck, ModelCheck, Warming};
pub use login::{check_login_url, login, scan_line, CancelHandle, LoginEvent, LoginOptions, LoginOutcome, LoginResult};
pub use tokens::PortenTokens;
