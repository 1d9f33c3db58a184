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

/// What the recording thread is told.
enum Message {
    Record(Sample),
    /// Flush and end, whatever senders are still out.
    Stop,
}

/// A cheap, cloneable way to hand samples to the recording thread (a task of the app holds
/// one); it never blocks and never keeps the thread alive past [`RecorderHandle::close`].
#[derive(Clone)]
pub struct RecorderSender {
    tx: SyncSender<Message>,
}

impl RecorderSender {
    /// Queues a sample; a full queue (the disk stalls) drops it rather than delay the caller.
    pub fn send(&self, sample: Sample) {
        match self.tx.try_send(Message::Record(sample)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => tracing::debug!("history queue full: a sample dropped"),
        }
    }
}

/// The recording thread's handle: [`RecorderHandle::send`] never blocks.
pub struct RecorderHandle {
    sender: Option<RecorderSender>,
    thread: Option<JoinHandle<()>>,
}

impl RecorderHandle {
    /// Queues a sample; a full queue (the disk stalls) drops it rather than delay the caller.
    pub fn send(&self, sample: Sample) {
        if let Some(sender) = &self.sender {
            sender.send(sample);
        }
    }

    /// Another way in for a task of its own.
    pub fn sender(&self) -> Option<RecorderSender> {
        self.sender.clone()
    }

    /// Flushes what waits and ends the thread.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(sender) = self.sender.take() {
            // Blocking: Stop must not be dropped behind a full queue.
            let _ = sender.tx.send(Message::Stop);
        }
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
    let (tx, rx) = mpsc::sync_channel::<Message>(QUEUE);
    let mut recorder = Recorder::new(history);
    let thread = std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            let now = || crate::clock::now_unix_ms() / 1000;
            loop {
                let result = match rx.recv_timeout(Duration::from_secs(FLUSH_EVERY_S)) {
                    Ok(Message::Record(sample)) => recorder.record(sample),
                    Err(RecvTimeoutError::Timeout) => recorder.flush(now()),
                    Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
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
            sender: Some(RecorderSender { tx }),
            thread: Some(thread),
        },
        problem,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_flushes_and_returns_while_other_senders_are_still_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(super::super::FILE_NAME);
        let (handle, problem) = spawn_recorder(&path).expect("starts");
        assert!(problem.is_none());
        let kept = handle.sender().expect("a sender");
        // Now: the flush prunes what is older than 90 days.
        let at = crate::clock::now_unix_ms() / 1000;
        kept.send(Sample {
            at_unix_s: at,
            ..Sample::default()
        });
        // Without the Stop message this would wait for `kept` forever.
        handle.close();
        let db = History::open_read_only(&path).expect("readable");
        assert_eq!(db.newest_unix_s().expect("newest"), Some(at));
        kept.send(Sample::default());
    }
}
