//! Samples the machine on its own thread and publishes each [`Snapshot`] on a watch channel.
//!
//! Cadence follows what the user can see: every second while the popover is open, every
//! [`IDLE_INTERVAL`] while it is closed, so the menu-bar app costs almost nothing at rest.
//! Opening the popover triggers a sample at once.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

use crate::porten::AgentController;
use crate::settings::Settings;
use crate::snapshot::{Collector, Snapshot};
use crate::supervise::Supervisor;
use crate::warnings::Warning;

pub const VISIBLE_INTERVAL: Duration = Duration::from_secs(1);
pub const IDLE_INTERVAL: Duration = Duration::from_secs(10);

enum Command {
    Visible(bool),
    SampleNow,
}

pub struct Sampler {
    commands: mpsc::Sender<Command>,
    exo_supervisor: Arc<Mutex<Option<Supervisor>>>,
    porten_agent: Arc<Mutex<Option<AgentController>>>,
    snapshots: watch::Receiver<Snapshot>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Takes the first sample before returning, so views never start empty.
    pub fn start(settings: Arc<RwLock<Settings>>, standing_warnings: Vec<Warning>) -> std::io::Result<Self> {
        Self::start_with(Collector::default(), settings, standing_warnings)
    }

    /// Starts with a prepared collector (e.g. one that asks exo at another URL).
    pub fn start_with(
        mut collector: Collector,
        settings: Arc<RwLock<Settings>>,
        standing_warnings: Vec<Warning>,
    ) -> std::io::Result<Self> {
        let exo_supervisor = collector.exo_supervisor.clone();
        let porten_agent = collector.porten_agent.clone();
        let first = collector.collect(&read(&settings), &standing_warnings);
        let (publish, snapshots) = watch::channel(first);
        let (commands, inbox) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("clusterbar-sampler".into())
            .spawn(move || {
                let mut visible = false;
                loop {
                    let interval = if visible { VISIBLE_INTERVAL } else { IDLE_INTERVAL };
                    match inbox.recv_timeout(interval) {
                        Ok(Command::Visible(now_visible)) => {
                            let opened = now_visible && !visible;
                            visible = now_visible;
                            if !opened {
                                continue;
                            }
                        }
                        Ok(Command::SampleNow) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    let snapshot = collector.collect(&read(&settings), &standing_warnings);
                    if publish.send(snapshot).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            exo_supervisor,
            porten_agent,
            commands,
            snapshots,
            thread: Some(thread),
        })
    }

    /// Tells the sampler whether anyone is looking (the popover is open).
    pub fn set_visible(&self, visible: bool) {
        let _ = self.commands.send(Command::Visible(visible));
    }

    /// Samples at once, e.g. after a setting changed.
    pub fn sample_now(&self) {
        let _ = self.commands.send(Command::SampleNow);
    }

    /// The slot for exo's supervisor: whoever starts exo puts it here, and every sample
    /// reports its state.
    pub fn exo_supervisor(&self) -> Arc<Mutex<Option<Supervisor>>> {
        self.exo_supervisor.clone()
    }

    /// The slot for the Porten agent's controller (set when the user enrolls).
    pub fn porten_agent(&self) -> Arc<Mutex<Option<AgentController>>> {
        self.porten_agent.clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.clone()
    }

    pub fn latest(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Closing the command channel ends the thread's wait at once.
        let (dead, _) = mpsc::channel();
        self.commands = dead;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read(settings: &RwLock<Settings>) -> Settings {
    settings
        .read()
        .map(|s| s.clone())
        .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_a_first_sample_and_more_on_demand() {
        let sampler = Sampler::start(Arc::new(RwLock::new(Settings::default())), Vec::new()).unwrap();
        let first = sampler.latest();
        assert_eq!(first.schema, crate::SNAPSHOT_SCHEMA);
        let mut rx = sampler.subscribe();
        rx.mark_unchanged();
        sampler.sample_now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), rx.changed()).await })
            .expect("a new sample within 5 s")
            .unwrap();
        assert!(rx.borrow().taken_at_unix_ms >= first.taken_at_unix_ms);
        drop(sampler); // must not hang
    }

    #[test]
    fn standing_warnings_ride_on_every_sample() {
        let warning = Warning::new("settings_reset", crate::warnings::Severity::Warning, "x", "y");
        let sampler = Sampler::start(Arc::new(RwLock::new(Settings::default())), vec![warning.clone()]).unwrap();
        assert!(sampler.latest().warnings.contains(&warning));
    }
}
