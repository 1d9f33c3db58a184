//! Issue #11 (an outside attack on the CLI): hostile settings, arguments and report bundles end
//! with a clear message and the documented exit code — never a panic (101) or a hang.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn clusterbar(home: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("clusterbar"));
    cmd.env("HOME", home)
        .env("CLUSTERBAR_CONFIG_DIR", home.join("config"))
        .env("CLUSTERBAR_LOG_DIR", home.join("logs"))
        .env("CLUSTERBAR_RUN_DIR", home.join("run"))
        .stdin(Stdio::null());
    cmd
}

/// Runs with a time limit: a hang is a failure, not a stuck test run.
fn output_within(mut command: Command, limit: Duration) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `porten` that fails at once, so a login ends quickly with exit 1.
fn home_with_porten(settings: serde_json::Value) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let porten = home.path().join("porten");
    std::fs::write(&porten, "#!/bin/sh\necho 'no network' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&porten, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut settings = settings;
    settings["porten_path"] = serde_json::json!(porten);
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(home.path().join("config/settings.json"), settings.to_string()).unwrap();
    home
}

#[test]
fn porten_login_with_a_huge_timeout_flag_is_a_usage_error() {
    let home = home_with_porten(serde_json::json!({}));
    let mut command = clusterbar(home.path());
    command.args(["porten", "login", "--no-browser", "--timeout", "18446744073709551615"]);
    let output = output_within(command, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--timeout"), "{}", stderr(&output));
}

#[test]
fn porten_login_with_a_huge_timeout_setting_uses_the_default_and_says_why() {
    let home = home_with_porten(serde_json::json!({ "porten_login_timeout_s": u64::MAX }));
    // The reset moves porten_path aside with the rest, so the script is found on PATH instead.
    let mut command = clusterbar(home.path());
    command
        .env("PATH", format!("{}:/usr/bin:/bin", home.path().display()))
        .args(["porten", "login", "--no-browser"]);
    let output = output_within(command, Duration::from_secs(30));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("porten_login_timeout_s must be 1–86400 seconds"),
        "{text}"
    );
    assert!(text.contains("porten login ended with exit code 3"), "{text}");
}

#[test]
fn models_load_with_a_huge_wait_does_not_overflow() {
    let home = tempfile::tempdir().unwrap();
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/exo-standin/scenarios/three-nodes-rdma.json");
    let exo = exo_standin::StandIn::start(&scenario, "127.0.0.1", 0).unwrap();
    let mut command = clusterbar(home.path());
    command.args([
        "models",
        "load",
        "mlx-community/Llama-3.2-1B-Instruct-4bit",
        "--wait",
        "18446744073709551615",
        "--exo-url",
        &exo.url(),
    ]);
    let output = output_within(command, Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("is ready"));
}
