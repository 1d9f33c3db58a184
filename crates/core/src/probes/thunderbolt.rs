//! Thunderbolt ports of this machine and the speed each one negotiated.
//!
//! macOS: the IORegistry lane adapters (`IOThunderboltPort` under a host `IOThunderboltSwitch*`)
//! carry the negotiated per-lane speed code and lane width. We read them by running `ioreg`
//! and parsing its text rather than through objc2-io-kit, because CI here cannot type-check
//! Apple-only crates. `system_profiler SPThunderboltDataType -json` adds who is at the other
//! end (peer name, domain UUID); it is slow (~0.7 s), so the reader caches it.
//!
//! Linux: `/sys/bus/thunderbolt/devices/*` (kernel ABI `sysfs-bus-thunderbolt`): devices and
//! XDomains (peer hosts, `DEVTYPE=thunderbolt_xdomain`) report `rx_speed`/`tx_speed` per lane
//! and `rx_lanes`/`tx_lanes`.

pub use clusterbar_model::host::ThunderboltPort;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// ioreg

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Switch,
    Port,
    Other,
}

#[derive(Debug)]
struct Node {
    kind: NodeKind,
    /// Column of the `+-o` in raw ioreg output (tree depth × 2); fixture dumps use 0/1.
    indent: usize,
    parent: Option<usize>,
    props: BTreeMap<String, String>,
}

/// A lane adapter as read from the IORegistry, with the switch it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct IoregLanePort {
    /// `None` when the dump did not include the switch (treated as the host's).
    pub switch_depth: Option<u64>,
    pub switch_route: Option<u64>,
    pub switch_uid: Option<String>,
    pub props: BTreeMap<String, String>,
}

impl IoregLanePort {
    fn number(&self, key: &str) -> Option<u64> {
        self.props.get(key).and_then(|v| parse_number(v))
    }
}

/// Parses `ioreg -l` text (raw layout: `+-o Name@x  <class C, ...>` headers and `"Key" = value`
/// lines) or the `## Switch #N: C` / `### Port @N: C` dump layout with unquoted keys, and
/// returns every `IOThunderboltPort` with its switch's Depth / Route String / UID.
pub fn parse_ioreg_ports(text: &str) -> Vec<IoregLanePort> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if let Some(pos) = line.find("+-o ") {
            let class = line
                .split("<class ")
                .nth(1)
                .and_then(|rest| rest.split([',', '>']).next())
                .unwrap_or("")
                .trim();
            let mut parent = current;
            while let Some(p) = parent {
                if nodes[p].indent < pos {
                    break;
                }
                parent = nodes[p].parent;
            }
            nodes.push(Node {
                kind: kind_of_class(class),
                indent: pos,
                parent,
                props: BTreeMap::new(),
            });
            current = Some(nodes.len() - 1);
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("### ") {
            // A port of the last switch in the dump layout.
            let parent = nodes.iter().rposition(|n| n.kind == NodeKind::Switch && n.indent == 0);
            nodes.push(Node {
                kind: dump_header_kind(rest, NodeKind::Port),
                indent: 1,
                parent,
                props: BTreeMap::new(),
            });
            current = Some(nodes.len() - 1);
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("## ") {
            nodes.push(Node {
                kind: dump_header_kind(rest, NodeKind::Switch),
                indent: 0,
                parent: None,
                props: BTreeMap::new(),
            });
            current = Some(nodes.len() - 1);
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = parse_property_line(line) else {
            continue;
        };
        let index = match current {
            Some(i) => i,
            None => {
                // Properties before any header: an excerpt that starts inside a switch.
                nodes.push(Node {
                    kind: NodeKind::Switch,
                    indent: 0,
                    parent: None,
                    props: BTreeMap::new(),
                });
                nodes.len() - 1
            }
        };
        current = Some(index);
        nodes[index].props.insert(key, value);
    }

    let mut ports = Vec::new();
    for node in nodes.iter().filter(|n| n.kind == NodeKind::Port) {
        let mut ancestor = node.parent;
        while let Some(a) = ancestor {
            if nodes[a].kind == NodeKind::Switch {
                break;
            }
            ancestor = nodes[a].parent;
        }
        let switch = ancestor.map(|a| &nodes[a].props);
        ports.push(IoregLanePort {
            switch_depth: switch.and_then(|p| p.get("Depth")).and_then(|v| parse_number(v)),
            switch_route: switch.and_then(|p| p.get("Route String")).and_then(|v| parse_number(v)),
            switch_uid: switch.and_then(|p| p.get("UID")).cloned(),
            props: node.props.clone(),
        });
    }
    ports
}

fn kind_of_class(class: &str) -> NodeKind {
    if class.starts_with("IOThunderboltSwitch") {
        NodeKind::Switch
    } else if class == "IOThunderboltPort" {
        NodeKind::Port
    } else {
        NodeKind::Other
    }
}

fn dump_header_kind(header: &str, default: NodeKind) -> NodeKind {
    match header.rsplit_once(':') {
        Some((_, class)) if !class.trim().is_empty() => match kind_of_class(class.trim()) {
            NodeKind::Other => default,
            kind => kind,
        },
        _ => default,
    }
}

/// `  | |   "Current Link Speed" = 2` or `    Current Link Speed = 2` → (key, value).
fn parse_property_line(line: &str) -> Option<(String, String)> {
    let body = line.trim_start_matches(|c: char| c.is_whitespace() || c == '|');
    if let Some(rest) = body.strip_prefix('"') {
        let (key, after) = rest.split_once('"')?;
        let value = after.trim_start().strip_prefix('=')?.trim();
        return Some((key.to_owned(), value.to_owned()));
    }
    let (key, value) = body.split_once(" = ")?;
    let key = key.trim();
    if key.is_empty() || key.starts_with(['{', '}']) {
        return None;
    }
    Some((key.to_owned(), value.trim().to_owned()))
}

/// `2`, `0x2`, `"6"` → number.
pub(crate) fn parse_number(value: &str) -> Option<u64> {
    let v = value.trim().trim_matches('"').trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// `Current Link Speed` code → Gb/s per lane.
pub fn per_lane_gbps_from_code(code: u64) -> Option<f64> {
    match code {
        0x8 => Some(10.0),
        0x4 => Some(20.0),
        0x2 => Some(40.0),
        _ => None,
    }
}

/// `Current Link Width` code → (lanes in the wider direction, asymmetric).
pub fn lanes_from_width_code(code: u64) -> Option<(u32, bool)> {
    match code {
        0x1 => Some((1, false)),
        0x2 => Some((2, false)),
        // TB5 asymmetric: 3 lanes one way, 1 the other.
        0x4 | 0x8 => Some((3, true)),
        _ => None,
    }
}

/// `Supported Link Speed` is a bit set of the speed codes; 0x2 (40 Gb/s per lane) means TB5.
fn supports_tb5(supported: Option<u64>) -> bool {
    supported.is_some_and(|s| s & 0x2 != 0)
}

/// This machine's lane adapters, one per receptacle, from parsed ioreg ports.
pub fn host_ports_from_ioreg(ports: &[IoregLanePort]) -> Vec<ThunderboltPort> {
    // Each receptacle has two lane adapters (Lane 1 and its dual-link partner); both show the
    // bonded link's codes, so keep one per (switch, receptacle).
    let mut chosen: BTreeMap<(String, String), &IoregLanePort> = BTreeMap::new();
    for port in ports {
        if port.number("Adapter Type") != Some(1) {
            continue;
        }
        let is_host = match (port.switch_depth, port.switch_route) {
            (Some(depth), _) => depth == 0,
            (None, Some(route)) => route == 0,
            (None, None) => true,
        };
        if !is_host {
            continue;
        }
        let socket_or_pair = match port.props.get("Socket ID") {
            Some(socket) => format!("socket {}", socket.trim_matches('"')),
            None => {
                let number = port.number("Port Number").unwrap_or(0);
                let dual = port.number("Dual-Link Port").unwrap_or(number);
                format!("pair {}", number.min(dual))
            }
        };
        let key = (port.switch_uid.clone().unwrap_or_default(), socket_or_pair);
        let better = match chosen.get(&key) {
            None => true,
            Some(existing) => existing.number("Lane") != Some(1) && port.number("Lane") == Some(1),
        };
        if better {
            chosen.insert(key, port);
        }
    }
    let mut result: Vec<ThunderboltPort> = chosen
        .values()
        .map(|port| {
            let per_lane = port.number("Current Link Speed").and_then(per_lane_gbps_from_code);
            let width = port.number("Current Link Width").and_then(lanes_from_width_code);
            let link_up = per_lane.is_some() && width.is_some();
            let (lanes, asymmetric) = match width {
                Some((lanes, asym)) if link_up => (Some(lanes), asym),
                _ => (None, false),
            };
            let per_lane = if link_up { per_lane } else { None };
            ThunderboltPort {
                socket: port.props.get("Socket ID").map(|s| s.trim_matches('"').to_owned()),
                link_up,
                speed_gbps: per_lane.zip(lanes).map(|(g, l)| g * f64::from(l)),
                lanes,
                per_lane_gbps: per_lane,
                asymmetric,
                // 40 Gb/s per lane (Gen 4) exists only on TB5 / USB4 v2 hardware, so a lane
                // running at it is TB5-capable even where the dump omits Supported Link Speed.
                tb5_capable: supports_tb5(port.number("Supported Link Speed")) || per_lane.is_some_and(|g| g >= 40.0),
                ..ThunderboltPort::default()
            }
        })
        .collect();
    result.sort_by_key(|p| socket_order(&p.socket));
    result
}

fn socket_order(socket: &Option<String>) -> (u64, String) {
    let s = socket.clone().unwrap_or_default();
    (parse_number(&s).unwrap_or(u64::MAX), s)
}

// ---------------------------------------------------------------------------------------------
// system_profiler

/// A `Speed:` / `current_speed_key` label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpeedLabel {
    /// "80 Gb/s": the negotiated link speed.
    Linked { gbps: f64 },
    /// "Up to 120 Gb/s" or older macOS "Up to 40 Gb/s x1": what the port can do, not a link.
    Capability { gbps: f64 },
}

pub fn parse_speed_label(label: &str) -> Option<SpeedLabel> {
    let text = label.trim();
    let (capability, rest) = match text.strip_prefix("Up to ") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let number = rest.split_whitespace().next()?;
    let gbps: f64 = number.parse().ok()?;
    if !rest.contains("Gb/s") || !gbps.is_finite() || gbps < 0.0 {
        return None;
    }
    Some(if capability {
        SpeedLabel::Capability { gbps }
    } else {
        SpeedLabel::Linked { gbps }
    })
}

/// One bus (receptacle) from `system_profiler SPThunderboltDataType -json`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfilerPort {
    pub socket: Option<String>,
    pub link_up: bool,
    pub speed: Option<SpeedLabel>,
    pub peer: Option<String>,
    pub peer_model: Option<String>,
    pub peer_domain_uuid: Option<String>,
    pub peer_is_host: bool,
    /// This bus's own domain UUID.
    pub domain_uuid: Option<String>,
}

pub fn parse_system_profiler_json(text: &str) -> Result<Vec<ProfilerPort>, super::ProbeError> {
    let root: serde_json::Value = serde_json::from_str(text).map_err(|e| super::ProbeError::Parse {
        what: "system_profiler SPThunderboltDataType -json",
        reason: e.to_string(),
    })?;
    let buses = root
        .get("SPThunderboltDataType")
        .and_then(|v| v.as_array())
        .ok_or(super::ProbeError::Parse {
            what: "system_profiler SPThunderboltDataType -json",
            reason: "no SPThunderboltDataType array".into(),
        })?;
    let text_of = |v: &serde_json::Value, key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_owned);
    let mut ports = Vec::new();
    for bus in buses {
        let Some(object) = bus.as_object() else {
            continue;
        };
        let receptacle = object
            .iter()
            .find(|(k, v)| k.starts_with("receptacle_") && k.ends_with("_tag") && v.is_object())
            .map(|(_, v)| v);
        let mut port = ProfilerPort {
            domain_uuid: text_of(bus, "domain_uuid_key"),
            ..ProfilerPort::default()
        };
        if let Some(r) = receptacle {
            port.socket = text_of(r, "receptacle_id_key");
            port.speed = text_of(r, "current_speed_key").as_deref().and_then(parse_speed_label);
            let connected = text_of(r, "receptacle_status_key").as_deref() == Some("receptacle_connected");
            let status_linked = text_of(r, "link_status_key").as_deref().and_then(parse_number) == Some(2);
            port.link_up = connected || status_linked;
        }
        if let Some(first) = bus.get("_items").and_then(|i| i.as_array()).and_then(|i| i.first()) {
            port.peer = text_of(first, "_name").or_else(|| text_of(first, "device_name_key"));
            port.peer_model = text_of(first, "device_name_key");
            // Hosts (XDomain peers) have their own Thunderbolt domain; devices have only a route.
            port.peer_domain_uuid = text_of(first, "domain_uuid_key");
            port.peer_is_host = port.peer_domain_uuid.is_some();
            port.link_up = true;
        }
        ports.push(port);
    }
    Ok(ports)
}

/// `networksetup -listallhardwareports` → hardware port name → device ("Thunderbolt 1" → "en2").
pub fn parse_hardware_ports(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut port: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Hardware Port:") {
            port = Some(name.trim().to_owned());
        } else if let Some(device) = line.strip_prefix("Device:") {
            if let Some(name) = port.take() {
                map.insert(name, device.trim().to_owned());
            }
        }
    }
    map
}

/// The interface of a receptacle. macOS names the network port of receptacle N "Thunderbolt N"
/// (on an M4 Max Mac Studio: receptacles 1–4, "Thunderbolt 1–4" → en2–en5).
pub fn interface_for_socket(hardware_ports: &BTreeMap<String, String>, socket: &str) -> Option<String> {
    hardware_ports.get(&format!("Thunderbolt {socket}")).cloned()
}

/// Joins the IORegistry link figures with system_profiler's peers, by receptacle. Either side
/// may be missing (a saved bundle without one of them, or a Mac where a tool failed).
pub fn merge_macos(
    ioreg: &[ThunderboltPort],
    profiler: &[ProfilerPort],
    hardware_ports: &BTreeMap<String, String>,
) -> Vec<ThunderboltPort> {
    let mut ports: Vec<ThunderboltPort> = ioreg.to_vec();
    for sp in profiler {
        let existing = sp
            .socket
            .as_ref()
            .and_then(|s| ports.iter().position(|p| p.socket.as_deref() == Some(s.as_str())));
        let index = match existing {
            Some(i) => i,
            None => {
                let (speed, tb5) = match sp.speed {
                    Some(SpeedLabel::Linked { gbps }) if sp.link_up => (Some(gbps), gbps >= 80.0),
                    Some(SpeedLabel::Linked { gbps }) | Some(SpeedLabel::Capability { gbps }) => (None, gbps >= 80.0),
                    None => (None, false),
                };
                ports.push(ThunderboltPort {
                    socket: sp.socket.clone(),
                    link_up: sp.link_up,
                    speed_gbps: speed,
                    tb5_capable: tb5,
                    ..ThunderboltPort::default()
                });
                ports.len() - 1
            }
        };
        let port = &mut ports[index];
        if sp.peer.is_some() {
            port.peer = sp.peer.clone();
            port.peer_is_host = sp.peer_is_host;
            port.peer_domain_uuid = sp.peer_domain_uuid.clone();
        }
    }
    for port in &mut ports {
        if let Some(socket) = &port.socket {
            port.interface = interface_for_socket(hardware_ports, socket);
        }
    }
    ports.sort_by_key(|p| socket_order(&p.socket));
    ports
}

// ---------------------------------------------------------------------------------------------
// Linux sysfs

/// `20.0 Gb/s` → 20.0.
pub fn parse_sysfs_speed(text: &str) -> Option<f64> {
    let number = text.split_whitespace().next()?;
    number.parse::<f64>().ok().filter(|g| g.is_finite() && *g >= 0.0)
}

/// Links of this Linux machine from `bus/thunderbolt/devices/<name>/<attribute>` values.
/// `attribute(device, name)` returns the file's text. Only entries one hop from a host router
/// (route 1..0xff) are reported: they are what is cabled to this machine's ports.
pub fn linux_ports<F>(device_names: &[String], attribute: F) -> Vec<ThunderboltPort>
where
    F: Fn(&str, &str) -> Option<String>,
{
    let mut ports = Vec::new();
    for name in device_names {
        // "<domain>-<route hex>"; services are "<xdomain>.<n>" and domains "domainN".
        let Some((_, route)) = name.split_once('-') else {
            continue;
        };
        if route.contains('.') {
            continue;
        }
        let Ok(route) = u64::from_str_radix(route, 16) else {
            continue;
        };
        if route == 0 || route > 0xff {
            continue;
        }
        let get = |attr: &str| {
            attribute(name, attr)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let is_xdomain = get("uevent").is_some_and(|u| u.lines().any(|l| l.trim() == "DEVTYPE=thunderbolt_xdomain"));
        let rx = get("rx_speed").as_deref().and_then(parse_sysfs_speed);
        let tx = get("tx_speed").as_deref().and_then(parse_sysfs_speed);
        let rx_lanes = get("rx_lanes").and_then(|s| s.parse::<u32>().ok());
        let tx_lanes = get("tx_lanes").and_then(|s| s.parse::<u32>().ok());
        let per_lane = match (rx, tx) {
            (Some(r), Some(t)) => Some(r.max(t)),
            (r, t) => r.or(t),
        };
        let lanes = match (rx_lanes, tx_lanes) {
            (Some(r), Some(t)) => Some(r.max(t)),
            (r, t) => r.or(t),
        }
        .filter(|l| *l > 0);
        let link_up = per_lane.is_some_and(|g| g > 0.0) && lanes.is_some();
        let peer = get("device_name").or_else(|| get("vendor_name"));
        ports.push(ThunderboltPort {
            socket: Some((route & 0xff).to_string()),
            link_up,
            speed_gbps: if link_up {
                per_lane.zip(lanes).map(|(g, l)| g * f64::from(l))
            } else {
                None
            },
            lanes: if link_up { lanes } else { None },
            per_lane_gbps: if link_up { per_lane } else { None },
            asymmetric: matches!((rx_lanes, tx_lanes), (Some(r), Some(t)) if r != t),
            tb5_capable: per_lane.is_some_and(|g| g >= 40.0),
            peer,
            peer_is_host: is_xdomain,
            peer_domain_uuid: if is_xdomain { get("unique_id") } else { None },
            interface: None,
            rdma_active: None,
            slow: false,
        });
    }
    ports.sort_by_key(|p| socket_order(&p.socket));
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEL_LANE: &str = include_str!(
        "../../tests/fixtures/macos/ioreg-IOThunderboltPort-IntelTB-lane-excerpt-whatcable-issue52-joeshaw.txt"
    );
    const INACTIVE: &str = include_str!(
        "../../tests/fixtures/macos/ioreg-IOThunderboltPort-inactive-excerpt-whatcable-issue52-jshier.txt"
    );
    const M5PRO: &str = include_str!(
        "../../tests/fixtures/macos/ioreg-IOThunderboltSwitch-M5Pro-t6050-host-TB5-asym-excerpt-whatcable-issue52-NoFr1ends.txt"
    );
    const TYPE7_IDLE: &str = include_str!(
        "../../tests/fixtures/macos/ioreg-IOThunderboltSwitchType7-host-idle-excerpt-whatcable-issue52-jshier.txt"
    );
    const SP_M5MAX: &str =
        include_str!("../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-M5Max-MacBookPro-TB5-peer.json");
    const SP_M3ULTRA: &str = include_str!(
        "../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-M3Ultra-MacStudio-TB5-peer.json"
    );
    const SP_TEXT_M4MAX: &str = include_str!(
        "../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-M4Max-MacStudio-macOS26.6.2.txt"
    );
    const SP_TEXT_IDLE_TB4: &str =
        include_str!("../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-MacBookPro-idle-TB4-40G.txt");
    const SP_TEXT_M1: &str =
        include_str!("../../tests/fixtures/macos/system_profiler-SPThunderboltDataType-M1-IPoverTB-snippet.txt");
    const HARDWARE_PORTS: &str =
        include_str!("../../tests/fixtures/macos/networksetup-listallhardwareports-M4Max-MacStudio-macOS26.6.2.txt");

    fn speed_labels(text: &str) -> Vec<SpeedLabel> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("Speed:"))
            .map(|s| parse_speed_label(s).unwrap())
            .collect()
    }

    #[test]
    fn m5_pro_asymmetric_tb5_lane() {
        let ports = parse_ioreg_ports(M5PRO);
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].switch_route, Some(0));
        assert_eq!(ports[0].props["Current Link Speed"], "2");
        assert_eq!(ports[0].props["Current Link Width"], "4");
        let host = host_ports_from_ioreg(&ports);
        assert_eq!(host.len(), 1);
        let p = &host[0];
        assert!(p.link_up);
        assert_eq!(p.per_lane_gbps, Some(40.0));
        assert_eq!(p.lanes, Some(3));
        assert!(p.asymmetric);
        assert_eq!(p.speed_gbps, Some(120.0));
    }

    #[test]
    fn intel_lane_is_10_gbps_by_one() {
        let ports = parse_ioreg_ports(INTEL_LANE);
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].switch_depth, None);
        let host = host_ports_from_ioreg(&ports);
        assert_eq!(host.len(), 1);
        let p = &host[0];
        assert!(p.link_up);
        assert_eq!(p.per_lane_gbps, Some(10.0));
        assert_eq!(p.lanes, Some(1));
        assert_eq!(p.speed_gbps, Some(10.0));
        assert!(!p.asymmetric);
        // Supported Link Speed 12 = 20 and 10 Gb/s per lane: not TB5.
        assert!(!p.tb5_capable);
        assert_eq!(p.socket, None);
    }

    #[test]
    fn idle_type7_port_is_down_but_tb5_capable() {
        let ports = parse_ioreg_ports(TYPE7_IDLE);
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].switch_depth, Some(0));
        assert_eq!(ports[0].switch_uid.as_deref(), Some("408890189403686981"));
        let host = host_ports_from_ioreg(&ports);
        assert_eq!(host.len(), 1);
        let p = &host[0];
        assert!(!p.link_up);
        assert_eq!(p.speed_gbps, None);
        assert_eq!(p.per_lane_gbps, None);
        assert_eq!(p.lanes, None);
        assert!(p.tb5_capable);
        assert_eq!(p.socket.as_deref(), Some("6"));
    }

    #[test]
    fn inactive_adapters_are_not_ports() {
        let ports = parse_ioreg_ports(INACTIVE);
        assert_eq!(ports.len(), 2);
        assert!(host_ports_from_ioreg(&ports).is_empty());
    }

    /// The raw `ioreg -l -w0` layout, built from the Type7 fixture's values plus a second,
    /// linked receptacle, a dual-link partner, and a downstream (Depth 1) device switch.
    const RAW_IOREG: &str = r#"+-o IOThunderboltSwitchType7@0  <class IOThunderboltSwitchType7, id 0x100000a01, registered, matched, active, busy 0 (3 ms), retain 18>
  | {
  |   "Depth" = 0
  |   "Route String" = 0
  |   "UID" = 408890189403686981
  | }
  |
  +-o IOThunderboltPort@1  <class IOThunderboltPort, id 0x100000a02, registered, matched, active, busy 0 (0 ms), retain 7>
  | | {
  | |   "Adapter Type" = 1
  | |   "Current Link Speed" = 2
  | |   "Current Link Width" = 2
  | |   "Lane" = 1
  | |   "Port Number" = 1
  | |   "Dual-Link Port" = 2
  | |   "Socket ID" = "2"
  | |   "Supported Link Speed" = 14
  | | }
  | |
  | +-o IOThunderboltLocalNode  <class IOThunderboltLocalNode, id 0x100000a09, registered, matched, active, busy 0 (0 ms), retain 6>
  | |   {
  | |     "Adapter Type" = 9
  | |   }
  | |
  | +-o IOThunderboltSwitchType5@1  <class IOThunderboltSwitchType5, id 0x100000b01, registered, matched, active, busy 0 (0 ms), retain 9>
  |   | {
  |   |   "Depth" = 1
  |   |   "Route String" = 1
  |   | }
  |   |
  |   +-o IOThunderboltPort@1  <class IOThunderboltPort, id 0x100000b02, registered, matched, active, busy 0 (0 ms), retain 7>
  |       {
  |         "Adapter Type" = 1
  |         "Current Link Speed" = 4
  |         "Current Link Width" = 2
  |         "Socket ID" = "1"
  |       }
  |
  +-o IOThunderboltPort@2  <class IOThunderboltPort, id 0x100000a03, registered, matched, active, busy 0 (0 ms), retain 7>
  | {
  |   "Adapter Type" = 1
  |   "Current Link Speed" = 0x2
  |   "Current Link Width" = 0x2
  |   "Lane" = 2
  |   "Port Number" = 2
  |   "Dual-Link Port" = 1
  |   "Socket ID" = "2"
  |   "Supported Link Speed" = 14
  | }
  |
  +-o IOThunderboltPort@3  <class IOThunderboltPort, id 0x100000a04, registered, matched, active, busy 0 (0 ms), retain 7>
    {
      "Adapter Type" = 1
      "Current Link Speed" = 0
      "Current Link Width" = 0
      "Lane" = 1
      "Socket ID" = "6"
      "Supported Link Speed" = 14
    }
"#;

    #[test]
    fn raw_ioreg_layout_with_nested_device_switch() {
        let ports = parse_ioreg_ports(RAW_IOREG);
        assert_eq!(ports.len(), 4);
        // The device switch's port is attributed to the device switch, even though a host port follows.
        assert_eq!(ports[1].switch_depth, Some(1));
        assert_eq!(ports[2].switch_depth, Some(0));
        let host = host_ports_from_ioreg(&ports);
        assert_eq!(host.len(), 2, "{host:?}");
        assert_eq!(host[0].socket.as_deref(), Some("2"));
        assert_eq!(host[0].speed_gbps, Some(80.0));
        assert_eq!(host[0].lanes, Some(2));
        assert!(host[0].tb5_capable);
        assert_eq!(host[1].socket.as_deref(), Some("6"));
        assert!(!host[1].link_up);
    }

    #[test]
    fn ioreg_garbage_never_panics() {
        for text in [
            "",
            "+-o",
            "+-o Foo <class",
            "### Port @1:",
            "## Switch",
            "  | |   \"Adapter Type\" = ",
            "\"unterminated = 1",
            "= = =",
            &M5PRO[..M5PRO.len() / 2],
            &String::from_utf8_lossy(
                b"### Port @1: IOThunderboltPort\n  Adapter Type = 1\n  Current Link Speed = \xff\n",
            ),
        ] {
            let ports = parse_ioreg_ports(text);
            let _ = host_ports_from_ioreg(&ports);
        }
        let odd =
            "### Port @1: IOThunderboltPort\n  Adapter Type = 1\n  Current Link Speed = 7\n  Current Link Width = 2\n";
        let host = host_ports_from_ioreg(&parse_ioreg_ports(odd));
        assert_eq!(host.len(), 1);
        assert!(!host[0].link_up, "an unknown speed code is not a link");
    }

    #[test]
    fn speed_labels_new_and_old_macos() {
        assert_eq!(parse_speed_label("80 Gb/s"), Some(SpeedLabel::Linked { gbps: 80.0 }));
        assert_eq!(
            parse_speed_label("Up to 120 Gb/s"),
            Some(SpeedLabel::Capability { gbps: 120.0 })
        );
        assert_eq!(
            parse_speed_label("Up to 40 Gb/s x1"),
            Some(SpeedLabel::Capability { gbps: 40.0 })
        );
        assert_eq!(parse_speed_label("fast"), None);
        assert_eq!(parse_speed_label("80 MB/s"), None);
        assert_eq!(parse_speed_label(""), None);
        // Every Speed: line of the text captures parses.
        let m4 = speed_labels(SP_TEXT_M4MAX);
        assert_eq!(m4.len(), 11);
        assert_eq!(m4[0], SpeedLabel::Linked { gbps: 40.0 });
        assert!(m4.contains(&SpeedLabel::Linked { gbps: 80.0 }));
        assert!(m4.contains(&SpeedLabel::Capability { gbps: 120.0 }));
        let idle = speed_labels(SP_TEXT_IDLE_TB4);
        assert_eq!(idle, vec![SpeedLabel::Capability { gbps: 40.0 }; 3]);
        assert_eq!(speed_labels(SP_TEXT_M1), vec![SpeedLabel::Capability { gbps: 40.0 }]);
    }

    #[test]
    fn m5_max_profiler_sees_the_studio_at_80() {
        let ports = parse_system_profiler_json(SP_M5MAX).unwrap();
        assert_eq!(ports.len(), 3);
        let linked: Vec<_> = ports.iter().filter(|p| p.link_up).collect();
        assert_eq!(linked.len(), 1);
        let p = linked[0];
        assert_eq!(p.socket.as_deref(), Some("1"));
        assert_eq!(p.speed, Some(SpeedLabel::Linked { gbps: 80.0 }));
        assert_eq!(p.peer.as_deref(), Some("Mac Studio"));
        assert_eq!(p.peer_model.as_deref(), Some("Mac15,14"));
        assert_eq!(
            p.peer_domain_uuid.as_deref(),
            Some("28CA4C30-A263-4C55-B302-953416D0B209")
        );
        assert!(p.peer_is_host);
        assert_eq!(p.domain_uuid.as_deref(), Some("817DCFA4-B481-4100-80FC-91C7AA969F0B"));
        let idle = ports.iter().find(|p| p.socket.as_deref() == Some("3")).unwrap();
        assert!(!idle.link_up);
        assert_eq!(idle.speed, Some(SpeedLabel::Capability { gbps: 120.0 }));
    }

    #[test]
    fn m3_ultra_profiler_peer_and_device() {
        let ports = parse_system_profiler_json(SP_M3ULTRA).unwrap();
        assert_eq!(ports.len(), 6);
        let mac = ports.iter().find(|p| p.socket.as_deref() == Some("2")).unwrap();
        assert!(mac.link_up && mac.peer_is_host);
        assert_eq!(mac.peer.as_deref(), Some("MacBook Pro"));
        // The two ends agree: the M5 Max's bus domain is the Studio's peer domain.
        assert_eq!(
            mac.peer_domain_uuid.as_deref(),
            Some("817DCFA4-B481-4100-80FC-91C7AA969F0B")
        );
        let envoy = ports.iter().find(|p| p.socket.as_deref() == Some("4")).unwrap();
        assert!(envoy.link_up);
        assert!(!envoy.peer_is_host);
        assert_eq!(envoy.peer.as_deref(), Some("Envoy Ultra"));
        assert_eq!(ports.iter().filter(|p| !p.link_up).count(), 4);

        // Without ioreg, ports come from system_profiler alone.
        let merged = merge_macos(&[], &ports, &BTreeMap::new());
        assert_eq!(merged.len(), 6);
        assert_eq!(merged[0].socket.as_deref(), Some("1"));
        let to_mac = &merged[1];
        assert_eq!(to_mac.speed_gbps, Some(80.0));
        assert!(to_mac.tb5_capable && to_mac.peer_is_host);
        assert_eq!(to_mac.lanes, None);
        assert!(merged[5].tb5_capable && !merged[5].link_up && merged[5].speed_gbps.is_none());
    }

    #[test]
    fn profiler_malformed() {
        assert!(parse_system_profiler_json("").is_err());
        assert!(parse_system_profiler_json("{").is_err());
        assert!(parse_system_profiler_json("{}").is_err());
        assert!(parse_system_profiler_json(&SP_M5MAX[..SP_M5MAX.len() / 2]).is_err());
        let odd = r#"{"SPThunderboltDataType":[1,"x",{"receptacle_1_tag":{"current_speed_key":42}},{"_items":[]}],"new":true}"#;
        let ports = parse_system_profiler_json(odd).unwrap();
        assert_eq!(ports.len(), 2);
        assert!(ports.iter().all(|p| p.speed.is_none() && p.peer.is_none()));
    }

    #[test]
    fn hardware_ports_map_thunderbolt_n_to_en() {
        let map = parse_hardware_ports(HARDWARE_PORTS);
        assert_eq!(map["Thunderbolt Bridge"], "bridge0");
        assert_eq!(map["Thunderbolt 1"], "en2");
        assert_eq!(map["Thunderbolt 4"], "en5");
        assert_eq!(map["Wi-Fi"], "en1");
        assert_eq!(interface_for_socket(&map, "2").as_deref(), Some("en3"));
        assert_eq!(interface_for_socket(&map, "9"), None);
        assert!(parse_hardware_ports("Device: en0\nHardware Port: x\n").is_empty());
    }

    #[test]
    fn merge_takes_speed_from_ioreg_and_peer_from_profiler() {
        let ioreg = host_ports_from_ioreg(&parse_ioreg_ports(RAW_IOREG));
        let profiler = vec![ProfilerPort {
            socket: Some("2".into()),
            link_up: true,
            speed: Some(SpeedLabel::Linked { gbps: 80.0 }),
            peer: Some("Mac Studio".into()),
            peer_domain_uuid: Some("28CA4C30".into()),
            peer_is_host: true,
            ..ProfilerPort::default()
        }];
        let map = parse_hardware_ports(HARDWARE_PORTS);
        let merged = merge_macos(&ioreg, &profiler, &map);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].peer.as_deref(), Some("Mac Studio"));
        assert_eq!(merged[0].lanes, Some(2));
        assert_eq!(merged[0].interface.as_deref(), Some("en3"));
        assert_eq!(merged[1].interface, None);
    }

    #[test]
    fn sysfs_speed_values() {
        assert_eq!(parse_sysfs_speed("20.0 Gb/s\n"), Some(20.0));
        assert_eq!(parse_sysfs_speed("40.0 Gb/s"), Some(40.0));
        assert_eq!(parse_sysfs_speed(""), None);
        assert_eq!(parse_sysfs_speed("NaN Gb/s"), None);
        assert_eq!(parse_sysfs_speed("-1 Gb/s"), None);
    }
}
