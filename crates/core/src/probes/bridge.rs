//! The Thunderbolt Bridge (`bridge0` on macOS) and the IP addresses on Thunderbolt interfaces.

pub use clusterbar_model::host::{BridgeInfo, InterfaceIp};
use std::net::IpAddr;

/// What `ifconfig bridge0` says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IfconfigBridge {
    pub members: Vec<String>,
    pub active: Option<bool>,
    pub addresses: Vec<IpAddr>,
}

/// Parses one `ifconfig` interface block (macOS layout: `member: en1 flags=…`, `status: active`,
/// `inet 169.254.3.4 netmask …`, `inet6 fe80::1%bridge0 …`).
pub fn parse_ifconfig_bridge(text: &str) -> IfconfigBridge {
    let mut bridge = IfconfigBridge::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("member:") => {
                if let Some(member) = words.next() {
                    bridge.members.push(member.to_owned());
                }
            }
            Some("status:") => {
                bridge.active = match words.next() {
                    Some("active") => Some(true),
                    Some("inactive") => Some(false),
                    _ => None,
                }
            }
            Some("inet") | Some("inet6") => {
                let address = words.next().map(|a| a.split('%').next().unwrap_or(a));
                if let Some(Ok(ip)) = address.map(str::parse::<IpAddr>) {
                    bridge.addresses.push(ip);
                }
            }
            _ => {}
        }
    }
    bridge
}

/// `networksetup -getnetworkserviceenabled "Thunderbolt Bridge"` prints `Enabled` or `Disabled`
/// (or an error when the service does not exist).
pub fn parse_service_enabled(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("enabled") => Some(true),
        t if t.eq_ignore_ascii_case("disabled") => Some(false),
        _ => None,
    }
}

/// The `interface_addresses` source: one `name address` pair per line (written by the reader
/// from getifaddrs).
pub fn parse_interface_addresses(text: &str) -> Vec<(String, IpAddr)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let ip = words.next()?.parse::<IpAddr>().ok()?;
            Some((name.to_owned(), ip))
        })
        .collect()
}

/// 169.254.0.0/16 and fe80::/10.
pub fn is_self_assigned(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Formats getifaddrs results as the `interface_addresses` source.
pub fn format_interface_addresses(pairs: &[(String, IpAddr)]) -> String {
    pairs.iter().map(|(name, ip)| format!("{name} {ip}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IFCONFIG_BRIDGE0: &str =
        include_str!("../../tests/fixtures/macos/ifconfig-bridge0-thunderbolt-bridge-idle-no-ip.txt");

    #[test]
    fn idle_default_bridge() {
        let b = parse_ifconfig_bridge(IFCONFIG_BRIDGE0);
        assert_eq!(b.members, vec!["en1", "en2", "en3"]);
        assert_eq!(b.active, Some(false));
        assert!(b.addresses.is_empty());
    }

    #[test]
    fn bridge_with_self_assigned_address() {
        let text = format!(
            "{}\tinet6 fe80::1c2b:3cff:fe4d:5e6f%bridge0 prefixlen 64 scopeid 0x1a\n\tinet 169.254.12.34 netmask 0xffff0000 broadcast 169.254.255.255\n",
            IFCONFIG_BRIDGE0.replace("status: inactive", "status: active")
        );
        let b = parse_ifconfig_bridge(&text);
        assert_eq!(b.active, Some(true));
        assert_eq!(b.addresses.len(), 2);
        assert!(b.addresses.iter().all(is_self_assigned));
        assert!(!is_self_assigned(&"192.168.1.2".parse().unwrap()));
        assert!(!is_self_assigned(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn malformed_ifconfig_and_service_state() {
        let b = parse_ifconfig_bridge("member:\nstatus: weird\ninet not-an-ip\n\u{fffd}");
        assert!(b.members.is_empty() && b.active.is_none() && b.addresses.is_empty());
        assert_eq!(parse_service_enabled("Enabled\n"), Some(true));
        assert_eq!(parse_service_enabled("Disabled"), Some(false));
        assert_eq!(parse_service_enabled("** Error: The parameters were not valid."), None);
    }

    #[test]
    fn interface_addresses_round_trip() {
        let pairs = vec![
            ("en3".to_owned(), "169.254.1.2".parse().unwrap()),
            ("bridge0".to_owned(), "10.0.0.2".parse().unwrap()),
        ];
        let text = format_interface_addresses(&pairs);
        assert_eq!(parse_interface_addresses(&text), pairs);
        assert!(parse_interface_addresses("en0\nen1 nope\n").is_empty());
    }
}
