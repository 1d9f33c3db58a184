//! The Hub's curated catalog and its warming state, as Porten's public docs describe them:
//!
//! - `GET {api}/models` with `Authorization: Bearer sk-porten-…` — the models the Hub offers,
//!   OpenAI list shape `{"object": "list", "data": [{"id": …}, …]}` (a bare list of ids or of
//!   `{"id"}` objects is read too). `{api}` is the setting `porten_api_url`, else
//!   `https://<the Hub's host>/v1` (`wss://porten.ai` → `https://porten.ai/v1`, the documented
//!   base). Without a key nothing is asked: the check says it needs one ([`CatalogState::NeedsKey`]).
//! - `GET {origin}/public/v1/models/warming?model=ID`, public (no key) — `{"model", "ready",
//!   "phase": "downloading|loading|ready", "done_mb", "total_mb", "pct"}` ([`parse_warming`]).
//! - Errors `{"error": {"code", "message"}}`: 401 (wrong key), 403 (`model_not_allowed`, not
//!   allowed here), 404 `model_not_found`, 503 `model_warming` (still loading) and
//!   `no_available_node` ([`classify_response`]).
//!
//! The catalog is asked at most every 5 minutes ([`CATALOG_TTL`]); the warming state every
//! 30 s while a model warms ([`WARMING_TTL`]), so the progress moves in the popover.

pub use clusterbar_model::porten::{hub_unreachable, CatalogState, HubCheck, ModelCheck, Warming};
use serde_json::Value;
use std::time::{Duration, Instant};

use super::api_key::{ApiKey, ApiKeyError, KeySource};
use crate::settings::Settings;

pub const CATALOG_TTL: Duration = Duration::from_secs(5 * 60);
pub const WARMING_TTL: Duration = Duration::from_secs(30);
/// How soon a missing key is looked for again.
pub const KEY_RETRY: Duration = Duration::from_secs(30);
const HUB_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Warming is asked for at most this many loaded models per round.
const MAX_WARMING_ASKS: usize = 16;
/// The one line shown, as information, when no key is set.
pub const NEEDS_KEY: &str = "catalog check needs a Porten API key";

pub use crate::settings::hub::{api_endpoints, hub_http_base, Endpoints};

/// The offered ids of a `/v1/models` answer (any unknown shape gives none).
pub fn parse_catalog(value: &Value) -> Vec<String> {
    let list = value.get("data").or_else(|| value.get("models")).unwrap_or(value);
    let mut ids: Vec<String> = list
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().or_else(|| item.get("id").and_then(Value::as_str)))
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    ids
}

fn number(value: &Value, key: &str) -> Option<f64> {
    let n = value.get(key)?;
    n.as_f64()
        .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// Reads the documented warming answer (see the module docs); `None` when it says nothing
/// usable. The shape guessed before the docs were read (`"warming": bool`, `"progress"` 0–1)
/// is still understood.
pub fn parse_warming(value: &Value) -> Option<Warming> {
    let phase = value
        .get("phase")
        .and_then(Value::as_str)
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty());
    let ready = value
        .get("ready")
        .and_then(Value::as_bool)
        .or_else(|| value.get("warming").and_then(Value::as_bool).map(|w| !w))
        .or_else(|| phase.as_deref().map(|p| p == "ready"))?;
    let done_mb = number(value, "done_mb").map(|n| n.round() as u64);
    let total_mb = number(value, "total_mb").map(|n| n.round() as u64);
    let pct = number(value, "pct")
        .or_else(|| number(value, "progress").map(|p| if p <= 1.0 { p * 100.0 } else { p }))
        .or_else(|| match (done_mb, total_mb) {
            (Some(done), Some(total)) if total > 0 => Some(done as f64 * 100.0 / total as f64),
            _ => None,
        })
        .map(|p| p.min(100.0));
    Some(Warming {
        ready,
        phase,
        done_mb,
        total_mb,
        pct,
    })
}

/// Lower-case, and only letters and digits: `Qwen3-30B_A3B` ≈ `qwen3-30b-a3b`.
fn normalise(id: &str) -> String {
    let name = id.rsplit('/').next().unwrap_or(id);
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The offered id closest to `loaded`: same name once normalised, else the smallest edit
/// distance if it is small (a typo, one character off), else `None`.
pub fn closest_offered<'a>(loaded: &str, offered: &'a [String]) -> Option<&'a str> {
    let key = normalise(loaded);
    if let Some(same) = offered.iter().find(|o| normalise(o) == key) {
        return Some(same);
    }
    let best = offered
        .iter()
        .map(|o| (strsim::levenshtein(&loaded.to_lowercase(), &o.to_lowercase()), o))
        .min_by_key(|(distance, _)| *distance)?;
    let allowed = (loaded.chars().count() / 8).max(2);
    (best.0 <= allowed).then_some(best.1.as_str())
}

/// What a Hub answer meant, when it was not the JSON asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the Hub refused the API key (HTTP 401{}): the key is wrong or revoked", detail(.code, .message))]
    Unauthorized {
        code: Option<String>,
        message: Option<String>,
    },
    #[error("the Hub does not allow this (HTTP 403{})", detail(.code, .message))]
    Forbidden {
        code: Option<String>,
        message: Option<String>,
    },
    #[error("the model is still warming up (HTTP 503 model_warming{})", detail(&None, .message))]
    Warming { message: Option<String> },
    #[error("{url} answered HTTP {status}{}", detail(.code, .message))]
    Status {
        url: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    #[error("{url} sent no JSON: {reason}")]
    NotJson { url: String, reason: String },
}

fn detail(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" {code}: {message}"),
        (Some(code), None) => format!(" {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) => String::new(),
    }
}

/// `{"error": {"code", "message"}}`, `{"error": "text"}` or `{"code", "message"}`.
fn error_fields(body: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return (None, None);
    };
    let error = value.get("error").unwrap_or(&value);
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(|s| s.chars().take(300).collect::<String>())
    };
    match error.as_str() {
        Some(message) => (None, Some(message.chars().take(300).collect())),
        None => (
            text(error.get("code").or_else(|| error.get("type"))),
            text(error.get("message")),
        ),
    }
}

/// What one Hub answer means: its JSON for a 2xx, else the error it names.
pub fn classify_response(url: &str, status: u16, body: &str) -> Result<Value, HubError> {
    if (200..300).contains(&status) {
        return serde_json::from_str(body).map_err(|e| HubError::NotJson {
            url: url.to_owned(),
            reason: e.to_string(),
        });
    }
    let (code, message) = error_fields(body);
    Err(match (status, code.as_deref()) {
        (401, _) => HubError::Unauthorized { code, message },
        (403, _) => HubError::Forbidden { code, message },
        (503, Some("model_warming")) => HubError::Warming { message },
        _ => HubError::Status {
            url: url.to_owned(),
            status,
            code,
            message,
        },
    })
}

/// Looks up the API key each time the catalog is due (a key added later is picked up).
pub type KeyLookup = Box<dyn FnMut() -> Result<Option<ApiKey>, ApiKeyError> + Send>;

/// Asks the Hub (the catalog at most every [`CATALOG_TTL`], warming every [`WARMING_TTL`]
/// while a model warms) and keeps the answers.
pub struct CatalogChecker {
    hub_url: String,
    endpoints: Result<Endpoints, crate::settings::hub::HubUrlError>,
    agent: ureq::Agent,
    ttl: Duration,
    warming_ttl: Duration,
    key: KeyLookup,
    catalog: Option<CatalogAnswer>,
    /// (asked at, loaded ids, per-id warming and errors).
    warming: Option<(Instant, Vec<String>, Vec<WarmingAnswer>)>,
}

/// One id's warming state, or why it is unknown.
type WarmingAnswer = (Option<Warming>, Option<String>);

#[derive(Clone)]
struct CatalogAnswer {
    at: Instant,
    loaded: Vec<String>,
    key: Option<KeySource>,
    state: CatalogState,
    note: Option<String>,
    offered: Vec<String>,
}

impl CatalogChecker {
    pub fn new(hub_url: &str, api_url: Option<&str>, key: KeyLookup) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(HUB_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls)
            .build()
            .into();
        Self {
            hub_url: hub_url.to_owned(),
            endpoints: api_endpoints(hub_url, api_url),
            agent,
            ttl: CATALOG_TTL,
            warming_ttl: WARMING_TTL,
            key,
            catalog: None,
            warming: None,
        }
    }

    /// The Hub, the API and the key as Settings (and `PORTEN_API_KEY`) give them.
    pub fn from_settings(settings: &Settings) -> Self {
        let for_key = settings.clone();
        Self::new(
            &settings.porten_hub_url,
            settings.porten_api_url.as_deref(),
            Box::new(move || super::api_key::lookup(&for_key)),
        )
    }

    /// Shorter caches, for tests.
    pub fn with_ttl(mut self, catalog: Duration, warming: Duration) -> Self {
        self.ttl = catalog;
        self.warming_ttl = warming;
        self
    }

    fn get(&self, url: &str, key: Option<&ApiKey>) -> Result<Value, HubError> {
        let mut request = self.agent.get(url);
        if let Some(key) = key {
            request = request.header("Authorization", &format!("Bearer {}", key.secret.expose()));
        }
        // ureq's errors name the URL and the cause, never the headers sent.
        let mut response = request.call().map_err(|e| HubError::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| HubError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        classify_response(url, status, &text)
    }

    /// The check for these loaded ids, from the caches when they are fresh.
    pub fn check(&mut self, loaded: &[String], now: Instant) -> HubCheck {
        let catalog_fresh = self.catalog.as_ref().is_some_and(|c| {
            // Without a key, the key is looked up again sooner: one stored later counts soon.
            let ttl = match c.state {
                CatalogState::NeedsKey => self.ttl.min(KEY_RETRY),
                _ => self.ttl,
            };
            c.loaded == loaded && now.saturating_duration_since(c.at) < ttl
        });
        let catalog = match self.catalog.clone() {
            Some(catalog) if catalog_fresh => catalog,
            _ => {
                let catalog = self.ask_catalog(loaded, now);
                self.catalog = Some(catalog.clone());
                catalog
            }
        };
        let warming_fresh = self.warming.as_ref().is_some_and(|(at, ids, states)| {
            let warming_now = states.iter().any(|(w, _)| w.as_ref().is_some_and(Warming::in_progress));
            let ttl = if warming_now { self.warming_ttl } else { self.ttl };
            ids == loaded && catalog_fresh && now.saturating_duration_since(*at) < ttl
        });
        if !warming_fresh {
            let states = self.ask_warming(loaded, &catalog);
            self.warming = Some((now, loaded.to_vec(), states));
        }
        let states = self.warming.as_ref().map(|(_, _, s)| s.clone()).unwrap_or_default();
        let checked = catalog.state == CatalogState::Checked;
        let models = loaded
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let offered = checked.then(|| catalog.offered.iter().any(|o| o == id));
                let closest = match offered {
                    Some(false) => closest_offered(id, &catalog.offered).map(str::to_owned),
                    _ => None,
                };
                let (warming, warming_error) = states.get(i).cloned().unwrap_or((None, None));
                ModelCheck {
                    id: id.clone(),
                    offered,
                    closest,
                    warming,
                    warming_error,
                }
            })
            .collect();
        HubCheck {
            hub_url: self.hub_url.clone(),
            api_url: self.endpoints.as_ref().ok().map(|e| e.api.clone()),
            api_key: catalog.key,
            catalog: catalog.state,
            note: catalog.note.clone(),
            offered: catalog.offered.clone(),
            models,
            checked_at_unix_ms: crate::clock::now_unix_ms(),
        }
    }

    fn ask_catalog(&mut self, loaded: &[String], now: Instant) -> CatalogAnswer {
        let mut answer = CatalogAnswer {
            at: now,
            loaded: loaded.to_vec(),
            key: None,
            state: CatalogState::Checked,
            note: None,
            offered: Vec::new(),
        };
        let endpoints = match &self.endpoints {
            Ok(endpoints) => endpoints.clone(),
            Err(reason) => {
                answer.state = CatalogState::Invalid;
                answer.note = Some(reason.to_string());
                return answer;
            }
        };
        let key = match (self.key)() {
            Ok(Some(key)) => key,
            Ok(None) => {
                answer.state = CatalogState::NeedsKey;
                answer.note = Some(NEEDS_KEY.to_owned());
                return answer;
            }
            Err(e) => {
                answer.state = CatalogState::Invalid;
                answer.note = Some(e.to_string());
                return answer;
            }
        };
        answer.key = Some(key.source);
        let url = format!("{}/models", endpoints.api);
        match self.get(&url, Some(&key)) {
            Ok(value) => answer.offered = parse_catalog(&value),
            Err(error) => {
                answer.state = match error {
                    HubError::Unauthorized { .. } => CatalogState::KeyRejected,
                    HubError::Forbidden { .. } => CatalogState::Forbidden,
                    _ => CatalogState::Unreachable,
                };
                answer.note = Some(error.to_string());
            }
        }
        answer
    }

    /// The public warming endpoint for each loaded id (only the offered ones once the catalog
    /// is known: the Hub warms only what it offers).
    fn ask_warming(&self, loaded: &[String], catalog: &CatalogAnswer) -> Vec<WarmingAnswer> {
        let Ok(endpoints) = &self.endpoints else {
            return vec![(None, None); loaded.len()];
        };
        let mut asked = 0;
        loaded
            .iter()
            .map(|id| {
                if catalog.state == CatalogState::Checked && !catalog.offered.contains(id) {
                    return (None, None);
                }
                if catalog.state == CatalogState::Unreachable || asked >= MAX_WARMING_ASKS {
                    return (None, None);
                }
                asked += 1;
                let query: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
                match self.get(&format!("{}?model={query}", endpoints.warming), None) {
                    Ok(value) => match parse_warming(&value) {
                        Some(warming) => (Some(warming), None),
                        None => (None, Some("the Hub's warming answer had no ready or phase".to_owned())),
                    },
                    // A 503 model_warming answer says it warms, without figures.
                    Err(HubError::Warming { .. }) => (
                        Some(Warming {
                            ready: false,
                            phase: None,
                            done_mb: None,
                            total_mb: None,
                            pct: None,
                        }),
                        None,
                    ),
                    Err(error) => {
                        tracing::debug!(%error, "warming state unavailable");
                        (None, Some(error.to_string()))
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_follow_the_hub_or_the_setting() {
        assert_eq!(
            api_endpoints("wss://porten.ai", None).unwrap(),
            Endpoints {
                api: "https://porten.ai/v1".into(),
                warming: "https://porten.ai/public/v1/models/warming".into()
            }
        );
        assert_eq!(
            api_endpoints("wss://hub.porten.ai/agent?x=1", None).unwrap().api,
            "https://hub.porten.ai/v1"
        );
        assert_eq!(
            api_endpoints("ws://127.0.0.1:9000", None).unwrap().api,
            "http://127.0.0.1:9000/v1"
        );
        let custom = api_endpoints("wss://porten.ai", Some("https://api.example.com/v1/")).unwrap();
        assert_eq!(custom.api, "https://api.example.com/v1");
        assert_eq!(custom.warming, "https://api.example.com/public/v1/models/warming");
        // The key never travels unencrypted beyond this machine.
        assert!(api_endpoints("ws://porten.ai", None).is_err());
        assert!(api_endpoints("wss://porten.ai", Some("http://api.example.com/v1")).is_err());
        assert!(api_endpoints("file:///x", None).is_err());
        assert!(api_endpoints("porten.ai", None).is_err());
    }

    #[test]
    fn catalog_shapes_are_read_leniently() {
        let openai = json!({"object": "list", "data": [{"id": "b"}, {"id": "a"}, {"id": "a"}, {"x": 1}]});
        assert_eq!(parse_catalog(&openai), vec!["a", "b"]);
        assert_eq!(parse_catalog(&json!(["z", "y"])), vec!["y", "z"]);
        assert!(parse_catalog(&json!({"data": 5})).is_empty());
        assert!(parse_catalog(&json!(null)).is_empty());
    }

    #[test]
    fn the_documented_warming_shape_is_read() {
        let doc = json!({"model": "qwen3-coder-next", "ready": false, "phase": "downloading",
                         "done_mb": 22272, "total_mb": 49131, "pct": 45});
        let w = parse_warming(&doc).unwrap();
        assert_eq!(w.phase.as_deref(), Some("downloading"));
        assert_eq!(
            (w.ready, w.done_mb, w.total_mb, w.pct),
            (false, Some(22272), Some(49131), Some(45.0))
        );
        assert!(w.in_progress());
        assert_eq!(
            w.describe("qwen3-coder-next"),
            "Porten is loading qwen3-coder-next: 22 of 49 GB (45 %)"
        );
        let ready = parse_warming(&json!({"model": "m", "ready": true, "phase": "ready"})).unwrap();
        assert!(!ready.in_progress());
        // No pct: computed from the MB figures.
        let w = parse_warming(&json!({"ready": false, "phase": "loading", "done_mb": 10, "total_mb": 40})).unwrap();
        assert_eq!(w.pct, Some(25.0));
        // Phase alone is enough.
        assert!(parse_warming(&json!({"phase": "loading"})).unwrap().in_progress());
        // Nothing usable.
        assert!(parse_warming(&json!({"pct": 30})).is_none());
        assert!(parse_warming(&json!("ready")).is_none());
        // Hostile figures are dropped or capped.
        let w = parse_warming(&json!({"ready": false, "pct": -4, "done_mb": -1, "total_mb": "NaN"})).unwrap();
        assert_eq!((w.pct, w.done_mb, w.total_mb), (None, None, None));
        assert_eq!(
            parse_warming(&json!({"ready": false, "pct": 400})).unwrap().pct,
            Some(100.0)
        );
    }

    #[test]
    fn the_old_guessed_warming_shape_still_reads() {
        let w = parse_warming(&json!({"warming": true, "progress": 0.4})).unwrap();
        assert_eq!((w.ready, w.pct), (false, Some(40.0)));
        assert!(!parse_warming(&json!({"warming": false})).unwrap().in_progress());
    }

    #[test]
    fn hub_errors_are_named() {
        assert!(matches!(
            classify_response("u", 401, r#"{"error":{"code":"invalid_api_key","message":"bad key"}}"#),
            Err(HubError::Unauthorized { code: Some(c), .. }) if c == "invalid_api_key"
        ));
        let forbidden = classify_response("u", 403, r#"{"error":{"code":"model_not_allowed"}}"#).unwrap_err();
        assert_eq!(
            forbidden.to_string(),
            "the Hub does not allow this (HTTP 403 model_not_allowed)"
        );
        let warming = classify_response("u", 503, r#"{"error":{"code":"model_warming","message":"retry"}}"#);
        assert_eq!(
            warming,
            Err(HubError::Warming {
                message: Some("retry".into())
            })
        );
        let no_node = classify_response("u", 503, r#"{"error":{"code":"no_available_node"}}"#).unwrap_err();
        assert!(no_node.to_string().contains("503 no_available_node"), "{no_node}");
        assert!(matches!(
            classify_response("u", 401, "<html>"),
            Err(HubError::Unauthorized { code: None, .. })
        ));
        assert!(matches!(
            classify_response("u", 200, "<html>"),
            Err(HubError::NotJson { .. })
        ));
        assert_eq!(classify_response("u", 200, "[1]"), Ok(json!([1])));
    }

    #[test]
    fn the_closest_offered_id_is_suggested() {
        let offered: Vec<String> = [
            "mlx-community/Qwen3-30B-A3B-4bit",
            "mlx-community/Llama-3.3-70B-Instruct-4bit",
            "mlx-community/gpt-oss-120b-MXFP4-Q8",
        ]
        .map(String::from)
        .to_vec();
        // One character off.
        assert_eq!(
            closest_offered("mlx-community/Qwen3-30B-A3B-4bi", &offered),
            Some("mlx-community/Qwen3-30B-A3B-4bit")
        );
        // Same name, other case and separators.
        assert_eq!(
            closest_offered("mlx-community/llama_3.3_70b_instruct_4bit", &offered),
            Some("mlx-community/Llama-3.3-70B-Instruct-4bit")
        );
        assert_eq!(closest_offered("mlx-community/Kimi-K2", &offered), None);
        assert_eq!(closest_offered("x", &[]), None);
    }

    fn check(catalog: CatalogState, note: Option<&str>, models: Vec<ModelCheck>) -> HubCheck {
        HubCheck {
            hub_url: "wss://porten.ai".into(),
            api_url: Some("https://porten.ai/v1".into()),
            api_key: None,
            catalog,
            note: note.map(str::to_owned),
            offered: Vec::new(),
            models,
            checked_at_unix_ms: 0,
        }
    }

    fn model(id: &str, offered: Option<bool>, closest: Option<&str>, warming: Option<Warming>) -> ModelCheck {
        ModelCheck {
            id: id.into(),
            offered,
            closest: closest.map(str::to_owned),
            warming,
            warming_error: None,
        }
    }

    #[test]
    fn warnings_name_the_model_and_the_fix() {
        let warming = parse_warming(&json!({"ready": false, "phase": "loading", "done_mb": 1000, "total_mb": 4000}));
        let hub = check(
            CatalogState::Checked,
            None,
            vec![
                model("org/Model-7b", Some(false), Some("org/Model-7B"), None),
                model("org/Other", Some(true), None, warming),
            ],
        );
        let warnings = hub.warnings();
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[0].code, "model_not_offered");
        assert!(warnings[0].fix.contains("org/Model-7B"), "{}", warnings[0].fix);
        assert_eq!(warnings[1].code, "model_warming");
        assert_eq!(warnings[1].message, "Porten is loading org/Other: 1 of 4 GB (25 %)");
        assert!(warnings[1].fix.contains("into memory"));
    }

    #[test]
    fn no_key_is_no_warning_but_a_refused_key_is_named() {
        let no_key = check(
            CatalogState::NeedsKey,
            Some(NEEDS_KEY),
            vec![model("a", None, None, None)],
        );
        assert!(no_key.warnings().is_empty());
        let refused = check(
            CatalogState::KeyRejected,
            Some("the Hub refused the API key (HTTP 401): the key is wrong or revoked"),
            vec![],
        );
        let warnings = refused.warnings();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "porten_key_rejected");
        assert!(warnings[0].message.contains("401"), "{}", warnings[0].message);
        let forbidden = check(CatalogState::Forbidden, Some("HTTP 403"), vec![]).warnings();
        assert_eq!(forbidden[0].code, "porten_key_rejected");
        let down = check(CatalogState::Unreachable, Some("connection refused"), vec![]).warnings();
        assert_eq!(down[0].code, "porten_hub_unreachable");
    }
}
