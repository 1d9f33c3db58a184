//! The cluster through exo's HTTP API: parse `/state` into a [`ClusterView`], list and load
//! models, pool the boxes' memory and tell whether a model fits.
//!
//! - [`state`]: pure parser `/state` → [`ClusterView`] (nodes, links, models, warnings);
//! - [`models`]: `/v1/models` → [`ModelCard`]s;
//! - [`pool`] / [`fit`]: usable memory and "does it fit";
//! - [`client`]: the blocking HTTP client;
//! - [`watcher`]: election debounce and join/leave/link/model events.

pub mod client;
pub mod fit;
pub mod launch;
pub mod models;
pub mod pool;
pub mod state;
pub mod watcher;

pub use client::{AwaitOutcome, ExoClient, ExoError, PlaceOptions};
pub use fit::{fit, fit_model, FitVerdict};
pub use models::ModelCard;
pub use pool::{Pool, PoolConfig};
pub use state::{loaded_model_ids, parse_state, ClusterView, LinkKind, LinkView, ModelState, ModelView, NodeView};
pub use watcher::{ClusterEvent, Observation, Watcher, ELECTION_DEBOUNCE};

use std::net::IpAddr;
use std::time::Duration;

use crate::clock::now_unix_ms;
use clusterbar_model::Snapshot;
use clusterbar_model::{Severity, Warning};

/// exo is down or unreachable: the cluster part of the snapshot is empty and this says why.
pub fn exo_unreachable_warning(error: &ExoError) -> Warning {
    Warning::new(
        clusterbar_model::WarningCode::ExoUnreachable,
        Severity::Error,
        format!("Cannot read the cluster: {error}."),
        "Start exo on this Mac (or check the exo URL and port in Settings).",
    )
}

/// The models a benchmark asks for when none is named: the ones exo has loaded (its
/// `/v1/models` lists every model card it knows, loaded or not). `Ok(None)` when the server is
/// not exo (no `/state`: llama.cpp, vLLM, Ollama), whose `/v1/models` are the loaded ones.
pub fn models_to_bench(client: &ExoClient) -> Result<Option<Vec<String>>, String> {
    let Ok(view) = client.cluster_view(now_unix_ms()) else {
        return Ok(None);
    };
    let ids = loaded_model_ids(&view.models);
    if ids.is_empty() {
        return Err(format!(
            "exo at {} has no model loaded: load one first (clusterbar models load ID, or Load… in the popover)",
            client.base_url()
        ));
    }
    Ok(Some(ids))
}

/// Reads the cluster once: `/node_id` + `/state`, plus the exposure check.
pub fn read_cluster(client: &ExoClient) -> Result<ClusterView, ExoError> {
    let mut view = client.cluster_view(now_unix_ms())?;
    if let Some(warning) = check_exposure(client, &local_addresses()) {
        view.warnings.push(warning);
    }
    Ok(view)
}

/// Puts the cluster (or the reason it is missing) into a snapshot: sets `cluster`, adds the
/// cluster's warnings (or `exo_unreachable`) once each, and re-derives the tray state.
pub fn attach_cluster(snapshot: &mut Snapshot, cluster: Result<ClusterView, ExoError>) {
    let new_warnings = match &cluster {
        Ok(view) => view.warnings.clone(),
        Err(error) => vec![exo_unreachable_warning(error)],
    };
    for warning in new_warnings {
        clusterbar_model::add_warning(&mut snapshot.warnings, warning);
    }
    snapshot.cluster = cluster.ok();
    snapshot.derive_state();
}

/// Why exo cannot take its API port on this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortProblem {
    #[error("an exo already answers on port {port} (node {node_id}) but Clusterbar cannot see its process (another user's exo?): not starting a second")]
    OtherExo { port: u16, node_id: String },
    #[error("port {port} is in use by another program, so exo could not serve its API there: free the port, or choose another exo API port in Settings (the same on every Mac)")]
    Taken { port: u16 },
}

/// Before starting exo (when no running copy was found to adopt): is its API port free?
pub fn check_api_port(port: u16) -> Result<(), PortProblem> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_err() {
        return Ok(());
    }
    match ExoClient::with_timeout(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).and_then(|c| c.node_id())
    {
        Ok(node_id) => Err(PortProblem::OtherExo { port, node_id }),
        Err(_) => Err(PortProblem::Taken { port }),
    }
}

/// exo exits at once when its own pid-file lock is held ("daemon already running with PID N"):
/// the clear reason for a supervisor that gave up on that, from exo's last lines.
pub fn lock_held_reason(last_lines: &[String]) -> Option<String> {
    let line = last_lines.iter().rev().find(|l| l.contains("already running"))?;
    let pid = line
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|part| !part.is_empty())
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default();
    let file = launch::exo_pid_file()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default();
    Some(format!(
        "another exo{pid} holds exo's own lock{file}: exo runs once per user; stop that one, or let Clusterbar adopt it"
    ))
}

/// exo's API has no authentication and binds every interface by default. It is exposed when
/// it answers on one of this machine's non-loopback addresses (or the client already talks to
/// a non-loopback address). Each probe is a 500 ms `/node_id` on this machine itself.
pub fn check_exposure(client: &ExoClient, local_addresses: &[IpAddr]) -> Option<Warning> {
    let (host, port) = client.address().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !ip.is_loopback() {
            return Some(state::exo_api_exposed_warning(client.address()));
        }
    } else if host != "localhost" {
        return Some(state::exo_api_exposed_warning(client.address()));
    }
    let port: u16 = port.parse().ok()?;
    exposed_on(local_addresses, |ip| {
        let address = match ip {
            IpAddr::V4(v4) => format!("http://{v4}:{port}"),
            IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
        };
        ExoClient::with_timeout(&address, Duration::from_millis(500))
            .and_then(|probe| probe.node_id())
            .is_ok()
    })
    .map(|ip| state::exo_api_exposed_warning(&format!("{ip}:{port}")))
}

/// The first non-loopback, non-link-local-IPv6 address (at most four tried) where `answers`.
pub fn exposed_on(addresses: &[IpAddr], answers: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    addresses
        .iter()
        .copied()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .filter(|ip| match ip {
            // fe80:: needs a scope id to connect; not worth probing.
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .take(4)
        .find(|ip| answers(*ip))
}

/// This machine's interface addresses (empty when they cannot be listed).
pub fn local_addresses() -> Vec<IpAddr> {
    let Ok(networks) = sysinfo::Networks::new_with_refreshed_list() else {
        return Vec::new();
    };
    let mut addresses: Vec<IpAddr> = networks
        .values()
        .flat_map(|data| data.ip_networks().iter().map(|n| n.addr))
        .collect();
    // IPv4 first: that is what exo's peers use.
    addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    addresses.dedup();
    addresses
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn a_busy_port_is_named_and_a_held_lock_explained() {
        // A listener that is not exo.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                use std::io::Write;
                let mut stream = stream;
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
            }
        });
        assert_eq!(check_api_port(port), Err(PortProblem::Taken { port }));
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(check_api_port(free), Ok(()));

        let lines = vec!["[exo] daemon already running with PID 4242".to_owned()];
        let reason = lock_held_reason(&lines).unwrap();
        assert!(reason.contains("(pid 4242)") && reason.contains("exo.pid"), "{reason}");
        assert_eq!(lock_held_reason(&["exit code 1".to_owned()]), None);
    }

    #[test]
    fn exposure_probes_only_real_outside_addresses() {
        let addresses = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            "fe80::1".parse().unwrap(),
            "192.168.1.20".parse().unwrap(),
        ];
        let probed = std::cell::RefCell::new(Vec::new());
        let found = exposed_on(&addresses, |ip| {
            probed.borrow_mut().push(ip);
            true
        });
        assert_eq!(found, Some("192.168.1.20".parse().unwrap()));
        assert_eq!(probed.into_inner().len(), 1);
        assert_eq!(exposed_on(&addresses, |_| false), None);
    }

    #[test]
    fn a_client_on_a_lan_address_is_exposed_by_definition() {
        let client = ExoClient::new("http://192.168.1.20:52415").unwrap();
        let warning = check_exposure(&client, &[]).unwrap();
        assert_eq!(warning.code, "exo_api_exposed");
        assert!(warning.message.contains("192.168.1.20:52415"));
        assert!(check_exposure(&ExoClient::local(1), &[]).is_none());
    }
}
