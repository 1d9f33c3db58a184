//! The Hub's addresses as the settings give them: its HTTP origin from the agent's URL, and
//! the catalog and warming endpoints. Settings validate with these, so a URL is refused when
//! it is saved, not when the catalog is next asked.

use serde::{Deserialize, Serialize};

/// Why a Hub or Hub API URL from the settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubUrlError {
    #[error("the Hub URL {url:?}: {reason}")]
    Unparsable { url: String, reason: String },
    #[error("the Hub URL {0:?} is not encrypted (use wss:// or https://)")]
    NotEncrypted(String),
    #[error("the Hub URL {url:?} has the unexpected scheme {scheme:?}")]
    Scheme { url: String, scheme: String },
    #[error("the Hub URL {url:?} cannot be turned into {scheme}")]
    NoHttpForm { url: String, scheme: &'static str },
    #[error("the Hub API URL {url:?}: {reason}")]
    ApiUnparsable { url: String, reason: String },
    #[error("the Hub API URL {0:?} must start with https://")]
    ApiNotHttps(String),
    #[error("the Hub API URL {0:?} needs a host and no query")]
    ApiShape(String),
}

/// The Hub's HTTP origin from its agent URL: `wss://porten.ai` → `https://porten.ai`; plain
/// `ws`/`http` only for a loopback Hub (a development Hub), since the key travels to it.
pub fn hub_http_base(hub_url: &str) -> Result<String, HubUrlError> {
    let mut parsed = url::Url::parse(hub_url.trim()).map_err(|e| HubUrlError::Unparsable {
        url: hub_url.to_owned(),
        reason: e.to_string(),
    })?;
    let scheme = match parsed.scheme() {
        "wss" | "https" => "https",
        "ws" | "http" if is_loopback(&parsed) => "http",
        "ws" | "http" => return Err(HubUrlError::NotEncrypted(hub_url.to_owned())),
        other => {
            return Err(HubUrlError::Scheme {
                url: hub_url.to_owned(),
                scheme: other.to_owned(),
            })
        }
    };
    parsed.set_scheme(scheme).map_err(|()| HubUrlError::NoHttpForm {
        url: hub_url.to_owned(),
        scheme,
    })?;
    parsed.set_path("");
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Whether a URL points at this machine (`localhost` or a loopback address).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Where the catalog and the warming state are asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The API base, e.g. `https://porten.ai/v1`; the catalog is `{api}/models`.
    pub api: String,
    /// e.g. `https://porten.ai/public/v1/models/warming`.
    pub warming: String,
}

/// The endpoints from the settings: `porten_api_url` when set (https, or http on loopback),
/// else derived from the Hub URL. The warming endpoint is on the API's origin.
pub fn api_endpoints(hub_url: &str, api_url: Option<&str>) -> Result<Endpoints, HubUrlError> {
    let api = match api_url.map(str::trim).filter(|a| !a.is_empty()) {
        Some(api) => {
            let parsed = url::Url::parse(api).map_err(|e| HubUrlError::ApiUnparsable {
                url: api.to_owned(),
                reason: e.to_string(),
            })?;
            match parsed.scheme() {
                "https" => {}
                "http" if is_loopback(&parsed) => {}
                _ => return Err(HubUrlError::ApiNotHttps(api.to_owned())),
            }
            if parsed.host().is_none() || parsed.query().is_some() {
                return Err(HubUrlError::ApiShape(api.to_owned()));
            }
            api.trim_end_matches('/').to_owned()
        }
        None => format!("{}/v1", hub_http_base(hub_url)?),
    };
    let origin = url::Url::parse(&api)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| HubUrlError::ApiUnparsable {
            url: api.clone(),
            reason: e.to_string(),
        })?;
    Ok(Endpoints {
        warming: format!("{origin}/public/v1/models/warming"),
        api,
    })
}
