//! `clusterbar serve` against the stand-in exo and the stand-in Porten agent: the agent runs
//! behind the meter, and SIGTERM leaves no process behind.

mod common;

use exo_standin::StandIn;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::porten_standin;

fn alive(pid: i32) -> bool {
    u32::try_from(pid).is_ok_and(common::alive)
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A streamed chat request sent to `port` (the answer itself does not matter here).
fn post_chat(port: u16) {
    use std::io::{Read, Write};
    let body = r#"{"model":"mlx-community/Llama-3.2-1B-Instruct-4bit","stream":true,"messages":[]}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
}

/// Issue #12: the agent talks to a listener of the meter's own, so `status` can say what the
/// agent (the Hub) was served, apart from local clients.
#[test]
fn serve_gives_the_agent_its_own_meter_listener_and_status_shows_its_requests() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/exo-standin/scenarios/model-progress.json");
    let exo = StandIn::start(&scenario, "127.0.0.1", 0).unwrap();
    let env_to = dir.join("env.jsonl");
    let porten = dir.join("porten");
    std::fs::write(
        &porten,
        format!(
            "#!/bin/sh\nexport PORTEN_STANDIN_ENV_TO='{}'\nexec {} \"$@\"\n",
            env_to.display(),
            porten_standin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&porten, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let (meter_port, agent_port, route_port) = (free_port(), free_port(), free_port());
    // Issue #14: a route of the settings' (here to the same stand-in) is started by serve too.
    let route = serde_json::json!({"listen_port": route_port, "name": "box2",
                                   "upstream": exo.url().trim_start_matches("http://")});
    let settings = serde_json::json!({"porten_path": porten, "porten_hub_url": "ws://127.0.0.1:1",
                                      "meter_port": meter_port, "porten_meter_port": agent_port,
                                      "meter_routes": [route]});
    std::fs::write(dir.join("config/settings.json"), settings.to_string()).unwrap();
    let clusterbar = |args: &[&str]| {
        let mut command = common::clusterbar(dir);
        command.args(args);
        command
    };
    let mut serve = clusterbar(&["serve", "--exo-url", &exo.url()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the agent to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&env_to).map(|t| !t.is_empty()).unwrap_or(false)
    });
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&env_to).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        first["env"]["PORTEN_ENGINE_URL"],
        format!("http://127.0.0.1:{agent_port}")
    );
    assert_eq!(first["health"], "ok", "the agent's listener forwards to exo");

    post_chat(agent_port);
    post_chat(meter_port);
    let mut shown = serde_json::Value::Null;
    wait_for("the agent's request in status", Duration::from_secs(10), || {
        let output = clusterbar(&["status", "--json", "--exo-url", &exo.url()])
            .output()
            .unwrap();
        let snapshot: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        shown = snapshot["porten_tokens"].clone();
        shown["requests"] == 1
    });
    assert_eq!(shown["source"], "meter");
    assert_eq!(shown["tokens_today"], 0, "exo's stand-in answers no tokens");
    post_chat(route_port);
    wait_for("the route's request in the stats", Duration::from_secs(10), || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", meter_port)).unwrap();
        stream
            .write_all(b"GET /_clusterbar/stats HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let stats: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        stats["routes"][0]["name"] == "box2" && stats["routes"][0]["requests"] == 1
    });
    let text = clusterbar(&["status", "--exo-url", &exo.url()]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("Served to Porten"), "{text}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    // Issue #13: serve recorded the cluster's boxes and the meter's figures, kept after it stopped.
    let output = clusterbar(&["history", "--json", "--since", "1h"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let history: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!history["cluster"].as_array().unwrap().is_empty(), "{history}");
    assert!(!history["boxes"].as_object().unwrap().is_empty(), "{history}");
    assert_eq!(history["resolution_s"], 10);
}

#[test]
fn serve_runs_the_agent_behind_the_meter_and_sigterm_leaves_nothing_behind() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/exo-standin/scenarios/model-progress.json");
    let exo = StandIn::start(&scenario, "127.0.0.1", 0).unwrap();
    let env_to = dir.join("env.jsonl");
    let pids = dir.join("pids.txt");
    let porten = dir.join("porten");
    std::fs::write(
        &porten,
        format!(
            "#!/bin/sh\nexport PORTEN_STANDIN_ENV_TO='{}' PORTEN_STANDIN_PID_TO='{}'\nexec {} \"$@\"\n",
            env_to.display(),
            pids.display(),
            porten_standin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&porten, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let settings = serde_json::json!({"porten_path": porten, "porten_hub_url": "ws://127.0.0.1:1"});
    std::fs::write(dir.join("config/settings.json"), settings.to_string()).unwrap();

    let mut serve = common::clusterbar(dir)
        .args(["serve", "--exo-url", &exo.url(), "--meter-port", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the agent to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&env_to).map(|t| !t.is_empty()).unwrap_or(false)
    });
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&env_to).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        first["env"]["PORTEN_ENGINE_MODELS"],
        "mlx-community/Llama-3.2-1B-Instruct-4bit"
    );
    let engine = first["env"]["PORTEN_ENGINE_URL"].as_str().unwrap().to_owned();
    assert_ne!(engine, exo.url(), "the agent goes through the meter");
    assert_eq!(first["health"], "ok", "the meter forwarded /v1/models to exo");
    let agent: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(agent));

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(serve.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(!alive(agent), "the agent survived serve: {stderr}");
    assert!(!dir.join("run/porten.pid.json").exists());
}
