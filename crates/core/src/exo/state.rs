//! A pure parser from exo's `GET /state` JSON to a [`ClusterView`].
//!
//! exo serialises pydantic models camelCase, wraps tagged unions as `{"ClassName": {...}}`
//! and sizes as `{"inBytes": n}`. The parser walks `serde_json::Value` rather than typed
//! structs because exo changes these shapes between releases: anything it does not know is
//! skipped (and named in [`ClusterView::unknown`]), never an error.
//!
//! Membership comes from `topology.nodes` only: `nodeIdentities` and the other per-node maps
//! keep entries for nodes that left ("ghosts").

pub use clusterbar_model::cluster::{
    ClusterView, LinkKind, LinkView, ModelState, ModelView, NodeView, ShardView, ThunderboltPort, NODE_STALE_AFTER_S,
    TB_FULL_SPEED_GBPS,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use clusterbar_model::warning::{Severity, Warning, WarningScope};

/// Parses `/state`. `this_node_id` is what `/node_id` answered; `now_unix_ms` dates `lastSeen`.
/// The ids of models exo has loaded and can serve now (ready or running): sorted, each once.
/// A model still downloading or loading, or failed, is never advertised.
pub fn loaded_model_ids(models: &[ModelView]) -> Vec<String> {
    let mut ids: Vec<String> = models
        .iter()
        .filter(|m| matches!(m.state, ModelState::Ready | ModelState::Running))
        .map(|m| m.id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

pub fn parse_state(state: &Value, this_node_id: Option<&str>, now_unix_ms: u64) -> ClusterView {
    let mut unknown = BTreeSet::new();
    let mut member_ids = member_ids(state, &mut unknown);
    drop_restarted_ghosts(state, &mut member_ids, this_node_id);
    let names = assign_names(state, &member_ids);
    let mut interfaces: HashMap<String, Vec<Interface>> = HashMap::new();

    let mut nodes = Vec::new();
    for id in &member_ids {
        let node = parse_node(state, id, &names, this_node_id, now_unix_ms);
        interfaces.insert(id.clone(), node_interfaces(state, id));
        nodes.push(node);
    }
    let links = parse_links(state, &member_ids, &names, &nodes, &interfaces, &mut unknown);
    let models = parse_models(state, &names, &mut unknown);

    let mut view = ClusterView {
        this_node_id: this_node_id.map(str::to_owned),
        // Saturating: a node claiming near-u64::MAX bytes must not wrap the total below one box.
        memory_total_bytes: nodes
            .iter()
            .filter_map(|n| n.memory_total_bytes)
            .fold(0, u64::saturating_add),
        memory_available_bytes: nodes
            .iter()
            .filter_map(|n| n.memory_available_bytes)
            .fold(0, u64::saturating_add),
        power_watts: nodes
            .iter()
            .filter_map(|n| n.power_watts)
            .fold(None, |sum, w| Some(sum.unwrap_or(0.0) + w)),
        last_event_applied_idx: whole(state, &["lastEventAppliedIdx", "last_event_applied_idx"]),
        // This exo reports itself every few seconds; when its own entry ages, nothing moves.
        frozen_for_s: this_node_id
            .filter(|id| member_ids.iter().any(|m| m == id))
            .and_then(|id| per_node(state, &["lastSeen", "last_seen"], id))
            .and_then(Value::as_str)
            .and_then(parse_timestamp_ms)
            .map(|seen| now_unix_ms.saturating_sub(seen) as f64 / 1000.0)
            .filter(|age| *age > NODE_STALE_AFTER_S),
        nodes,
        links,
        models,
        warnings: Vec::new(),
        unknown: unknown.into_iter().collect(),
        held_ms: None,
        pool: None,
    };
    view.warnings = cluster_warnings(&view);
    view
}

// ---------- small JSON helpers ----------

/// `{"ClassName": {...}}` → ("ClassName", inner). exo's tags are PascalCase class names.
fn tagged(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (tag, inner) = map.iter().next()?;
    tag.starts_with(|c: char| c.is_ascii_uppercase())
        .then_some((tag.as_str(), inner))
}

/// The inner object of a tagged union, or the value itself when it is not wrapped.
fn untag(value: &Value) -> &Value {
    tagged(value).map(|(_, inner)| inner).unwrap_or(value)
}

/// The first of several spellings (camelCase first, then snake_case).
fn field<'a>(value: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let map = value.as_object()?;
    names.iter().find_map(|n| map.get(*n)).filter(|v| !v.is_null())
}

fn text(value: &Value, names: &[&str]) -> Option<String> {
    field(value, names).and_then(Value::as_str).map(str::to_owned)
}

fn number(value: &Value, names: &[&str]) -> Option<f64> {
    field(value, names).and_then(Value::as_f64).filter(|n| n.is_finite())
}

fn whole(value: &Value, names: &[&str]) -> Option<u64> {
    field(value, names).and_then(Value::as_u64)
}

/// exo's `Memory` is `{"inBytes": n}`; a plain number is accepted too.
fn bytes(value: &Value, names: &[&str]) -> Option<u64> {
    let v = field(value, names)?;
    v.as_u64()
        .or_else(|| field(v, &["inBytes", "in_bytes"]).and_then(Value::as_u64))
}

fn per_node<'a>(state: &'a Value, table: &[&str], node_id: &str) -> Option<&'a Value> {
    field(state, table)?.get(node_id).filter(|v| !v.is_null())
}

// ---------- nodes ----------

fn member_ids(state: &Value, unknown: &mut BTreeSet<String>) -> Vec<String> {
    let Some(nodes) = state.get("topology").and_then(|t| t.get("nodes")) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = match nodes {
        Value::Array(list) => list
            .iter()
            .filter_map(|item| match item {
                Value::String(id) => Some(id.clone()),
                other => text(other, &["nodeId", "node_id", "id"]),
            })
            .collect(),
        // An older shape kept nodes as a dict keyed by id.
        Value::Object(map) => {
            unknown.insert("topology.nodes as an object".into());
            map.keys().cloned().collect()
        }
        _ => {
            unknown.insert("topology.nodes shape".into());
            Vec::new()
        }
    };
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

/// Node id → box name: the friendly name, made unique with the id's start when two boxes share one.
fn assign_names(state: &Value, member_ids: &[String]) -> HashMap<String, String> {
    let friendly = |id: &str| {
        per_node(state, &["nodeIdentities", "node_identities"], id)
            .and_then(|i| text(i, &["friendlyName", "friendly_name"]))
            .filter(|n| !n.trim().is_empty())
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in member_ids {
        if let Some(name) = friendly(id) {
            *counts.entry(name).or_default() += 1;
        }
    }
    let mut names = HashMap::new();
    // Ghosts get names too, so an instance still placed on a departed node reads sensibly.
    let mut all_ids: Vec<String> = member_ids.to_vec();
    if let Some(Value::Object(identities)) = field(state, &["nodeIdentities", "node_identities"]) {
        all_ids.extend(identities.keys().filter(|k| !member_ids.contains(k)).cloned());
    }
    for id in all_ids {
        let name = match friendly(&id) {
            Some(name) if counts.get(&name).copied().unwrap_or(0) > 1 => {
                format!("{name} ({})", id.chars().take(8).collect::<String>())
            }
            Some(name) => name,
            None => id.clone(),
        };
        names.insert(id, name);
    }
    names
}

fn parse_node(
    state: &Value,
    id: &str,
    names: &HashMap<String, String>,
    this_node_id: Option<&str>,
    now_unix_ms: u64,
) -> NodeView {
    let identity = per_node(state, &["nodeIdentities", "node_identities"], id);
    let memory = per_node(state, &["nodeMemory", "node_memory"], id);
    let system = per_node(state, &["nodeSystem", "node_system"], id);
    let rdma = per_node(state, &["nodeRdmaCtl", "node_rdma_ctl"], id);
    let bridge = per_node(state, &["nodeThunderboltBridge", "node_thunderbolt_bridge"], id);
    let last_seen = per_node(state, &["lastSeen", "last_seen"], id).and_then(Value::as_str);
    let disk = per_node(state, &["nodeDisk", "node_disk"], id);

    let thunderbolt_ports: Vec<ThunderboltPort> = per_node(state, &["nodeThunderbolt", "node_thunderbolt"], id)
        .and_then(|t| field(t, &["interfaces"]))
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let link_speed_text = text(p, &["linkSpeed", "link_speed"]);
                    ThunderboltPort {
                        rdma_interface: text(p, &["rdmaInterface", "rdma_interface"]),
                        speed_gbps: link_speed_text.as_deref().and_then(parse_link_speed_gbps),
                        link_speed_text,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let thunderbolt_speed_gbps = thunderbolt_ports
        .iter()
        .filter_map(|p| p.speed_gbps)
        .fold(None, |min: Option<f64>, s| Some(min.map_or(s, |m| m.min(s))));

    let last_seen_s = last_seen
        .and_then(parse_timestamp_ms)
        .map(|seen| now_unix_ms.saturating_sub(seen) as f64 / 1000.0);
    NodeView {
        name: names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        node_id: id.to_owned(),
        chip: known(identity.and_then(|i| text(i, &["chipId", "chip_id"]))),
        hardware_model: known(identity.and_then(|i| text(i, &["modelId", "model_id"]))),
        memory_total_bytes: memory.and_then(|m| bytes(m, &["ramTotal", "ram_total"])),
        memory_available_bytes: memory.and_then(|m| bytes(m, &["ramAvailable", "ram_available"])),
        power_watts: system.and_then(|s| number(s, &["sysPower", "sys_power"])),
        gpu_usage: system.and_then(|s| number(s, &["gpuUsage", "gpu_usage"])),
        temp_c: system.and_then(|s| number(s, &["temp"])),
        rdma_enabled: rdma.and_then(|r| field(r, &["enabled"])).and_then(Value::as_bool),
        thunderbolt_bridge_enabled: bridge.and_then(|b| field(b, &["enabled"])).and_then(Value::as_bool),
        is_this_node: this_node_id == Some(id),
        last_seen_s,
        stale: clusterbar_model::limits::is_stale(last_seen_s),
        thunderbolt_speed_gbps,
        thunderbolt_ports,
        os_version: known(identity.and_then(|i| text(i, &["osVersion", "os_version"]))),
        os_build: known(identity.and_then(|i| text(i, &["osBuildVersion", "os_build_version"]))),
        disk_total_bytes: disk.and_then(|d| bytes(d, &["total"])),
        disk_available_bytes: disk.and_then(|d| bytes(d, &["available"])),
        backends: per_node(state, &["nodeBackends", "node_backends"], id)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    }
}

/// exo fills in what it could not learn with placeholders — `"Unknown Chip"`, `"Unknown Model"`,
/// build `"Unknown"` (all of them on Linux): unknowns, never names to show.
fn known(value: Option<String>) -> Option<String> {
    value.filter(|v| {
        let v = v.trim().to_ascii_lowercase();
        !v.is_empty() && v != "unknown" && !v.starts_with("unknown ")
    })
}

/// A box that restarts exo comes back with a new random node id, while exo keeps the old id in
/// `topology.nodes` for ~40 s. Two members with the same friendly name that share a network
/// address are one box and its ghost (two Macs never share an address; two live "Mac Studio"s
/// may well share a name); the one heard from last — or the one answering — stays.
fn drop_restarted_ghosts(state: &Value, member_ids: &mut Vec<String>, this_node_id: Option<&str>) {
    let friendly = |id: &str| {
        per_node(state, &["nodeIdentities", "node_identities"], id)
            .and_then(|i| text(i, &["friendlyName", "friendly_name"]))
            .filter(|n| !n.trim().is_empty())
    };
    let addresses = |id: &str| -> BTreeSet<String> {
        node_interfaces(state, id)
            .into_iter()
            .map(|i| i.ip)
            .filter(|ip| {
                ip.parse::<std::net::IpAddr>()
                    .is_ok_and(|a| !a.is_loopback() && !a.is_unspecified())
            })
            .collect()
    };
    let seen = |id: &str| {
        per_node(state, &["lastSeen", "last_seen"], id)
            .and_then(Value::as_str)
            .and_then(parse_timestamp_ms)
    };
    let mut keep: Vec<String> = Vec::with_capacity(member_ids.len());
    for id in member_ids.iter() {
        let Some(name) = friendly(id) else {
            keep.push(id.clone());
            continue;
        };
        let mine = addresses(id);
        let twin = keep
            .iter()
            .position(|k| friendly(k).as_deref() == Some(name.as_str()) && !addresses(k).is_disjoint(&mine));
        match twin {
            None => keep.push(id.clone()),
            Some(at) => {
                let other = &keep[at];
                let newer = this_node_id == Some(id.as_str())
                    || (this_node_id != Some(other.as_str()) && seen(id) > seen(other));
                if newer {
                    keep[at] = id.clone();
                }
            }
        }
    }
    *member_ids = keep;
}

/// exo's `lastSeen`: RFC 3339 ("2026-06-22T14:00:01.12Z"); a timestamp without a zone is UTC.
pub fn parse_timestamp_ms(text: &str) -> Option<u64> {
    let millis = match chrono::DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => t.timestamp_millis(),
        Err(_) => chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc()
            .timestamp_millis(),
    };
    u64::try_from(millis).ok()
}

/// Thunderbolt link speed text as macOS shows it: "80 Gb/s", "Up to 40 Gb/s", "20 Gb/s x 2",
/// "10 Gbps", "800 Mb/s". `None` when there is no number.
pub fn parse_link_speed_gbps(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find(|c: char| c.is_ascii_digit())?;
    let rest = &lower[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let value: f64 = rest[..end].parse().ok()?;
    let after = rest[end..].trim_start();
    let scale = if after.starts_with('m') {
        0.001
    } else if after.starts_with('t') {
        1000.0
    } else {
        1.0
    };
    // "x 2" / "× 2": lanes.
    let lanes = after
        .find(['x', '×'])
        .and_then(|i| {
            let tail = after[i..].trim_start_matches(['x', '×']).trim_start();
            let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<f64>().ok()
        })
        .filter(|n| *n >= 1.0)
        .unwrap_or(1.0);
    let gbps = value * scale * lanes;
    gbps.is_finite().then_some(gbps)
}

// ---------- links ----------

struct Interface {
    name: String,
    ip: String,
    kind: Option<String>,
}

fn node_interfaces(state: &Value, id: &str) -> Vec<Interface> {
    per_node(state, &["nodeNetwork", "node_network"], id)
        .and_then(|n| field(n, &["interfaces"]))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|i| {
                    Some(Interface {
                        name: text(i, &["name"]).unwrap_or_default(),
                        ip: text(i, &["ipAddress", "ip_address"])?,
                        kind: text(i, &["interfaceType", "interface_type"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_links(
    state: &Value,
    member_ids: &[String],
    names: &HashMap<String, String>,
    nodes: &[NodeView],
    interfaces: &HashMap<String, Vec<Interface>>,
    unknown: &mut BTreeSet<String>,
) -> Vec<LinkView> {
    let Some(connections) = state.get("topology").and_then(|t| t.get("connections")) else {
        return Vec::new();
    };
    let Value::Object(by_source) = connections else {
        if !connections.is_null() {
            unknown.insert("topology.connections shape".into());
        }
        return Vec::new();
    };
    let node_by_id: HashMap<&str, &NodeView> = nodes.iter().map(|n| (n.node_id.as_str(), n)).collect();
    // (lower name, higher name) → (kinds, speeds)
    let mut pairs: BTreeMap<(String, String), (BTreeSet<LinkKind>, Vec<f64>)> = BTreeMap::new();
    for (source, sinks) in by_source {
        let Value::Object(sinks) = sinks else { continue };
        for (sink, edges) in sinks {
            if source == sink || !member_ids.contains(source) || !member_ids.contains(sink) {
                continue;
            }
            let edges: Vec<&Value> = match edges {
                Value::Array(list) => list.iter().collect(),
                Value::Object(_) => vec![edges],
                _ => continue,
            };
            let (Some(source_name), Some(sink_name)) = (names.get(source), names.get(sink)) else {
                continue;
            };
            let key = if source_name <= sink_name {
                (source_name.clone(), sink_name.clone())
            } else {
                (sink_name.clone(), source_name.clone())
            };
            for edge in edges {
                let (kind, speed) = classify_edge(untag(edge), source, sink, &node_by_id, interfaces);
                if kind == LinkKind::Unknown {
                    if let Some((tag, _)) = tagged(edge) {
                        unknown.insert(format!("connection {tag}"));
                    }
                }
                let entry = pairs.entry(key.clone()).or_default();
                entry.0.insert(kind);
                entry.1.extend(speed);
            }
        }
    }
    pairs
        .into_iter()
        .map(|((from, to), (kinds, speeds))| {
            let kinds: Vec<LinkKind> = kinds.into_iter().rev().collect();
            let kind = kinds.first().copied().unwrap_or(LinkKind::Unknown);
            let speed_gbps = if matches!(kind, LinkKind::Rdma | LinkKind::Thunderbolt) {
                speeds
                    .into_iter()
                    .fold(None, |min: Option<f64>, s| Some(min.map_or(s, |m| m.min(s))))
            } else {
                None
            };
            LinkView {
                from,
                to,
                kind,
                kinds,
                slow: clusterbar_model::limits::below_tb5(speed_gbps),
                speed_gbps,
            }
        })
        .collect()
}

fn port_speed(node: Option<&&NodeView>, rdma_iface: &str) -> Option<f64> {
    node?
        .thunderbolt_ports
        .iter()
        .find(|p| p.rdma_interface.as_deref() == Some(rdma_iface))
        .and_then(|p| p.speed_gbps)
}

fn classify_edge(
    edge: &Value,
    source: &str,
    sink: &str,
    nodes: &HashMap<&str, &NodeView>,
    interfaces: &HashMap<String, Vec<Interface>>,
) -> (LinkKind, Option<f64>) {
    let source_rdma = text(edge, &["sourceRdmaIface", "source_rdma_iface"]);
    let sink_rdma = text(edge, &["sinkRdmaIface", "sink_rdma_iface"]);
    if source_rdma.is_some() || sink_rdma.is_some() {
        let speeds = [
            source_rdma.and_then(|i| port_speed(nodes.get(source), &i)),
            sink_rdma.and_then(|i| port_speed(nodes.get(sink), &i)),
        ];
        let slowest = speeds.into_iter().flatten().reduce(f64::min);
        return (LinkKind::Rdma, slowest);
    }
    let Some(address) = field(edge, &["sinkMultiaddr", "sink_multiaddr"]) else {
        return (LinkKind::Unknown, None);
    };
    let ip = text(address, &["ip_address", "ipAddress"])
        .or_else(|| text(address, &["address"]).and_then(|a| multiaddr_ip(&a)))
        .or_else(|| address.as_str().and_then(multiaddr_ip));
    let Some(ip) = ip else {
        return (LinkKind::Unknown, None);
    };
    let Some(iface) = interfaces.get(sink).and_then(|list| list.iter().find(|i| i.ip == ip)) else {
        return (LinkKind::Unknown, None);
    };
    let declared = iface.kind.as_deref().unwrap_or("").to_ascii_lowercase();
    let bridge_on = nodes.get(sink).and_then(|n| n.thunderbolt_bridge_enabled) == Some(true);
    let kind = if declared.contains("thunderbolt") || (iface.name.starts_with("bridge") && bridge_on) {
        LinkKind::Thunderbolt
    } else if declared.contains("wifi") || declared.contains("wi-fi") || declared.contains("wlan") {
        LinkKind::Wifi
    } else if declared.contains("ethernet") {
        LinkKind::Ethernet
    } else {
        LinkKind::Unknown
    };
    let speed = (kind == LinkKind::Thunderbolt)
        .then(|| port_speed(nodes.get(sink), &format!("rdma_{}", iface.name)))
        .flatten();
    (kind, speed)
}

/// "/ip4/192.168.1.21/tcp/52415" → "192.168.1.21".
fn multiaddr_ip(address: &str) -> Option<String> {
    let mut parts = address.split('/').filter(|p| !p.is_empty());
    while let Some(part) = parts.next() {
        if part == "ip4" || part == "ip6" {
            return parts.next().map(str::to_owned);
        }
    }
    None
}

// ---------- models ----------

struct Download {
    completed: bool,
    failed: Option<String>,
    total: Option<u64>,
    done: Option<u64>,
    speed: Option<f64>,
    eta_ms: Option<u64>,
}

fn downloads_for(state: &Value, node_id: &str, model_id: &str) -> Option<Download> {
    let list = per_node(state, &["downloads"], node_id)?.as_array()?;
    list.iter().find_map(|entry| {
        let (tag, inner) = tagged(entry)?;
        let shard = untag(field(inner, &["shardMetadata", "shard_metadata"])?);
        let card = field(shard, &["modelCard", "model_card"])?;
        if text(card, &["modelId", "model_id"]).as_deref() != Some(model_id) {
            return None;
        }
        let progress = field(inner, &["downloadProgress", "download_progress"]);
        Some(Download {
            completed: tag == "DownloadCompleted",
            failed: (tag == "DownloadFailed")
                .then(|| text(inner, &["errorMessage", "error_message"]).unwrap_or_else(|| "download failed".into())),
            total: progress
                .and_then(|p| bytes(p, &["total", "totalBytes", "total_bytes"]))
                .or_else(|| bytes(inner, &["total", "totalBytes", "total_bytes"])),
            done: progress.and_then(|p| bytes(p, &["downloaded", "downloadedBytes", "downloaded_bytes"])),
            speed: progress.and_then(|p| number(p, &["speed"])),
            eta_ms: progress.and_then(|p| whole(p, &["etaMs", "eta_ms"])),
        })
    })
}

fn parse_models(state: &Value, names: &HashMap<String, String>, unknown: &mut BTreeSet<String>) -> Vec<ModelView> {
    let Some(Value::Object(instances)) = field(state, &["instances"]) else {
        return Vec::new();
    };
    let runners = field(state, &["runners"]);
    let mut models = Vec::new();
    for (instance_key, wrapped) in instances {
        let instance = untag(wrapped);
        let Some(assignments) = field(instance, &["shardAssignments", "shard_assignments"]) else {
            unknown.insert("instance without shardAssignments".into());
            continue;
        };
        let Some(model_id) = text(assignments, &["modelId", "model_id"]) else {
            continue;
        };
        let instance_id = text(instance, &["instanceId", "instance_id"]).unwrap_or_else(|| instance_key.clone());
        let runner_to_shard = field(assignments, &["runnerToShard", "runner_to_shard"]);
        let node_to_runner: Vec<(String, String)> = match field(assignments, &["nodeToRunner", "node_to_runner"]) {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(node, runner)| Some((node.clone(), runner.as_str()?.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        let mut shards = Vec::new();
        for (node_id, runner_id) in node_to_runner {
            let shard = runner_to_shard.and_then(|m| m.get(&runner_id)).map(untag);
            let status = runners.and_then(|r| r.get(&runner_id)).filter(|v| !v.is_null());
            let download = downloads_for(state, &node_id, &model_id);
            let mut view = shard_view(status, download.as_ref(), unknown);
            view.node = names.get(&node_id).cloned().unwrap_or(node_id);
            view.runner_id = runner_id;
            view.start_layer = shard.and_then(|s| whole(s, &["startLayer", "start_layer"]));
            view.end_layer = shard.and_then(|s| whole(s, &["endLayer", "end_layer"]));
            shards.push((view, download));
        }
        shards.sort_by_key(|(s, _)| (s.start_layer, s.node.clone()));
        models.push(aggregate_model(model_id, instance_id, shards));
    }
    models.sort_by(|a, b| (&a.id, &a.instance_id).cmp(&(&b.id, &b.instance_id)));
    models
}

fn shard_view(status: Option<&Value>, download: Option<&Download>, unknown: &mut BTreeSet<String>) -> ShardView {
    let mut view = ShardView {
        node: String::new(),
        runner_id: String::new(),
        start_layer: None,
        end_layer: None,
        state: ModelState::Unknown,
        progress: None,
        runner_status: None,
        error: None,
    };
    let downloading = download.is_some_and(|d| !d.completed && d.failed.is_none());
    let download_progress = download.and_then(|d| match (d.done, d.total) {
        (Some(done), Some(total)) if total > 0 => Some((done as f64 / total as f64).clamp(0.0, 1.0)),
        _ => None,
    });
    if let Some(error) = download.and_then(|d| d.failed.clone()) {
        view.state = ModelState::Failed;
        view.error = Some(error);
        return view;
    }
    let Some(status) = status else {
        // No runner yet: the worker is still fetching the weights, or about to start it.
        view.state = if downloading {
            ModelState::Downloading
        } else {
            ModelState::Loading
        };
        view.progress = if downloading { download_progress } else { None };
        return view;
    };
    let (tag, inner) = tagged(status).unwrap_or(("", status));
    view.runner_status = (!tag.is_empty()).then(|| tag.to_owned());
    match tag {
        "RunnerFailed" => {
            view.state = ModelState::Failed;
            view.error =
                Some(text(inner, &["errorMessage", "error_message"]).unwrap_or_else(|| "runner failed".into()));
        }
        "RunnerReady" => {
            view.state = ModelState::Ready;
            view.progress = Some(1.0);
        }
        "RunnerRunning" => {
            view.state = ModelState::Running;
            view.progress = Some(1.0);
        }
        "RunnerLoading" => {
            view.state = ModelState::Loading;
            let loaded = whole(inner, &["layersLoaded", "layers_loaded"]);
            let total = whole(inner, &["totalLayers", "total_layers"]);
            view.progress = match (loaded, total) {
                (Some(l), Some(t)) if t > 0 => Some((l as f64 / t as f64).clamp(0.0, 1.0)),
                _ => None,
            };
        }
        "RunnerIdle" | "RunnerConnecting" | "RunnerConnected" if downloading => {
            view.state = ModelState::Downloading;
            view.progress = download_progress;
        }
        "RunnerIdle" | "RunnerConnecting" | "RunnerConnected" => view.state = ModelState::Loading,
        "RunnerLoaded" | "RunnerWarmingUp" => {
            view.state = ModelState::Loading;
            view.progress = Some(1.0);
        }
        "RunnerShuttingDown" | "RunnerShutdown" => view.state = ModelState::Stopping,
        other => {
            unknown.insert(format!(
                "runner status {}",
                if other.is_empty() { "shape" } else { other }
            ));
        }
    }
    view
}

fn aggregate_model(id: String, instance_id: String, shards: Vec<(ShardView, Option<Download>)>) -> ModelView {
    let states: Vec<ModelState> = shards.iter().map(|(s, _)| s.state).collect();
    let has = |s: ModelState| states.contains(&s);
    let state = if states.is_empty() {
        ModelState::Unknown
    } else if has(ModelState::Failed) {
        ModelState::Failed
    } else if has(ModelState::Stopping) {
        ModelState::Stopping
    } else if has(ModelState::Downloading) {
        ModelState::Downloading
    } else if has(ModelState::Unknown) {
        ModelState::Unknown
    } else if has(ModelState::Loading) {
        ModelState::Loading
    } else if has(ModelState::Running) {
        ModelState::Running
    } else {
        ModelState::Ready
    };
    let downloads: Vec<&Download> = shards.iter().filter_map(|(_, d)| d.as_ref()).collect();
    let progress = match state {
        ModelState::Ready | ModelState::Running => Some(1.0),
        ModelState::Downloading => {
            let (done, total) = downloads
                .iter()
                .fold((0u64, 0u64), |(d, t), dl| match (dl.done, dl.total) {
                    (Some(done), Some(total)) => (d.saturating_add(done), t.saturating_add(total)),
                    (None, Some(total)) if dl.completed => (d.saturating_add(total), t.saturating_add(total)),
                    _ => (d, t),
                });
            (total > 0).then(|| (done as f64 / total as f64).clamp(0.0, 1.0))
        }
        ModelState::Loading => {
            let known: Vec<f64> = shards.iter().filter_map(|(s, _)| s.progress).collect();
            (known.len() == shards.len() && !known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
        }
        _ => None,
    };
    let downloading: Vec<&&Download> = downloads.iter().filter(|d| !d.completed).collect();
    let error = shards
        .iter()
        .filter_map(|(s, _)| s.error.as_ref().map(|e| format!("{}: {e}", s.node)))
        .collect::<Vec<_>>();
    ModelView {
        id,
        instance_id,
        state,
        progress,
        download_speed_bytes_per_s: (state == ModelState::Downloading)
            .then(|| downloading.iter().filter_map(|d| d.speed).sum::<f64>())
            .filter(|s| *s > 0.0),
        eta_ms: (state == ModelState::Downloading)
            .then(|| downloading.iter().filter_map(|d| d.eta_ms).max())
            .flatten(),
        shards: shards.into_iter().map(|(s, _)| s).collect(),
        error: (!error.is_empty()).then(|| error.join("; ")),
    }
}

// ---------- warnings ----------

fn list(names: &[&str]) -> String {
    names.join(", ")
}

fn cluster_warnings(view: &ClusterView) -> Vec<Warning> {
    let mut warnings = Vec::new();
    // Scoped `cluster`: beside this Mac's own (`this_mac`) warning from its probes, never merged
    // away by it. exo's view names every box, this Mac included (a remote exo's "this" is
    // another box, and exo measures links from both ends).
    let rdma_off: Vec<&str> = view
        .nodes
        .iter()
        .filter(|n| n.rdma_enabled == Some(false))
        .map(|n| n.name.as_str())
        .collect();
    if view.nodes.len() > 1 && !rdma_off.is_empty() {
        warnings.push(
            Warning::new(
                clusterbar_model::WarningCode::RdmaDisabled,
                Severity::Warning,
                format!(
                    "RDMA over Thunderbolt is off on {}; the cluster falls back to slower TCP.",
                    list(&rdma_off)
                ),
                "On each of those Macs: start up in Recovery, run `rdma_ctl enable` in Terminal, and restart.",
            )
            .in_scope(WarningScope::Cluster),
        );
    }
    let slow: Vec<String> = view
        .links
        .iter()
        .filter(|l| l.slow)
        .filter_map(|l| Some(format!("{} ↔ {} at {} Gb/s", l.from, l.to, l.speed_gbps?)))
        .collect();
    if !slow.is_empty() {
        warnings.push(
            Warning::new(
                clusterbar_model::WarningCode::TbLinkSlow,
                Severity::Warning,
                format!(
                    "Thunderbolt link slower than {TB_FULL_SPEED_GBPS} Gb/s: {}.",
                    slow.join(", ")
                ),
                "Use a Thunderbolt 5 cable (80 Gb/s) between Thunderbolt 5 ports, directly, without a hub or dock.",
            )
            .in_scope(WarningScope::Cluster),
        );
    }
    if let Some(age) = view.frozen_for_s {
        warnings.push(exo_view_frozen_warning(age));
    }
    let stale: Vec<String> = view
        .nodes
        .iter()
        // A frozen view ages every box at once: that is the one warning above, not one per box.
        .filter(|_| view.frozen_for_s.is_none())
        .filter_map(|n| {
            let age = n.last_seen_s.filter(|_| n.stale)?;
            Some(format!("{} ({age:.0} s ago)", n.name))
        })
        .collect();
    if !stale.is_empty() {
        warnings.push(Warning::new(
            clusterbar_model::WarningCode::NodeStale,
            Severity::Warning,
            format!("exo has not heard from {} recently.", stale.join(", ")),
            "Check that the Mac is awake, on the network, and that exo still runs on it.",
        ));
    }
    let builds: BTreeSet<&str> = view.nodes.iter().filter_map(|n| n.os_build.as_deref()).collect();
    if builds.len() > 1 {
        let detail: Vec<String> = view
            .nodes
            .iter()
            .filter_map(|n| Some(format!("{} {}", n.name, n.os_build.as_deref()?)))
            .collect();
        warnings.push(Warning::new(
            clusterbar_model::WarningCode::OsBuildMismatch,
            Severity::Warning,
            format!("The Macs run different macOS builds ({}).", detail.join(", ")),
            "Update every Mac in the cluster to the same macOS version; RDMA needs matching builds.",
        ));
    }
    warnings
}

/// exo answers, but its view of the cluster stopped moving `age_s` seconds ago.
pub fn exo_view_frozen_warning(age_s: f64) -> Warning {
    Warning::new(
        clusterbar_model::WarningCode::ExoViewFrozen,
        Severity::Error,
        format!(
            "exo on this Mac has not updated its view of the cluster for {age_s:.0} s: the boxes and models shown are frozen, not live (the box that led the cluster may be gone)."
        ),
        "Restart exo on this Mac (Stop exo, then Start exo); exo elects a new leader when its peers reconnect.",
    )
}

/// Warns that exo's API (no authentication) answers on a network address, not only loopback.
pub fn exo_api_exposed_warning(address: &str) -> Warning {
    Warning::new(
        clusterbar_model::WarningCode::ExoApiExposed,
        Severity::Warning,
        format!("exo's API answers without a password on {address}: anyone on that network can load models and read prompts."),
        "Block exo's API port from other machines (macOS Firewall or pf), or keep the Mac on a trusted network only.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &str = include_str!("../../tests/fixtures/exo/state-2node.derived.json");
    const MOCK: &str = include_str!("../../tests/fixtures/exo/dashboard-mock-state.outdated.json");
    const STUDIO: &str = "8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6";
    const MINI: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const GHOST: &str = "ffffffffffffffffffffffffffffffff";

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    /// 5 s after the studio's lastSeen (2026-06-22T14:00:01.12Z).
    fn now() -> u64 {
        parse_timestamp_ms("2026-06-22T14:00:06.120Z").unwrap()
    }

    #[test]
    fn the_derived_two_node_state() {
        let view = parse_state(&fixture(), Some(STUDIO), now());
        let names: Vec<&str> = view.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["studio-1", "mini-2"]);
        let studio = view.node("studio-1").unwrap();
        assert!(studio.is_this_node);
        assert_eq!(view.this_node().unwrap().node_id, STUDIO);
        assert_eq!(studio.chip.as_deref(), Some("Apple M3 Ultra"));
        assert_eq!(studio.hardware_model.as_deref(), Some("Mac Studio"));
        assert_eq!(studio.memory_total_bytes, Some(549755813888));
        assert_eq!(studio.memory_available_bytes, Some(498216206336));
        assert_eq!(studio.power_watts, Some(142.7));
        assert_eq!(studio.gpu_usage, Some(0.83));
        assert_eq!(studio.temp_c, Some(51.2));
        assert_eq!(studio.rdma_enabled, Some(true));
        assert_eq!(studio.thunderbolt_speed_gbps, Some(80.0));
        assert_eq!(studio.os_build.as_deref(), Some("25C56"));
        assert_eq!(studio.last_seen_s, Some(5.0));
        let mini = view.node("mini-2").unwrap();
        assert!(!mini.is_this_node);
        assert_eq!(mini.last_seen_s, Some(5.25));
        assert_eq!(mini.thunderbolt_bridge_enabled, Some(false));

        assert_eq!(view.memory_total_bytes, 549755813888 + 68719476736);
        assert_eq!(view.memory_available_bytes, 498216206336 + 41231686041);
        assert!((view.power_watts.unwrap() - 154.1).abs() < 1e-9);

        assert_eq!(view.links.len(), 1, "both directions are one link");
        let link = &view.links[0];
        assert_eq!((link.from.as_str(), link.to.as_str()), ("mini-2", "studio-1"));
        assert_eq!(link.kind, LinkKind::Rdma);
        assert_eq!(link.kinds, [LinkKind::Rdma, LinkKind::Thunderbolt, LinkKind::Ethernet]);
        assert_eq!(link.speed_gbps, Some(80.0));

        assert_eq!(view.models.len(), 1);
        let model = &view.models[0];
        assert_eq!(model.id, "mlx-community/Llama-3.2-1B-Instruct-4bit");
        assert_eq!(model.instance_id, "5d0c6f0e-6a43-4a53-9a3e-2f4f1c8b7a10");
        assert_eq!(model.state, ModelState::Loading);
        assert_eq!(model.progress, Some((1.0 + 9.0 / 16.0) / 2.0));
        assert_eq!(model.shards.len(), 2);
        let mini_shard = model.shards.iter().find(|s| s.node == "mini-2").unwrap();
        assert_eq!(mini_shard.state, ModelState::Loading);
        assert_eq!(mini_shard.runner_status.as_deref(), Some("RunnerLoading"));
        assert_eq!((mini_shard.start_layer, mini_shard.end_layer), (Some(0), Some(16)));
        assert!(model.error.is_none());

        assert!(view.warnings.is_empty(), "{:?}", view.warnings);
        assert!(view.unknown.is_empty(), "{:?}", view.unknown);
        assert!(view.held_ms.is_none());
    }

    #[test]
    fn the_json_form_is_snake_case_with_byte_suffixes() {
        let text = serde_json::to_string(&parse_state(&fixture(), Some(STUDIO), now())).unwrap();
        for key in [
            "\"memory_total_bytes\"",
            "\"is_this_node\"",
            "\"thunderbolt_speed_gbps\"",
            "\"kind\":\"rdma\"",
        ] {
            assert!(text.contains(key), "missing {key}");
        }
        let back: ClusterView = serde_json::from_str(&text).unwrap();
        assert_eq!(back.nodes.len(), 2);
    }

    #[test]
    fn ghosts_are_not_members() {
        let mut state = fixture();
        state["nodeIdentities"][GHOST] = json!({"friendlyName": "old-air", "chipId": "Apple M2"});
        state["nodeMemory"][GHOST] = json!({"ramTotal": {"inBytes": 1u64 << 34}, "ramAvailable": {"inBytes": 1}});
        state["lastSeen"][GHOST] = json!("2026-06-20T00:00:00Z");
        let view = parse_state(&state, None, now());
        assert_eq!(view.nodes.len(), 2);
        assert!(view.node("old-air").is_none());
        assert_eq!(view.memory_total_bytes, 549755813888 + 68719476736);
        assert!(!view
            .warnings
            .iter()
            .any(|w| w.code == clusterbar_model::WarningCode::NodeStale));
    }

    #[test]
    fn a_node_without_identity_is_named_by_its_id_and_duplicates_are_told_apart() {
        let mut state = fixture();
        state["nodeIdentities"][MINI]["friendlyName"] = json!("studio-1");
        let view = parse_state(&state, None, now());
        let names: BTreeSet<&str> = view.nodes.iter().map(|n| n.name.as_str()).collect();
        assert!(
            names.contains("studio-1 (8f3a9c1d)") && names.contains("studio-1 (a1b2c3d4)"),
            "{names:?}"
        );

        state["nodeIdentities"] = json!({});
        let view = parse_state(&state, None, now());
        assert_eq!(view.nodes[0].name, STUDIO);
        assert_eq!(view.nodes[0].chip, None);
    }

    #[test]
    fn warnings_for_rdma_off_slow_links_stale_nodes_and_mixed_builds() {
        let mut state = fixture();
        state["nodeRdmaCtl"][MINI]["enabled"] = json!(false);
        state["nodeThunderbolt"][MINI]["interfaces"][0]["linkSpeed"] = json!("40 Gb/s");
        state["lastSeen"][MINI] = json!("2026-06-22T13:59:00Z");
        state["nodeIdentities"][MINI]["osBuildVersion"] = json!("25B78");
        let view = parse_state(&state, None, now());
        let codes: Vec<&str> = view.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(
            codes,
            ["rdma_disabled", "tb_link_slow", "node_stale", "os_build_mismatch"]
        );
        assert!(view.warnings[0].message.contains("mini-2"));
        assert!(view.warnings[1].message.contains("40 Gb/s"));
        assert!(view.warnings[2].message.contains("mini-2 (66 s ago)"));
        assert!(view.warnings[3].message.contains("25B78"));
        assert_eq!(view.links[0].speed_gbps, Some(40.0));
    }

    #[test]
    fn the_clusters_rdma_and_link_warnings_are_scoped_cluster() {
        let mut state = fixture();
        state["nodeRdmaCtl"][MINI]["enabled"] = json!(false);
        state["nodeThunderbolt"][MINI]["interfaces"][0]["linkSpeed"] = json!("40 Gb/s");
        let view = parse_state(&state, Some(STUDIO), now());
        let scoped: Vec<(&str, WarningScope)> = view
            .warnings
            .iter()
            .filter(|w| w.code == "rdma_disabled" || w.code == "tb_link_slow")
            .map(|w| (w.code.as_str(), w.scope))
            .collect();
        assert_eq!(
            scoped,
            [
                ("rdma_disabled", WarningScope::Cluster),
                ("tb_link_slow", WarningScope::Cluster)
            ]
        );
        // Beside this Mac's own warning of the same code, both stay (the one merge rule).
        let mut warnings = vec![Warning::new(
            clusterbar_model::WarningCode::RdmaDisabled,
            Severity::Warning,
            "this Mac",
            "f",
        )];
        for warning in view.warnings {
            clusterbar_model::add_warning(&mut warnings, warning);
        }
        assert_eq!(warnings.iter().filter(|w| w.code == "rdma_disabled").count(), 2);
    }

    #[test]
    fn rdma_off_on_a_single_box_is_not_worth_a_warning() {
        let mut state = fixture();
        state["topology"]["nodes"] = json!([STUDIO]);
        state["nodeRdmaCtl"][STUDIO]["enabled"] = json!(false);
        let view = parse_state(&state, Some(STUDIO), now());
        assert!(view.warnings.is_empty());
        assert!(view.links.is_empty(), "links to non-members are dropped");
    }

    #[test]
    fn runner_states_map_to_model_states() {
        let cases = [
            (json!({"RunnerReady": {}}), ModelState::Ready, None),
            (json!({"RunnerRunning": {}}), ModelState::Running, None),
            (json!({"RunnerWarmingUp": {}}), ModelState::Loading, None),
            (json!({"RunnerShutdown": {}}), ModelState::Stopping, None),
            (
                json!({"RunnerFailed": {"errorMessage": "boom", "diagnostics": []}}),
                ModelState::Failed,
                Some("mini-2: boom"),
            ),
            (json!({"RunnerFromTheFuture": {}}), ModelState::Unknown, None),
            (json!("gibberish"), ModelState::Unknown, None),
        ];
        for (status, expected, error) in cases {
            let mut state = fixture();
            state["runners"]["0b7f1c9e-2222-4c2b-9d1e-bbbbbbbbbbbb"] = status.clone();
            let view = parse_state(&state, None, now());
            let model = &view.models[0];
            assert_eq!(model.state, expected, "{status}");
            assert_eq!(model.error.as_deref(), error, "{status}");
            if expected == ModelState::Unknown {
                assert!(!view.unknown.is_empty(), "{status}");
            }
        }
    }

    #[test]
    fn an_idle_runner_with_an_ongoing_download_is_downloading() {
        let mut state = fixture();
        state["runners"]["0b7f1c9e-2222-4c2b-9d1e-bbbbbbbbbbbb"] = json!({"RunnerIdle": {}});
        let view = parse_state(&state, None, now());
        let model = &view.models[0];
        assert_eq!(model.state, ModelState::Downloading);
        // studio: completed 729808896; mini: 400000000 of 729808896.
        let expected = (729808896.0 + 400000000.0) / (2.0 * 729808896.0);
        assert!((model.progress.unwrap() - expected).abs() < 1e-9);
        assert_eq!(model.download_speed_bytes_per_s, Some(104857600.0));
        assert_eq!(model.eta_ms, Some(3140));

        state["runners"] = json!({});
        let view = parse_state(&state, None, now());
        assert_eq!(
            view.models[0].state,
            ModelState::Downloading,
            "no runner yet, still fetching"
        );
    }

    #[test]
    fn an_empty_state_is_an_empty_view() {
        let view = parse_state(&json!({}), Some(STUDIO), now());
        assert!(view.is_empty());
        assert!(view.warnings.is_empty());
        assert_eq!(view.memory_total_bytes, 0);
    }

    #[test]
    fn the_outdated_dashboard_mock_does_not_break_the_parser() {
        let mock: Value = serde_json::from_str(MOCK).unwrap();
        let states = mock.as_object().unwrap();
        assert!(!states.is_empty());
        for (name, state) in states {
            let view = parse_state(state, None, now());
            // Its nodes are a dict; they are still found, with what can be read.
            if let Some(Value::Object(nodes)) = state.pointer("/topology/nodes") {
                assert_eq!(view.nodes.len(), nodes.len(), "{name}");
                if !nodes.is_empty() {
                    assert!(view.unknown.iter().any(|u| u.contains("topology.nodes")), "{name}");
                }
            }
            // `ramTotal` as a plain number is accepted.
            if name == "singleNodeState" {
                assert_eq!(view.nodes[0].name, "MacBook Pro");
                assert_eq!(view.nodes[0].memory_total_bytes, Some(34359738368));
                assert_eq!(view.nodes[0].memory_available_bytes, None);
            }
        }
    }

    #[test]
    fn malformed_input_never_panics() {
        let inputs = [
            json!(null),
            json!([1, 2, 3]),
            json!("state"),
            json!({"topology": 5}),
            json!({"topology": {"nodes": [1, {"nodeId": "x"}, null, "x"], "connections": [1]}}),
            json!({"topology": {"nodes": ["a", "b"], "connections": {"a": {"b": [{"sinkMultiaddr": 7}, {"Weird": {}}, 3]}, "b": 4}}}),
            json!({"topology": {"nodes": ["a"]}, "nodeMemory": {"a": {"ramTotal": {"inBytes": -5}}}, "lastSeen": {"a": "yesterday"},
                   "nodeSystem": {"a": {"sysPower": "lots"}}, "nodeThunderbolt": {"a": {"interfaces": [{"linkSpeed": "fast"}, 7]}}}),
            json!({"instances": {"i": {"MlxRingInstance": {"shardAssignments": {"modelId": "m", "nodeToRunner": {"a": 5, "b": "r"}, "runnerToShard": []}}}},
                   "runners": {"r": {"RunnerLoading": {"layersLoaded": 5, "totalLayers": 0}}}, "downloads": {"b": "x"}}),
            json!({"instances": {"j": 1, "k": {"X": {"shardAssignments": 2}}}}),
        ];
        for input in inputs {
            let view = parse_state(&input, Some("a"), now());
            let _ = serde_json::to_string(&view).unwrap();
        }
        let view = parse_state(&json!({"topology": {"nodes": ["x", "x", {"nodeId": "y"}]}}), None, 0);
        assert_eq!(view.nodes.len(), 2, "duplicates dropped");
        let truncated = &FIXTURE[..FIXTURE.len() / 2];
        assert!(
            serde_json::from_str::<Value>(truncated).is_err(),
            "a truncated body is a JSON error for the client"
        );
    }

    #[test]
    fn link_speed_texts() {
        assert_eq!(parse_link_speed_gbps("80 Gb/s"), Some(80.0));
        assert_eq!(parse_link_speed_gbps("Up to 40 Gb/s"), Some(40.0));
        assert_eq!(parse_link_speed_gbps("20 Gb/s x 2"), Some(40.0));
        assert_eq!(parse_link_speed_gbps("10 Gb/s × 2"), Some(20.0));
        assert_eq!(parse_link_speed_gbps("10Gbps"), Some(10.0));
        assert_eq!(parse_link_speed_gbps("800 Mb/s"), Some(0.8));
        assert_eq!(parse_link_speed_gbps("120"), Some(120.0));
        assert_eq!(parse_link_speed_gbps("unknown"), None);
        assert_eq!(parse_link_speed_gbps(""), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01.5"), Some(1500));
        assert_eq!(parse_timestamp_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp_ms("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_timestamp_ms("not a time"), None);
    }
}
