//! The human table `clusterbar status` prints, and how every command writes to stdout.

use clusterbar_core::format::{bytes, printable};
use clusterbar_core::probes::hardware::HardwareReport;
use clusterbar_core::probes::memory::MemoryPressure;
use clusterbar_core::probes::rdma::RdmaStatus;
use clusterbar_core::supervise::{ServiceState, ServiceStatus};
use clusterbar_core::Snapshot;

pub fn status(s: &Snapshot) -> String {
    let host = &s.this_node.host;
    let mut lines = Vec::new();
    let mut about = vec![host.os.clone()];
    if let Some(build) = &host.os_build {
        about[0] = format!("{} ({build})", host.os);
    }
    about.push(host.chip.clone().unwrap_or_else(|| "unknown chip".into()));
    about.push(format!("{} cores", host.cpu_cores));
    lines.push(row("This machine", &format!("{} · {}", host.name, about.join(" · "))));
    let memory = match &s.this_node.memory {
        Some(m) => {
            let pct = if m.total_bytes > 0 {
                m.used_bytes as f64 * 100.0 / m.total_bytes as f64
            } else {
                0.0
            };
            let pressure = match m.pressure {
                Some(MemoryPressure::Normal) => "normal",
                Some(MemoryPressure::Warn) => "WARN",
                Some(MemoryPressure::Critical) => "CRITICAL",
                None => "—",
            };
            format!(
                "{} used of {} ({pct:.0}%) · swap {} of {} · pressure {pressure}",
                bytes(m.used_bytes),
                bytes(m.total_bytes),
                bytes(m.swap_used_bytes),
                bytes(m.swap_total_bytes)
            )
        }
        None => "— (unreadable, see warnings)".into(),
    };
    lines.push(row("Memory", &memory));
    lines.extend(hardware(&s.this_node.hardware));
    lines.push(row("exo", &service(&s.services.exo)));
    lines.push(row("Porten agent", &service(&s.services.porten)));
    if let Some(tokens) = &s.porten_tokens {
        let since = tokens
            .since
            .as_deref()
            .map(|d| format!(" since {d}"))
            .unwrap_or_default();
        lines.push(row(
            "Served to Porten",
            &format!(
                "{} tokens today, {} in total{since}",
                tokens.tokens_today, tokens.tokens_total
            ),
        ));
    }
    if let Some(energy) = &s.energy {
        lines.push(row("Energy", &energy_line(energy)));
    }
    if s.warnings.is_empty() {
        lines.push(row("Warnings", "none"));
    } else {
        for (i, w) in s.warnings.iter().enumerate() {
            let label = if i == 0 { "Warnings" } else { "" };
            lines.push(row(label, &format!("[{}] {} — {}", w.code, w.message, w.fix)));
        }
    }
    lines.join("\n")
}

fn hardware(hw: &HardwareReport) -> Vec<String> {
    let mut lines = Vec::new();
    if hw.thunderbolt.is_empty() {
        lines.push(row("Thunderbolt", "no ports found"));
    }
    for (i, port) in hw.thunderbolt.iter().enumerate() {
        let label = if i == 0 { "Thunderbolt" } else { "" };
        let name = port
            .socket
            .as_deref()
            .map(|s| format!("port {s}"))
            .unwrap_or_else(|| "port ?".into());
        let speed = match (port.link_up, port.speed_gbps, port.lanes) {
            (false, _, _) => "no link".to_owned(),
            (true, Some(gbps), Some(lanes)) => {
                format!("{gbps:.0} Gb/s · {lanes} lane{}", if lanes == 1 { "" } else { "s" })
            }
            (true, Some(gbps), None) => format!("{gbps:.0} Gb/s"),
            (true, None, _) => "linked, speed unknown".to_owned(),
        };
        let peer = port.peer.as_deref().map(|p| format!(" → {p}")).unwrap_or_default();
        let iface = port.interface.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
        let rdma = match port.rdma_active {
            Some(true) => " · RDMA active",
            Some(false) => " · RDMA inactive",
            None => "",
        };
        let tb5 = if port.tb5_capable { " · TB5" } else { "" };
        lines.push(row(label, &format!("{name}{iface}: {speed}{peer}{rdma}{tb5}")));
    }
    let rdma = match hw.rdma.status {
        RdmaStatus::Enabled => "enabled".to_owned(),
        RdmaStatus::Disabled => "disabled".to_owned(),
        RdmaStatus::Unsupported => "unsupported on this machine".to_owned(),
        RdmaStatus::Unknown => format!("unknown ({})", hw.rdma.detail.as_deref().unwrap_or("unreadable")),
    };
    lines.push(row("RDMA", &rdma));
    let power = match hw.power_watts {
        Some(w) => format!("{w:.1} W ({})", hw.power_source.as_deref().unwrap_or("measured")),
        None => format!(
            "— ({})",
            hw.power_unavailable_reason.as_deref().unwrap_or("not reported")
        ),
    };
    lines.push(row("Power", &power));
    if let Some(limit) = hw.gpu_wired_limit_bytes {
        let how = if hw.gpu_wired_limit_estimated {
            " (estimated OS default)"
        } else {
            ""
        };
        lines.push(row("GPU memory", &format!("up to {}{how}", bytes(limit))));
    }
    lines
}

/// One line of the table. Values carry names and words from other machines and tools (host and
/// peer names, exo's warnings, tool output), so they are made printable here, where every row passes.
fn row(label: &str, value: &str) -> String {
    format!("{label:<14}{}", printable(value))
}

fn service(s: &ServiceStatus) -> String {
    let version = s
        .version
        .as_deref()
        .map(|v| format!(" · version {v}"))
        .unwrap_or_default();
    let path = s
        .executable
        .as_ref()
        .map(|p| format!("{version} · {}", p.display()))
        .unwrap_or(version);
    match s.state {
        ServiceState::Running => {
            let pids: Vec<String> = s.pids.iter().map(u32::to_string).collect();
            let workers = match s.child_processes {
                0 => String::new(),
                1 => " + 1 worker process".to_owned(),
                n => format!(" + {n} worker processes"),
            };
            let copies = if s.pids.len() > 1 {
                format!("{} copies running: pids {}", s.pids.len(), pids.join(", "))
            } else {
                format!("pid {}", pids.join(", "))
            };
            format!("running ({copies}{workers}){path}")
        }
        ServiceState::Stopped => format!("stopped{path}"),
        ServiceState::NotInstalled => {
            format!("not installed — {}", s.detail.as_deref().unwrap_or("not found"))
        }
    }
}

/// Prints to stdout; a closed pipe (`clusterbar status | head -1`) is not a failure.
pub fn print_text(text: &str) -> Result<(), String> {
    write_line(text).map(|_| ())
}

/// Prints and flushes one line; `Ok(false)` when the reader has gone (a closed pipe), which
/// ends a `--watch` loop quietly.
pub fn write_line(text: &str) -> Result<bool, String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(format!("writing to stdout: {e}")),
    }
}

/// "today 41.2 Wh per 1M tokens (0.01 EUR) · 7 days 39.0 …", windows without tokens left out.
fn energy_line(energy: &clusterbar_core::history::EnergyFigures) -> String {
    let parts: Vec<String> = [("now", &energy.now), ("today", &energy.today), ("7 days", &energy.week)]
        .into_iter()
        .filter_map(|(label, w)| {
            let per_million = w.wh_per_million_tokens?;
            let cost = match (&energy.currency, w.cost_per_million_tokens) {
                (Some(currency), Some(cost)) => format!(" ({cost:.3} {})", printable(currency)),
                _ => String::new(),
            };
            Some(format!("{label} {per_million:.1} Wh per 1M tokens{cost}"))
        })
        .collect();
    if parts.is_empty() {
        format!("{:.1} Wh today, no tokens served", energy.today.energy_wh)
    } else {
        parts.join(" · ")
    }
}
