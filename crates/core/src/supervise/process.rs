//! The generic supervisor: starts a program (or adopts a running copy), captures its output to
//! a rotating log, restarts it with backoff when it crashes, gives up on a crash loop, and stops
//! it (and its whole process group) on request or when dropped.
//!
//! One std thread per supervised program owns the child, rather than tokio tasks: the core's
//! consumers (the CLI, the sampler thread, the Tauri shell) are synchronous; waiting out stop
//! escalation is blocking work; and on Linux `PR_SET_PDEATHSIG` fires when the *thread* that
//! forked the child exits — a tokio blocking-pool thread retires after idling, which would kill
//! a healthy child. Changes are published on a `tokio::sync::watch` channel, which needs no
//! runtime to send.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::group::{self, StopGraces, Target};
use super::logfile::{self, RotatingLog};
use super::pidfile::{self, GaveUpRecord, LockError, PidFileError, PidRecord, SupervisorLock};
use super::spec::{Env, SupervisorSpec, Timings};
use super::ProcessTable;
use clusterbar_model::service::{SupervisedState, SupervisedStatus};

/// How many log lines a `gave_up` status carries.
const LAST_LINES: usize = 20;

/// The result of a stop request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// It was running and has exited; `signal` is the one that ended it.
    Stopped {
        pid: u32,
        signal: Option<&'static str>,
    },
    /// An adopted copy was left running because the stop was not forced.
    LeftAdoptedRunning {
        pid: u32,
    },
    NotRunning,
}

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("starting the {name} supervisor thread: {source}")]
    Thread { name: String, source: std::io::Error },
    #[error("the {name} supervisor is no longer running")]
    Gone { name: String },
    #[error("{name} (pid {pid}) was not started by Clusterbar, so it cannot be restarted with a new environment; stop it first")]
    Adopted { name: String, pid: u32 },
    #[error("{name} could not be stopped: {reason}")]
    Stop { name: String, reason: String },
    #[error("{}", already_supervised(.name, *.supervisor, *.pid))]
    AlreadySupervised {
        name: String,
        /// The Clusterbar process that supervises it, when known.
        supervisor: Option<u32>,
        /// The program's pid, when it runs.
        pid: Option<u32>,
    },
    #[error(transparent)]
    PidFile(#[from] PidFileError),
}

fn already_supervised(name: &str, supervisor: Option<u32>, pid: Option<u32>) -> String {
    let by = supervisor.map(|p| format!(" (pid {p})")).unwrap_or_default();
    let running = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    format!("another Clusterbar{by} already supervises {name}{running}; use that one, or stop it first")
}

/// What the status is computed from; instants so uptime and countdowns are fresh when read.
struct Shared {
    state: SupervisedState,
    pid: Option<u32>,
    started_by_us: bool,
    since: Option<Instant>,
    restarts: u32,
    last_exit: Option<String>,
    restart_at: Option<Instant>,
    gave_up_reason: Option<String>,
    last_lines: Vec<String>,
    log_path: std::path::PathBuf,
}

impl Shared {
    fn status(&self) -> SupervisedStatus {
        let now = Instant::now();
        SupervisedStatus {
            state: self.state,
            pid: self.pid,
            started_by_us: self.started_by_us,
            uptime_s: self.since.map(|s| now.saturating_duration_since(s).as_secs()),
            restarts: self.restarts,
            last_exit: self.last_exit.clone(),
            next_restart_in_s: self
                .restart_at
                .map(|at| at.saturating_duration_since(now).as_millis().div_ceil(1000) as u64),
            gave_up_reason: self.gave_up_reason.clone(),
            last_lines: self.last_lines.clone(),
            log_path: self.log_path.clone(),
        }
    }
}

enum Request {
    Start,
    Stop {
        force_adopted: bool,
        reply: mpsc::Sender<Result<StopOutcome, SuperviseError>>,
    },
    RestartWithEnv {
        env: Env,
        reply: mpsc::Sender<Result<(), SuperviseError>>,
    },
    Shutdown,
}

/// Supervises one program; see the module docs. Dropping it stops what it started.
pub struct Supervisor {
    name: String,
    shared: Arc<Mutex<Shared>>,
    requests: mpsc::Sender<Request>,
    changes: watch::Receiver<SupervisedStatus>,
    thread: Option<JoinHandle<()>>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Supervisor {
    /// Takes the supervisor lock (see [`pidfile`]), cleans up a stale child of an earlier run,
    /// then adopts a running copy or starts one. Fails at once, touching nothing, when another
    /// supervisor (this process's or another's) already supervises the same program.
    pub fn start(spec: SupervisorSpec) -> Result<Self, SuperviseError> {
        let held = match pidfile::try_lock(&spec.pid_file) {
            Ok(lock) => Some(lock),
            Err(LockError::Busy { holder, .. }) => {
                let pid = pidfile::read(&spec.pid_file)
                    .ok()
                    .flatten()
                    .filter(PidRecord::still_running)
                    .map(|r| r.pid);
                return Err(SuperviseError::AlreadySupervised {
                    name: spec.name.clone(),
                    supervisor: holder,
                    pid,
                });
            }
            Err(e @ LockError::Unavailable { .. }) => {
                // A file system without flock (some network homes): supervise without the guard.
                tracing::warn!(error = %e, "supervising without the lock");
                None
            }
        };
        let shared = Arc::new(Mutex::new(Shared {
            state: SupervisedState::Starting,
            pid: None,
            started_by_us: false,
            since: None,
            restarts: 0,
            last_exit: None,
            restart_at: None,
            gave_up_reason: None,
            last_lines: Vec::new(),
            log_path: spec.log.path.clone(),
        }));
        let (publish, changes) = watch::channel(lock(&shared).status());
        let (requests, inbox) = mpsc::channel();
        let name = spec.name.clone();
        let monitor = Monitor {
            log: Arc::new(Mutex::new(RotatingLog::open(spec.log.clone()))),
            spec,
            shared: Arc::clone(&shared),
            publish,
            inbox,
            phase: Phase::Idle,
            crashes: VecDeque::new(),
            crashes_in_a_row: 0,
            _lock: held,
        };
        let thread = std::thread::Builder::new()
            .name(format!("supervise-{name}"))
            .spawn(move || monitor.run())
            .map_err(|source| SuperviseError::Thread {
                name: name.clone(),
                source,
            })?;
        Ok(Self {
            name,
            shared,
            requests,
            changes,
            thread: Some(thread),
        })
    }

    /// The current status; never waits for the supervisor thread (a short lock only).
    pub fn status(&self) -> SupervisedStatus {
        lock(&self.shared).status()
    }

    /// A receiver that sees every state change (uptime and countdowns in it are as of the
    /// change; call [`Supervisor::status`] for fresh ones).
    pub fn subscribe(&self) -> watch::Receiver<SupervisedStatus> {
        self.changes.clone()
    }

    fn gone(&self) -> SuperviseError {
        SuperviseError::Gone {
            name: self.name.clone(),
        }
    }

    /// Starts again after a stop or after giving up, with a fresh crash history.
    pub fn start_again(&self) -> Result<(), SuperviseError> {
        self.requests.send(Request::Start).map_err(|_| self.gone())
    }

    /// Stops what we started (SIGINT, SIGTERM, SIGKILL to its group) and waits. An adopted copy
    /// is only stopped when `force_adopted`; otherwise it is left running and no longer restarted.
    pub fn stop(&self, force_adopted: bool) -> Result<StopOutcome, SuperviseError> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .send(Request::Stop { force_adopted, reply })
            .map_err(|_| self.gone())?;
        answer.recv().map_err(|_| self.gone())?
    }

    /// Replaces the extra environment and restarts with it (or starts, after a crash loop).
    /// When stopped, the new environment is kept for the next start.
    pub fn restart_with_env(&self, env: Env) -> Result<(), SuperviseError> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .send(Request::RestartWithEnv { env, reply })
            .map_err(|_| self.gone())?;
        answer.recv().map_err(|_| self.gone())?
    }

    /// Stops what we started (adopted copies keep running) and waits for the thread to end.
    pub fn shutdown(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.requests.send(Request::Shutdown);
            if thread.join().is_err() {
                tracing::error!(name = %self.name, "the supervisor thread panicked");
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.finish();
    }
}

struct RunningChild {
    child: Child,
    pid: u32,
    started: Instant,
    readers_done: mpsc::Receiver<()>,
    readers: usize,
}

enum Phase {
    /// Stopped or gave up (the shared state says which).
    Idle,
    Running(RunningChild),
    BackingOff(Instant),
    /// Watching someone else's copy; `keep` = start ours if it exits.
    Adopted {
        pid: u32,
        keep: bool,
    },
}

struct Monitor {
    spec: SupervisorSpec,
    shared: Arc<Mutex<Shared>>,
    publish: watch::Sender<SupervisedStatus>,
    inbox: mpsc::Receiver<Request>,
    log: Arc<Mutex<RotatingLog>>,
    phase: Phase,
    crashes: VecDeque<Instant>,
    crashes_in_a_row: u32,
    /// Held until the monitor ends, i.e. after what it started has been stopped.
    _lock: Option<SupervisorLock>,
}

/// "exit code 1", "killed by SIGSEGV".
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by {}", signal_name(signal)),
        (None, None) => "ended".to_owned(),
    }
}

pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        other => return format!("signal {other}"),
    };
    name.to_owned()
}

/// Restart delay after `in_a_row` crashes in a row: initial, doubling, capped.
pub fn backoff_delay(timings: &Timings, in_a_row: u32) -> Duration {
    let factor = 2u32.saturating_pow(in_a_row.saturating_sub(1).min(20));
    timings.backoff_initial.saturating_mul(factor).min(timings.backoff_max)
}

fn graces(timings: &Timings) -> StopGraces {
    StopGraces {
        after_interrupt: timings.interrupt_grace,
        after_terminate: timings.terminate_grace,
        after_kill: timings.kill_grace,
    }
}

/// Signal a whole group only when the process leads it; an adopted copy may share its
/// launcher's group (EXO.app's), which is not ours to kill.
fn target_for(pid: u32) -> Target {
    if group::leads_own_group(pid) {
        Target::Group(pid)
    } else {
        Target::Pid(pid)
    }
}

/// A running copy someone else started: a live pid in the adopt rule's pid file, or a process
/// with the program's name. `except` is our own child.
pub fn find_existing(spec: &SupervisorSpec, except: Option<u32>) -> Option<u32> {
    // With a process scope (the test suite), a pid from a pid file or a finder counts only when it
    // is one of the copies inside the scope.
    let scoped: Option<Vec<u32>> = super::process_scope().map(|_| {
        let mut table = ProcessTable::default();
        table.refresh();
        spec.adopt
            .process_name
            .as_deref()
            .and_then(|name| table.pids_of(name).ok())
            .unwrap_or_default()
    });
    let usable = |pid: u32| {
        Some(pid) != except
            && pid != std::process::id()
            && group::process_alive(pid)
            && scoped.as_ref().is_none_or(|pids| pids.contains(&pid))
    };
    if let Some(path) = &spec.adopt.pid_file {
        if let Some(pid) = pidfile::read_foreign_pid(path).filter(|&p| usable(p)) {
            return Some(pid);
        }
    }
    if let Some(pid) = spec.adopt.finder.as_ref().and_then(|f| f.find()).filter(|&p| usable(p)) {
        return Some(pid);
    }
    let name = spec.adopt.process_name.as_deref()?;
    let mut table = ProcessTable::default();
    table.refresh();
    match table.pids_of(name) {
        Ok(pids) => pids.into_iter().find(|&p| usable(p)),
        Err(e) => {
            tracing::warn!(name, error = %e, "cannot look for a running copy");
            None
        }
    }
}

fn timestamp() -> String {
    chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn spawn_reader(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<RotatingLog>>,
    echo: bool,
    done: mpsc::Sender<()>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("supervise-output".into())
        .spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = line.strip_suffix(b"\n").unwrap_or(&line);
                        let text = text.strip_suffix(b"\r").unwrap_or(text);
                        if echo {
                            // To a terminal: exo's output quotes names and ids from other machines.
                            eprintln!("{}", crate::format::printable(&String::from_utf8_lossy(text)));
                        }
                        log.lock().unwrap_or_else(|p| p.into_inner()).write_line(text);
                    }
                }
            }
            let _ = done.send(());
        })?;
    Ok(())
}

impl Monitor {
    fn note(&self, message: &str) {
        tracing::info!(name = %self.spec.name, "{message}");
        let line = format!("[clusterbar {}] {message}", timestamp());
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_line(line.as_bytes());
        if self.spec.echo_output {
            eprintln!("{}", crate::format::printable(&line));
        }
    }

    fn update(&self, change: impl FnOnce(&mut Shared)) {
        let status = {
            let mut shared = lock(&self.shared);
            change(&mut shared);
            shared.status()
        };
        self.publish.send_replace(status);
    }

    fn run(mut self) {
        self.clean_up_stale_child();
        self.begin();
        loop {
            let wait = match &self.phase {
                Phase::Running(_) => self.spec.timings.poll,
                Phase::BackingOff(at) => at.saturating_duration_since(Instant::now()).min(self.spec.timings.poll),
                Phase::Adopted { .. } => self.spec.timings.adopted_poll,
                Phase::Idle => Duration::from_secs(3600),
            };
            match self.inbox.recv_timeout(wait) {
                Ok(Request::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.stop(false);
                    return;
                }
                Ok(Request::Start) => {
                    if matches!(self.phase, Phase::Idle | Phase::BackingOff(_)) {
                        self.forget_crashes();
                        self.begin();
                    }
                }
                Ok(Request::Stop { force_adopted, reply }) => {
                    let _ = reply.send(self.stop(force_adopted));
                }
                Ok(Request::RestartWithEnv { env, reply }) => {
                    let _ = reply.send(self.restart_with_env(env));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.tick(),
            }
        }
    }

    fn forget_crashes(&mut self) {
        self.crashes.clear();
        self.crashes_in_a_row = 0;
        self.update(|s| {
            s.restarts = 0;
            s.gave_up_reason = None;
            s.last_lines.clear();
        });
    }

    /// Whatever an earlier run left behind is stopped: we hold the lock, so whoever wrote the
    /// record is gone (crashed or killed), whatever its pid means now. A recorded child that
    /// still runs is stopped with its group; one that died (Linux's PDEATHSIG) but left its own
    /// children in its process group (reparented to init) has that group stopped. A recycled pid
    /// (another start time) is never signalled.
    fn clean_up_stale_child(&mut self) {
        let record = match pidfile::read(&self.spec.pid_file) {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                self.note(&format!("ignoring an unreadable pid file: {e}"));
                pidfile::remove(&self.spec.pid_file);
                return;
            }
        };
        let mut graces = graces(&self.spec.timings);
        let (target, what) = if record.still_running() {
            (
                target_for(record.pid),
                format!("{} (pid {}) left behind by an earlier run", self.spec.name, record.pid),
            )
        } else if let Some(pgid) = record
            .pgid
            // The leader's pid is the group's id; while it is free, no one else can lead that group.
            .filter(|&g| g == record.pid && !group::process_alive(g) && group::group_alive(g))
        {
            // Orphans have no parent to shut down gracefully for: SIGTERM, then SIGKILL.
            graces.after_interrupt = Duration::ZERO;
            (
                Target::Group(pgid),
                format!(
                    "the processes {} (pid {}) left behind in its process group",
                    self.spec.name, record.pid
                ),
            )
        } else {
            tracing::debug!(pid = record.pid, "the recorded child is gone");
            pidfile::remove(&self.spec.pid_file);
            return;
        };
        self.note(&format!("stopping {what}"));
        match group::terminate(target, None, graces) {
            Ok(signal) => {
                tracing::info!(pid = record.pid, ?signal, "stale child stopped");
                pidfile::remove(&self.spec.pid_file);
            }
            Err(e) => self.note(&format!("could not stop the stale child: {e}")),
        }
    }

    /// Adopt a running copy, or start ours.
    fn begin(&mut self) {
        if let Some(pid) = find_existing(&self.spec, None) {
            self.note(&format!(
                "{} is already running (pid {pid}); watching it",
                self.spec.name
            ));
            self.phase = Phase::Adopted { pid, keep: true };
            let since = pidfile::identity(pid).map(|(start, _)| {
                let age = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|now| now.as_secs().saturating_sub(start))
                    .unwrap_or(0);
                Instant::now()
                    .checked_sub(Duration::from_secs(age))
                    .unwrap_or_else(Instant::now)
            });
            self.update(|s| {
                s.state = SupervisedState::Adopted;
                s.pid = Some(pid);
                s.started_by_us = false;
                s.since = since;
                s.restart_at = None;
            });
            return;
        }
        self.spawn();
    }

    fn spawn(&mut self) {
        self.update(|s| {
            s.state = SupervisedState::Starting;
            s.pid = None;
            s.started_by_us = true;
            s.since = None;
            s.restart_at = None;
        });
        match self.spawn_child() {
            Ok(running) => {
                let pid = running.pid;
                let keys: Vec<&str> = self.spec.env.keys().map(String::as_str).collect();
                self.note(&format!(
                    "started {} (pid {pid}) with extra environment {keys:?}",
                    self.spec.program.display()
                ));
                match PidRecord::of_running(pid) {
                    Some(record) => {
                        if let Err(e) = pidfile::write(&self.spec.pid_file, &record) {
                            self.note(&format!("{e}; a crash of Clusterbar could leave it running"));
                        }
                    }
                    None => tracing::debug!(pid, "exited before it could be recorded"),
                }
                self.phase = Phase::Running(running);
                self.update(|s| {
                    s.state = SupervisedState::Running;
                    s.pid = Some(pid);
                    s.since = Some(Instant::now());
                });
            }
            Err(e) => {
                let what = format!("could not start: {e}");
                self.note(&format!("{} {what}", self.spec.program.display()));
                self.crashed(what, Duration::ZERO);
            }
        }
    }

    fn spawn_child(&self) -> std::io::Result<RunningChild> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&self.spec.program);
        command
            .args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a stop reaches everything it started and nothing of ours.
            .process_group(0);
        #[cfg(target_os = "linux")]
        {
            let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
            // SAFETY: the closure only makes async-signal-safe syscalls (prctl, getppid).
            unsafe {
                command.pre_exec(move || {
                    // Dies with the thread that forked it (this monitor thread lives as long as
                    // the Supervisor) — and so with us.
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // We died between fork and prctl: nobody would signal it.
                    if libc::getppid() != parent {
                        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                    }
                    Ok(())
                });
            }
        }
        for name in &self.spec.env_remove {
            command.env_remove(name);
        }
        let mut child = command.spawn()?;
        let pid = child.id();
        let (done, readers_done) = mpsc::channel();
        let mut readers = 0;
        if let Some(out) = child.stdout.take() {
            spawn_reader(out, Arc::clone(&self.log), self.spec.echo_output, done.clone())?;
            readers += 1;
        }
        if let Some(err) = child.stderr.take() {
            spawn_reader(err, Arc::clone(&self.log), self.spec.echo_output, done)?;
            readers += 1;
        }
        Ok(RunningChild {
            child,
            pid,
            started: Instant::now(),
            readers_done,
            readers,
        })
    }

    /// Lets the output threads write the last lines (a grandchild holding the pipe open is not
    /// waited for long).
    fn drain_output(running: &RunningChild) {
        let deadline = Instant::now() + Duration::from_millis(500);
        for _ in 0..running.readers {
            if running
                .readers_done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_err()
            {
                break;
            }
        }
    }

    fn tick(&mut self) {
        match &mut self.phase {
            Phase::Running(running) => match running.child.try_wait() {
                Ok(Some(status)) => {
                    let ran_for = running.started.elapsed();
                    let pid = running.pid;
                    Self::drain_output(running);
                    // Whatever it left in its group dies with it.
                    let _ = group::terminate(Target::Group(pid), None, graces(&self.spec.timings));
                    pidfile::remove(&self.spec.pid_file);
                    self.phase = Phase::Idle;
                    let what = describe_exit(status);
                    self.note(&format!("{} (pid {pid}) exited: {what}", self.spec.name));
                    self.crashed(what, ran_for);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot check the child"),
            },
            Phase::BackingOff(at) => {
                if Instant::now() >= *at {
                    self.update(|s| s.restarts += 1);
                    self.begin();
                }
            }
            Phase::Adopted { pid, keep } => {
                let (pid, keep) = (*pid, *keep);
                if !group::process_alive(pid) {
                    self.note(&format!(
                        "{} (pid {pid}), which we did not start, has exited",
                        self.spec.name
                    ));
                    if keep {
                        self.begin();
                    } else {
                        self.phase = Phase::Idle;
                        self.update(|s| {
                            s.state = SupervisedState::Stopped;
                            s.pid = None;
                            s.since = None;
                        });
                    }
                }
            }
            Phase::Idle => {}
        }
    }

    fn crashed(&mut self, what: String, ran_for: Duration) {
        let timings = self.spec.timings.clone();
        let now = Instant::now();
        if ran_for >= timings.stable_after {
            self.crashes_in_a_row = 0;
        }
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) > timings.crash_window)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() as u32 >= timings.max_crashes.max(1) {
            let last_lines = logfile::tail(&self.spec.log, LAST_LINES);
            let last_output = last_lines
                .iter()
                .rev()
                .find(|l| !l.starts_with("[clusterbar "))
                .map(|l| format!("; last output: {l}"))
                .unwrap_or_default();
            let reason = format!(
                "{} exited {} times within {} s (last: {what}){last_output}",
                self.spec.name,
                self.crashes.len(),
                timings.crash_window.as_secs()
            );
            self.note(&format!("giving up: {reason}"));
            // For `clusterbar exo status` in another process, also after this one has exited.
            let record = PidRecord::gave_up(GaveUpRecord {
                reason: reason.clone(),
                last_exit: Some(what.clone()),
                last_lines: last_lines.clone(),
            });
            if let Err(e) = pidfile::write(&self.spec.pid_file, &record) {
                tracing::warn!(error = %e, "cannot record why the supervisor gave up");
            }
            self.phase = Phase::Idle;
            self.update(|s| {
                s.state = SupervisedState::GaveUp;
                s.pid = None;
                s.since = None;
                s.last_exit = Some(what);
                s.restart_at = None;
                s.gave_up_reason = Some(reason);
                s.last_lines = last_lines;
            });
            return;
        }
        self.crashes_in_a_row += 1;
        let delay = backoff_delay(&timings, self.crashes_in_a_row);
        self.note(&format!("restarting in {:.1} s", delay.as_secs_f64()));
        let at = now + delay;
        self.phase = Phase::BackingOff(at);
        self.update(|s| {
            s.state = SupervisedState::BackingOff;
            s.pid = None;
            s.since = None;
            s.last_exit = Some(what);
            s.restart_at = Some(at);
        });
    }

    fn stop_child(&mut self, mut running: RunningChild) -> Result<StopOutcome, SuperviseError> {
        let pid = running.pid;
        self.update(|s| s.state = SupervisedState::Stopping);
        self.note(&format!("stopping {} (pid {pid})", self.spec.name));
        let result = group::terminate(Target::Group(pid), Some(&mut running.child), graces(&self.spec.timings));
        Self::drain_output(&running);
        let exit = running.child.try_wait().ok().flatten().map(describe_exit);
        match result {
            Ok(signal) => {
                pidfile::remove(&self.spec.pid_file);
                let how = exit.clone().unwrap_or_else(|| "ended".into());
                self.note(&format!("{} (pid {pid}) stopped ({how})", self.spec.name));
                self.update(|s| {
                    s.state = SupervisedState::Stopped;
                    s.pid = None;
                    s.since = None;
                    s.last_exit = exit;
                });
                Ok(StopOutcome::Stopped { pid, signal })
            }
            Err(reason) => {
                self.note(&format!("could not stop {} (pid {pid}): {reason}", self.spec.name));
                self.phase = Phase::Running(running);
                self.update(|s| s.state = SupervisedState::Running);
                Err(SuperviseError::Stop {
                    name: self.spec.name.clone(),
                    reason,
                })
            }
        }
    }

    fn stop(&mut self, force_adopted: bool) -> Result<StopOutcome, SuperviseError> {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Running(running) => self.stop_child(running),
            Phase::Adopted { pid, .. } if !force_adopted => {
                self.note(&format!(
                    "leaving {} (pid {pid}) running: Clusterbar did not start it",
                    self.spec.name
                ));
                self.phase = Phase::Adopted { pid, keep: false };
                Ok(StopOutcome::LeftAdoptedRunning { pid })
            }
            Phase::Adopted { pid, .. } => {
                self.update(|s| s.state = SupervisedState::Stopping);
                self.note(&format!(
                    "stopping {} (pid {pid}), which we did not start, as asked",
                    self.spec.name
                ));
                match group::terminate(target_for(pid), None, graces(&self.spec.timings)) {
                    Ok(signal) => {
                        self.update(|s| {
                            s.state = SupervisedState::Stopped;
                            s.pid = None;
                            s.since = None;
                        });
                        Ok(StopOutcome::Stopped { pid, signal })
                    }
                    Err(reason) => {
                        self.phase = Phase::Adopted { pid, keep: false };
                        self.update(|s| s.state = SupervisedState::Adopted);
                        Err(SuperviseError::Stop {
                            name: self.spec.name.clone(),
                            reason,
                        })
                    }
                }
            }
            Phase::BackingOff(_) | Phase::Idle => {
                self.update(|s| {
                    if s.state != SupervisedState::GaveUp {
                        s.state = SupervisedState::Stopped;
                    }
                    s.restart_at = None;
                });
                Ok(StopOutcome::NotRunning)
            }
        }
    }

    fn restart_with_env(&mut self, env: Env) -> Result<(), SuperviseError> {
        if let Phase::Adopted { pid, .. } = self.phase {
            return Err(SuperviseError::Adopted {
                name: self.spec.name.clone(),
                pid,
            });
        }
        self.spec.env = env;
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Running(running) => {
                self.stop_child(running)?;
                self.note("restarting with a new environment");
                self.crashes_in_a_row = 0;
                self.spawn();
            }
            Phase::BackingOff(_) => {
                self.crashes_in_a_row = 0;
                self.spawn();
            }
            Phase::Idle => {
                if lock(&self.shared).state == SupervisedState::GaveUp {
                    self.forget_crashes();
                    self.begin();
                }
            }
            adopted @ Phase::Adopted { .. } => self.phase = adopted,
        }
        Ok(())
    }
}

/// What `clusterbar exo status` shows from another process: our pid file and the adopt rule.
pub fn inspect(spec: &SupervisorSpec) -> SupervisedStatus {
    let mut status = SupervisedStatus {
        state: SupervisedState::Stopped,
        pid: None,
        started_by_us: false,
        uptime_s: None,
        restarts: 0,
        last_exit: None,
        next_restart_in_s: None,
        gave_up_reason: None,
        last_lines: Vec::new(),
        log_path: spec.log.path.clone(),
    };
    let uptime = |start: u64| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|now| now.as_secs().saturating_sub(start))
    };
    let record = pidfile::read(&spec.pid_file).ok().flatten();
    let gave_up = record.as_ref().and_then(|r| r.gave_up.clone());
    let ours = record.filter(PidRecord::still_running);
    if let Some(record) = ours {
        status.state = SupervisedState::Running;
        status.pid = Some(record.pid);
        status.started_by_us = true;
        status.uptime_s = uptime(record.start_time_unix_s);
    } else if let Some(pid) = find_existing(spec, None) {
        status.state = SupervisedState::Adopted;
        status.pid = Some(pid);
        status.uptime_s = pidfile::identity(pid).and_then(|(start, _)| uptime(start));
    } else if let Some(gave_up) = gave_up {
        status.state = SupervisedState::GaveUp;
        status.started_by_us = true;
        status.gave_up_reason = Some(gave_up.reason);
        status.last_exit = gave_up.last_exit;
        status.last_lines = gave_up.last_lines;
    }
    status
}

/// `clusterbar exo stop` from another process: stops the copy our pid file records — asking a
/// live `clusterbar exo run` to stop it (so it is not restarted), else signalling it directly —
/// and, with `force_adopted`, a copy someone else started.
pub fn stop_recorded(spec: &SupervisorSpec, force_adopted: bool) -> Result<StopOutcome, SuperviseError> {
    let graces = graces(&spec.timings);
    let stop_error = |reason| SuperviseError::Stop {
        name: spec.name.clone(),
        reason,
    };
    if let Some(record) = pidfile::read(&spec.pid_file)?.filter(PidRecord::still_running) {
        let supervisor = record.supervisor_pid;
        if supervisor != std::process::id() && is_cli_supervisor(supervisor) {
            // SAFETY: plain syscall; SIGTERM makes `clusterbar exo run` stop its child and exit.
            unsafe {
                libc::kill(supervisor as libc::pid_t, libc::SIGTERM);
            }
            let patience = graces.after_interrupt + graces.after_terminate + graces.after_kill + Duration::from_secs(2);
            let deadline = Instant::now() + patience;
            while record.still_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let signal = group::terminate(Target::Group(record.pid), None, graces).map_err(stop_error)?;
        pidfile::remove(&spec.pid_file);
        return Ok(StopOutcome::Stopped {
            pid: record.pid,
            signal,
        });
    }
    match find_existing(spec, None) {
        Some(pid) if force_adopted => {
            let signal = group::terminate(target_for(pid), None, graces).map_err(stop_error)?;
            Ok(StopOutcome::Stopped { pid, signal })
        }
        Some(pid) => Ok(StopOutcome::LeftAdoptedRunning { pid }),
        None => Ok(StopOutcome::NotRunning),
    }
}

/// Whether `pid` is a `clusterbar` CLI (whose SIGTERM handling stops its child cleanly); the
/// menu-bar app is not sent signals.
fn is_cli_supervisor(pid: u32) -> bool {
    let mut table = ProcessTable::default();
    table.refresh();
    table
        .pids_of_anywhere("clusterbar")
        .map(|p| p.contains(&pid))
        .unwrap_or(false)
}

/// The log's last `n` lines (for `clusterbar exo logs`).
pub fn tail_log(spec: &SupervisorSpec, n: usize) -> Vec<String> {
    logfile::tail(&spec.log, n)
}

/// Why [`Supervisor::wait_in_foreground`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForegroundEnd {
    /// Ctrl-C, SIGTERM or SIGHUP arrived (its name).
    Signal(&'static str),
    /// The supervisor gave up (the reason).
    GaveUp(String),
}

impl Supervisor {
    /// Blocks until Ctrl-C, SIGTERM or SIGHUP arrives or the supervisor gives up — what
    /// `clusterbar exo run` waits for before a clean stop.
    pub fn wait_in_foreground(&self) -> std::io::Result<ForegroundEnd> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut changes = self.subscribe();
        runtime.block_on(async {
            let mut term = signal(SignalKind::terminate())?;
            let mut hup = signal(SignalKind::hangup())?;
            let mut int = signal(SignalKind::interrupt())?;
            let gave_up = async {
                loop {
                    if let Some(reason) = {
                        let status = changes.borrow_and_update();
                        (status.state == SupervisedState::GaveUp)
                            .then(|| status.gave_up_reason.clone().unwrap_or_default())
                    } {
                        return reason;
                    }
                    if changes.changed().await.is_err() {
                        // The supervisor ended; only a signal can end the wait now.
                        std::future::pending::<()>().await;
                    }
                }
            };
            Ok(tokio::select! {
                _ = int.recv() => ForegroundEnd::Signal("SIGINT"),
                _ = term.recv() => ForegroundEnd::Signal("SIGTERM"),
                _ = hup.recv() => ForegroundEnd::Signal("SIGHUP"),
                reason = gave_up => ForegroundEnd::GaveUp(reason),
            })
        })
    }
}

#[allow(dead_code)]
fn _assert_sync() {
    fn is_sync<T: Sync + Send>() {}
    is_sync::<Supervisor>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let t = Timings::default();
        let secs: Vec<u64> = (1..=9).map(|n| backoff_delay(&t, n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff_delay(&t, 0).as_secs(), 1);
        assert_eq!(backoff_delay(&t, u32::MAX).as_secs(), 60);
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(64), "signal 64");
    }

    #[test]
    fn status_serializes_snake_case() {
        let status = SupervisedStatus {
            state: SupervisedState::BackingOff,
            pid: None,
            started_by_us: true,
            uptime_s: None,
            restarts: 2,
            last_exit: Some("exit code 1".into()),
            next_restart_in_s: Some(4),
            gave_up_reason: None,
            last_lines: Vec::new(),
            log_path: "/tmp/exo.log".into(),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "backing_off");
        assert_eq!(json["next_restart_in_s"], 4);
        assert_eq!(json["started_by_us"], true);
    }
}
