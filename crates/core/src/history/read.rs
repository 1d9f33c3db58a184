//! Reading rows back, in parts: the cluster, each model, each box.
//!
//! A 90-day chart at 15-min resolution is ~78,000 rows for 6 boxes and 2 models; SQLite steps
//! to a row in ~70 ns and hands back each column in ~25 ns more (measured on the bench's file;
//! hence the packed box gauges, `gauges`). The parts are independent — each one ordered range
//! of its table's (tier, key, ts) key — so a long span is spread over a few connections at
//! once; a short one stays on this connection, where a thread and a second connection would
//! cost more than its rows.
//!
//! Each extra connection reads its own snapshot: a flush landing mid-read can give one box a
//! row the others lack yet. Charts draw each series on its own, so that is harmless.

use super::{from_sql, gauges, to_sql, BoxRow, ClusterRow, History, HistoryError, ModelRow, Series, Tier};
use rusqlite::{params, Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Spans expected to return fewer rows than this are read on one connection.
const PARALLEL_FROM_ROWS: u64 = 20_000;
/// The most connections one query reads on (a Mac Studio has 24 cores; beyond a few, opening
/// connections costs more than the rows they share).
const MAX_READERS: usize = 4;

/// One independent range of rows.
enum Part {
    Cluster,
    Model { id: i64, name: String },
    Box { id: i64, name: String },
}

enum PartRows {
    Cluster(Vec<ClusterRow>),
    Model(Vec<ModelRow>),
    Box(Vec<BoxRow>),
}

/// What every part is read over.
#[derive(Clone, Copy)]
struct Span {
    tier: Tier,
    from: i64,
    to: i64,
}

impl Span {
    fn new(tier: Tier, from_unix_s: u64, to_unix_s: u64) -> Span {
        Span {
            tier,
            from: to_sql(from_unix_s),
            to: to_sql(to_unix_s),
        }
    }

    /// Rows one series can hold, at most (for reserving, never trusted beyond that).
    fn rows_per_series(self) -> u64 {
        let span = u64::try_from(self.to.saturating_sub(self.from)).unwrap_or(0);
        span / self.tier.step_s.max(1) + 1
    }
}

/// A read-only connection on `path`, as `clusterbar history` and each extra reader open it.
pub(super) fn reader_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    // Pages read straight from the mapped file, not copied through SQLite's cache.
    conn.pragma_update(None, "mmap_size", 64 * 1024 * 1024)?;
    Ok(conn)
}

impl History {
    /// Rows of one tier in `[from, to]`, for every box or the one named. Boxes and models
    /// without rows in the span are left out.
    pub fn rows(
        &self,
        tier: Tier,
        from_unix_s: u64,
        to_unix_s: u64,
        only_box: Option<&str>,
    ) -> Result<Series, HistoryError> {
        self.rows_on(tier, from_unix_s, to_unix_s, only_box, None)
    }

    /// [`History::rows`] on up to `readers` connections; `None` chooses by the span's size (the
    /// history benchmark compares one connection with several in the same run).
    pub fn rows_on(
        &self,
        tier: Tier,
        from_unix_s: u64,
        to_unix_s: u64,
        only_box: Option<&str>,
        readers: Option<usize>,
    ) -> Result<Series, HistoryError> {
        let mut parts = vec![Part::Cluster];
        parts.extend(
            ids(&self.conn, "models")?
                .into_iter()
                .map(|(id, name)| Part::Model { id, name }),
        );
        parts.extend(
            ids(&self.conn, "boxes")?
                .into_iter()
                .filter(|(_, name)| only_box.is_none_or(|only| only == name))
                .map(|(id, name)| Part::Box { id, name }),
        );
        let span = Span::new(tier, from_unix_s, to_unix_s);
        let readers = readers.unwrap_or_else(|| {
            let expected = span.rows_per_series().saturating_mul(parts.len() as u64);
            if expected >= PARALLEL_FROM_ROWS {
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(MAX_READERS)
            } else {
                1
            }
        });
        let mut series = Series {
            from_unix_s,
            to_unix_s,
            resolution_s: tier.step_s,
            cluster: Vec::new(),
            boxes: BTreeMap::new(),
            models: BTreeMap::new(),
        };
        for (part, rows) in parts.iter().zip(self.read_parts(&parts, span, readers)?) {
            match (part, rows) {
                (Part::Cluster, PartRows::Cluster(rows)) => series.cluster = rows,
                (Part::Model { name, .. }, PartRows::Model(rows)) if !rows.is_empty() => {
                    series.models.insert(name.clone(), rows);
                }
                (Part::Box { name, .. }, PartRows::Box(rows)) if !rows.is_empty() => {
                    series.boxes.insert(name.clone(), rows);
                }
                _ => {}
            }
        }
        Ok(series)
    }

    /// Every model's rows of one tier in `[from, to]`, by model id, oldest first.
    pub fn model_rows(
        &self,
        tier: Tier,
        from_unix_s: u64,
        to_unix_s: u64,
    ) -> Result<BTreeMap<String, Vec<ModelRow>>, HistoryError> {
        let span = Span::new(tier, from_unix_s, to_unix_s);
        let mut models = BTreeMap::new();
        for (id, name) in ids(&self.conn, "models")? {
            let rows = read_model(&self.conn, id, span)?;
            if !rows.is_empty() {
                models.insert(name, rows);
            }
        }
        Ok(models)
    }

    /// The cluster's rows of one tier in `[from, to]`, oldest first.
    pub fn cluster_rows(&self, tier: Tier, from_unix_s: u64, to_unix_s: u64) -> Result<Vec<ClusterRow>, HistoryError> {
        read_cluster(&self.conn, Span::new(tier, from_unix_s, to_unix_s))
    }

    /// Reads `parts`, returned in their order, on up to `readers` connections (this one and
    /// read-only ones of its own) pulling from one queue.
    fn read_parts(&self, parts: &[Part], span: Span, readers: usize) -> Result<Vec<PartRows>, HistoryError> {
        let readers = readers.clamp(1, parts.len().max(1));
        let next = AtomicUsize::new(0);
        let mut done = std::thread::scope(|scope| {
            let path = self.path.as_path();
            let next = &next;
            let helpers: Vec<_> = (1..readers)
                .filter_map(|n| {
                    std::thread::Builder::new()
                        .name(format!("history-read-{n}"))
                        .spawn_scoped(scope, move || match reader_connection(path) {
                            Ok(conn) => take_parts(&conn, parts, next, span),
                            // No second connection (out of file handles…): this thread reads it all.
                            Err(e) => {
                                tracing::debug!(error = %e, "extra history reader not opened");
                                Ok(Vec::new())
                            }
                        })
                        // Likewise without a thread: the queue is drained by those that run.
                        .inspect_err(|e| tracing::debug!(error = %e, "extra history reader not started"))
                        .ok()
                })
                .collect();
            let mut done = take_parts(&self.conn, parts, next, span);
            for helper in helpers {
                let theirs = helper
                    .join()
                    .unwrap_or_else(|_| Err(HistoryError::Thread(std::io::Error::other("a history reader panicked"))));
                match (&mut done, theirs) {
                    (Ok(done), Ok(theirs)) => done.extend(theirs),
                    (Ok(_), Err(e)) => done = Err(e),
                    (Err(_), _) => {}
                }
            }
            done
        })?;
        done.sort_unstable_by_key(|(index, _)| *index);
        Ok(done.into_iter().map(|(_, rows)| rows).collect())
    }
}

/// Reads parts off the shared queue until it is empty; each comes back with its index.
fn take_parts(
    conn: &Connection,
    parts: &[Part],
    next: &AtomicUsize,
    span: Span,
) -> Result<Vec<(usize, PartRows)>, HistoryError> {
    let mut done = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(part) = parts.get(index) else {
            return Ok(done);
        };
        let rows = match part {
            Part::Cluster => PartRows::Cluster(read_cluster(conn, span)?),
            Part::Model { id, .. } => PartRows::Model(read_model(conn, *id, span)?),
            Part::Box { id, .. } => PartRows::Box(read_box(conn, *id, span)?),
        };
        done.push((index, rows));
    }
}

/// `(id, name)` of every box or model ever recorded.
fn ids(conn: &Connection, table: &'static str) -> Result<Vec<(i64, String)>, HistoryError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT id, name FROM {table} ORDER BY id"))?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn read_box(conn: &Connection, id: i64, span: Span) -> Result<Vec<BoxRow>, HistoryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts, gauges FROM box_samples WHERE tier = ?1 AND box = ?2 AND ts BETWEEN ?3 AND ?4 ORDER BY ts",
    )?;
    let mut rows = stmt.query(params![span.tier.id, id, span.from, span.to])?;
    let mut out = Vec::with_capacity(reserve(span));
    while let Some(r) = rows.next()? {
        let [memory_used_bytes, memory_total_bytes, power_watts, gpu_usage, temp_c] =
            gauges::unpack(r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?);
        out.push(BoxRow {
            at_unix_s: from_sql(r.get(0)?),
            memory_used_bytes,
            memory_total_bytes,
            power_watts,
            gpu_usage,
            temp_c,
        });
    }
    Ok(out)
}

fn read_model(conn: &Connection, id: i64, span: Span) -> Result<Vec<ModelRow>, HistoryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts, tokens_per_s, requests, tokens FROM model_samples
         WHERE tier = ?1 AND model = ?2 AND ts BETWEEN ?3 AND ?4 ORDER BY ts",
    )?;
    let mut rows = stmt.query(params![span.tier.id, id, span.from, span.to])?;
    let mut out = Vec::with_capacity(reserve(span));
    while let Some(r) = rows.next()? {
        out.push(ModelRow {
            at_unix_s: from_sql(r.get(0)?),
            tokens_per_s: r.get(1)?,
            requests: from_sql(r.get(2)?),
            tokens: from_sql(r.get(3)?),
        });
    }
    Ok(out)
}

fn read_cluster(conn: &Connection, span: Span) -> Result<Vec<ClusterRow>, HistoryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts, power, tokens_per_s, ttft_p50, ttft_p95, requests, errors, tokens, porten_tokens, tokens_total
         FROM cluster_samples WHERE tier = ?1 AND ts BETWEEN ?2 AND ?3 ORDER BY ts",
    )?;
    let mut rows = stmt.query(params![span.tier.id, span.from, span.to])?;
    let mut out = Vec::with_capacity(reserve(span));
    while let Some(r) = rows.next()? {
        out.push(ClusterRow {
            at_unix_s: from_sql(r.get(0)?),
            power_watts: r.get(1)?,
            tokens_per_s: r.get(2)?,
            ttft_p50_ms: r.get(3)?,
            ttft_p95_ms: r.get(4)?,
            requests: from_sql(r.get(5)?),
            errors: from_sql(r.get(6)?),
            tokens: from_sql(r.get(7)?),
            porten_tokens: from_sql(r.get(8)?),
            tokens_served_total: r.get::<_, Option<i64>>(9)?.map(from_sql),
        });
    }
    Ok(out)
}

/// Capacity to reserve for one series: what the span can hold, capped so a wide span over
/// sparse rows does not reserve for rows that never come.
fn reserve(span: Span) -> usize {
    usize::try_from(span.rows_per_series().min(16_384)).unwrap_or(0)
}
