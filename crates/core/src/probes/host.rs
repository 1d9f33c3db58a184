//! Who this machine is: name, OS, chip. These do not change while the app runs, so they are
//! read once per process.

pub use clusterbar_model::host::HostInfo;
use std::sync::OnceLock;

/// Turns a raw host name into the short name users know ("studio-1.local" → "studio-1").
pub fn short_host_name(raw: &str) -> String {
    let name = raw.trim();
    name.strip_suffix(".local").unwrap_or(name).to_owned()
}

/// `PRETTY_NAME` from os-release.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The first `model name` of `/proc/cpuinfo` (x86), else `Hardware`/`Model` (ARM boards).
pub fn parse_cpuinfo_model(text: &str) -> Option<String> {
    ["model name", "Hardware", "Model"].iter().find_map(|wanted| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == *wanted && !value.trim().is_empty()).then(|| value.trim().to_owned())
        })
    })
}

pub fn read() -> HostInfo {
    static HOST: OnceLock<HostInfo> = OnceLock::new();
    HOST.get_or_init(read_uncached).clone()
}

fn read_uncached() -> HostInfo {
    let (os, os_build, chip) = os_and_chip();
    HostInfo {
        name: short_host_name(&gethostname::gethostname().to_string_lossy()),
        os,
        os_build,
        chip,
        cpu_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        arch: std::env::consts::ARCH.to_owned(),
    }
}

#[cfg(target_os = "linux")]
fn os_and_chip() -> (String, Option<String>, Option<String>) {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .as_deref()
        .and_then(parse_os_release)
        .unwrap_or_else(|| "Linux".to_owned());
    let chip = super::read_text(&super::procfs_root().join("cpuinfo"))
        .ok()
        .as_deref()
        .and_then(parse_cpuinfo_model);
    (os, None, chip)
}

#[cfg(target_os = "macos")]
fn os_and_chip() -> (String, Option<String>, Option<String>) {
    let tool = |args: &[&str]| {
        super::run_tool("/usr/bin/sw_vers", args)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let version = tool(&["-productVersion"]).unwrap_or_default();
    let os = format!("macOS {version}").trim().to_owned();
    let build = tool(&["-buildVersion"]).filter(|b| !b.is_empty());
    let chip = super::sysctl::text("machdep.cpu.brand_string")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    (os, build, chip)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn os_and_chip() -> (String, Option<String>, Option<String>) {
    (std::env::consts::OS.to_owned(), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_os_release() {
        assert_eq!(short_host_name("studio-1.local\n"), "studio-1");
        assert_eq!(short_host_name("box"), "box");
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(parse_os_release(os).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(parse_os_release("PRETTY_NAME=\"\"\n"), None);
    }

    #[test]
    fn cpuinfo_model_on_x86_and_arm() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(parse_cpuinfo_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n";
        assert_eq!(
            parse_cpuinfo_model(arm).as_deref(),
            Some("Raspberry Pi 5 Model B Rev 1.0")
        );
        assert_eq!(parse_cpuinfo_model("garbage"), None);
    }
}
