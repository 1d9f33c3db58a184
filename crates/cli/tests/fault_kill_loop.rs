//! The fault suite's kill loop (issue #11): `kill -9` of the supervisor (`clusterbar exo run`)
//! again and again, each time with exo's own child alive; every next start must stop what the
//! killed one left behind, so no orphan survives. Slow, so ignored by plain `cargo test`:
//! `scripts/fault-suite.sh` runs it with `FAULT_KILL_LOOPS` iterations (default 3).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A stand-in exo that starts a grandchild (as exo starts its runners) and records its pid.
const EXO: &str = "#!/bin/sh\nsleep 300 &\necho $! >> \"$HOME/grandchildren\"\nexec sleep 300\n";

fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("clusterbar"));
    command
        .args(args)
        .env("HOME", home)
        .env("CLUSTERBAR_CONFIG_DIR", home.join("config"))
        .env("CLUSTERBAR_LOG_DIR", home.join("logs"))
        .env("CLUSTERBAR_RUN_DIR", home.join("run"))
        .env("CLUSTERBAR_OLLAMA_LOCAL_PORT", "0");
    command
}

fn status(home: &Path) -> serde_json::Value {
    let out = command(home, &["exo", "status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

use common::alive;

fn grandchildren(home: &Path) -> Vec<u32> {
    std::fs::read_to_string(home.join("grandchildren"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn wait_until(what: &str, within: Duration, ok: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !ok() {
        if Instant::now() >= deadline {
            eprintln!("timed out waiting for {what}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Whatever the test leaves alive is killed, so a failure does not leak processes.
struct Cleanup<'a>(&'a Path, Vec<Child>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for child in &mut self.1 {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in grandchildren(self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Starts `exo run`, waits until exo and its grandchild run; returns exo's pid.
fn start(home: &Path, runs: &mut Vec<Child>, grandchildren_before: usize) -> u32 {
    runs.push(
        command(home, &["exo", "run", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(home);
        if s["state"] == "running" && grandchildren(home).len() > grandchildren_before {
            return s["pid"].as_u64().unwrap() as u32;
        }
        assert!(Instant::now() < deadline, "exo never ran: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "slow: run by scripts/fault-suite.sh"]
fn kill_9_of_the_supervisor_again_and_again_leaves_no_orphan() {
    let loops: usize = std::env::var("FAULT_KILL_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let exo = home.join("fake-exo.sh");
    std::fs::write(&exo, EXO).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exo, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("config/settings.json"),
        serde_json::json!({ "exo_path": exo }).to_string(),
    )
    .unwrap();

    let started = Instant::now();
    let mut cleanup = Cleanup(home, Vec::new());
    let mut exo_pid = start(home, &mut cleanup.1, 0);
    for i in 0..loops {
        let run = cleanup.1.last_mut().unwrap();
        run.kill().unwrap(); // SIGKILL: the supervisor gets no chance to clean up
        run.wait().unwrap();
        assert!(
            wait_until("exo to die with its supervisor", Duration::from_secs(10), || !alive(
                exo_pid
            )),
            "loop {i}: exo {exo_pid} outlived its supervisor"
        );
        let left = *grandchildren(home).last().unwrap();
        assert!(alive(left), "loop {i}: the scenario needs an orphan");
        // The next start must stop it.
        exo_pid = start(home, &mut cleanup.1, i + 1);
        wait_until("the orphan to stop", Duration::from_secs(10), || !alive(left));
    }
    // A clean stop of the last one ends its grandchild too.
    let last = cleanup.1.last_mut().unwrap();
    let _ = Command::new("kill").args(["-TERM", &last.id().to_string()]).status();
    last.wait().unwrap();
    let all = grandchildren(home);
    wait_until("the last grandchild to stop", Duration::from_secs(15), || {
        all.iter().all(|&p| !alive(p))
    });
    let orphans = all.iter().filter(|&&p| alive(p)).count();
    println!(
        "figure: kill loop: {loops} x kill -9 of the supervisor, {} grandchildren started, {orphans} orphans, {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(all.len(), loops + 1);
    assert_eq!(
        orphans,
        0,
        "orphans left: {:?}",
        all.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
}
