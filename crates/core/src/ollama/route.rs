//! Which interface this Mac's traffic to a remote Ollama box leaves by, and what kind of link
//! that is: the point of a Thunderbolt cluster is that it is the Thunderbolt one.
//!
//! `ip route get ADDR` (Linux, iproute2) and `route -n get ADDR` (macOS) are parsed here; the
//! interface is classified with what the hardware probes already know (Thunderbolt ports'
//! interfaces, the bridge's members, `networksetup -listallhardwareports`).

use std::collections::BTreeMap;

use clusterbar_model::ollama::InterfaceKind;

/// `ip route get 8.8.8.8` → "eth0": the word after `dev` on the first line.
pub fn parse_ip_route_get(output: &str) -> Option<String> {
    let first = output.lines().find(|l| !l.trim().is_empty())?;
    let mut words = first.split_whitespace();
    words.find(|w| *w == "dev")?;
    words.next().map(str::to_owned)
}

/// `route -n get 192.168.99.2` → "bridge0": the `interface:` line.
pub fn parse_route_n_get(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let value = line.trim().strip_prefix("interface:")?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// What kind of link `interface` is. `thunderbolt` lists the interfaces the probes tied to a
/// Thunderbolt port or the Thunderbolt Bridge; `hardware_ports` is macOS's hardware port →
/// device map (empty elsewhere).
pub fn classify_interface(
    interface: &str,
    thunderbolt: &[String],
    hardware_ports: &BTreeMap<String, String>,
) -> InterfaceKind {
    if interface == "lo" || interface == "lo0" {
        return InterfaceKind::Loopback;
    }
    if interface == "bridge0" || interface.starts_with("thunderbolt") || thunderbolt.iter().any(|t| t == interface) {
        return InterfaceKind::Thunderbolt;
    }
    if let Some((port, _)) = hardware_ports.iter().find(|(_, device)| *device == interface) {
        let port = port.to_ascii_lowercase();
        if port.contains("thunderbolt") {
            return InterfaceKind::Thunderbolt;
        }
        if port.contains("wi-fi") || port.contains("airport") || port.contains("wlan") {
            return InterfaceKind::Wifi;
        }
        if port.contains("ethernet") || port.contains("lan") {
            return InterfaceKind::Ethernet;
        }
        return InterfaceKind::Other;
    }
    // Linux's names (systemd's predictable names and the classic ones); macOS's `enN` needs the
    // hardware ports above to be told apart.
    if interface.starts_with("wl") {
        InterfaceKind::Wifi
    } else if interface.starts_with("eth") || ["enp", "eno", "ens", "enx"].iter().any(|p| interface.starts_with(p)) {
        InterfaceKind::Ethernet
    } else {
        InterfaceKind::Other
    }
}

/// Runs the OS's route lookup for `address` (an IP address) and returns the interface.
pub fn interface_to(address: std::net::IpAddr) -> Result<String, crate::probes::ProbeError> {
    let target = address.to_string();
    #[cfg(target_os = "macos")]
    let (program, args, parse) = ("/sbin/route", ["-n", "get", target.as_str()], parse_route_n_get);
    #[cfg(not(target_os = "macos"))]
    let (program, args, parse) = ("ip", ["route", "get", target.as_str()], parse_ip_route_get);
    let output = crate::probes::run_tool(program, &args)?;
    parse(&output).ok_or_else(|| crate::probes::ProbeError::Parse {
        what: "route lookup",
        reason: format!("no interface in {:?}", output.lines().next().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/ollama/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn linux_route_lookups_captured_here() {
        assert_eq!(
            parse_ip_route_get(&fixture("route_linux_loopback.txt")).as_deref(),
            Some("lo")
        );
        assert_eq!(
            parse_ip_route_get(&fixture("route_linux_default.txt")).as_deref(),
            Some("eth0")
        );
        assert_eq!(parse_ip_route_get("RTNETLINK answers: Network is unreachable\n"), None);
    }

    /// Written in route(8)'s documented layout, not captured on a Mac.
    #[test]
    fn macos_route_lookups_in_the_documented_format() {
        assert_eq!(
            parse_route_n_get(&fixture("route_macos_bridge.txt")).as_deref(),
            Some("bridge0")
        );
        assert_eq!(
            parse_route_n_get(&fixture("route_macos_wifi.txt")).as_deref(),
            Some("en0")
        );
        assert_eq!(
            parse_route_n_get("route: writing to routing socket: not in table\n"),
            None
        );
    }

    #[test]
    fn interfaces_are_classified_with_what_the_probes_know() {
        let ports = crate::probes::thunderbolt::parse_hardware_ports(
            "Hardware Port: Ethernet\nDevice: en0\nEthernet Address: 00\n\n\
             Hardware Port: Wi-Fi\nDevice: en1\n\n\
             Hardware Port: Thunderbolt 1\nDevice: en2\n\n\
             Hardware Port: Thunderbolt Bridge\nDevice: bridge0\n",
        );
        let none: [String; 0] = [];
        assert_eq!(classify_interface("en0", &none, &ports), InterfaceKind::Ethernet);
        assert_eq!(classify_interface("en1", &none, &ports), InterfaceKind::Wifi);
        assert_eq!(classify_interface("en2", &none, &ports), InterfaceKind::Thunderbolt);
        assert_eq!(classify_interface("bridge0", &none, &ports), InterfaceKind::Thunderbolt);
        assert_eq!(classify_interface("lo0", &none, &ports), InterfaceKind::Loopback);
        // An interface the Thunderbolt probe tied to a port, unknown to networksetup.
        assert_eq!(
            classify_interface("en7", &["en7".to_owned()], &ports),
            InterfaceKind::Thunderbolt
        );
        let empty = BTreeMap::new();
        assert_eq!(classify_interface("en5", &none, &empty), InterfaceKind::Other);
        assert_eq!(classify_interface("eth0", &none, &empty), InterfaceKind::Ethernet);
        assert_eq!(classify_interface("enp3s0", &none, &empty), InterfaceKind::Ethernet);
        assert_eq!(classify_interface("wlp2s0", &none, &empty), InterfaceKind::Wifi);
        assert_eq!(
            classify_interface("thunderbolt0", &none, &empty),
            InterfaceKind::Thunderbolt
        );
        assert_eq!(classify_interface("lo", &none, &empty), InterfaceKind::Loopback);
    }
}
