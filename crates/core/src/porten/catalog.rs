//! The Hub's curated catalog: which model ids Porten offers, and which are still warming up.
//!
//! - `GET <hub>/v1/models` — OpenAI list shape, `{"object": "list", "data": [{"id": …}, …]}`
//!   (a bare list of ids or of `{"id"}` objects is accepted too).
//! - `GET <hub>/public/v1/models/warming?model=ID` — read leniently ([`parse_warming`]):
//!   `{"warming": bool, "progress": 0–1 or 0–100, "eta_s": n, "message": "…"}`; `"state":
//!   "warming"|"ready"` may stand in for `warming`, `"percent"` for `progress`; anything else is
//!   ignored. A 404 means "not warming".
//!
//! `<hub>` is the Hub URL with `wss://` → `https://` (`ws://` → `http://`, loopback only).
//! The Hub is asked at most every 5 minutes ([`CATALOG_TTL`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::warnings::{Severity, Warning};

pub const CATALOG_TTL: Duration = Duration::from_secs(5 * 60);
const HUB_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// The Hub's HTTP base from its agent URL: `wss://porten.ai` → `https://porten.ai`.
pub fn hub_http_base(hub_url: &str) -> Result<String, String> {
    let mut parsed = url::Url::parse(hub_url.trim()).map_err(|e| format!("the Hub URL {hub_url:?}: {e}"))?;
    let scheme = match parsed.scheme() {
        "wss" | "https" => "https",
        "ws" | "http" => "http",
        other => return Err(format!("the Hub URL {hub_url:?} has the unexpected scheme {other:?}")),
    };
    parsed
        .set_scheme(scheme)
        .map_err(|()| format!("the Hub URL {hub_url:?} cannot be turned into {scheme}"))?;
    parsed.set_path("");
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

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

/// A model the Hub is still preparing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warming {
    pub warming: bool,
    /// 0–1.
    pub progress: Option<f64>,
    pub eta_s: Option<u64>,
    pub message: Option<String>,
}

/// Reads the warming answer leniently (see the module docs); `None` when it says nothing usable.
pub fn parse_warming(value: &Value) -> Option<Warming> {
    let warming = value.get("warming").and_then(Value::as_bool).or_else(|| {
        value
            .get("state")
            .or_else(|| value.get("status"))
            .and_then(Value::as_str)
            .map(|s| s.eq_ignore_ascii_case("warming") || s.eq_ignore_ascii_case("warming_up"))
    })?;
    let progress = value
        .get("progress")
        .or_else(|| value.get("percent"))
        .and_then(Value::as_f64)
        .filter(|p| p.is_finite() && *p >= 0.0)
        .map(|p| if p > 1.0 { (p / 100.0).min(1.0) } else { p });
    Some(Warming {
        warming,
        progress,
        eta_s: value.get("eta_s").and_then(Value::as_u64),
        message: value.get("message").and_then(Value::as_str).map(str::to_owned),
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

/// `model_not_offered` for each loaded id the Hub does not list; `model_warming` for each
/// offered one it is still preparing.
pub fn catalog_warnings(loaded: &[String], offered: &[String], warming: &[(String, Warming)]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for id in loaded {
        if offered.iter().any(|o| o == id) {
            continue;
        }
        let fix = match closest_offered(id, offered) {
            Some(close) => {
                format!("Did you mean {close}? Load that exact id in exo; Porten only routes ids in its catalog.")
            }
            None => "Load a model from Porten's catalog (porten.ai/models); others get no requests.".to_owned(),
        };
        warnings.push(Warning::new(
            "model_not_offered",
            Severity::Warning,
            format!("{id} is loaded in exo but Porten does not offer it, so the agent gets no requests for it."),
            fix,
        ));
    }
    for (id, state) in warming.iter().filter(|(_, w)| w.warming) {
        let progress = state
            .progress
            .map(|p| format!(" ({:.0} %)", p * 100.0))
            .unwrap_or_default();
        let eta = state.eta_s.map(|s| format!(", about {s} s left")).unwrap_or_default();
        warnings.push(Warning::new(
            "model_warming",
            Severity::Warning,
            format!("Porten is still warming up {id}{progress}{eta}; requests start when it is done."),
            "Nothing to do: keep the model loaded.",
        ));
    }
    warnings
}

/// The Hub could not be asked; the catalog checks are skipped.
pub fn hub_unreachable(reason: &str) -> Warning {
    Warning::new(
        "porten_hub_unreachable",
        Severity::Warning,
        format!("Cannot read Porten's model catalog: {reason}."),
        "Check the network and the Hub URL in Settings; the agent's models are not checked until then.",
    )
}

/// Asks the Hub (at most every [`CATALOG_TTL`]) and keeps the answer.
pub struct CatalogChecker {
    base: Result<String, String>,
    agent: ureq::Agent,
    ttl: Duration,
    cached: Option<(Instant, Vec<String>, Vec<Warning>)>,
}

impl CatalogChecker {
    pub fn new(hub_url: &str) -> Self {
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
            base: hub_http_base(hub_url),
            agent,
            ttl: CATALOG_TTL,
            cached: None,
        }
    }

    /// A shorter cache, for tests.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn get(&self, base: &str, path_and_query: &str) -> Result<Option<Value>, String> {
        let url = format!("{base}{path_and_query}");
        let mut response = self.agent.get(&url).call().map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(format!("{url} answered HTTP {status}"));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{url} sent no JSON: {e}"))
    }

    /// Warnings about the loaded ids: not offered, warming, or the Hub unreachable.
    pub fn check(&mut self, loaded: &[String], now: Instant) -> Vec<Warning> {
        if let Some((at, ids, warnings)) = &self.cached {
            if now.saturating_duration_since(*at) < self.ttl && ids == loaded {
                return warnings.clone();
            }
        }
        let warnings = self.ask(loaded);
        self.cached = Some((now, loaded.to_vec(), warnings.clone()));
        warnings
    }

    fn ask(&self, loaded: &[String]) -> Vec<Warning> {
        let base = match &self.base {
            Ok(base) => base.clone(),
            Err(reason) => return vec![hub_unreachable(reason)],
        };
        let offered = match self.get(&base, "/v1/models") {
            Ok(Some(value)) => parse_catalog(&value),
            Ok(None) => return vec![hub_unreachable(&format!("{base}/v1/models answered 404"))],
            Err(reason) => return vec![hub_unreachable(&reason)],
        };
        let mut warming = Vec::new();
        for id in loaded.iter().filter(|id| offered.contains(id)) {
            let query: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            match self.get(&base, &format!("/public/v1/models/warming?model={query}")) {
                Ok(Some(value)) => {
                    if let Some(state) = parse_warming(&value) {
                        warming.push((id.clone(), state));
                    }
                }
                Ok(None) => {}
                Err(reason) => tracing::debug!(%reason, "warming state unavailable"),
            }
        }
        catalog_warnings(loaded, &offered, &warming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hub_base_follows_the_agent_url() {
        assert_eq!(hub_http_base("wss://porten.ai").unwrap(), "https://porten.ai");
        assert_eq!(
            hub_http_base("wss://hub.porten.ai/agent?x=1").unwrap(),
            "https://hub.porten.ai"
        );
        assert_eq!(hub_http_base("ws://127.0.0.1:9000").unwrap(), "http://127.0.0.1:9000");
        assert!(hub_http_base("file:///x").is_err());
        assert!(hub_http_base("porten.ai").is_err());
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
    fn warming_shapes_are_read_leniently() {
        let w = parse_warming(&json!({"warming": true, "progress": 0.4, "eta_s": 90})).unwrap();
        assert_eq!((w.warming, w.progress, w.eta_s), (true, Some(0.4), Some(90)));
        let w = parse_warming(&json!({"state": "warming", "percent": 55})).unwrap();
        assert_eq!((w.warming, w.progress), (true, Some(0.55)));
        assert!(!parse_warming(&json!({"state": "ready"})).unwrap().warming);
        assert!(parse_warming(&json!({"progress": 0.3})).is_none());
        assert_eq!(
            parse_warming(&json!({"warming": true, "progress": -1}))
                .unwrap()
                .progress,
            None
        );
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

    #[test]
    fn warnings_name_the_model_and_the_fix() {
        let offered = vec!["org/Model-7B".to_owned(), "org/Other".to_owned()];
        let loaded = vec!["org/Model-7b".to_owned(), "org/Other".to_owned()];
        let warming = vec![(
            "org/Other".to_owned(),
            Warming {
                warming: true,
                progress: Some(0.25),
                eta_s: None,
                message: None,
            },
        )];
        let warnings = catalog_warnings(&loaded, &offered, &warming);
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[0].code, "model_not_offered");
        assert!(warnings[0].fix.contains("org/Model-7B"), "{}", warnings[0].fix);
        assert_eq!(warnings[1].code, "model_warming");
        assert!(warnings[1].message.contains("25 %"));
    }
}
