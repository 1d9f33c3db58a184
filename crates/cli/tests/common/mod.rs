//! What every CLI test shares: `clusterbar` run in a home of its own, seeing only what the test
//! started, and the stand-in `porten` built beside it.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `clusterbar` with its config, logs, pid files and HOME inside `home`, and process discovery
/// scoped to `home`: only what this test started counts as a running exo or agent (EXO.app may
/// run on the machine), and this Mac's Ollama is the one the test's settings name, if any (an
/// Ollama may run on 11434). No API key leaks in from the developer's shell.
pub fn clusterbar(home: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("clusterbar"));
    // Only a regular file is read: some tests put a FIFO there, which would block this read.
    let settings_file = home.join("config/settings.json");
    let settings = match std::fs::metadata(&settings_file) {
        Ok(meta) if meta.is_file() => std::fs::read_to_string(&settings_file).unwrap_or_default(),
        _ => String::new(),
    };
    if !settings.contains("\"ollama_local_port\"") {
        command.env("CLUSTERBAR_OLLAMA_LOCAL_PORT", "0");
    }
    command
        .env("HOME", home)
        .env("CLUSTERBAR_CONFIG_DIR", home.join("config"))
        .env("CLUSTERBAR_LOG_DIR", home.join("logs"))
        .env("CLUSTERBAR_PROCESS_SCOPE", home)
        .env("CLUSTERBAR_RUN_DIR", home.join("run"))
        .env_remove("PORTEN_API_KEY")
        .stdin(Stdio::null());
    command
}

/// The stand-in `porten` (tests/porten-standin). A test never runs cargo: `cargo test` at the
/// workspace root builds it (it is a default member), a narrower run says how to.
pub fn porten_standin() -> PathBuf {
    let standin = assert_cmd::cargo::cargo_bin("clusterbar").with_file_name("porten-standin");
    assert!(
        standin.exists(),
        "{} is missing: run `cargo build -p porten-standin` (plain `cargo test` at the root builds it)",
        standin.display()
    );
    standin
}

/// Whether a process is alive and not a zombie, on Linux and macOS alike (`ps`, not /proc).
pub fn alive(pid: u32) -> bool {
    Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .map(|out| {
            let state = String::from_utf8_lossy(&out.stdout);
            let state = state.trim();
            !state.is_empty() && !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// A stand-in Ollama scenario from tests/ollama-standin/scenarios.
pub fn ollama_scenario(name: &str) -> ollama_standin::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/ollama-standin/scenarios")
        .join(name);
    ollama_standin::parse_scenario(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes `settings` as the settings file of the isolated home.
pub fn write_settings(home: &Path, settings: serde_json::Value) {
    let dir = home.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
}

/// Stops a command the way a user's Ctrl-C or a service manager does (SIGTERM) and returns how
/// it exited.
pub fn stop_with_sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap()
}
