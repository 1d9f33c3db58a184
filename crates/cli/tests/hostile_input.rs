//! Issue #11 (an outside attack on the CLI): hostile settings, arguments and report bundles end
//! with a clear message and the documented exit code — never a panic (101) or a hang.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::clusterbar;

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

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
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

/// `clusterbar report` of this machine (exo at `exo_url`) into `home/bundle`.
fn save_bundle(home: &Path, exo_url: &str) -> std::path::PathBuf {
    let bundle = home.join("bundle");
    let mut command = clusterbar(home);
    command.args(["report", "--out", bundle.to_str().unwrap(), "--exo-url", exo_url]);
    let output = output_within(command, Duration::from_secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    bundle
}

fn doctor(home: &Path, bundle: &Path) -> Output {
    let mut command = clusterbar(home);
    command.args(["doctor", "--from", bundle.to_str().unwrap(), "--json"]);
    output_within(command, Duration::from_secs(60))
}

/// Issue #11: a FIFO in a bundle (or at settings.json) blocked forever; a file pointing at an
/// endless device was read until memory ran out. Each now fails at once, saying which file.
#[test]
fn doctor_refuses_fifos_and_endless_files_in_a_bundle() {
    let home = tempfile::tempdir().unwrap();
    let bundle = save_bundle(home.path(), "http://127.0.0.1:9");
    for (name, make) in [
        ("snapshot.json", "fifo"),
        ("snapshot.json", "zero"),
        ("exo_state.json", "fifo"),
        ("exo_state.json", "zero"),
    ] {
        let copy = home.path().join(format!("{name}-{make}"));
        let status = Command::new("cp").arg("-a").arg(&bundle).arg(&copy).status().unwrap();
        assert!(status.success());
        let target = copy.join(name);
        let _ = std::fs::remove_file(&target);
        match make {
            "fifo" => mkfifo(&target),
            _ => std::os::unix::fs::symlink("/dev/zero", &target).unwrap(),
        }
        let output = doctor(home.path(), &copy);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name} as {make}: {text}");
        assert!(text.contains(name) && text.contains("not a regular file"), "{text}");
    }
    // A FIFO at settings.json: the command goes on with defaults and says why.
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    mkfifo(&home.path().join("config/settings.json"));
    let mut command = clusterbar(home.path());
    command.args(["exo", "status"]);
    let output = output_within(command, Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not a regular file but a FIFO"),
        "{}",
        stderr(&output)
    );
}

/// Issue #11: `report` saved a `/state` of up to 32 MiB that `doctor` then refused (16 MiB).
/// Now both use one cap: what `report` saves, `doctor` reads.
#[test]
fn doctor_reads_back_a_large_state_that_report_saved() {
    let home = tempfile::tempdir().unwrap();
    let scenario_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/exo-standin/scenarios/two-nodes.json");
    let mut scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scenario_path).unwrap()).unwrap();
    // 20 MiB of a key this version does not know: over the old 16 MiB, under the 32 MiB cap.
    scenario["steps"][0]["state"]["padding"] = serde_json::json!("x".repeat(20 << 20));
    let path = home.path().join("big.json");
    std::fs::write(&path, scenario.to_string()).unwrap();
    let exo = exo_standin::StandIn::start(&path, "127.0.0.1", 0).unwrap();
    let bundle = save_bundle(home.path(), &exo.url());
    assert!(std::fs::metadata(bundle.join("exo_state.json")).unwrap().len() > 20 << 20);
    let output = doctor(home.path(), &bundle);
    assert!(output.status.success(), "{}", stderr(&output));
    let snapshot: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(snapshot["cluster"]["nodes"].as_array().unwrap().len(), 2);
    // Over the cap, the bundle is refused with the file named, not read.
    let big = std::fs::File::options()
        .append(true)
        .open(bundle.join("exo_state.json"))
        .unwrap();
    big.set_len(33 << 20).unwrap();
    let output = doctor(home.path(), &bundle);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("exo_state.json") && text.contains("larger than"),
        "{text}"
    );
}
