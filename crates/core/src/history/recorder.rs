//! Batching in front of the database, and the thread that runs it off the sampler's and the
//! meter's paths.

use super::{History, HistoryError, Problem, Sample, RAW};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A flush at least this often (seconds of sample time)…
pub const FLUSH_EVERY_S: u64 = 60;
/// …or once this many samples wait.
pub const FLUSH_AFTER: usize = 32;
/// Samples queued for the thread; past this they are dropped rather than block the sender.
const QUEUE: usize = 256;
/// Samples kept for the next flush while writes fail (an hour of raw steps, ~1 MB for 6 boxes):
/// a locked or full disk often clears, and what waited is written then.
pub const KEEP_UNWRITTEN: usize = 360;

/// What the recording met, for the caller to show — the app as a `history_unavailable` warning,
/// `serve` and `meter` on stderr: writes that fail, and samples lost (a full queue, or more
/// unwritten than [`KEEP_UNWRITTEN`]). A successful write clears it.
#[derive(Debug, Clone, Default)]
pub struct RecorderHealth(Arc<Mutex<HealthState>>);

#[derive(Debug, Default)]
struct HealthState {
    failing: Option<String>,
    /// Samples lost since the last successful write.
    lost: u64,
}

impl RecorderHealth {
    /// Why the history is not being written now, if it is not.
    pub fn problem(&self) -> Option<String> {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let lost = match state.lost {
            0 => None,
            1 => Some("1 sample lost".to_owned()),
            n => Some(format!("{n} samples lost")),
        };
        match (&state.failing, lost) {
            (Some(error), None) => Some(format!("History is not being written: {error}")),
            (Some(error), Some(lost)) => Some(format!("History is not being written: {error} ({lost})")),
            (None, Some(lost)) => Some(format!(
                "History is falling behind: {lost}; the database is slow to write"
            )),
            (None, None) => None,
        }
    }

    fn update(&self, change: impl FnOnce(&mut HealthState)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Keeps one sample per raw step and writes them in batches.
pub struct Recorder {
    history: History,
    pending: Vec<Sample>,
    last_bucket: Option<u64>,
    last_flush_s: Option<u64>,
    health: RecorderHealth,
}

impl Recorder {
    pub fn new(history: History) -> Self {
        Recorder {
            history,
            pending: Vec::new(),
            last_bucket: None,
            last_flush_s: None,
            health: RecorderHealth::default(),
        }
    }

    /// What this recorder's writes met (shared: clones see its changes).
    pub fn health(&self) -> RecorderHealth {
        self.health.clone()
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
        // While writes fail, retried once a flush interval, not at every sample.
        let failing = self.health.0.lock().is_ok_and(|h| h.failing.is_some());
        let full = self.pending.len() >= FLUSH_AFTER && !failing;
        if full || now.abs_diff(since) >= FLUSH_EVERY_S {
            self.flush(now)?;
        }
        Ok(())
    }

    /// Writes what waits (one transaction), downsamples and prunes as of `now_unix_s`. What a
    /// failed write held is kept for the next one (up to [`KEEP_UNWRITTEN`] samples).
    pub fn flush(&mut self, now_unix_s: u64) -> Result<(), HistoryError> {
        // Even with nothing new, the flush downsamples and prunes (old rows age out while idle).
        self.last_flush_s = Some(now_unix_s);
        match self.history.write_batch(&self.pending, now_unix_s) {
            Ok(()) => {
                self.pending.clear();
                self.health.update(|h| *h = HealthState::default());
                Ok(())
            }
            Err(error) => {
                let excess = self.pending.len().saturating_sub(KEEP_UNWRITTEN);
                self.pending.drain(..excess);
                self.health.update(|h| {
                    h.failing = Some(error.to_string());
                    h.lost += excess as u64;
                });
                Err(error)
            }
        }
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
    health: RecorderHealth,
}

impl RecorderSender {
    /// Queues a sample; a full queue (the disk stalls) drops it rather than delay the caller,
    /// and the loss is counted in the recorder's health.
    pub fn send(&self, sample: Sample) {
        match self.tx.try_send(Message::Record(sample)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                tracing::debug!("history queue full: a sample dropped");
                self.health.update(|h| h.lost += 1);
            }
        }
    }
}

/// The recording thread's handle: [`RecorderHandle::send`] never blocks.
pub struct RecorderHandle {
    sender: Option<RecorderSender>,
    thread: Option<JoinHandle<()>>,
    health: RecorderHealth,
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

    /// What the recording thread met (writes failing, samples lost), read by whoever shows it.
    pub fn health(&self) -> RecorderHealth {
        self.health.clone()
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
    let health = recorder.health();
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
            sender: Some(RecorderSender {
                tx,
                health: health.clone(),
            }),
            thread: Some(thread),
            health,
        },
        problem,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ClusterSample, FILE_NAME};

    fn sample(at: u64, tokens: u64) -> Sample {
        Sample {
            at_unix_s: at,
            cluster: ClusterSample {
                tokens_served: Some(tokens),
                ..ClusterSample::default()
            },
            ..Sample::default()
        }
    }

    /// A recorder whose writes fail, as on a full disk, until `DROP TRIGGER no_room` on the
    /// connection returned beside it (another process's doing: the recorder's own is untouched).
    fn recorder_on_a_full_disk() -> (tempfile::TempDir, Recorder, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(FILE_NAME);
        let (history, _) = History::open(&path).expect("opens");
        let other = rusqlite::Connection::open(&path).expect("second connection");
        other
            .execute_batch(
                "CREATE TRIGGER no_room BEFORE INSERT ON cluster_samples
                 BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
            )
            .expect("trigger");
        (dir, Recorder::new(history), other)
    }

    #[test]
    fn a_failing_write_is_said_and_its_samples_are_written_once_it_clears() {
        let (_dir, mut recorder, other) = recorder_on_a_full_disk();
        let health = recorder.health();
        let t0 = 1_700_000_000 / 900 * 900;
        for i in 0..6 {
            recorder.record(sample(t0 + i * 10, i * 100)).expect("not yet due");
        }
        assert!(recorder.record(sample(t0 + 60, 600)).is_err(), "the flush fails");
        let problem = health.problem().expect("said");
        assert!(problem.contains("disk is full"), "{problem}");
        // The app's samples carry it as a warning while it lasts.
        let mut collector = crate::snapshot::Collector::default().with_history_health(recorder.health());
        let settings = crate::settings::Settings::default();
        let said = |snapshot: crate::snapshot::Snapshot| {
            snapshot
                .warnings
                .into_iter()
                .find(|w| w.code == crate::warnings::WarningCode::HistoryUnavailable)
        };
        let warning = said(collector.collect(&settings, &[], None)).expect("a history_unavailable warning");
        assert!(warning.message.contains("not being written"), "{}", warning.message);
        // Retried at the flush interval (t0 + 120, 180 … 360), not at every sample.
        let failed = (7..40)
            .filter(|i| recorder.record(sample(t0 + i * 10, i * 100)).is_err())
            .count();
        assert_eq!(failed, 5);
        other.execute_batch("DROP TRIGGER no_room").expect("room again");
        recorder.flush(t0 + 400).expect("written now");
        assert_eq!(health.problem(), None, "cleared by a write");
        assert_eq!(said(collector.collect(&settings, &[], None)), None);
        let rows = recorder.history().cluster_rows(RAW, t0, t0 + 400).expect("rows");
        assert_eq!(rows.len(), 40, "nothing lost while it failed");
        assert_eq!(rows.iter().map(|r| r.tokens).sum::<u64>(), 3900);
    }

    #[test]
    fn past_an_hour_unwritten_the_oldest_are_lost_and_counted() {
        let (_dir, mut recorder, other) = recorder_on_a_full_disk();
        let t0 = 1_700_000_000 / 900 * 900;
        let steps = KEEP_UNWRITTEN as u64 + 50;
        for i in 0..steps {
            let _ = recorder.record(sample(t0 + i * 10, i));
        }
        let _ = recorder.flush(t0 + steps * 10);
        let problem = recorder.health().problem().expect("said");
        assert!(problem.contains("50 samples lost"), "{problem}");
        other.execute_batch("DROP TRIGGER no_room").expect("room again");
        recorder.flush(t0 + steps * 10).expect("written");
        let rows = recorder.history().cluster_rows(RAW, t0, t0 + steps * 10).expect("rows");
        assert_eq!(rows.len(), KEEP_UNWRITTEN, "the last hour kept");
        assert_eq!(rows.first().map(|r| r.at_unix_s), Some(t0 + 500));
    }

    #[test]
    fn a_full_queue_counts_what_it_drops() {
        let (tx, _rx) = mpsc::sync_channel(1);
        let sender = RecorderSender {
            tx,
            health: RecorderHealth::default(),
        };
        sender.send(Sample::default());
        assert_eq!(sender.health.problem(), None, "queued");
        sender.send(Sample::default());
        sender.send(Sample::default());
        let problem = sender.health.problem().expect("said");
        assert!(problem.contains("2 samples lost"), "{problem}");
    }

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
