//! A box's five gauges packed into one BLOB per row (schema 3).
//!
//! Reading a 90-day chart is ~52,000 box rows, and SQLite spends about as long handing back
//! each REAL column as stepping to the row (measured: five columns doubled the read). One BLOB
//! is one column: the same rows read in half the time. The format is five little-endian `f64`
//! — memory used, memory total (bytes), power (W), GPU (0–1), temperature (°C) — with NaN for
//! unknown (non-finite figures are never stored, so NaN cannot be a figure).
//!
//! SQL sees the fields through two functions registered on the writing connection, so
//! downsampling stays one `INSERT … SELECT … GROUP BY`: `gauges_pack(a, b, c, d, e)` and
//! `gauge(blob, i)` (NULL when unknown, so `AVG` skips it as it skipped NULL columns).

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// How many figures one row holds.
pub(super) const COUNT: usize = 5;
const WIDTH: usize = 8;

/// One row's figures, in the packed order.
pub(super) type Gauges = [Option<f64>; COUNT];

pub(super) fn pack(gauges: Gauges) -> [u8; COUNT * WIDTH] {
    let mut blob = [0u8; COUNT * WIDTH];
    for (slot, value) in blob.chunks_exact_mut(WIDTH).zip(gauges) {
        let value = value.filter(|v| v.is_finite()).unwrap_or(f64::NAN);
        slot.copy_from_slice(&value.to_le_bytes());
    }
    blob
}

/// The figures of a packed row; a field the BLOB is too short for (a damaged row) is unknown.
pub(super) fn unpack(blob: &[u8]) -> Gauges {
    let mut gauges = [None; COUNT];
    for (gauge, slot) in gauges.iter_mut().zip(blob.chunks_exact(WIDTH)) {
        let mut bytes = [0u8; WIDTH];
        bytes.copy_from_slice(slot);
        *gauge = Some(f64::from_le_bytes(bytes)).filter(|v| v.is_finite());
    }
    gauges
}

/// Registers `gauges_pack` and `gauge` on `conn` (the writer needs them to migrate and downsample).
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("gauges_pack", COUNT as i32, flags, |ctx| {
        let mut gauges = [None; COUNT];
        for (i, gauge) in gauges.iter_mut().enumerate() {
            *gauge = ctx.get::<Option<f64>>(i)?;
        }
        Ok(pack(gauges).to_vec())
    })?;
    conn.create_scalar_function("gauge", 2, flags, |ctx| {
        let index = usize::try_from(ctx.get::<i64>(1)?).ok().filter(|i| *i < COUNT);
        Ok(match (ctx.get_raw(0), index) {
            (ValueRef::Blob(blob), Some(i)) => unpack(blob)[i],
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_stays_unknown_and_figures_round_trip() {
        let gauges = [Some(4.0e11), None, Some(81.5), Some(0.25), Some(f64::INFINITY)];
        let back = unpack(&pack(gauges));
        assert_eq!(back, [Some(4.0e11), None, Some(81.5), Some(0.25), None]);
        assert_eq!(unpack(&pack(gauges)[..12]), [Some(4.0e11), None, None, None, None]);
        assert_eq!(unpack(b""), [None; COUNT]);
    }

    #[test]
    fn sql_averages_each_gauge_over_the_rows_that_know_it() {
        let conn = Connection::open_in_memory().expect("memory db");
        register(&conn).expect("functions");
        conn.execute_batch("CREATE TABLE t (g BLOB)").expect("table");
        for (power, temp) in [(Some(10.0), None), (Some(20.0), None), (None, Some(40.0))] {
            conn.execute(
                "INSERT INTO t VALUES (gauges_pack(1, NULL, ?1, NULL, ?2))",
                rusqlite::params![power, temp],
            )
            .expect("insert");
        }
        let averaged: Vec<u8> = conn
            .query_row(
                "SELECT gauges_pack(AVG(gauge(g, 0)), AVG(gauge(g, 1)), AVG(gauge(g, 2)), AVG(gauge(g, 3)),
                   AVG(gauge(g, 4))) FROM t",
                [],
                |r| r.get(0),
            )
            .expect("average");
        assert_eq!(unpack(&averaged), [Some(1.0), None, Some(15.0), None, Some(40.0)]);
        let outside: Option<f64> = conn
            .query_row("SELECT gauge(g, 9) FROM t LIMIT 1", [], |r| r.get(0))
            .expect("query");
        assert_eq!(outside, None, "an index past the figures is unknown, not an error");
    }
}
