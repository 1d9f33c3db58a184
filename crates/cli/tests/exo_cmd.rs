//! `clusterbar exo run|stop|status|logs` end to end, with a shell script standing in for exo.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let exo = dir.path().join("fake-exo.sh");
        std::fs::write(
            &exo,
            // Like today's exo: the namespace is a flag, and the old variable is fatal.
            "#!/bin/sh\n[ -n \"$EXO_LIBP2P_NAMESPACE\" ] && { echo 'EXO_LIBP2P_NAMESPACE has been removed' >&2; exit 1; }\n\
             echo \"fake exo up with $*\"\nexec sleep 30\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        let settings = serde_json::json!({ "exo_path": exo });
        std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("clusterbar"));
        command
            .args(args)
            .env("HOME", self.path())
            .env("CLUSTERBAR_CONFIG_DIR", self.path().join("config"))
            .env("CLUSTERBAR_LOG_DIR", self.path().join("logs"))
            .env("CLUSTERBAR_RUN_DIR", self.path().join("run"))
            // Left over from an old guide in the user's shell: must not reach exo.
            .env("EXO_LIBP2P_NAMESPACE", "old-guide");
        command
    }

    fn output(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn status(&self) -> serde_json::Value {
        let (ok, stdout, stderr) = self.output(&["exo", "status", "--json"]);
        assert!(ok, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    // The child is returned inside `Running`, whose drop waits for it.
    #[allow(clippy::zombie_processes)]
    fn start_run(&self) -> (Running, u32) {
        let mut run = self
            .command(&["exo", "run", "--quiet", "--namespace", "testnet"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path().join("run.stderr")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status();
            if status["state"] == "running" {
                assert_eq!(status["started_by_us"], true);
                return (Running(run), status["pid"].as_u64().unwrap() as u32);
            }
            if Instant::now() >= deadline {
                let _ = run.kill();
                let _ = run.wait();
                let stderr = std::fs::read_to_string(self.path().join("run.stderr")).unwrap_or_default();
                panic!("exo never ran: {status}\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Ends a `clusterbar exo run` left by a failing test, so it does not outlive the test run.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
            let _ = self.0.wait();
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_supervises_until_sigterm_and_logs_show_the_output() {
    let home = Home::new();
    assert_eq!(home.status()["state"], "stopped");
    let (mut running, exo_pid) = home.start_run();
    let run = &mut running.0;
    assert!(alive(exo_pid));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (ok, stdout, _) = home.output(&["exo", "logs", "-n", "5"]);
        assert!(ok);
        if stdout.contains("fake exo up with --namespace testnet") {
            break;
        }
        assert!(Instant::now() < deadline, "log: {stdout}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, text, _) = home.output(&["exo", "status"]);
    assert!(text.contains("running (pid"), "{text}");
    assert!(
        text.contains(&home.path().join("logs/exo.log").display().to_string()),
        "{text}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(run, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(!alive(exo_pid), "exo outlived `clusterbar exo run`");
    assert_eq!(home.status()["state"], "stopped");
    assert!(!home.path().join("run/exo.pid.json").exists());
}

#[test]
fn stop_asks_the_foreground_supervisor_to_stop() {
    let home = Home::new();
    let (mut running, exo_pid) = home.start_run();
    let run = &mut running.0;
    let (ok, stdout, stderr) = home.output(&["exo", "stop"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("stopped exo (pid {exo_pid})")), "{stdout}");
    assert!(wait_exit(run, Duration::from_secs(10)).success());
    assert!(!alive(exo_pid));
    let (ok, stdout, _) = home.output(&["exo", "stop"]);
    assert!(ok);
    assert!(stdout.contains("not running"), "{stdout}");
}
