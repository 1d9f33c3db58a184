//! Batching in front of the database, and the thread that runs it off the sampler's and the
//! meter's paths.

use super::{History, HistoryError, Problem, Sample, RAW};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A flush at least this often (seconds of sample time)…
pub const FLUSH_EVERY_S: u64 = 60;
/// …or once this many samples wait.
pub const FLUSH_AFTER: usize = 32;
/// Samples queued for the thread; past this they are dropped rather than block the sender.
const QUEUE: usize = 256;

/// Keeps one sample per raw step and writes them in batches.
pub struct Recorder {
    history: History,
    pending: Vec<Sample>,
    last_bucket: Option<u64>,
    last_flush_s: Option<u64>,
}

impl Recorder {
    pub fn new(history: History) -> Self {
        Recorder {
            history,
            pending: Vec::new(),
            last_bucket: None,
            last_flush_s: None,
        }
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Takes a sample (the first of each 10 s step; the sampler runs every second while the
    /// popover is open) and flushes when a batch is due.
    pub fn record(&mut self, sample: Sample) -> Result<(), HistoryError> {
        let now = sample.at_unix_s;
        let bucket = now / RAW.step_s;
        // Only the same step is skipped: after the wall clock is set back, recording goes on
        // (the rows of that step are replaced) rather than stopping until it catches up.
        if self.last_bucket == Some(bucket) {
            return Ok(());
        }
        self.last_bucket = Some(bucket);
        self.pending.push(sample);
        let since = *self.last_flush_s.get_or_insert(now);
        if self.pending.len() >= FLUSH_AFTER || now.abs_diff(since) >= FLUSH_EVERY_S {
            self.flush(now)?;
        }
        Ok(())
    }

    /// Writes what waits (one transaction), downsamples and prunes as of `now_unix_s`.
    pub fn flush(&mut self, now_unix_s: u64) -> Result<(), HistoryError> {
        // Even with nothing new, the flush downsamples and prunes (old rows age out while idle).
        self.last_flush_s = Some(now_unix_s);
        let batch = std::mem::take(&mut self.pending);
        self.history.write_batch(&batch, now_unix_s)
    }
}

/// The recording thread's handle: [`RecorderHandle::send`] never blocks.
pub struct RecorderHandle {
    tx: Option<SyncSender<Sample>>,
    thread: Option<JoinHandle<()>>,
}

impl RecorderHandle {
    /// Queues a sample; a full queue (the disk stalls) drops it rather than delay the caller.
    pub fn send(&self, sample: Sample) {
        if let Some(tx) = &self.tx {
            match tx.try_send(sample) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => tracing::debug!("history queue full: a sample dropped"),
            }
        }
    }

    /// Flushes what waits and ends the thread.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RecorderHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens the database at `path` and records on a thread of its own. The problem (a file set
/// aside) is for the caller to show; an error means no history this run, nothing worse.
pub fn spawn_recorder(path: &Path) -> Result<(RecorderHandle, Option<Problem>), HistoryError> {
    let (history, problem) = History::open(path)?;
    let (tx, rx) = mpsc::sync_channel::<Sample>(QUEUE);
    let mut recorder = Recorder::new(history);
    let thread = std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            let now = || crate::clock::now_unix_ms() / 1000;
            loop {
                let result = match rx.recv_timeout(Duration::from_secs(FLUSH_EVERY_S)) {
                    Ok(sample) => recorder.record(sample),
                    Err(RecvTimeoutError::Timeout) => recorder.flush(now()),
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "history: a batch was not written");
                }
            }
            if let Err(e) = recorder.flush(now()) {
                tracing::warn!(error = %e, "history: the last batch was not written");
            }
        })
        .map_err(HistoryError::Thread)?;
    Ok((
        RecorderHandle {
            tx: Some(tx),
            thread: Some(thread),
        },
        problem,
    ))
}
