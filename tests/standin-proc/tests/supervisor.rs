//! The supervisor against real processes (the `standin-proc` binary), with short timings.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clusterbar_core::supervise::group::process_alive;
use clusterbar_core::supervise::logfile::LogConfig;
use clusterbar_core::supervise::pidfile::{self, PidRecord};
use clusterbar_core::supervise::process::{inspect, stop_recorded};
use clusterbar_core::supervise::{
    AdoptRule, Env, EnvValue, Secret, StopOutcome, SuperviseError, SupervisedState, SupervisedStatus, Supervisor,
    SupervisorSpec, Timings,
};

const STANDIN: &str = env!("CARGO_BIN_EXE_standin-proc");

/// Upper bounds for waits: generous, because a busy 2-core CI machine is slow, and a bound
/// only matters when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);
fn fast_timings() -> Timings {
    Timings {
        interrupt_grace: Duration::from_millis(300),
        terminate_grace: Duration::from_millis(300),
        kill_grace: Duration::from_secs(2),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        stable_after: Duration::from_secs(10),
        crash_window: Duration::from_secs(30),
        max_crashes: 100,
        poll: Duration::from_millis(20),
        adopted_poll: Duration::from_millis(50),
    }
}

fn spec(dir: &Path, args: &[&str]) -> SupervisorSpec {
    SupervisorSpec {
        name: "standin".into(),
        program: PathBuf::from(STANDIN),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Env::new(),
        env_remove: Vec::new(),
        log: LogConfig::new(dir.join("logs/standin.log")),
        pid_file: dir.join("run/standin.pid.json"),
        adopt: AdoptRule::default(),
        timings: fast_timings(),
        echo_output: false,
    }
}

fn wait_for(
    supervisor: &Supervisor,
    what: &str,
    within: Duration,
    ok: impl Fn(&SupervisedStatus) -> bool,
) -> SupervisedStatus {
    let deadline = Instant::now() + within;
    loop {
        let status = supervisor.status();
        if ok(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; status {status:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_until(what: &str, within: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_pid(path: &Path) -> u32 {
    wait_until("a pid file", PATIENCE, || {
        std::fs::read_to_string(path).is_ok_and(|t| t.trim().parse::<u32>().is_ok())
    });
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

fn log_text(spec: &SupervisorSpec) -> String {
    std::fs::read_to_string(&spec.log.path).unwrap_or_default()
}

/// A dead pid: a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_crash_is_restarted_with_doubling_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--lines", "2", "--exit", "3", "--after-ms", "30"]);
    let started = Instant::now();
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "4 restarts", PATIENCE, |s| s.restarts >= 4);
    // 0.1 + 0.2 + 0.4 + 0.4 s of backoff (capped at 0.4) before the 4th restart.
    assert!(
        started.elapsed() >= Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status.last_exit.as_deref(), Some("exit code 3"));
    assert!(status.started_by_us);
    let text = log_text(&spec);
    let delays: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("restarting in ").nth(1))
        .take(4)
        .collect();
    assert_eq!(delays, vec!["0.1 s", "0.2 s", "0.4 s", "0.4 s"], "{text}");
    assert!(text.contains("line 2"), "{text}");
    let backing_off = wait_for(&supervisor, "backing off", PATIENCE, |s| {
        s.state == SupervisedState::BackingOff
    });
    assert!(backing_off.next_restart_in_s.is_some() && backing_off.pid.is_none());
}

#[test]
fn a_stable_run_resets_the_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), &["--exit", "0", "--after-ms", "250"]);
    spec.timings.stable_after = Duration::from_millis(150);
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    wait_for(&supervisor, "3 restarts", PATIENCE, |s| s.restarts >= 3);
    let text = log_text(&spec);
    let delays: Vec<&str> = text.lines().filter_map(|l| l.split("restarting in ").nth(1)).collect();
    assert!(delays.len() >= 3 && delays.iter().all(|d| *d == "0.1 s"), "{text}");
}

#[test]
fn five_crashes_in_the_window_give_up_with_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), &["--lines", "3", "--exit", "1"]);
    spec.timings.max_crashes = 5;
    spec.timings.backoff_initial = Duration::from_millis(20);
    spec.timings.backoff_max = Duration::from_millis(40);
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "gave_up", PATIENCE, |s| s.state == SupervisedState::GaveUp);
    assert_eq!(status.restarts, 4);
    let reason = status.gave_up_reason.clone().unwrap();
    assert!(reason.contains("exited 5 times within 30 s"), "{reason}");
    assert!(reason.contains("exit code 1"), "{reason}");
    assert!(
        status.last_lines.iter().any(|l| l == "line 3"),
        "{:?}",
        status.last_lines
    );
    assert_eq!(status.pid, None);
    // The pid file now says why, for other processes (see giving_up_is_shown_to_other_processes).
    assert_eq!(pidfile::read(&spec.pid_file).unwrap().unwrap().pid, 0);
    // And it stays given up.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(supervisor.status().restarts, 4);
    assert_eq!(supervisor.status().state, SupervisedState::GaveUp);
    let json = serde_json::to_value(supervisor.status()).unwrap();
    assert_eq!(json["state"], "gave_up");

    // An explicit start gets a fresh crash history.
    supervisor.start_again().unwrap();
    wait_for(&supervisor, "a fresh start", PATIENCE, |s| {
        s.gave_up_reason.is_none() && s.state != SupervisedState::GaveUp
    });
}

#[test]
fn refusing_to_start_is_reported_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), &["--refuse", "error: port 52415 is already in use"]);
    spec.timings.max_crashes = 3;
    spec.timings.backoff_initial = Duration::from_millis(10);
    let supervisor = Supervisor::start(spec).unwrap();
    let status = wait_for(&supervisor, "gave_up", PATIENCE, |s| s.state == SupervisedState::GaveUp);
    let reason = status.gave_up_reason.unwrap();
    assert!(
        reason.contains("last output: error: port 52415 is already in use"),
        "{reason}"
    );
}

#[test]
fn a_missing_executable_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), &[]);
    spec.program = dir.path().join("no-such-exo");
    spec.timings.max_crashes = 2;
    spec.timings.backoff_initial = Duration::from_millis(10);
    let supervisor = Supervisor::start(spec).unwrap();
    let status = wait_for(&supervisor, "gave_up", PATIENCE, |s| s.state == SupervisedState::GaveUp);
    assert!(status.last_exit.unwrap().starts_with("could not start: "));
}

#[test]
fn a_child_ignoring_sigint_and_sigterm_is_killed_with_its_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let grandchild_file = dir.path().join("grandchild.pid");
    let spec = spec(
        dir.path(),
        &[
            "--ignore-int",
            "--ignore-term",
            "--grandchild",
            grandchild_file.to_str().unwrap(),
        ],
    );
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "running", PATIENCE, |s| {
        s.state == SupervisedState::Running
    });
    let child = status.pid.unwrap();
    let grandchild = read_pid(&grandchild_file);
    assert!(process_alive(grandchild));
    assert!(spec.pid_file.exists());
    let began = Instant::now();
    let outcome = supervisor.stop(false).unwrap();
    assert_eq!(
        outcome,
        StopOutcome::Stopped {
            pid: child,
            signal: Some("SIGKILL")
        }
    );
    assert!(began.elapsed() >= Duration::from_millis(600), "{:?}", began.elapsed());
    assert!(!process_alive(child));
    wait_until("the grandchild to die", PATIENCE, || !process_alive(grandchild));
    let status = supervisor.status();
    assert_eq!(status.state, SupervisedState::Stopped);
    assert_eq!(status.last_exit.as_deref(), Some("killed by SIGKILL"));
    assert!(!spec.pid_file.exists());
    // A stop is not a crash: nothing restarts it.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(supervisor.status().state, SupervisedState::Stopped);
}

#[test]
fn a_child_ignoring_only_sigint_ends_with_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--ignore-int", "--lines", "1", "--run"]);
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let pid = wait_for(&supervisor, "running", PATIENCE, |s| s.pid.is_some())
        .pid
        .unwrap();
    // It prints after it has started ignoring SIGINT; stopped before that, SIGINT ends it.
    wait_until("its first line", PATIENCE, || log_text(&spec).contains("line 1"));
    assert_eq!(
        supervisor.stop(false).unwrap(),
        StopOutcome::Stopped {
            pid,
            signal: Some("SIGTERM")
        }
    );
}

#[test]
fn dropping_the_supervisor_stops_its_child() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--run"]);
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let pid = wait_for(&supervisor, "running", PATIENCE, |s| s.pid.is_some())
        .pid
        .unwrap();
    drop(supervisor);
    assert!(!process_alive(pid));
    // A plain child ends at the first signal, SIGINT: the log says which signal ended it (no
    // wall-clock bound, which a busy machine could overrun).
    assert!(!spec.pid_file.exists());
    assert!(
        log_text(&spec).contains("stopped (killed by SIGINT)"),
        "{}",
        log_text(&spec)
    );
}

/// A copy of the stand-in under a name no other test uses (found by name, as exo would be).
fn renamed_standin(dir: &Path, tag: &str) -> (PathBuf, String) {
    let name = format!("adopt{}{tag}", std::process::id() % 100_000);
    let path = dir.join(&name);
    std::os::unix::fs::symlink(STANDIN, &path).unwrap();
    (path, name)
}

#[test]
fn a_running_copy_is_adopted_never_duplicated_and_not_stopped_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let (program, name) = renamed_standin(dir.path(), "a");
    let mut external = Command::new(&program).arg("--run").spawn().unwrap();
    let mut spec = spec(dir.path(), &["--run"]);
    spec.program = program;
    spec.adopt.process_name = Some(name.clone());
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "adopted", PATIENCE, |s| {
        s.state == SupervisedState::Adopted
    });
    assert_eq!(status.pid, Some(external.id()));
    assert!(!status.started_by_us);
    assert!(!spec.pid_file.exists());
    std::thread::sleep(Duration::from_millis(200));
    let mut table = clusterbar_core::supervise::ProcessTable::default();
    table.refresh();
    assert_eq!(
        table.pids_of(&name).unwrap(),
        vec![external.id()],
        "a second copy was started"
    );

    assert_eq!(
        supervisor.stop(false).unwrap(),
        StopOutcome::LeftAdoptedRunning { pid: external.id() }
    );
    std::thread::sleep(Duration::from_millis(150));
    assert!(external.try_wait().unwrap().is_none(), "the adopted copy was stopped");
    assert_eq!(supervisor.status().state, SupervisedState::Adopted);

    // Once it exits, a stopped supervisor does not start its own.
    external.kill().unwrap();
    external.wait().unwrap();
    wait_for(&supervisor, "stopped", PATIENCE, |s| {
        s.state == SupervisedState::Stopped
    });
    std::thread::sleep(Duration::from_millis(200));
    table.refresh();
    assert!(table.pids_of(&name).unwrap().is_empty());
}

#[test]
fn a_forced_stop_stops_the_adopted_copy_and_an_exited_adoptee_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (program, name) = renamed_standin(dir.path(), "b");
    // The copy was started by someone else and recorded in their pid file.
    let mut external = Command::new(&program).arg("--run").spawn().unwrap();
    let foreign_pid_file = dir.path().join("exo.pid");
    std::fs::write(&foreign_pid_file, format!("{}\n", external.id())).unwrap();
    let mut spec = spec(dir.path(), &["--run"]);
    spec.program = program;
    spec.adopt.pid_file = Some(foreign_pid_file);
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    wait_for(&supervisor, "adopted", PATIENCE, |s| {
        s.state == SupervisedState::Adopted && s.pid == Some(external.id())
    });
    // It exits on its own: we keep the program running by starting ours.
    external.kill().unwrap();
    external.wait().unwrap();
    let ours = wait_for(&supervisor, "our own copy", PATIENCE, |s| {
        s.state == SupervisedState::Running && s.started_by_us
    });
    assert_ne!(ours.pid, Some(external.id()));
    drop(supervisor);
    assert!(!process_alive(ours.pid.unwrap()));

    // Forced: an adopted copy is stopped.
    let mut external = Command::new(&spec.program).arg("--run").spawn().unwrap();
    std::fs::write(spec.adopt.pid_file.as_ref().unwrap(), external.id().to_string()).unwrap();
    let supervisor = Supervisor::start(spec).unwrap();
    wait_for(&supervisor, "adopted", PATIENCE, |s| {
        s.state == SupervisedState::Adopted
    });
    let outcome = supervisor.stop(true).unwrap();
    assert!(matches!(outcome, StopOutcome::Stopped { pid, .. } if pid == external.id()));
    // It is not our child: its parent (this test) reaps it.
    assert!(external.wait().is_ok());
    assert_eq!(supervisor.status().state, SupervisedState::Stopped);
    let _ = name;
}

#[test]
fn a_stale_child_of_a_previous_run_is_cleaned_up_but_a_recycled_pid_is_not_killed() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--run"]);

    // A child of a "previous run" whose supervisor is gone.
    let mut stale = Command::new(STANDIN).arg("--run").process_group(0).spawn().unwrap();
    let mut record = PidRecord::of_running(stale.id()).unwrap();
    record.supervisor_pid = dead_pid();
    pidfile::write(&spec.pid_file, &record).unwrap();
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "a fresh child", PATIENCE, |s| {
        s.state == SupervisedState::Running
    });
    assert!(stale.try_wait().unwrap().is_some(), "the stale child still runs");
    assert_ne!(status.pid, Some(stale.id()));
    assert_eq!(pidfile::read(&spec.pid_file).unwrap().unwrap().pid, status.pid.unwrap());
    drop(supervisor);

    // The recorded pid now belongs to an unrelated program (started at another time).
    let mut unrelated = Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
    let mut record = PidRecord::of_running(unrelated.id()).unwrap();
    record.start_time_unix_s -= 1000;
    record.supervisor_pid = dead_pid();
    pidfile::write(&spec.pid_file, &record).unwrap();
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    wait_for(&supervisor, "a fresh child", PATIENCE, |s| {
        s.state == SupervisedState::Running
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        unrelated.try_wait().unwrap().is_none(),
        "an unrelated process was killed"
    );
    unrelated.kill().unwrap();
    unrelated.wait().unwrap();
}

#[test]
fn env_is_passed_and_the_secret_never_shows_then_a_new_env_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env.txt");
    let mut spec = spec(dir.path(), &["--env-to", env_file.to_str().unwrap(), "--run"]);
    spec.env.insert("EXO_LIBP2P_NAMESPACE".into(), EnvValue::from("studio"));
    spec.env
        .insert("HF_TOKEN".into(), Secret::new("hf_topsecret_4711").into());
    assert!(!format!("{spec:?}").contains("topsecret"));
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let first = wait_for(&supervisor, "running", PATIENCE, |s| s.pid.is_some())
        .pid
        .unwrap();
    wait_until("the env file", PATIENCE, || {
        std::fs::read_to_string(&env_file).is_ok_and(|t| t.contains("HF_TOKEN"))
    });
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.lines().any(|l| l == "HF_TOKEN=hf_topsecret_4711"));
    assert!(env.lines().any(|l| l == "EXO_LIBP2P_NAMESPACE=studio"));
    assert!(
        env.lines().any(|l| l.starts_with("PATH=")),
        "the inherited environment is kept"
    );
    let status = supervisor.status();
    assert!(!format!("{status:?}").contains("topsecret"));
    assert!(!serde_json::to_string(&status).unwrap().contains("topsecret"));
    assert!(log_text(&spec).contains("HF_TOKEN"), "the log names the keys");
    assert!(!log_text(&spec).contains("topsecret"));

    std::fs::remove_file(&env_file).unwrap();
    let new_env = Env::from([("PORTEN_ENGINE".to_owned(), EnvValue::from("openai"))]);
    supervisor.restart_with_env(new_env).unwrap();
    let second = wait_for(&supervisor, "restarted", PATIENCE, |s| {
        s.state == SupervisedState::Running
    });
    assert_ne!(second.pid, Some(first));
    assert!(!process_alive(first));
    assert_eq!(second.restarts, 0, "an asked-for restart is not a crash");
    wait_until("the new env file", PATIENCE, || env_file.exists());
    wait_until("the new env file's content", PATIENCE, || {
        std::fs::read_to_string(&env_file).is_ok_and(|t| t.contains("PORTEN_ENGINE=openai"))
    });
    assert!(!std::fs::read_to_string(&env_file).unwrap().contains("HF_TOKEN"));
}

#[test]
fn output_goes_to_a_rotating_log_that_can_be_tailed() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), &["--lines", "200", "--line-bytes", "100", "--run"]);
    spec.log.max_bytes = 4000;
    spec.log.files = 3;
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let line_200 = format!("line 200{}", "x".repeat(92));
    let deadline = Instant::now() + PATIENCE;
    // stdout and stderr are read by two threads, so the child's "err N" lines can land after
    // its last stdout line: look in a window that holds every line after it.
    while !supervisor_tail(&spec, 150).contains(&line_200) {
        assert!(
            Instant::now() < deadline,
            "line 200 never reached the log; tail: {:?}; status {:?}",
            supervisor_tail(&spec, 8)
                .iter()
                .map(|l| l.chars().take(40).collect::<String>())
                .collect::<Vec<_>>(),
            supervisor.status()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for n in 0..3 {
        let path = if n == 0 {
            spec.log.path.clone()
        } else {
            PathBuf::from(format!("{}.{n}", spec.log.path.display()))
        };
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 4000, "{} is {size} bytes", path.display());
    }
    assert!(!PathBuf::from(format!("{}.3", spec.log.path.display())).exists());
    assert_eq!(supervisor_tail(&spec, 40).len(), 40);
    let tail = supervisor_tail(&spec, 150);
    let stdout_lines: Vec<&String> = tail.iter().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(stdout_lines.last().unwrap(), &&line_200);
    assert_eq!(supervisor.status().log_path, spec.log.path);
}

fn supervisor_tail(spec: &SupervisorSpec, n: usize) -> Vec<String> {
    clusterbar_core::supervise::process::tail_log(spec, n)
}

#[test]
fn status_and_stop_from_another_process_use_the_pid_file() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--ignore-int"]);
    assert_eq!(inspect(&spec).state, SupervisedState::Stopped);
    assert_eq!(stop_recorded(&spec, false).unwrap(), StopOutcome::NotRunning);

    // As left by `clusterbar exo run` that was killed with SIGKILL.
    let mut orphan = Command::new(STANDIN)
        .arg("--ignore-int")
        .process_group(0)
        .spawn()
        .unwrap();
    let mut record = PidRecord::of_running(orphan.id()).unwrap();
    record.supervisor_pid = dead_pid();
    pidfile::write(&spec.pid_file, &record).unwrap();
    let status = inspect(&spec);
    assert_eq!(status.state, SupervisedState::Running);
    assert_eq!(status.pid, Some(orphan.id()));
    assert!(status.started_by_us);
    assert_eq!(
        stop_recorded(&spec, false).unwrap(),
        StopOutcome::Stopped {
            pid: orphan.id(),
            signal: Some("SIGTERM")
        }
    );
    assert!(orphan.wait().is_ok());
    assert!(!spec.pid_file.exists());
}

/// Issue #11: `clusterbar exo status` in another process showed `gave_up_reason: null`.
#[test]
fn giving_up_is_shown_to_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), &["--lines", "1", "--exit", "1"]);
    spec.timings.max_crashes = 3;
    spec.timings.backoff_initial = Duration::from_millis(10);
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "gave_up", PATIENCE, |s| s.state == SupervisedState::GaveUp);
    let seen = |status: &SupervisedStatus| {
        assert_eq!(status.state, SupervisedState::GaveUp);
        assert!(
            status.gave_up_reason.as_deref().unwrap().contains("exited 3 times"),
            "{status:?}"
        );
        assert_eq!(status.last_exit.as_deref(), Some("exit code 1"));
        assert!(status.last_lines.iter().any(|l| l == "line 1"), "{status:?}");
        assert_eq!(status.pid, None);
    };
    let elsewhere = inspect(&spec);
    seen(&elsewhere);
    assert_eq!(elsewhere.gave_up_reason, status.gave_up_reason);
    // Still after the supervisor is gone (`clusterbar exo run` exits when it gives up).
    drop(supervisor);
    seen(&inspect(&spec));
    assert_eq!(stop_recorded(&spec, false).unwrap(), StopOutcome::NotRunning);
    // A new start replaces it.
    spec.args = vec!["--run".into()];
    let supervisor = Supervisor::start(spec.clone()).unwrap();
    wait_for(&supervisor, "running", PATIENCE, |s| {
        s.state == SupervisedState::Running
    });
    let status = inspect(&spec);
    assert_eq!((status.state, status.gave_up_reason), (SupervisedState::Running, None));
}

/// Issue #11: two supervisors started at once both started the program, and the loser deleted
/// the winner's pid file. Now the second is refused at once and touches nothing.
#[test]
fn a_second_supervisor_is_refused_and_leaves_the_pid_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--run"]);
    let first = Supervisor::start(spec.clone()).unwrap();
    let running = wait_for(&first, "running", PATIENCE, |s| s.state == SupervisedState::Running);
    let record = pidfile::read(&spec.pid_file).unwrap().unwrap();
    match Supervisor::start(spec.clone()) {
        Err(error @ SuperviseError::AlreadySupervised { .. }) => {
            let SuperviseError::AlreadySupervised { supervisor, pid, .. } = &error else {
                unreachable!()
            };
            assert_eq!((*supervisor, *pid), (Some(std::process::id()), running.pid));
            let text = error.to_string();
            assert!(
                text.contains(&format!(
                    "another Clusterbar (pid {}) already supervises standin",
                    std::process::id()
                )),
                "{text}"
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a second supervisor started"),
    }
    assert_eq!(pidfile::read(&spec.pid_file).unwrap().unwrap(), record);
    assert!(process_alive(running.pid.unwrap()));
    assert_eq!(first.status().pid, running.pid);
    // Once the first is gone, the next one may start.
    drop(first);
    let second = Supervisor::start(spec).unwrap();
    wait_for(&second, "running", PATIENCE, |s| s.state == SupervisedState::Running);
}

/// Whether `pid` has exited (a zombie waiting for a reaper that may never come counts).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with(['Z', 'X']),
        Err(_) => true,
    }
}

/// Issue #11: after `kill -9` of the supervisor, exo died (PDEATHSIG) but its own children ran on,
/// reparented to init, and the next start only deleted the stale pid file. Now the recorded
/// process group is stopped.
#[test]
fn processes_left_in_a_dead_childs_group_are_stopped_at_the_next_start() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["--run"]);
    // A child of a "previous run" that started a grandchild and then died.
    let grandchild_file = dir.path().join("grandchild.pid");
    // It waits on stdin until recorded: on a busy machine a child that exits at once could be
    // gone before it is recorded.
    let script = format!("sleep 300 & echo $! > '{}'; read _; exit 0", grandchild_file.display());
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let mut record = PidRecord::of_running(child_pid).unwrap();
    assert_eq!(record.pgid, Some(child_pid));
    record.supervisor_pid = dead_pid();
    drop(child.stdin.take());
    child.wait().unwrap();
    let grandchild = read_pid(&grandchild_file);
    assert!(!gone(grandchild));
    pidfile::write(&spec.pid_file, &record).unwrap();

    let supervisor = Supervisor::start(spec.clone()).unwrap();
    let status = wait_for(&supervisor, "a fresh child", PATIENCE, |s| {
        s.state == SupervisedState::Running
    });
    wait_until("the grandchild stopped", PATIENCE, || gone(grandchild));
    assert!(
        log_text(&spec).contains("left behind in its process group"),
        "{}",
        log_text(&spec)
    );
    assert_eq!(pidfile::read(&spec.pid_file).unwrap().unwrap().pid, status.pid.unwrap());
}
