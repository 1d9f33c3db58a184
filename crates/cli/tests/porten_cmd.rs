//! `clusterbar porten check` against the stand-in exo and the stand-in Porten Hub (which demands
//! the API key on its catalog, as Porten's API reference says the real one does).

mod common;

use clusterbar_core::exo::{loaded_model_ids, ExoClient};
use exo_standin::StandIn;
use porten_standin::{HubConfig, HubStandIn, WarmPlan};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "sk-porten-cli-test-7731";
const MODEL: &str = "mlx-community/Llama-3.2-1B-Instruct-4bit";

fn clusterbar(home: &Path, hub: &HubStandIn) -> Command {
    std::fs::create_dir_all(home.join("config")).unwrap();
    let settings = serde_json::json!({"porten_hub_url": hub.hub_url()});
    std::fs::write(home.join("config/settings.json"), settings.to_string()).unwrap();
    common::clusterbar(home)
}

/// The stand-in exo once its model is ready (the scenario loads it within seconds).
fn exo_with_a_ready_model() -> StandIn {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/exo-standin/scenarios/model-progress.json");
    let exo = StandIn::start(&scenario, "127.0.0.1", 0).unwrap();
    let client = ExoClient::new(&exo.url()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while loaded_model_ids(&client.cluster_view(0).unwrap().models).is_empty() {
        assert!(Instant::now() < deadline, "the scenario's model never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    exo
}

fn hub() -> HubStandIn {
    let plan = WarmPlan {
        total_mb: 49131,
        download: Duration::from_secs(600),
        load: Duration::from_secs(60),
    };
    HubStandIn::serve(HubConfig {
        offered: vec![MODEL.into(), "org/Other".into()],
        key: Some(KEY.into()),
        warming: HashMap::from([(MODEL.to_owned(), plan)]),
        ..HubConfig::default()
    })
    .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn porten_check_with_the_key_lists_the_catalog_and_the_warming() {
    let exo = exo_with_a_ready_model();
    let hub = hub();
    let home = tempfile::tempdir().unwrap();

    let output = clusterbar(home.path(), &hub)
        .args(["porten", "check", "--json", "--exo-url", &exo.url()])
        .env("PORTEN_API_KEY", KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stdout.contains(KEY) && !stderr.contains(KEY),
        "the key is never printed"
    );
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["api_key_present"], true);
    assert_eq!(value["api_key"], "environment");
    assert_eq!(value["catalog"], "checked");
    assert_eq!(value["offered"], serde_json::json!([MODEL, "org/Other"]));
    assert_eq!(value["models"][0]["id"], MODEL);
    assert_eq!(value["models"][0]["offered"], true);
    assert_eq!(value["models"][0]["warming"]["phase"], "downloading");
    assert_eq!(value["models"][0]["warming"]["total_mb"], 49131);
    assert_eq!(value["warnings"][0]["code"], "model_warming");

    let output = clusterbar(home.path(), &hub)
        .args(["porten", "check", "--exo-url", &exo.url()])
        .env("PORTEN_API_KEY", KEY)
        .output()
        .unwrap();
    let (stdout, _) = text(&output);
    assert!(output.status.success());
    assert!(stdout.contains("API key:  present (from PORTEN_API_KEY)"), "{stdout}");
    assert!(stdout.contains("catalog:  2 offered ids"), "{stdout}");
    assert!(
        stdout.contains(&format!("  {MODEL}  offered · downloading: ")),
        "{stdout}"
    );
    assert!(stdout.contains(" of 49 GB ("), "{stdout}");
    assert!(!stdout.contains(KEY));
    // The key went to the catalog as a bearer token.
    assert!(hub
        .requests()
        .iter()
        .any(|r| r.url == "/v1/models" && r.authorization.as_deref() == Some(&format!("Bearer {KEY}"))));
}

#[test]
fn porten_check_without_a_key_says_it_needs_one_and_succeeds() {
    let exo = exo_with_a_ready_model();
    let hub = hub();
    let home = tempfile::tempdir().unwrap();
    let output = clusterbar(home.path(), &hub)
        .args(["porten", "check", "--exo-url", &exo.url()])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("API key:  none"), "{stdout}");
    assert!(
        stdout.contains("catalog:  not checked: catalog check needs a Porten API key"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("unreachable") && !stdout.contains("warning: Cannot read"),
        "{stdout}"
    );
    // Warming is public: still shown.
    assert!(stdout.contains(&format!("  {MODEL}  downloading: ")), "{stdout}");
    assert!(hub.requests().iter().all(|r| r.url != "/v1/models"));
}

#[test]
fn porten_check_with_a_wrong_key_names_the_401_and_fails() {
    let exo = exo_with_a_ready_model();
    let hub = hub();
    let home = tempfile::tempdir().unwrap();
    let output = clusterbar(home.path(), &hub)
        .args(["porten", "check", "--exo-url", &exo.url()])
        .env("PORTEN_API_KEY", "sk-porten-not-this-one")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("wrong or revoked"),
        "{stderr}"
    );
    assert!(
        stdout.contains("warning: The Porten Hub refused the API key"),
        "{stdout}"
    );
    assert!(!stdout.contains("sk-porten-not-this-one") && !stderr.contains("sk-porten-not-this-one"));
}

#[test]
fn a_key_file_that_others_can_read_is_refused_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let hub = hub();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = clusterbar(home.path(), &hub);
    let key_file = home.path().join("config/porten-api-key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = cmd
        .args(["porten", "check", "--exo-url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(stdout.contains("loaded:   unknown (exo: "), "{stdout}");

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = clusterbar(home.path(), &hub)
        .args(["porten", "check", "--json", "--exo-url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(output.status.success());
    assert_eq!(value["api_key"], "file");
    assert_eq!(value["catalog"], "checked");
}

use common::porten_standin;

/// A home whose settings run `porten` as the stand-in with `vars`.
fn login_home(vars: &[(&str, String)]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let porten = home.path().join("porten");
    let exports: String = vars.iter().map(|(k, v)| format!("export {k}='{v}'\n")).collect();
    let script = format!("#!/bin/sh\n{exports}exec {} \"$@\"\n", porten_standin().display());
    std::fs::write(&porten, script).unwrap();
    std::fs::set_permissions(&porten, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let settings = serde_json::json!({"porten_path": porten});
    std::fs::write(home.path().join("config/settings.json"), settings.to_string()).unwrap();
    home
}

fn login(home: &Path, args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("clusterbar"))
        .args(["porten", "login"])
        .args(args)
        .env("HOME", home)
        .env("CLUSTERBAR_CONFIG_DIR", home.join("config"))
        .env("CLUSTERBAR_LOG_DIR", home.join("logs"))
        // Only what this test started counts as a running exo or agent (EXO.app may run here).
        .env("CLUSTERBAR_PROCESS_SCOPE", home)
        .env("CLUSTERBAR_RUN_DIR", home.join("run"))
        .env("CLUSTERBAR_OLLAMA_LOCAL_PORT", "0")
        // Nothing may be opened: an opener that fails loudly.
        .env("CLUSTERBAR_OPENER", "/bin/false")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Issue #12: whatever the wording, a headless user is told where to go and which code to
/// confirm, and `--json` carries both.
#[test]
fn every_login_wording_prints_the_url_and_the_code() {
    for wording in 0..=9 {
        let home = login_home(&[
            ("PORTEN_STANDIN_WORDING", wording.to_string()),
            ("PORTEN_STANDIN_DELAY_MS", "20".into()),
        ]);
        let output = login(home.path(), &["--no-browser"]);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "wording {wording}: {stderr}");
        assert!(
            stderr.contains("Sign in at: https://porten.ai/device"),
            "wording {wording}: {stderr}"
        );
        assert!(stderr.contains("Code: WDJB-MJHT"), "wording {wording}: {stderr}");
        assert!(
            stderr.contains("not opened: --no-browser"),
            "wording {wording}: {stderr}"
        );
        assert_eq!(stdout.trim(), "Logged in to Porten.");

        let output = login(home.path(), &["--no-browser", "--json"]);
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(value["code"], "WDJB-MJHT", "wording {wording}: {value}");
        assert!(value["url"].as_str().unwrap().starts_with("https://porten.ai/device"));
        assert_eq!(value["result"], "success");
        assert_eq!(value["not_opened"], "not asked to open it (--no-browser)");
    }
}

#[test]
fn a_login_url_that_is_not_opened_says_why() {
    let cases = [
        (
            vec![("PORTEN_STANDIN_URL_PAD", (1usize << 20).to_string())],
            "bytes long",
        ),
        (
            vec![("PORTEN_STANDIN_URL", "https://evil.example/device".to_owned())],
            "is not the Hub's",
        ),
        (
            vec![("PORTEN_STANDIN_URL", "http://porten.ai/device".to_owned())],
            "not https",
        ),
    ];
    for (vars, why) in cases {
        let mut vars = vars;
        vars.push(("PORTEN_STANDIN_WORDING", "5".into()));
        vars.push(("PORTEN_STANDIN_DELAY_MS", "20".into()));
        let home = login_home(&vars);
        let output = login(home.path(), &[]);
        let (_, stderr) = text(&output);
        assert!(
            stderr.contains("NOT opening that sign-in URL") && stderr.contains(why),
            "{why}: {stderr}"
        );
        assert!(stderr.contains("Code: WDJB-MJHT"), "{stderr}");
        // A 1 MB URL is shown shortened, with its length.
        assert!(stderr.len() < 4096, "{} bytes of output", stderr.len());
        let output = login(home.path(), &["--json"]);
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(value["opened"], false);
        assert!(value["not_opened"].as_str().unwrap().contains(why), "{value}");
    }
}

/// The API key never enters a report bundle (nor `status --json`): only where it came from.
#[test]
fn the_api_key_is_never_in_a_report_bundle_or_the_snapshot() {
    let hub = hub();
    let home = tempfile::tempdir().unwrap();
    let key_file = home.path().join("config/porten-api-key");
    let mut report = clusterbar(home.path(), &hub);
    std::fs::write(&key_file, "sk-porten-from-the-file\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = home.path().join("bundle");
    let output = report
        .args([
            "report",
            "--out",
            out.to_str().unwrap(),
            "--exo-url",
            "http://127.0.0.1:1",
        ])
        .env("PORTEN_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output).1);
    let mut files = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let content = String::from_utf8_lossy(&bytes);
        assert!(!content.contains(KEY) && !content.contains("sk-porten-from-the-file"));
        files += 1;
    }
    assert!(files >= 2, "{files} files in the bundle");
    let status = clusterbar(home.path(), &hub)
        .args(["status", "--json", "--exo-url", "http://127.0.0.1:1"])
        .env("PORTEN_API_KEY", KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&status);
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
}
