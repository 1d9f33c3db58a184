//! `clusterbar meter` with extra routes (issue #14: the meter replacing the nginx hop to a second
//! box's Ollama): from the settings and from `--route`, each printed with its upstream at start,
//! and each metered to its own upstream. The upstream is a tiny Ollama stand-in on a thread here.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const WORDS: usize = 5;

fn ollama_body(box_name: &str) -> String {
    let mut lines: Vec<String> = (0..WORDS)
        .map(|i| format!("{{\"model\":\"llama3.2\",\"response\":\"{box_name}{i}\",\"done\":false}}\n"))
        .collect();
    lines.push(format!(
        "{{\"model\":\"llama3.2\",\"response\":\"\",\"done\":true,\"eval_count\":{WORDS},\
         \"eval_duration\":500000000,\"load_duration\":1000,\"prompt_eval_count\":3}}\n"
    ));
    lines.concat()
}

/// An Ollama stand-in answering every request with `ollama_body(box_name)` as NDJSON, a line
/// every 10 ms, then closing.
fn start_ollama(box_name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = stream.read_exact(&mut body);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n");
                for line in ollama_body(box_name).split_inclusive('\n') {
                    std::thread::sleep(Duration::from_millis(10));
                    if stream.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The body of an HTTP/1.0 request to 127.0.0.1:`port` (the meter answers it read-to-close).
fn request(port: u16, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    body.to_owned()
}

#[test]
fn meter_starts_the_settings_routes_and_command_line_ones_and_prints_each() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (box2, box3) = (start_ollama("two"), start_ollama("three"));
    let (main_port, settings_port, cli_port, lan_port) = (free_port(), free_port(), free_port(), free_port());
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let settings = serde_json::json!({
        "currency": "EUR",
        "meter_routes": [
            {"listen_port": settings_port, "upstream": format!("127.0.0.1:{box2}"), "name": "box2"},
            // Clashes with the settings' meter_port: refused with the reason, the rest run.
            {"listen_port": 52480, "upstream": "192.168.99.9:11434", "name": "clash"},
        ],
    });
    std::fs::write(dir.join("config/settings.json"), settings.to_string()).unwrap();
    let mut meter = common::clusterbar(dir)
        .args([
            "meter",
            "--listen",
            &format!("127.0.0.1:{main_port}"),
            "--upstream",
            "http://127.0.0.1:9",
        ])
        .args(["--route", &format!("box3:{cli_port}=127.0.0.1:{box3}")])
        .args(["--route", &format!("{lan_port}=127.0.0.1:{box3},lan")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // What it prints at start, line by line, until the LAN warning (the last start line).
    let (tx, rx) = mpsc::channel();
    let stderr = meter.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !printed
        .iter()
        .any(|l: &String| l.contains("WARNING (meter_serves_lan)"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(_) => panic!("no LAN warning printed; printed: {printed:#?}"),
        }
    }
    let text = printed.join("\n");
    assert!(
        text.contains(&format!(
            "route box2: http://127.0.0.1:{settings_port} -> http://127.0.0.1:{box2}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "route box3: http://127.0.0.1:{cli_port} -> http://127.0.0.1:{box3}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "route route-{lan_port}: http://0.0.0.0:{lan_port} -> http://127.0.0.1:{box3}"
        )),
        "{text}"
    );
    assert!(
        text.contains("route clash: listen_port 52480 is already meter_port; not started"),
        "{text}"
    );
    assert!(
        text.contains(&format!("port {lan_port}")) && text.contains("no authentication"),
        "{text}"
    );

    // Each route reaches its own upstream, byte for byte, and is counted for itself.
    let generate = r#"{"model":"llama3.2","prompt":"hi"}"#;
    assert_eq!(
        request(settings_port, "POST", "/api/generate", generate),
        ollama_body("two")
    );
    assert_eq!(
        request(cli_port, "POST", "/api/generate", generate),
        ollama_body("three")
    );
    let stats: serde_json::Value = serde_json::from_str(&request(main_port, "GET", "/_clusterbar/stats", "")).unwrap();
    let routes = stats["routes"].as_array().unwrap();
    let tokens = |name: &str| {
        routes
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["completion_tokens"].as_u64().unwrap())
    };
    assert_eq!(tokens("box2"), Some(WORDS as u64), "{stats}");
    assert_eq!(tokens("box3"), Some(WORDS as u64), "{stats}");
    assert_eq!(tokens(&format!("route-{lan_port}")), Some(0));
    assert_eq!(stats["warnings"][0]["code"], "meter_serves_lan");

    // `clusterbar status` reads the running meter (on meter_port) and shows its warning, this
    // Mac's, with the fix; the state word is not "running" with a warning.
    let status_settings = serde_json::json!({ "meter_port": main_port, "ollama_local_port": 0 });
    std::fs::write(dir.join("config/settings.json"), status_settings.to_string()).unwrap();
    let output = common::clusterbar(dir).args(["status", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let snapshot: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let lan = snapshot["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "meter_serves_lan")
        .unwrap_or_else(|| panic!("no meter_serves_lan: {snapshot:#}"));
    assert_eq!(lan["scope"], "this_mac");
    assert!(
        lan["message"].as_str().unwrap().contains(&format!("port {lan_port}")),
        "{lan}"
    );
    assert!(lan["fix"].as_str().unwrap().contains("serve_lan"), "{lan}");
    assert_ne!(snapshot["state"], "running");

    assert!(common::stop_with_sigterm(&mut meter).success());
}

#[test]
fn a_bad_route_on_the_command_line_is_refused() {
    let home = tempfile::tempdir().unwrap();
    for (arg, why) in [
        ("11436", "expected [NAME:]PORT=HOST:PORT"),
        ("11436=http://box2:11434", "without http://"),
        ("52480=box2:11434", "meter_port"),
    ] {
        let output = common::clusterbar(home.path())
            .args(["meter", "--listen", "127.0.0.1:0", "--route", arg])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{arg}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{arg}: {stderr}");
    }
}
