//! Samples the machine on its own thread and publishes each [`Snapshot`] on a watch channel.
//!
//! Cadence follows what the user can see: every second while the popover is open, every
//! [`IDLE_INTERVAL`] while it is closed, so the menu-bar app costs almost nothing at rest.
//! Opening the popover triggers a sample at once.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

use crate::runtime::HeadNode;
use crate::settings::Settings;
use crate::snapshot::{Collector, Snapshot};
use crate::warnings::Warning;

pub const VISIBLE_INTERVAL: Duration = Duration::from_secs(1);
pub const IDLE_INTERVAL: Duration = Duration::from_secs(10);

enum Command {
    Visible(bool),
    SampleNow,
}

pub struct Sampler {
    commands: mpsc::Sender<Command>,
    snapshots: watch::Receiver<Snapshot>,
    threads: Vec<JoinHandle<()>>,
}

impl Sampler {
    /// Takes the first sample before returning, so views never start empty. Settings arrive on
    /// a watch channel: a change applies from the next sample on.
    pub fn start(settings: watch::Receiver<Settings>, standing_warnings: Vec<Warning>) -> std::io::Result<Self> {
        Self::start_with(Collector::default(), settings, standing_warnings, None)
    }

    /// Starts with a prepared collector (e.g. one that asks exo at another URL) and, on the head
    /// node, the runtime: it steps on every new sample on a thread of its own, and each sample
    /// carries what it last reported.
    pub fn start_with(
        mut collector: Collector,
        settings: watch::Receiver<Settings>,
        standing_warnings: Vec<Warning>,
        head: Option<Arc<HeadNode>>,
    ) -> std::io::Result<Self> {
        let sample = {
            let head = head.clone();
            move |collector: &mut Collector| {
                let report = head.as_ref().map(|h| h.report());
                let settings = settings.borrow().clone();
                collector.collect(&settings, &standing_warnings, report.as_ref())
            }
        };
        let first = sample(&mut collector);
        let (publish, snapshots) = watch::channel(first);
        let (commands, inbox) = mpsc::channel();
        let mut threads = vec![std::thread::Builder::new()
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
                    if publish.send(sample(&mut collector)).is_err() {
                        break;
                    }
                }
            })?];
        if let Some(head) = head {
            threads.push(spawn_stepper(head, snapshots.clone())?);
        }
        Ok(Self {
            commands,
            snapshots,
            threads,
        })
    }

    /// Tells the sampler whether anyone is looking (the popover is open; `clusterbar serve`
    /// keeps it on to follow the cluster every second).
    pub fn set_visible(&self, visible: bool) {
        let _ = self.commands.send(Command::Visible(visible));
    }

    /// Samples at once, e.g. after a setting changed.
    pub fn sample_now(&self) {
        let _ = self.commands.send(Command::SampleNow);
    }

    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.clone()
    }

    pub fn latest(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }
}

/// The runtime's thread: one step per new sample, the latest only (a step that took long
/// skips the samples taken meanwhile). Ends when the sampler does.
fn spawn_stepper(head: Arc<HeadNode>, mut snapshots: watch::Receiver<Snapshot>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("clusterbar-runtime".into())
        .spawn(move || {
            let waiter = match tokio::runtime::Builder::new_current_thread().build() {
                Ok(waiter) => waiter,
                Err(error) => {
                    tracing::error!(%error, "the runtime's thread cannot wait for samples: nothing is kept in step");
                    return;
                }
            };
            loop {
                let snapshot = snapshots.borrow_and_update().clone();
                head.step(&snapshot);
                if waiter.block_on(snapshots.changed()).is_err() {
                    break;
                }
            }
        })
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Closing the command channel ends the sampler's wait at once; its end closes the
        // snapshot channel, which ends the runtime's thread after its current step.
        let (dead, _) = mpsc::channel();
        self.commands = dead;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_a_first_sample_and_more_on_demand() {
        let sampler = Sampler::start(watch::channel(Settings::default()).1, Vec::new()).unwrap();
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
        let warning = Warning::new(
            clusterbar_model::WarningCode::SettingsReset,
            crate::warnings::Severity::Warning,
            "x",
            "y",
        );
        let sampler = Sampler::start(watch::channel(Settings::default()).1, vec![warning.clone()]).unwrap();
        assert!(sampler.latest().warnings.contains(&warning));
    }
}
