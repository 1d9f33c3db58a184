//! Clusterbar against the real exo: boxes made of network + PID + UTS namespaces on this machine
//! (`scripts/real-exo.sh`), each running the real exo (MLX on CPU) and the real `clusterbar`.
//!
//! Ignored by plain `cargo test` (minutes, root, a 19-minute build): `scripts/test-all.sh` builds
//! exo and runs them with `--ignored`. Without root or a built exo they say loudly that they
//! skipped — and fail instead when `CLUSTERBAR_REQUIRE_REAL_EXO=1` (CI), so CI never passes
//! them silently. Figures (formation time, time to notice a departed box, meter vs exo tok/s)
//! are printed; run with `--nocapture` to see them.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MODEL: &str = "local/tiny-llama";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/real-exo.sh")
}

fn clusterbar_bin() -> String {
    assert_cmd::cargo::cargo_bin("clusterbar").display().to_string()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Boxes of one test; `Drop` kills everything in them and removes their namespaces.
struct Boxes {
    prefix: String,
    models_dir: PathBuf,
}

impl Boxes {
    /// `None` (after saying so loudly) when this machine cannot run the real exo.
    fn up(n: usize, tag: &str) -> Option<Self> {
        let check = Command::new(script())
            .arg("check")
            .output()
            .expect("running real-exo.sh");
        if !check.status.success() {
            let why = String::from_utf8_lossy(&check.stdout).trim().to_owned();
            if std::env::var("CLUSTERBAR_REQUIRE_REAL_EXO").as_deref() == Ok("1") {
                panic!("the real exo is required here but cannot run: {why}");
            }
            eprintln!("\n!!! SKIPPED {tag}: the real exo cannot run here ({why}); build it with scripts/real-exo.sh build, as root !!!\n");
            return None;
        }
        let paths = String::from_utf8_lossy(&check.stdout).into_owned();
        let models_dir = paths
            .lines()
            .find_map(|l| l.strip_prefix("EXO_MODELS_DIR="))
            .map(PathBuf::from)
            .expect("real-exo.sh check prints EXO_MODELS_DIR");
        // ≤ 8 characters (interface names), unique per test and run.
        let prefix = format!("{tag}{}", std::process::id() % 10_000);
        let out = Command::new(script())
            .args(["up", &prefix, &n.to_string()])
            .output()
            .expect("real-exo.sh up");
        assert!(out.status.success(), "boxes: {}", text(&out));
        Some(Self { prefix, models_dir })
    }

    fn name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    fn command(&self, i: usize, args: &[&str]) -> Command {
        let mut command = Command::new(script());
        command.args(["exec", &self.prefix, &i.to_string()]).args(args);
        command
    }

    fn clusterbar(&self, i: usize, args: &[&str]) -> Output {
        let mut all = vec![clusterbar_bin()];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.command(i, &all).output().expect("running clusterbar in a box")
    }

    /// A long-running clusterbar in box `i`, its stdout as lines on a channel.
    fn clusterbar_lines(&self, i: usize, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut all = vec![clusterbar_bin()];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut child = self
            .command(i, &all)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning clusterbar in a box");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    fn status(&self, i: usize) -> Value {
        let out = self.clusterbar(i, &["status", "--json"]);
        assert!(out.status.success(), "status in box {i}: {}", text(&out));
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// "pid command line" of every process in box `i`.
    fn procs(&self, i: usize) -> Vec<String> {
        let out = Command::new(script())
            .args(["procs", &self.prefix, &i.to_string()])
            .output()
            .expect("real-exo.sh procs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn kill_box(&self, i: usize) {
        let out = Command::new(script())
            .args(["kill-box", &self.prefix, &i.to_string()])
            .output()
            .expect("real-exo.sh kill-box");
        assert!(out.status.success(), "{}", text(&out));
    }

    fn exo_log(&self, i: usize) -> String {
        let path = format!(
            "/tmp/clusterbar-exo-boxes/{}/{i}/home/.local/state/clusterbar/logs/exo.log",
            self.prefix
        );
        std::fs::read_to_string(&path)
            .map(|t| {
                t.lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|e| format!("(no exo log at {path}: {e})"))
    }
}

impl Drop for Boxes {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["down", &self.prefix]).output();
    }
}

/// Polls `probe` until it gives a value, or fails after `timeout` with `what`.
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return (value, start.elapsed());
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A status whose cluster view stopped moving (exo's master is gone).
fn is_frozen(status: &Value) -> bool {
    status["cluster"]["frozen_for_s"].as_f64().is_some()
        && status["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["code"] == "exo_view_frozen"))
}

/// Lines from a channel until one satisfies `accept`.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    what: &str,
    timeout: Duration,
    accept: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let left = timeout
            .checked_sub(start.elapsed())
            .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"));
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for {what}"));
        if let Ok(value) = serde_json::from_str::<Value>(&line) {
            if accept(&value) {
                return (value, start.elapsed());
            }
        }
    }
}

fn node_names(status: &Value) -> Vec<String> {
    let mut names: Vec<String> = status["cluster"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| n["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn exo_pids(boxes: &Boxes, i: usize) -> Vec<String> {
    boxes
        .procs(i)
        .into_iter()
        .filter(|p| p.contains("/bin/exo") || p.contains("multiprocessing"))
        .collect()
}

/// Two boxes: `exo run --namespace` in one, `join --namespace` in the other; then both views,
/// a model over both, real tokens through the meter, a follower killed and restarted, the
/// master killed. One cluster for all of it: each exo start costs 10–20 s here.
#[test]
#[ignore = "needs the real exo (scripts/real-exo.sh build) and root; scripts/test-all.sh runs it"]
fn a_real_two_box_cluster_through_clusterbar() {
    let Some(boxes) = Boxes::up(2, "cbc") else { return };
    let (a, b) = (boxes.name(1), boxes.name(2));

    // --- exo run in box 1, with a namespace (exo dies at once if the old variable reached it).
    let started = Instant::now();
    let (_run_a, _run_a_out) = boxes.clusterbar_lines(1, &["exo", "run", "--quiet", "--namespace", "cbtest"]);
    let (status_a, up_a) = wait_for("exo answering in box 1", Duration::from_secs(120), || {
        let status = boxes.status(1);
        status["cluster"].is_object().then_some(status)
    });
    assert_eq!(status_a["services"]["exo"]["state"], "running", "{status_a}");
    assert_eq!(
        status_a["services"]["exo"]["pids"].as_array().map(Vec::len),
        Some(1),
        "one exo, one pid: {status_a}"
    );
    assert_eq!(
        status_a["services"]["exo"]["detail"],
        Value::Null,
        "running is never beside 'not found'"
    );
    let node = &status_a["cluster"]["nodes"][0];
    assert_eq!(node["name"], a.as_str());
    assert_eq!(node["chip"], Value::Null, "no 'Unknown Chip'");
    assert_eq!(status_a["cluster"]["power_watts"], Value::Null, "no '-0 W'");
    println!("figure: one box, exo started → answering: {:.1} s", up_a.as_secs_f64());

    // --- join from box 2 with the same namespace.
    let t_join = Instant::now();
    let (_join_b, join_out) =
        boxes.clusterbar_lines(2, &["join", "--json", "--timeout", "180", "--namespace", "cbtest"]);
    let (joined, _) = wait_line(&join_out, "box 2 joined", Duration::from_secs(200), |v| {
        v.get("joined").is_some()
    });
    // The peer by name, or by node id when exo's identity (the friendly name) had not reached
    // box 2 yet at the moment it joined (seen once in CI): either is box 1.
    let a_node_id = status_a["cluster"]["nodes"][0]["node_id"].clone();
    assert!(
        joined["joined"]["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|n| n == a.as_str() || *n == a_node_id)),
        "{joined}"
    );
    wait_for("both views with two boxes and a link", Duration::from_secs(120), || {
        let (sa, sb) = (boxes.status(1), boxes.status(2));
        let both = [&sa, &sb].iter().all(|s| {
            node_names(s) == [a.clone(), b.clone()] && s["cluster"]["links"].as_array().is_some_and(|l| !l.is_empty())
        });
        both.then_some((sa, sb))
    });
    println!(
        "figure: cluster formation (second box's join → both boxes and a link in both views): {:.1} s ({:.1} s since the first exo started)",
        t_join.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let sb = boxes.status(2);
    let pool = &sb["cluster"]["pool"];
    assert!(pool["memory_total_bytes"].as_u64().unwrap_or(0) > 0, "{sb}");
    assert!(pool["vram_budget_mb"].as_u64().unwrap_or(0) > 0, "{sb}");
    let this_b: Vec<&Value> = sb["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["is_this_node"] == true)
        .collect();
    assert_eq!(this_b.len(), 1);
    assert_eq!(this_b[0]["name"], b.as_str());

    // --- a local model by its folder, over both boxes, ready.
    let folder = boxes.models_dir.join("local--tiny-llama");
    let folder = folder.to_string_lossy();
    let t_load = Instant::now();
    let out = boxes.clusterbar(1, &["models", "load", &folder, "--min-nodes", "2", "--wait", "180"]);
    assert!(
        out.status.success(),
        "load: {}\nexo log:\n{}",
        text(&out),
        boxes.exo_log(1)
    );
    println!(
        "figure: models load {MODEL} over 2 boxes → ready: {:.1} s",
        t_load.elapsed().as_secs_f64()
    );
    let status = boxes.status(2);
    let models = status["cluster"]["models"].as_array().cloned().unwrap_or_default();
    let ready: Vec<&Value> = models
        .iter()
        .filter(|m| m["id"] == MODEL && m["state"] == "ready")
        .collect();
    assert_eq!(ready.len(), 1, "{models:?}");
    assert_eq!(
        ready[0]["shards"].as_array().map(Vec::len),
        Some(2),
        "one shard per box"
    );
    let workers = status["services"]["exo"]["child_processes"].as_u64().unwrap_or(0);
    assert!(workers >= 1, "exo's runner is counted, not listed as pids: {status}");

    // --- real tokens through Clusterbar's meter in box 2.
    let (_meter, _meter_out) = boxes.clusterbar_lines(2, &["meter", "--listen", "127.0.0.1:52480"]);
    wait_for("the meter answering", Duration::from_secs(20), || {
        let out = boxes
            .command(2, &["curl", "-sf", "http://127.0.0.1:52480/_clusterbar/stats"])
            .output()
            .ok()?;
        out.status.success().then_some(())
    });
    let body = format!(
        r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"Hello"}}],"stream":true,"max_tokens":24}}"#
    );
    let stream = boxes
        .command(
            2,
            &[
                "curl",
                "-sN",
                "-H",
                "content-type: application/json",
                "-d",
                &body,
                "http://127.0.0.1:52480/v1/chat/completions",
            ],
        )
        .output()
        .expect("curl");
    let sse = String::from_utf8_lossy(&stream.stdout).into_owned();
    assert!(sse.contains("data: [DONE]"), "a whole stream: {sse}");
    let usage_tokens = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|v| v["usage"]["completion_tokens"].as_u64())
        .expect("usage on the last chunk");
    let stats: Value = {
        let out = boxes
            .command(2, &["curl", "-sf", "http://127.0.0.1:52480/_clusterbar/stats"])
            .output()
            .expect("curl stats");
        serde_json::from_slice(&out.stdout).expect("stats JSON")
    };
    let record = &stats["recent"][0];
    assert_eq!(
        record["completion_tokens"].as_u64(),
        Some(usage_tokens),
        "meter = exo's usage: {record}"
    );
    let meter_rate = record["decode_tokens_per_s"].as_f64().expect("a decode rate");
    let exo_rate = record["server_reported"]["exo"]["generation_tps"]
        .as_f64()
        .expect("exo's generation_stats");
    println!(
        "figure: one stream of {usage_tokens} tokens through the meter: meter decode {meter_rate:.1} tok/s, exo generation_stats {exo_rate:.1} tok/s (ratio {:.2}); TTFT {:.1} ms",
        meter_rate / exo_rate,
        record["ttft_ms"].as_f64().unwrap_or(f64::NAN)
    );
    // The meter times tokens as they arrive over HTTP; exo times its own decode loop: same order.
    assert!(
        meter_rate / exo_rate > 0.2 && meter_rate / exo_rate < 5.0,
        "{meter_rate} vs {exo_rate}"
    );

    // --- unload.
    let out = boxes.clusterbar(1, &["models", "unload", MODEL]);
    assert!(out.status.success(), "unload: {}", text(&out));
    wait_for("the model gone", Duration::from_secs(60), || {
        let status = boxes.status(1);
        status["cluster"]["models"]
            .as_array()
            .is_some_and(|m| m.is_empty())
            .then_some(())
    });

    // --- box 2 dies (kill -9 of everything in it): box 1's Clusterbar reports it gone.
    let (_watch, watch_a) = boxes.clusterbar_lines(1, &["status", "--watch", "--json", "--interval", "1"]);
    wait_line(&watch_a, "box 1's watch sees two boxes", Duration::from_secs(30), |s| {
        node_names(s).len() == 2
    });
    boxes.kill_box(2);
    // Box 1 (the first exo) is usually exo's master; when the election went the other way, the
    // kill took the master and box 1's view freezes instead (exo 0.3.70 elects no one): that is
    // shown as frozen, never as a healthy two-box cluster — the step below checks the same.
    let (left, noticed) = wait_line(
        &watch_a,
        "node_left for box 2, or box 1's view frozen",
        Duration::from_secs(150),
        |s| {
            let left = s["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["event"] == "node_left" && e["name"] == b.as_str()));
            left || is_frozen(s)
        },
    );
    if is_frozen(&left) {
        assert_ne!(left["state"], "running", "a frozen view is not healthy");
        println!("figure: box 2 killed → it was exo's master this run: box 1's Clusterbar shows its view frozen after {:.1} s", noticed.as_secs_f64());
    } else {
        assert_eq!(node_names(&left), vec![a.clone()]);
        println!("figure: box 2 killed → box 1's Clusterbar says it left: {:.1} s (exo drops a dead box from its topology after ~39 s)", noticed.as_secs_f64());
    }

    // --- box 2 comes back with a new node id: one box, not a box beside its ghost.
    let (_join_b2, join_out2) =
        boxes.clusterbar_lines(2, &["join", "--json", "--timeout", "180", "--namespace", "cbtest"]);
    wait_line(&join_out2, "box 2 joined again", Duration::from_secs(200), |v| {
        v.get("joined").is_some()
    });
    let (back, _) = wait_line(&watch_a, "box 2 back", Duration::from_secs(120), |s| {
        node_names(s).len() == 2
    });
    assert_eq!(node_names(&back), [a.clone(), b.clone()], "never three boxes");

    // --- the master (box 1, the first exo) dies: box 2's view is frozen, not healthy.
    boxes.kill_box(1);
    // exo 0.3.70 with stock zenoh elects no one: the survivor answers a frozen /state. Should a
    // newer exo elect itself, a view without the dead box is as good: never the dead box as live.
    let (after_kill, after) = wait_for(
        "box 2's view frozen, or without box 1",
        Duration::from_secs(150),
        || {
            let status = boxes.status(2);
            let frozen = status["cluster"]["frozen_for_s"].as_f64().is_some()
                && status["warnings"]
                    .as_array()
                    .is_some_and(|w| w.iter().any(|w| w["code"] == "exo_view_frozen"));
            let moved_on = status["cluster"].is_object() && node_names(&status) == vec![b.clone()];
            (frozen || moved_on).then_some((status, frozen))
        },
    );
    let (status, frozen) = after_kill;
    println!(
        "figure: master killed → the survivor's Clusterbar shows {}: {:.1} s",
        if frozen {
            "its view frozen"
        } else {
            "a view without the master"
        },
        after.as_secs_f64()
    );
    if frozen {
        assert_ne!(status["state"], "running", "a frozen view is not healthy");
    }
}

/// `clusterbar exo run` and the real exo's process tree: a busy port said clearly, an exo started
/// elsewhere adopted, then start, restart after kill -9, stop with every runner.
#[test]
#[ignore = "needs the real exo (scripts/real-exo.sh build) and root; scripts/test-all.sh runs it"]
fn clusterbar_supervises_the_real_exo() {
    let Some(boxes) = Boxes::up(1, "cbs") else { return };

    // A busy port: clear message, nothing started.
    let (mut squatter, _) = boxes.clusterbar_lines(
        1,
        &[
            "meter",
            "--listen",
            "127.0.0.1:52415",
            "--upstream",
            "http://127.0.0.1:9",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let out = boxes.clusterbar(1, &["exo", "run", "--quiet"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("port 52415 is in use"), "{}", text(&out));
    assert!(exo_pids(&boxes, 1).is_empty(), "nothing started: {:?}", boxes.procs(1));
    let _ = squatter.kill();
    let _ = squatter.wait();
    boxes.kill_box(1);

    let exo_status = || -> Value {
        let out = boxes.clusterbar(1, &["exo", "status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    // An exo someone else started (a terminal, EXO.app) is adopted, never doubled, and a plain
    // `exo stop` leaves it running.
    let started = Command::new(script())
        .args(["start-exo", &boxes.prefix, "1"])
        .output()
        .expect("real-exo.sh start-exo");
    assert!(started.status.success(), "{}", text(&started));
    let (mut adopting, _) = boxes.clusterbar_lines(1, &["exo", "run", "--quiet"]);
    let (adopted, _) = wait_for("the running exo adopted", Duration::from_secs(60), || {
        let supervised = exo_status();
        (supervised["state"] == "adopted").then_some(supervised)
    });
    assert_eq!(adopted["started_by_us"], false, "{adopted}");
    assert_eq!(
        exo_pids(&boxes, 1).iter().filter(|p| p.contains("/bin/exo")).count(),
        1,
        "one exo, not two: {:?}",
        boxes.procs(1)
    );
    let out = boxes.clusterbar(1, &["exo", "stop"]);
    assert!(
        !out.status.success(),
        "a plain stop must not stop an adopted exo: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not started by Clusterbar"),
        "{}",
        text(&out)
    );
    let _ = adopting.kill();
    let _ = adopting.wait();
    boxes.kill_box(1);

    // Start; `exo status` (another process) reads the supervisor's record.
    let (_run, _out) = boxes.clusterbar_lines(1, &["exo", "run", "--quiet"]);
    let (first, _) = wait_for("exo running and answering", Duration::from_secs(120), || {
        let supervised = exo_status();
        (supervised["state"] == "running" && boxes.status(1)["cluster"].is_object()).then_some(supervised)
    });
    assert_eq!(first["started_by_us"], true, "{first}");
    let first_pid = first["pid"].as_u64().expect("a pid");

    // Load so that exo has runner processes, then kill -9 exo's main process: restarted.
    let out = boxes.clusterbar(1, &["models", "load", MODEL, "--wait", "120"]);
    assert!(out.status.success(), "load: {}", text(&out));
    let before = exo_pids(&boxes, 1);
    assert!(before.len() >= 2, "exo and its runner: {before:?}");
    let killed = boxes
        .command(1, &["sh", "-c", "kill -9 $(cat \"$HOME/.cache/exo/exo.pid\")"])
        .output()
        .expect("kill");
    assert!(killed.status.success(), "{}", text(&killed));
    let (_, took) = wait_for("exo restarted by the supervisor", Duration::from_secs(120), || {
        let pid = exo_status()["pid"].as_u64()?;
        (pid != first_pid && boxes.status(1)["cluster"].is_object()).then_some(())
    });
    println!(
        "figure: exo kill -9 → restarted and answering: {:.1} s",
        took.as_secs_f64()
    );

    // Stop: exo and every process it spawned are gone.
    let out = boxes.clusterbar(1, &["exo", "stop"]);
    assert!(out.status.success(), "stop: {}", text(&out));
    let (_, _) = wait_for("no exo process left", Duration::from_secs(30), || {
        exo_pids(&boxes, 1).is_empty().then_some(())
    });
}
