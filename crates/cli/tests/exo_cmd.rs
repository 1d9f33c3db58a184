//! `clusterbar exo run|stop|status|logs` end to end, with a shell script standing in for exo.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        // Like today's exo: the namespace is a flag, and the old variable is fatal.
        Self::with_exo(
            "#!/bin/sh\n[ -n \"$EXO_LIBP2P_NAMESPACE\" ] && { echo 'EXO_LIBP2P_NAMESPACE has been removed' >&2; exit 1; }\n\
             echo \"fake exo up with $*\"\nexec sleep 30\n",
        )
    }

    fn with_exo(script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let exo = dir.path().join("fake-exo.sh");
        std::fs::write(&exo, script).unwrap();
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
        let mut command = common::clusterbar(self.path());
        command
            .args(args)
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

use common::alive;

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

fn wait_until(what: &str, within: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue #11: two `clusterbar exo run` at once both started exo, and the loser deleted the shared
/// pid file, after which `exo stop` refused. Now exactly one supervises; the other says who does.
#[test]
fn two_runs_at_once_start_exo_once_and_the_loser_names_the_winner() {
    let home = Home::new();
    let spawn = |tag: &str| {
        let stderr = std::fs::File::create(home.path().join(format!("{tag}.stderr"))).unwrap();
        Running(
            home.command(&["exo", "run", "--quiet"])
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        )
    };
    let mut runs = [(spawn("a"), "a"), (spawn("b"), "b")];
    let deadline = Instant::now() + Duration::from_secs(10);
    let loser = loop {
        if let Some(index) = runs.iter_mut().position(|(r, _)| matches!(r.0.try_wait(), Ok(Some(_)))) {
            break index;
        }
        assert!(Instant::now() < deadline, "neither run gave way: both supervise exo");
        std::thread::sleep(Duration::from_millis(20));
    };
    let [(first, first_tag), (second, second_tag)] = &mut runs;
    let ((loser_run, loser_tag), (winner, _)) = if loser == 0 {
        ((first, *first_tag), (second, *second_tag))
    } else {
        ((second, *second_tag), (first, *first_tag))
    };
    assert_eq!(loser_run.0.try_wait().unwrap().unwrap().code(), Some(1));
    let said = std::fs::read_to_string(home.path().join(format!("{loser_tag}.stderr"))).unwrap();
    let winner_pid = winner.0.id();
    assert!(
        said.contains(&format!("another Clusterbar (pid {winner_pid}) already supervises exo")),
        "{said}"
    );
    wait_until("exo running", Duration::from_secs(10), || {
        home.status()["state"] == "running"
    });
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("run/exo.pid.json")).unwrap()).unwrap();
    assert_eq!(record["supervisor_pid"], winner_pid);
    let exo_pid = home.status()["pid"].as_u64().unwrap() as u32;

    let (ok, stdout, stderr) = home.output(&["exo", "stop"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("stopped exo (pid {exo_pid})")), "{stdout}");
    assert!(wait_exit(&mut winner.0, Duration::from_secs(10)).success());
}

/// Kills a leftover process when a test ends, passed or not.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// Issue #11: after `kill -9` of `clusterbar exo run`, exo died (PDEATHSIG) but its own children
/// ran on, reparented to init; the next start deleted the stale pid file and never stopped them.
/// Now the next start stops exo's recorded process group.
#[test]
fn after_kill_9_the_next_run_stops_what_exo_left_behind() {
    let home = Home::with_exo("#!/bin/sh\nsleep 300 &\necho $! > \"$HOME/grandchild.pid\"\nexec sleep 30\n");
    let (mut running, exo_pid) = home.start_run();
    let grandchild_file = home.path().join("grandchild.pid");
    wait_until("the grandchild", Duration::from_secs(10), || {
        std::fs::read_to_string(&grandchild_file).is_ok_and(|t| t.trim().parse::<u32>().is_ok())
    });
    let grandchild: u32 = std::fs::read_to_string(&grandchild_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _cleanup = KillOnDrop(grandchild);

    running.0.kill().unwrap(); // SIGKILL: no clean stop
    running.0.wait().unwrap();
    wait_until("exo to die with its supervisor", Duration::from_secs(10), || {
        !alive(exo_pid)
    });
    assert!(alive(grandchild), "the scenario needs an orphan");

    let (_again, new_exo) = home.start_run();
    assert_ne!(new_exo, exo_pid);
    wait_until("the orphan stopped", Duration::from_secs(10), || !alive(grandchild));
}

/// Issue #11: `exo run` copies exo's output to the terminal, and exo's output quotes names from
/// other machines: control characters are shown escaped there (the log keeps them as sent).
#[test]
fn run_echoes_exos_output_with_control_characters_escaped() {
    let home = Home::with_exo("#!/bin/sh\nprintf 'evil\\033[2J\\rforged\\n'\nexec sleep 30\n");
    let stderr_path = home.path().join("echo.stderr");
    let mut run = Running(
        home.command(&["exo", "run"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until("the echoed line", Duration::from_secs(10), || {
        std::fs::read_to_string(&stderr_path).is_ok_and(|t| t.contains("forged"))
    });
    let text = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(text.contains(r"evil\u{1b}[2J\u{d}forged"), "{text:?}");
    assert!(!text.contains(['\u{1b}', '\r']), "{text:?}");
    let _ = Command::new("kill").args(["-TERM", &run.0.id().to_string()]).status();
    assert!(wait_exit(&mut run.0, Duration::from_secs(10)).success());
}

/// Issue #11: on a machine where another exo runs (EXO.app on a developer's Mac), the suite adopted
/// it instead of its stand-in. With `CLUSTERBAR_PROCESS_SCOPE`, an exo outside the scope is not seen.
#[test]
fn an_exo_outside_the_process_scope_is_neither_seen_nor_adopted() {
    let home = Home::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = elsewhere.path().join("exo");
    // A shell loop (no exec), so the process stays `sh …/exo`: a running exo by its command line.
    std::fs::write(&foreign, "#!/bin/sh\nwhile :; do sleep 0.2; done\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Killed on drop, so a failing assertion does not leave it looping. Run as `sh …/exo` (what
    // the kernel would run for its #! line anyway): exec of a file this process just wrote can fail
    // with ETXTBSY while another test thread's fork still holds the write descriptor.
    let other = Running(Command::new("/bin/sh").arg(&foreign).spawn().unwrap());
    let other_pid = other.0.id();

    let (ok, stdout, stderr) = home.output(&["status", "--json"]);
    assert!(ok, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pids = status["services"]["exo"]["pids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !pids.contains(&serde_json::json!(other_pid)),
        "the foreign exo was seen: {pids:?}"
    );

    let (_running, exo_pid) = home.start_run();
    assert_ne!(exo_pid, other_pid, "the foreign exo was adopted");
    drop(other);
}
