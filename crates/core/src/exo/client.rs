//! A small blocking client for exo's HTTP API (no authentication; port 52415 by default).
//!
//! One `ureq` agent is reused for every call; timeouts are short because exo answers from
//! memory, and a slow answer means exo is stuck, which the user should see.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

use super::models::{parse_models, ModelCard};
use super::state::{parse_state, ClusterView};

/// exo's `/state` for a large cluster is a few MiB; anything over this is refused. The same cap
/// as a report bundle's files, so a `/state` that `report` saves is one `doctor` reads.
pub const MAX_BODY_BYTES: u64 = crate::files::BUNDLE_FILE_MAX_BYTES;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ExoError {
    #[error("the exo URL {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("exo is not answering on {address}")]
    NotAnswering { address: String },
    #[error("exo on {address} did not answer {path} within {seconds} s")]
    Timeout {
        address: String,
        path: String,
        seconds: u64,
    },
    #[error("exo on {address} answered {method} {path} with HTTP {status}: {message}")]
    Status {
        address: String,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("exo on {address} sent more than 32 MiB for {path}")]
    TooLarge { address: String, path: String },
    #[error("exo on {address} sent an unreadable answer to {path}: {detail}")]
    BadBody {
        address: String,
        path: String,
        detail: String,
    },
    #[error("talking to exo on {address} ({path}): {detail}")]
    Transport {
        address: String,
        path: String,
        detail: String,
    },
}

/// What `POST /place_instance` asks exo to do. exo's defaults: pipeline sharding over a ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceOptions {
    /// "Pipeline" (layers split across boxes) or "Tensor" (each layer split; wants RDMA).
    pub sharding: String,
    /// "MlxRing" (TCP) or "MlxJaccl" (RDMA over Thunderbolt).
    pub instance_meta: String,
    pub min_nodes: u32,
}

impl Default for PlaceOptions {
    fn default() -> Self {
        Self {
            sharding: "Pipeline".into(),
            instance_meta: "MlxRing".into(),
            min_nodes: 1,
        }
    }
}

/// exo's answer to a command: it is queued, not done; watch `/state` for the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandAccepted {
    pub message: Option<String>,
    pub command_id: Option<String>,
}

pub struct ExoClient {
    base_url: String,
    address: String,
    timeout: Duration,
    agent: ureq::Agent,
}

impl ExoClient {
    /// `base_url` like "http://127.0.0.1:52415" (a trailing slash is fine).
    pub fn new(base_url: &str) -> Result<Self, ExoError> {
        Self::with_timeout(base_url, DEFAULT_TIMEOUT)
    }

    /// The local exo on `port`.
    pub fn local(port: u16) -> Self {
        let base_url = format!("http://127.0.0.1:{port}");
        Self::build(base_url, format!("127.0.0.1:{port}"), DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, ExoError> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let bad = |reason: &str| ExoError::BadUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = trimmed
            .strip_prefix("http://")
            .ok_or_else(|| bad("it must start with http:// (exo serves plain HTTP)"))?;
        if rest.is_empty() || rest.contains('/') || rest.contains('?') {
            return Err(bad("give only the scheme, host and port, e.g. http://127.0.0.1:52415"));
        }
        let address = if rest.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            rest.to_owned()
        } else {
            format!("{rest}:80")
        };
        Ok(Self::build(trimmed.to_owned(), address, timeout))
    }

    fn build(base_url: String, address: String, timeout: Duration) -> Self {
        let connect = Some(timeout.min(Duration::from_secs(2)));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(connect);
        // ureq bounds a name lookup by running it on a new thread whenever an overall timeout is
        // set, even for an IP address: a thread per request, two per sample. An IP address needs
        // no lookup, so its requests get per-phase limits instead; a host name keeps the overall
        // one (an mDNS lookup can hang).
        let config = if address.parse::<std::net::SocketAddr>().is_ok() {
            config
                .timeout_send_request(Some(timeout))
                .timeout_send_body(Some(timeout))
                .timeout_recv_response(Some(timeout))
                .timeout_recv_body(Some(timeout))
        } else {
            config.timeout_global(Some(timeout))
        };
        let agent = config.build().into();
        Self {
            base_url,
            address,
            timeout,
            agent,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// "host:port" as used in messages.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// exo's liveness probe: the answering node's id (it changes on every exo restart).
    pub fn node_id(&self) -> Result<String, ExoError> {
        let value = self.get_json("/node_id")?;
        value.as_str().map(str::to_owned).ok_or_else(|| ExoError::BadBody {
            address: self.address.clone(),
            path: "/node_id".into(),
            detail: "expected a JSON string".into(),
        })
    }

    /// The raw `/state` JSON.
    pub fn state(&self) -> Result<Value, ExoError> {
        self.get_json("/state")
    }

    /// Every model card exo knows (not only the loaded ones).
    pub fn models(&self) -> Result<Vec<ModelCard>, ExoError> {
        Ok(parse_models(&self.get_json("/v1/models")?))
    }

    /// `/node_id` + `/state`, parsed. Lists no exposure warning: see [`super::check_exposure`].
    pub fn cluster_view(&self, now_unix_ms: u64) -> Result<ClusterView, ExoError> {
        let node_id = self.node_id()?;
        let state = self.state()?;
        Ok(parse_state(&state, Some(&node_id), now_unix_ms))
    }

    /// Asks exo to place and load `model_id` on at least `min_nodes` boxes (pipeline, ring).
    pub fn place_instance(&self, model_id: &str, min_nodes: u32) -> Result<CommandAccepted, ExoError> {
        self.place_instance_with(
            model_id,
            &PlaceOptions {
                min_nodes: min_nodes.max(1),
                ..PlaceOptions::default()
            },
        )
    }

    pub fn place_instance_with(&self, model_id: &str, options: &PlaceOptions) -> Result<CommandAccepted, ExoError> {
        let body = serde_json::json!({
            "model_id": model_id,
            "sharding": options.sharding,
            "instance_meta": options.instance_meta,
            "min_nodes": options.min_nodes,
        });
        let value = self.send("POST", "/place_instance", Some(body.to_string()))?;
        Ok(command_accepted(&value))
    }

    /// Unloads an instance (the `instance_id` of a [`super::state::ModelView`]).
    pub fn delete_instance(&self, instance_id: &str) -> Result<CommandAccepted, ExoError> {
        let path = format!("/instance/{}", percent_encode_segment(instance_id));
        let value = self.send("DELETE", &path, None)?;
        Ok(command_accepted(&value))
    }

    /// Makes a model exo does not list yet known to the whole cluster (`POST /models/add`): exo
    /// reads its config and weights from its model folders (offline) or Hugging Face, and
    /// answers with the card's id.
    pub fn add_model(&self, model_id: &str) -> Result<String, ExoError> {
        let body = serde_json::json!({ "model_id": model_id });
        let value = self.send("POST", "/models/add", Some(body.to_string()))?;
        Ok(value.get("id").and_then(Value::as_str).unwrap_or(model_id).to_owned())
    }

    /// Waits (at most `wait`, exo's cap is 300 s) until exo has placed an instance of
    /// `model_id` (`GET /instance/await`, a one-message SSE stream). Placed is not ready: the
    /// runners load after this; [`Self::cluster_view`] shows their progress.
    pub fn await_instance(&self, model_id: &str, wait: Duration) -> Result<AwaitOutcome, ExoError> {
        let seconds = wait.as_secs().clamp(1, 300);
        let path = format!(
            "/instance/await?model_id={}&timeout_seconds={seconds}",
            percent_encode_segment(model_id)
        );
        // This call waits on purpose: a client of its own whose timeout outlasts exo's.
        let waiting = Self::build(
            self.base_url.clone(),
            self.address.clone(),
            Duration::from_secs(seconds + 5),
        );
        let text = waiting.send_text("GET", &path, None)?;
        parse_await(&text).ok_or_else(|| ExoError::BadBody {
            address: self.address.clone(),
            path,
            detail: "no ready or timeout message in the stream".into(),
        })
    }

    fn get_json(&self, path: &str) -> Result<Value, ExoError> {
        self.send("GET", path, None)
    }

    fn send(&self, method: &'static str, path: &str, body: Option<String>) -> Result<Value, ExoError> {
        let text = self.send_text(method, path, body)?;
        serde_json::from_str(&text).map_err(|e| ExoError::BadBody {
            address: self.address.clone(),
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    fn send_text(&self, method: &'static str, path: &str, body: Option<String>) -> Result<String, ExoError> {
        let url = format!("{}{path}", self.base_url);
        let result = match (method, body) {
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body),
            ("DELETE", _) => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        };
        let mut response = result.map_err(|e| self.transport_error(path, e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| self.transport_error(path, e))?;
        if !(200..300).contains(&status) {
            return Err(ExoError::Status {
                address: self.address.clone(),
                method,
                path: path.to_owned(),
                status,
                message: error_message(&text),
            });
        }
        Ok(text)
    }

    fn transport_error(&self, path: &str, error: ureq::Error) -> ExoError {
        let address = self.address.clone();
        match error {
            ureq::Error::Timeout(_) => ExoError::Timeout {
                address,
                path: path.to_owned(),
                seconds: self.timeout.as_secs().max(1),
            },
            ureq::Error::BodyExceedsLimit(_) => ExoError::TooLarge {
                address,
                path: path.to_owned(),
            },
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => ExoError::NotAnswering { address },
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::AddrNotAvailable
                ) =>
            {
                ExoError::NotAnswering { address }
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => ExoError::Timeout {
                address,
                path: path.to_owned(),
                seconds: self.timeout.as_secs().max(1),
            },
            other => ExoError::Transport {
                address,
                path: path.to_owned(),
                detail: other.to_string(),
            },
        }
    }
}

/// How `GET /instance/await` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwaitOutcome {
    Placed { instance_id: Option<String> },
    TimedOut { message: String },
}

/// The first `data:` message of an `/instance/await` stream: `{"type":"ready","instance":{…}}`
/// or `{"type":"timeout","message":…}` (snake_case here, unlike `/state`).
pub fn parse_await(stream: &str) -> Option<AwaitOutcome> {
    stream.lines().find_map(|line| {
        let data: Value = serde_json::from_str(line.strip_prefix("data:")?.trim()).ok()?;
        match data.get("type")?.as_str()? {
            "ready" => {
                let instance = data.get("instance")?;
                let inner = instance.as_object()?.values().next().unwrap_or(instance);
                let instance_id = ["instance_id", "instanceId"]
                    .iter()
                    .find_map(|k| inner.get(*k).and_then(Value::as_str))
                    .map(str::to_owned);
                Some(AwaitOutcome::Placed { instance_id })
            }
            "timeout" => Some(AwaitOutcome::TimedOut {
                message: data
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no instance was placed")
                    .to_owned(),
            }),
            _ => None,
        }
    })
}

fn command_accepted(value: &Value) -> CommandAccepted {
    CommandAccepted {
        message: value.get("message").and_then(Value::as_str).map(str::to_owned),
        command_id: value.get("command_id").and_then(Value::as_str).map(str::to_owned),
    }
}

/// exo's errors are `{"error": {"message": …}}` (its handler) or `{"detail": …}` (FastAPI's).
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("detail"))
            .map(|m| m.as_str().map(str::to_owned).unwrap_or_else(|| m.to_string()))
    });
    message.unwrap_or_else(|| body.chars().take(200).collect::<String>().trim().to_owned())
}

/// Instance ids are UUIDs; anything else is escaped so it stays one path segment.
fn percent_encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_addresses_named() {
        let client = ExoClient::new("http://127.0.0.1:52415/").unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:52415");
        assert_eq!(client.address(), "127.0.0.1:52415");
        assert_eq!(
            ExoClient::new("http://studio.local").unwrap().address(),
            "studio.local:80"
        );
        assert!(matches!(ExoClient::new("https://x:1"), Err(ExoError::BadUrl { .. })));
        assert!(matches!(
            ExoClient::new("http://x:1/state"),
            Err(ExoError::BadUrl { .. })
        ));
        assert!(matches!(
            ExoClient::new("127.0.0.1:52415"),
            Err(ExoError::BadUrl { .. })
        ));
    }

    #[test]
    fn refused_connection_says_exo_is_not_answering() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = ExoClient::local(port).node_id().unwrap_err();
        assert_eq!(error.to_string(), format!("exo is not answering on 127.0.0.1:{port}"));
    }

    #[test]
    fn error_bodies_are_summarised() {
        assert_eq!(
            error_message(r#"{"error": {"message": "Instance not found", "code": 404}}"#),
            "Instance not found"
        );
        assert_eq!(error_message(r#"{"detail": "Not Found"}"#), "Not Found");
        assert_eq!(error_message("plain text"), "plain text");
    }

    #[test]
    fn await_streams_from_the_real_exo() {
        let ready = include_str!("../../tests/fixtures/exo/real-linux/1node_GET_instance_await_ready.sse");
        assert_eq!(
            parse_await(ready),
            Some(AwaitOutcome::Placed {
                instance_id: Some("ae1d2d0f-6616-423d-8f3d-8ae5aea60dc2".into())
            })
        );
        // exo's AwaitInstanceTimeoutMessage.
        let timeout =
            ": keep-alive\n\ndata: {\"type\":\"timeout\",\"message\":\"No instance found for model a/b\"}\n\n";
        assert_eq!(
            parse_await(timeout),
            Some(AwaitOutcome::TimedOut {
                message: "No instance found for model a/b".into()
            })
        );
        assert_eq!(parse_await(": keep-alive\n\n"), None);
        assert_eq!(parse_await("data: {\"type\":\"ready\"}"), None);
    }

    #[test]
    fn instance_ids_stay_one_segment() {
        assert_eq!(percent_encode_segment("5d0c-6f0e"), "5d0c-6f0e");
        assert_eq!(percent_encode_segment("a/b c"), "a%2Fb%20c");
    }
}
