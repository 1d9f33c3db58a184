//! History that survives restarts (issue #13): an embedded SQLite database in the app's data
//! directory, kept RRD-style — raw samples every 10 s for 24 h, 1-min averages for 7 days,
//! 15-min averages for 90 days.
//!
//! The recorder takes a small [`Sample`] (the caller converts its Snapshot and meter figures),
//! so this module depends on neither the sampler nor the meter. Writes are batched: one
//! transaction per flush, and downsampling and pruning run at that flush. A database that
//! cannot be opened or fails its check is moved aside as `history.db.bad` and a fresh one is
//! started; the caller gets that as a [`Problem`], never a panic.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub mod energy;
mod gauges;
pub mod query;
mod read;
mod recorder;
mod sample;

pub use clusterbar_model::history::{BoxRow, ClusterRow, EnergyFigures, EnergyWindow, ModelRow, Series};
pub use energy::{EnergyReader, Tariff};
pub use recorder::{spawn_recorder, Recorder, RecorderHandle, RecorderHealth, RecorderSender};
pub use sample::sample_from;

/// The database's file name in the data directory.
pub const FILE_NAME: &str = "history.db";
/// The schema this code writes; older files are migrated up, newer ones are refused.
pub const SCHEMA_VERSION: i32 = 3;

/// One resolution of the round-robin store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// 0 = raw, 1 = 1-min, 2 = 15-min (the column `tier`).
    pub id: i64,
    /// Seconds between rows.
    pub step_s: u64,
    /// Rows older than this are pruned.
    pub keep_s: u64,
}

pub const RAW: Tier = Tier {
    id: 0,
    step_s: 10,
    keep_s: 24 * 3600,
};
pub const MINUTE: Tier = Tier {
    id: 1,
    step_s: 60,
    keep_s: 7 * 24 * 3600,
};
pub const QUARTER: Tier = Tier {
    id: 2,
    step_s: 900,
    keep_s: 90 * 24 * 3600,
};
pub const TIERS: [Tier; 3] = [RAW, MINUTE, QUARTER];

/// One box at one moment. Unknown figures are `None` (never 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoxSample {
    pub name: String,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub power_watts: Option<f64>,
    /// 0–1.
    pub gpu_usage: Option<f64>,
    pub temp_c: Option<f64>,
}

/// The cluster at one moment: power, and the meter's figures. Counters are cumulative as the
/// meter reports them (they restart at 0 with the meter); the store turns them into per-row
/// increments, so a restart loses nothing already recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSample {
    pub power_watts: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub requests: Option<u64>,
    pub errors: Option<u64>,
    /// Completion tokens served (cumulative).
    pub tokens_served: Option<u64>,
    /// Completion tokens served to the Porten agent (cumulative).
    pub porten_tokens: Option<u64>,
}

/// One model's figures from the meter. Counters are cumulative, like the cluster's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSample {
    /// The model id as requests name it.
    pub id: String,
    pub tokens_per_s: Option<f64>,
    pub requests: Option<u64>,
    pub tokens_served: Option<u64>,
}

/// What the recorder takes: one moment, with its wall-clock time (an input, so tests need no
/// sleeping).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at_unix_s: u64,
    pub boxes: Vec<BoxSample>,
    pub cluster: ClusterSample,
    #[serde(default)]
    pub models: Vec<ModelSample>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no history database at {0} (it is written by the app, `clusterbar serve` or `clusterbar meter`)")]
    Missing(PathBuf),
    #[error("the history database {path} cannot be read: {source}")]
    Unreadable { path: PathBuf, source: rusqlite::Error },
    #[error("the history database {path} was written by a newer Clusterbar (schema {found}, this one knows {SCHEMA_VERSION})")]
    Newer { path: PathBuf, found: i32 },
    #[error("setting the unreadable history database aside ({path}): {source}")]
    SetAside { path: PathBuf, source: std::io::Error },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("starting the history thread: {0}")]
    Thread(std::io::Error),
    #[error("creating the history directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
}

/// Something the user should hear about that did not stop recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// Where the unreadable file went.
    pub moved_to: Option<PathBuf>,
}

/// The database in the default place: next to the settings (`paths::config_dir`).
pub fn default_path() -> PathBuf {
    crate::paths::config_dir().join(FILE_NAME)
}

/// An open history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Opens (creating or migrating) the database at `path` for recording. A file that is not a
    /// readable Clusterbar history is moved to `<path>.bad` and a fresh one started; that comes
    /// back as the [`Problem`].
    pub fn open(path: &Path) -> Result<(History, Option<Problem>), HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        match Self::open_checked(path) {
            Ok(history) => Ok((history, None)),
            // A newer schema is not corrupt: leave it for the newer version.
            Err(e @ HistoryError::Newer { .. }) => Err(e),
            Err(e) => {
                let bad = set_aside(path)?;
                tracing::warn!(error = %e, moved_to = %bad.display(), "history database set aside; starting a new one");
                let history = Self::open_checked(path)?;
                let problem = Problem {
                    message: format!("{e}; it was moved to {} and a new one started", bad.display()),
                    moved_to: Some(bad),
                };
                Ok((history, Some(problem)))
            }
        }
    }

    fn open_checked(path: &Path) -> Result<History, HistoryError> {
        let unreadable = |source| HistoryError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(unreadable)?;
        // `serve` and `meter` may both record: the second waits its turn rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unreadable)?;
        // Reading the header is where a file that is not a database fails.
        let ok: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(unreadable)?;
        if ok != "ok" {
            return Err(unreadable(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(ok),
            )));
        }
        // WAL: the reader (`clusterbar history`) never blocks the writer.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unreadable)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(unreadable)?;
        // Migrating to schema 3 and downsampling read and write packed gauges in SQL.
        gauges::register(&conn).map_err(unreadable)?;
        let mut history = History {
            conn,
            path: path.to_owned(),
        };
        history.migrate()?;
        Ok(history)
    }

    /// Opens an existing database without writing to it (`clusterbar history`).
    pub fn open_read_only(path: &Path) -> Result<History, HistoryError> {
        if !path.exists() {
            return Err(HistoryError::Missing(path.to_owned()));
        }
        let unreadable = |source| HistoryError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let conn = read::reader_connection(path).map_err(unreadable)?;
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(unreadable)?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::Newer {
                path: path.to_owned(),
                found: version,
            });
        }
        if version < SCHEMA_VERSION {
            // Empty or older: nothing this code can read until a writer migrates it.
            return Err(unreadable(rusqlite::Error::InvalidQuery));
        }
        Ok(History {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Brings the schema to [`SCHEMA_VERSION`], one step per version, each in a transaction.
    fn migrate(&mut self) -> Result<(), HistoryError> {
        let found: i32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(HistoryError::Newer {
                path: self.path.clone(),
                found,
            });
        }
        // MIGRATIONS[v] takes a file from version v to v + 1.
        for (version, step) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            let version = version as i32;
            let tx = self.conn.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
            tracing::info!(to = version + 1, "history database migrated");
        }
        // A migration that copied a table leaves its old pages free: give them back once, so an
        // upgrade does not double the file (13 → 23 MB for 90 days of 6 boxes). Not fatal: the
        // free pages are reused by the next writes anyway.
        if found > 0 && found < SCHEMA_VERSION {
            if let Err(e) = self.conn.execute_batch("VACUUM") {
                tracing::warn!(error = %e, "history database not compacted after its migration");
            }
        }
        Ok(())
    }

    /// Writes `samples` in one transaction, then downsamples and prunes as of `now_unix_s`.
    /// Counters become increments against the newest raw row (so across restarts too).
    pub fn write_batch(&mut self, samples: &[Sample], now_unix_s: u64) -> Result<(), HistoryError> {
        let tx = self.conn.transaction()?;
        {
            let mut last = last_counters(&tx)?;
            let mut last_by_model = last_model_counters(&tx)?;
            let mut ids = std::collections::HashMap::new();
            let mut model_ids = std::collections::HashMap::new();
            let mut model_id = tx.prepare_cached("INSERT OR IGNORE INTO models(name) VALUES (?1)")?;
            let mut find_model = tx.prepare_cached("SELECT id FROM models WHERE name = ?1")?;
            let mut put_model = tx.prepare_cached(
                "INSERT OR REPLACE INTO model_samples(tier, ts, model, tokens_per_s, requests, tokens,
                   requests_total, tokens_total)
                 VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut box_id = tx.prepare_cached("INSERT OR IGNORE INTO boxes(name) VALUES (?1)")?;
            let mut find_box = tx.prepare_cached("SELECT id FROM boxes WHERE name = ?1")?;
            let mut put_box =
                tx.prepare_cached("INSERT OR REPLACE INTO box_samples(tier, ts, box, gauges) VALUES (0, ?1, ?2, ?3)")?;
            let mut put_cluster = tx.prepare_cached(
                "INSERT OR REPLACE INTO cluster_samples(tier, ts, power, tokens_per_s, ttft_p50, ttft_p95,
                   requests, errors, tokens, porten_tokens, requests_total, errors_total, tokens_total, porten_total)
                 VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for sample in samples {
                let ts = to_sql(sample.at_unix_s);
                for b in &sample.boxes {
                    let id = match ids.get(&b.name) {
                        Some(id) => *id,
                        None => {
                            box_id.execute([&b.name])?;
                            let id: i64 = find_box.query_row([&b.name], |r| r.get(0))?;
                            ids.insert(b.name.clone(), id);
                            id
                        }
                    };
                    // Bytes as f64: exact up to 9 PB, beyond any Mac's memory.
                    let packed = gauges::pack([
                        b.memory_used_bytes.map(|v| v as f64),
                        b.memory_total_bytes.map(|v| v as f64),
                        b.power_watts,
                        b.gpu_usage,
                        b.temp_c,
                    ]);
                    put_box.execute(params![ts, id, &packed[..]])?;
                }
                for m in &sample.models {
                    let id = match model_ids.get(&m.id) {
                        Some(id) => *id,
                        None => {
                            model_id.execute([&m.id])?;
                            let id: i64 = find_model.query_row([&m.id], |r| r.get(0))?;
                            model_ids.insert(m.id.clone(), id);
                            id
                        }
                    };
                    let counters = last_by_model.entry(id).or_default();
                    let requests = increment(&mut counters.requests, m.requests);
                    let tokens = increment(&mut counters.tokens, m.tokens_served);
                    put_model.execute(params![
                        ts,
                        id,
                        finite(m.tokens_per_s),
                        to_sql(requests),
                        to_sql(tokens),
                        m.requests.map(to_sql),
                        m.tokens_served.map(to_sql),
                    ])?;
                }
                let c = &sample.cluster;
                let requests = increment(&mut last.requests, c.requests);
                let errors = increment(&mut last.errors, c.errors);
                let tokens = increment(&mut last.tokens, c.tokens_served);
                let porten = increment(&mut last.porten, c.porten_tokens);
                put_cluster.execute(params![
                    ts,
                    finite(c.power_watts),
                    finite(c.tokens_per_s),
                    finite(c.ttft_p50_ms),
                    finite(c.ttft_p95_ms),
                    to_sql(requests),
                    to_sql(errors),
                    to_sql(tokens),
                    to_sql(porten),
                    c.requests.map(to_sql),
                    c.errors.map(to_sql),
                    c.tokens_served.map(to_sql),
                    c.porten_tokens.map(to_sql),
                ])?;
            }
        }
        downsample(&tx, RAW, MINUTE, now_unix_s)?;
        downsample(&tx, MINUTE, QUARTER, now_unix_s)?;
        for tier in TIERS {
            let oldest = to_sql(now_unix_s.saturating_sub(tier.keep_s));
            // `box IN` lets the (tier, box, ts) key seek per box instead of scanning the tier.
            tx.execute(
                "DELETE FROM box_samples WHERE tier = ?1 AND box IN (SELECT id FROM boxes) AND ts < ?2",
                params![tier.id, oldest],
            )?;
            tx.execute(
                "DELETE FROM cluster_samples WHERE tier = ?1 AND ts < ?2",
                params![tier.id, oldest],
            )?;
            tx.execute(
                "DELETE FROM model_samples WHERE tier = ?1 AND model IN (SELECT id FROM models) AND ts < ?2",
                params![tier.id, oldest],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The finest tier that still holds `from_unix_s` as of `now_unix_s`.
    pub fn tier_for(from_unix_s: u64, now_unix_s: u64) -> Tier {
        let age = now_unix_s.saturating_sub(from_unix_s);
        TIERS.into_iter().find(|t| age <= t.keep_s).unwrap_or(QUARTER)
    }

    /// Every box ever recorded, by name.
    pub fn box_names(&self) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self.conn.prepare_cached("SELECT name FROM boxes ORDER BY name")?;
        let names = stmt.query_map([], |r| r.get(0))?;
        Ok(names.collect::<Result<_, _>>()?)
    }

    /// The newest raw row's time, if any (what `clusterbar history` measures "since" from when
    /// the recorder is not running).
    pub fn newest_unix_s(&self) -> Result<Option<u64>, HistoryError> {
        let ts: Option<i64> = self
            .conn
            .query_row("SELECT MAX(ts) FROM cluster_samples", [], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(ts.map(from_sql))
    }
}

const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3];

const SCHEMA_V1: &str = "
CREATE TABLE boxes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE box_samples (
  tier INTEGER NOT NULL, ts INTEGER NOT NULL, box INTEGER NOT NULL,
  mem_used REAL, mem_total REAL, power REAL, gpu REAL, temp REAL,
  PRIMARY KEY (tier, box, ts)) WITHOUT ROWID;
CREATE TABLE cluster_samples (
  tier INTEGER NOT NULL, ts INTEGER NOT NULL,
  power REAL, tokens_per_s REAL, ttft_p50 REAL, ttft_p95 REAL,
  requests INTEGER NOT NULL, errors INTEGER NOT NULL, tokens INTEGER NOT NULL, porten_tokens INTEGER NOT NULL,
  requests_total INTEGER, errors_total INTEGER, tokens_total INTEGER, porten_total INTEGER,
  PRIMARY KEY (tier, ts)) WITHOUT ROWID;
";

/// Version 2: per-model figures from the meter.
const SCHEMA_V2: &str = "
CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE model_samples (
  tier INTEGER NOT NULL, ts INTEGER NOT NULL, model INTEGER NOT NULL,
  tokens_per_s REAL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL,
  requests_total INTEGER, tokens_total INTEGER,
  PRIMARY KEY (tier, model, ts)) WITHOUT ROWID;
";

/// Version 3: a box's gauges packed in one BLOB (`gauges`), read in half the time of five REAL
/// columns; the rows of version 2 are carried over.
const SCHEMA_V3: &str = "
CREATE TABLE box_samples_v3 (
  tier INTEGER NOT NULL, ts INTEGER NOT NULL, box INTEGER NOT NULL, gauges BLOB NOT NULL,
  PRIMARY KEY (tier, box, ts)) WITHOUT ROWID;
INSERT INTO box_samples_v3(tier, ts, box, gauges)
  SELECT tier, ts, box, gauges_pack(mem_used, mem_total, power, gpu, temp) FROM box_samples;
DROP TABLE box_samples;
ALTER TABLE box_samples_v3 RENAME TO box_samples;
";

/// The last cumulative counters seen, to turn the next ones into increments.
#[derive(Debug, Default)]
struct Counters {
    requests: Option<u64>,
    errors: Option<u64>,
    tokens: Option<u64>,
    porten: Option<u64>,
}

fn last_counters(conn: &Connection) -> Result<Counters, HistoryError> {
    let found = conn
        .query_row(
            "SELECT requests_total, errors_total, tokens_total, porten_total FROM cluster_samples
             WHERE tier = 0 ORDER BY ts DESC LIMIT 1",
            [],
            |r| {
                Ok(Counters {
                    requests: r.get::<_, Option<i64>>(0)?.map(from_sql),
                    errors: r.get::<_, Option<i64>>(1)?.map(from_sql),
                    tokens: r.get::<_, Option<i64>>(2)?.map(from_sql),
                    porten: r.get::<_, Option<i64>>(3)?.map(from_sql),
                })
            },
        )
        .optional()?;
    Ok(found.unwrap_or_default())
}

/// Each model's newest raw counters (requests and tokens), by model row id.
fn last_model_counters(conn: &Connection) -> Result<std::collections::HashMap<i64, Counters>, HistoryError> {
    let mut stmt = conn.prepare_cached(
        // Per model one seek on the (tier, model, ts) key, not a pass over a day of raw rows:
        // this runs at every flush (CROSS JOIN keeps models as the outer loop).
        "SELECT m.id, s.requests_total, s.tokens_total FROM models m
         CROSS JOIN model_samples s ON s.tier = 0 AND s.model = m.id
           AND s.ts = (SELECT MAX(ts) FROM model_samples WHERE tier = 0 AND model = m.id)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Counters {
                requests: r.get::<_, Option<i64>>(1)?.map(from_sql),
                tokens: r.get::<_, Option<i64>>(2)?.map(from_sql),
                ..Counters::default()
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The increment since the last counter; a counter that went down restarted at 0 (the meter
/// restarted), so all of it is new. The first counter ever seen counts as no increment: what it
/// holds happened before recording began.
fn increment(last: &mut Option<u64>, now: Option<u64>) -> u64 {
    let Some(now) = now else { return 0 };
    let delta = match *last {
        Some(before) if now >= before => now - before,
        Some(_) => now,
        None => 0,
    };
    *last = Some(now);
    delta
}

/// Averages (gauges) and sums (increments) of `from`'s rows into `to`'s buckets, for every bucket
/// that ended by `now`; the newest bucket already written is redone (late rows land in it).
fn downsample(tx: &Connection, from: Tier, to: Tier, now_unix_s: u64) -> Result<(), HistoryError> {
    let step = to_sql(to.step_s);
    let newest: Option<i64> = tx.query_row("SELECT MAX(ts) FROM cluster_samples WHERE tier = ?1", [to.id], |r| {
        r.get(0)
    })?;
    let start = newest.unwrap_or(0);
    // Only complete buckets: a bucket is written once its span has passed.
    let end = to_sql(now_unix_s) / step * step;
    tx.execute(
        "INSERT OR REPLACE INTO cluster_samples(tier, ts, power, tokens_per_s, ttft_p50, ttft_p95,
           requests, errors, tokens, porten_tokens, requests_total, errors_total, tokens_total, porten_total)
         SELECT ?1, ts / ?2 * ?2, AVG(power), AVG(tokens_per_s), AVG(ttft_p50), MAX(ttft_p95), -- p95: the worst, not a mean
           SUM(requests), SUM(errors), SUM(tokens), SUM(porten_tokens),
           MAX(requests_total), MAX(errors_total), MAX(tokens_total), MAX(porten_total)
         FROM cluster_samples WHERE tier = ?3 AND ts >= ?4 AND ts < ?5 GROUP BY ts / ?2",
        params![to.id, step, from.id, start, end],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO box_samples(tier, ts, box, gauges)
         SELECT ?1, ts / ?2 * ?2, box, gauges_pack(AVG(gauge(gauges, 0)), AVG(gauge(gauges, 1)),
           AVG(gauge(gauges, 2)), AVG(gauge(gauges, 3)), AVG(gauge(gauges, 4)))
         FROM box_samples WHERE tier = ?3 AND box IN (SELECT id FROM boxes) AND ts >= ?4 AND ts < ?5
         GROUP BY box, ts / ?2",
        params![to.id, step, from.id, start, end],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO model_samples(tier, ts, model, tokens_per_s, requests, tokens, requests_total, tokens_total)
         SELECT ?1, ts / ?2 * ?2, model, AVG(tokens_per_s), SUM(requests), SUM(tokens), MAX(requests_total), MAX(tokens_total)
         FROM model_samples WHERE tier = ?3 AND model IN (SELECT id FROM models) AND ts >= ?4 AND ts < ?5
         GROUP BY model, ts / ?2",
        params![to.id, step, from.id, start, end],
    )?;
    Ok(())
}

/// Moves `path` to `<path>.bad` (earlier ones kept as `.bad.1` …, as settings files are) and drops
/// its WAL files.
fn set_aside(path: &Path) -> Result<PathBuf, HistoryError> {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    let bad = crate::files::make_room_for_bad_file(&PathBuf::from(bad), crate::files::KEPT_BAD_FILES);
    std::fs::rename(path, &bad).map_err(|source| HistoryError::SetAside {
        path: path.to_owned(),
        source,
    })?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        // A stale WAL would be replayed into the fresh database.
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    Ok(bad)
}

/// SQLite integers are i64; times and counters this large do not occur, and are clamped.
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// NaN and infinities are not figures: stored as unknown.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests;
