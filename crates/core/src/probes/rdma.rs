//! RDMA over Thunderbolt (macOS 26.2+): whether it is enabled (`rdma_ctl status`) and which
//! ports are active (`ibv_devinfo`). Linux has no such Thunderbolt RDMA: `unsupported`.

pub use clusterbar_model::host::{RdmaState, RdmaStatus};
use std::collections::BTreeMap;

/// `rdma_ctl status` prints `enabled` or `disabled`.
pub fn parse_rdma_ctl_status(text: &str) -> RdmaState {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    match (has("enabled"), has("disabled")) {
        (true, false) => RdmaState::new(RdmaStatus::Enabled, None),
        (false, true) => RdmaState::new(RdmaStatus::Disabled, None),
        _ => {
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty)");
            RdmaState::new(
                RdmaStatus::Unknown,
                Some(format!("unexpected rdma_ctl output: {}", truncate(first, 80))),
            )
        }
    }
}

/// `ibv_devinfo` → HCA id ("rdma_en3") → whether any of its ports is `PORT_ACTIVE`.
pub fn parse_ibv_devinfo(text: &str) -> BTreeMap<String, bool> {
    let mut devices = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(id) = trimmed.strip_prefix("hca_id:") {
            let id = id.trim().to_owned();
            devices.entry(id.clone()).or_insert(false);
            current = Some(id);
        } else if let Some(state) = trimmed.strip_prefix("state:") {
            if let Some(id) = &current {
                if state.trim().starts_with("PORT_ACTIVE") {
                    devices.insert(id.clone(), true);
                }
            }
        }
    }
    devices
}

/// `rdma_en3` → `en3`: macOS names each Thunderbolt RDMA device after its network interface.
pub fn interface_of_hca(hca_id: &str) -> &str {
    hca_id.strip_prefix("rdma_").unwrap_or(hca_id)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ibv_devinfo` layout (rdma-core): one `hca_id:` block per device, a `port:` block each.
    /// Built from rdma-core's print format with macOS 26.2's `rdma_enX` device names.
    const IBV_DEVINFO: &str = "hca_id:\trdma_en3\n\ttransport:\t\t\tInfiniBand (0)\n\tfw_ver:\t\t\t\t0.0.0\n\tphys_port_cnt:\t\t\t1\n\t\tport:\t1\n\t\t\tstate:\t\t\tPORT_ACTIVE (4)\n\t\t\tmax_mtu:\t\t4096 (5)\n\nhca_id:\trdma_en4\n\ttransport:\t\t\tInfiniBand (0)\n\t\tport:\t1\n\t\t\tstate:\t\t\tPORT_DOWN (1)\n";

    #[test]
    fn rdma_ctl_status_words() {
        assert_eq!(parse_rdma_ctl_status("enabled\n").status, RdmaStatus::Enabled);
        assert_eq!(parse_rdma_ctl_status("disabled\n").status, RdmaStatus::Disabled);
        assert_eq!(parse_rdma_ctl_status("RDMA: Disabled").status, RdmaStatus::Disabled);
        let odd = parse_rdma_ctl_status("\u{fffd}\u{fffd} maybe\n");
        assert_eq!(odd.status, RdmaStatus::Unknown);
        assert!(odd.detail.unwrap().contains("maybe"));
        assert_eq!(parse_rdma_ctl_status("").status, RdmaStatus::Unknown);
        assert_eq!(parse_rdma_ctl_status("enabled? disabled?").status, RdmaStatus::Unknown);
        let long = "x".repeat(500);
        assert!(parse_rdma_ctl_status(&long).detail.unwrap().chars().count() < 120);
    }

    #[test]
    fn ibv_devinfo_ports() {
        let devices = parse_ibv_devinfo(IBV_DEVINFO);
        assert_eq!(devices.len(), 2);
        assert!(devices["rdma_en3"]);
        assert!(!devices["rdma_en4"]);
        assert_eq!(interface_of_hca("rdma_en3"), "en3");
        assert_eq!(interface_of_hca("mlx5_0"), "mlx5_0");
        assert!(parse_ibv_devinfo("").is_empty());
        assert!(parse_ibv_devinfo("state: PORT_ACTIVE (4)\n").is_empty());
        assert!(parse_ibv_devinfo("No IB devices found\n").is_empty());
    }
}
