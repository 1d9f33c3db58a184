//! Ollama as a second engine (issue #14): each box that runs an Ollama daemon, read over its HTTP
//! API as Ollama's `docs/api.md` documents it.
//!
//! - [`parse`]: pure parsers for `/api/ps`, `/api/tags`, `/api/version` and keep-alive values;
//! - [`env`]: the daemon's settings (`launchctl getenv` on macOS, `/proc/PID/environ` on Linux);
//! - [`route`]: which interface reaches a remote box, and what kind of link it is;
//! - [`evictions`]: models unloaded early to make room, from one sample to the next;
//! - [`Reader`]: what the collector keeps between samples; one read of every box, in parallel.
//!
//! Boxes are found like exo: this Mac at `127.0.0.1:<ollama_local_port>` (11434) when it answers,
//! plus every `host:port` in the settings' `ollama_boxes`, which is shown with the reason when it
//! does not answer. Reading only: nothing here loads, unloads or pulls a model.

pub mod bench;
pub mod env;
pub mod evictions;
pub mod fit;
pub mod parse;
pub mod route;

pub use clusterbar_model::ollama::{
    InterfaceKind, OllamaBox, OllamaEnv, OllamaEnvSource, OllamaEviction, OllamaInstalledModel, OllamaLoadedModel,
    OllamaRoute, OllamaView,
};

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::settings::Settings;

/// Ollama answers these from memory; a slow answer is a stuck or far-away daemon, and the
/// sampler must not wait on it.
pub const READ_TIMEOUT: Duration = Duration::from_millis(1500);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// `/api/tags` walks the model store on disk: not every sample.
const TAGS_EVERY: Duration = Duration::from_secs(30);
/// Versions, daemon settings and routes change rarely and cost a fork or a request each.
const SLOW_PARTS_EVERY: Duration = Duration::from_secs(60);
/// An answer larger than this is not Ollama's (a `/api/tags` of hundreds of models is ~1 MiB).
const MAX_BODY_BYTES: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OllamaError {
    #[error("{address:?} is not host:port ({reason})")]
    BadAddress { address: String, reason: String },
    #[error("not answering")]
    NotAnswering,
    #[error("no answer to {path} within {ms} ms")]
    Timeout { path: String, ms: u128 },
    #[error("HTTP {status} on {path}")]
    Status { path: String, status: u16 },
    #[error("unreadable answer to {path}: {detail}")]
    Shape { path: String, detail: String },
    #[error("talking to it ({path}): {detail}")]
    Transport { path: String, detail: String },
}

/// Checks a `host:port` (`[v6]:port` for IPv6): see [`crate::settings::check_host_port`].
pub fn check_address(address: &str) -> Result<(String, u16), OllamaError> {
    crate::settings::check_host_port(address).map_err(|reason| OllamaError::BadAddress {
        address: address.to_owned(),
        reason,
    })
}

/// A blocking client for one box.
pub struct OllamaClient {
    base_url: String,
    agent: ureq::Agent,
}

impl OllamaClient {
    pub fn new(address: &str) -> Result<Self, OllamaError> {
        let (host, port) = check_address(address)?;
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT));
        // As exo's client: an IP address needs no lookup, so per-phase limits (no thread per
        // request); a host name gets an overall limit (an mDNS lookup can hang).
        let config = if host.parse::<std::net::IpAddr>().is_ok() {
            config
                .timeout_send_request(Some(READ_TIMEOUT))
                .timeout_recv_response(Some(READ_TIMEOUT))
                .timeout_recv_body(Some(READ_TIMEOUT))
        } else {
            config.timeout_global(Some(READ_TIMEOUT))
        };
        Ok(Self {
            base_url: format!("http://{host_part}:{port}"),
            agent: config.build().into(),
        })
    }

    pub fn get_json(&self, path: &str) -> Result<Value, OllamaError> {
        let url = format!("{}{path}", self.base_url);
        let transport = |error: ureq::Error| match error {
            ureq::Error::Timeout(_) => OllamaError::Timeout {
                path: path.to_owned(),
                ms: READ_TIMEOUT.as_millis(),
            },
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => OllamaError::NotAnswering,
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::AddrNotAvailable
                        | std::io::ErrorKind::TimedOut
                ) =>
            {
                OllamaError::NotAnswering
            }
            other => OllamaError::Transport {
                path: path.to_owned(),
                detail: other.to_string(),
            },
        };
        let mut response = self.agent.get(&url).call().map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(OllamaError::Status {
                path: path.to_owned(),
                status,
            });
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(transport)?;
        serde_json::from_str(&text).map_err(|e| OllamaError::Shape {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }
}

/// One box to read this sample.
#[derive(Debug, Clone)]
struct Target {
    address: String,
    is_local: bool,
    configured: bool,
}

/// What one box answered (read on a thread of its own).
struct Answer {
    version: Option<Result<String, OllamaError>>,
    ps: Result<Vec<OllamaLoadedModel>, OllamaError>,
    tags: Option<Result<Vec<OllamaInstalledModel>, OllamaError>>,
}

/// What the interfaces are, from this sample's hardware probes (for the route check).
#[derive(Debug, Clone, Default)]
pub struct Interfaces {
    /// Interfaces tied to a Thunderbolt port or the bridge.
    pub thunderbolt: Vec<String>,
    /// macOS `networksetup -listallhardwareports`: port name → device.
    pub hardware_ports: BTreeMap<String, String>,
}

/// What the collector keeps between samples.
#[derive(Default)]
pub struct Reader {
    evictions: evictions::EvictionTracker,
    clients: HashMap<String, OllamaClient>,
    versions: HashMap<String, (Instant, String)>,
    tags: HashMap<String, (Instant, Vec<OllamaInstalledModel>)>,
    routes: HashMap<String, (Instant, Option<OllamaRoute>)>,
    local_env: Option<(Instant, Option<OllamaEnv>)>,
}

/// Where this Mac's Ollama is looked for: the setting `ollama_local_port`, unless
/// `CLUSTERBAR_OLLAMA_LOCAL_PORT` says otherwise (0: not looked for) — how the test suite keeps
/// an Ollama running on the machine out of its isolated runs, as `CLUSTERBAR_PROCESS_SCOPE` keeps
/// EXO.app out. Unset in normal use.
pub fn local_port(settings: &Settings) -> u16 {
    std::env::var("CLUSTERBAR_OLLAMA_LOCAL_PORT")
        .ok()
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or(settings.ollama_local_port)
}

impl Reader {
    /// Reads every box (this Mac's when it answers, the configured ones always), in parallel.
    /// `None` when there is no box to show.
    pub fn read(&mut self, settings: &Settings, interfaces: &Interfaces, now_unix_ms: u64) -> Option<OllamaView> {
        let port = local_port(settings);
        let local = (port != 0).then(|| format!("127.0.0.1:{port}"));
        let mut targets: Vec<Target> = Vec::new();
        if let Some(address) = &local {
            targets.push(Target {
                address: address.clone(),
                is_local: true,
                configured: false,
            });
        }
        for address in &settings.ollama_boxes {
            let address = address.trim().to_owned();
            if let Some(known) = targets.iter_mut().find(|t| t.address == address) {
                known.configured = true;
            } else {
                targets.push(Target {
                    address,
                    is_local: false,
                    configured: true,
                });
            }
        }
        let mut boxes = Vec::new();
        let answers = self.ask_all(&targets);
        for (target, answer) in targets.iter().zip(answers) {
            // No answer, or no /api/ps: the box cannot be asked this sample.
            let (version, loaded, tags) = match answer.and_then(|a| a.ps.map(|loaded| (a.version, loaded, a.tags))) {
                Ok(parts) => parts,
                // The local daemon is shown only when it answers.
                Err(_) if target.is_local && !target.configured => {
                    self.evictions.forget(&target.address);
                    continue;
                }
                Err(error) => {
                    boxes.push(unreachable(target, error));
                    continue;
                }
            };
            let mut error = None;
            match version {
                Some(Ok(version)) => {
                    self.versions.insert(target.address.clone(), (Instant::now(), version));
                }
                Some(Err(e)) => error = Some(format!("version: {e}")),
                None => {}
            }
            match tags {
                Some(Ok(tags)) => {
                    self.tags.insert(target.address.clone(), (Instant::now(), tags));
                }
                Some(Err(e)) => error = Some(format!("installed models: {e}")),
                None => {}
            }
            let env = if target.is_local { self.local_env() } else { None };
            let evictions = self.evictions.observe(
                &target.address,
                &loaded,
                env.as_ref().and_then(|e| e.max_loaded_models),
                now_unix_ms,
            );
            boxes.push(OllamaBox {
                address: target.address.clone(),
                name: box_name(target),
                is_local: target.is_local,
                reachable: true,
                error,
                version: self.versions.get(&target.address).map(|(_, v)| v.clone()),
                loaded,
                installed: self
                    .tags
                    .get(&target.address)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default(),
                env,
                route: if target.is_local {
                    None
                } else {
                    self.route(&target.address, interfaces)
                },
                evictions,
            });
        }
        // A configured box that does not answer still gets its route: the wrong route may be why.
        for b in boxes.iter_mut().filter(|b| !b.reachable) {
            self.evictions.forget(&b.address);
            if !b.is_local {
                b.route = self.route(&b.address, interfaces);
            }
        }
        (!boxes.is_empty()).then_some(OllamaView { boxes })
    }

    /// One thread per box (a handful at most): a box that does not answer costs its timeout
    /// once, not once per box.
    fn ask_all(&mut self, targets: &[Target]) -> Vec<Result<Answer, OllamaError>> {
        for target in targets {
            if !self.clients.contains_key(&target.address) {
                if let Ok(client) = OllamaClient::new(&target.address) {
                    self.clients.insert(target.address.clone(), client);
                }
            }
        }
        let due = |at: Option<&Instant>, every: Duration| at.is_none_or(|at| at.elapsed() >= every);
        let clients = &self.clients;
        let versions = &self.versions;
        let tags = &self.tags;
        std::thread::scope(|scope| {
            let handles: Vec<_> = targets
                .iter()
                .map(|target| {
                    let client = clients.get(&target.address);
                    let want_version = due(versions.get(&target.address).map(|(at, _)| at), SLOW_PARTS_EVERY);
                    let want_tags = due(tags.get(&target.address).map(|(at, _)| at), TAGS_EVERY);
                    let address = target.address.clone();
                    scope.spawn(move || {
                        let client = match client {
                            Some(client) => client,
                            None => return Err(OllamaClient::new(&address).err().unwrap_or(OllamaError::NotAnswering)),
                        };
                        let now = crate::clock::now_unix_ms();
                        // `/api/ps` first: when it does not answer, nothing else is asked.
                        let ps = client.get_json("/api/ps").and_then(|v| parse::parse_ps(&v, now));
                        if matches!(ps, Err(OllamaError::NotAnswering | OllamaError::Timeout { .. })) {
                            return Err(ps.err().unwrap_or(OllamaError::NotAnswering));
                        }
                        let version = want_version
                            .then(|| client.get_json("/api/version").and_then(|v| parse::parse_version(&v)));
                        let tags = want_tags.then(|| client.get_json("/api/tags").and_then(|v| parse::parse_tags(&v)));
                        Ok(Answer { version, ps, tags })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(OllamaError::NotAnswering)))
                .collect()
        })
    }

    fn local_env(&mut self) -> Option<OllamaEnv> {
        let due = self
            .local_env
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= SLOW_PARTS_EVERY);
        if due {
            self.local_env = Some((Instant::now(), env::read_local()));
        }
        self.local_env.as_ref().and_then(|(_, env)| env.clone())
    }

    /// The route to a remote box's IP address (a host name is not looked up: that can hang).
    fn route(&mut self, address: &str, interfaces: &Interfaces) -> Option<OllamaRoute> {
        let (host, _) = check_address(address).ok()?;
        let ip: std::net::IpAddr = host.parse().ok()?;
        if ip.is_loopback() {
            return Some(OllamaRoute {
                interface: "loopback".into(),
                kind: InterfaceKind::Loopback,
            });
        }
        let due = self
            .routes
            .get(address)
            .is_none_or(|(at, _)| at.elapsed() >= SLOW_PARTS_EVERY);
        if due {
            let found = match route::interface_to(ip) {
                Ok(interface) => Some(OllamaRoute {
                    kind: route::classify_interface(&interface, &interfaces.thunderbolt, &interfaces.hardware_ports),
                    interface,
                }),
                Err(error) => {
                    tracing::debug!(%error, address, "no route to an Ollama box");
                    None
                }
            };
            self.routes.insert(address.to_owned(), (Instant::now(), found));
        }
        self.routes.get(address).and_then(|(_, r)| r.clone())
    }
}

fn box_name(target: &Target) -> String {
    if target.is_local {
        return "this Mac".into();
    }
    check_address(&target.address)
        .map(|(host, _)| host)
        .unwrap_or_else(|_| target.address.clone())
}

fn unreachable(target: &Target, error: OllamaError) -> OllamaBox {
    OllamaBox {
        address: target.address.clone(),
        name: box_name(target),
        is_local: target.is_local,
        reachable: false,
        error: Some(error.to_string()),
        version: None,
        loaded: Vec::new(),
        installed: Vec::new(),
        env: None,
        route: None,
        evictions: Vec::new(),
    }
}

/// A loaded model as the tests need it: a name, when it unloads, whether pinned; 1 byte, nothing
/// else known.
#[cfg(test)]
pub(crate) fn loaded_model(name: &str, expires_at_unix_ms: Option<u64>, pinned: bool) -> OllamaLoadedModel {
    OllamaLoadedModel {
        name: name.into(),
        size_bytes: 1,
        vram_bytes: None,
        context_length: None,
        parameter_size: None,
        quantization: None,
        expires_at_unix_ms,
        pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        assert_eq!(
            check_address("192.168.99.2:11434").unwrap(),
            ("192.168.99.2".into(), 11434)
        );
        assert_eq!(
            check_address("studio.local:11436").unwrap(),
            ("studio.local".into(), 11436)
        );
        assert_eq!(check_address("[fe80::1]:11434").unwrap(), ("fe80::1".into(), 11434));
        for bad in [
            "http://192.168.99.2:11434",
            "192.168.99.2",
            "192.168.99.2:0",
            "192.168.99.2:99999",
            ":11434",
            "fe80::1:11434",
            "[nonsense]:1",
            "a b:1",
            "host:1/api",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_configured_box_that_does_not_answer_is_shown_with_the_reason() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = Settings {
            ollama_local_port: 0,
            ollama_boxes: vec![format!("127.0.0.1:{port}"), "bad address".into()],
            ..Settings::default()
        };
        let view = Reader::default().read(&settings, &Interfaces::default(), 0).unwrap();
        assert_eq!(view.boxes.len(), 2);
        assert!(!view.boxes[0].reachable);
        assert_eq!(view.boxes[0].error.as_deref(), Some("not answering"));
        assert_eq!(
            view.boxes[0].route.as_ref().map(|r| r.kind),
            Some(InterfaceKind::Loopback)
        );
        assert!(view.boxes[1].error.as_deref().unwrap().contains("is not host:port"));
        // A local daemon that does not answer is simply not there.
        let local_only = Settings {
            ollama_local_port: port,
            ..Settings::default()
        };
        assert_eq!(Reader::default().read(&local_only, &Interfaces::default(), 0), None);
    }
}
