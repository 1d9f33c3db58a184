//! Energy per token: the cluster's recorded watts integrated over time (trapezoids between
//! samples; a gap longer than [`MAX_GAP_S`] — or two rows of a coarse tier — is not bridged)
//! against the tokens served in the same window.
//!
//! A coarse row stands for its whole bucket from the bucket's start. That is exact once
//! recording runs; in the one bucket where recording began mid-way, its average is counted
//! from the bucket's start (at most one bucket's worth of energy too much, once).

pub use crate::settings::Tariff;

use super::{EnergyFigures, EnergyWindow, History, HistoryError, Tier, MINUTE, QUARTER, RAW};

/// Longer than this between two raw samples, nothing is assumed about the power in between
/// (the recorder was not running).
pub const MAX_GAP_S: u64 = 60;
/// "Now" is the last 15 minutes.
pub const NOW_WINDOW_S: u64 = 15 * 60;
/// "This week" is the last 7 days (what the 1-min tier holds).
pub const WEEK_WINDOW_S: u64 = 7 * 24 * 3600;

/// A point on the power curve: time, watts, and the step of the tier it came from.
type Point = (u64, Option<f64>, u64);

/// Watt-hours under `points` (sorted by time) and the seconds covered.
pub fn integrate(points: &[Point]) -> (f64, u64) {
    let mut wh = 0.0;
    let mut covered = 0;
    for pair in points.windows(2) {
        let ((t1, w1, step), (t2, w2, _)) = (pair[0], pair[1]);
        let dt = t2.saturating_sub(t1);
        let (Some(w1), Some(w2)) = (w1, w2) else { continue };
        if dt == 0 || dt > MAX_GAP_S.max(2 * step) {
            continue;
        }
        wh += (w1 + w2) / 2.0 * dt as f64 / 3600.0;
        covered += dt;
    }
    (wh, covered)
}

impl History {
    /// Energy and tokens in `[from, to]`: raw rows where they are kept, the finest coarser tier
    /// before that (its buckets end where the raw rows begin, so nothing counts twice).
    pub fn energy_window(
        &self,
        from_unix_s: u64,
        to_unix_s: u64,
        now_unix_s: u64,
        tariff: Option<&Tariff>,
    ) -> Result<EnergyWindow, HistoryError> {
        let coarse: Tier = if now_unix_s.saturating_sub(from_unix_s) <= MINUTE.keep_s {
            MINUTE
        } else {
            QUARTER
        };
        let raw_oldest: Option<i64> =
            self.conn
                .query_row("SELECT MIN(ts) FROM cluster_samples WHERE tier = 0", [], |r| r.get(0))?;
        let raw_oldest = raw_oldest.map(super::from_sql).unwrap_or(u64::MAX);
        // The first coarse boundary at or after the oldest raw row.
        let boundary = raw_oldest
            .div_ceil(coarse.step_s)
            .saturating_mul(coarse.step_s)
            .max(from_unix_s);
        let mut rows = Vec::new();
        if boundary > from_unix_s {
            let end = boundary.saturating_sub(1).min(to_unix_s);
            rows.extend(
                self.cluster_rows(coarse, from_unix_s, end)?
                    .into_iter()
                    .map(|r| (r, coarse.step_s)),
            );
        }
        if boundary <= to_unix_s {
            rows.extend(
                self.cluster_rows(RAW, boundary, to_unix_s)?
                    .into_iter()
                    .map(|r| (r, RAW.step_s)),
            );
        }
        let points: Vec<Point> = rows
            .iter()
            .map(|(r, step)| (r.at_unix_s, r.power_watts, *step))
            .collect();
        let (energy_wh, covered_s) = integrate(&points);
        // A raw row's tokens arrived since the row before, so a raw first row's belong (mostly)
        // before the window; a coarse row's arrived within its bucket.
        let counted = rows
            .iter()
            .enumerate()
            .filter(|(i, (_, step))| *i > 0 || *step != RAW.step_s)
            .map(|(_, row)| row);
        let (tokens, porten_tokens) = counted.fold((0, 0), |(t, p), (r, _)| (t + r.tokens, p + r.porten_tokens));
        let wh_per_million_tokens = (tokens > 0).then(|| energy_wh / tokens as f64 * 1e6);
        let price = tariff.map(|t| t.price_per_kwh);
        Ok(EnergyWindow {
            from_unix_s,
            to_unix_s,
            energy_wh,
            covered_s,
            tokens,
            porten_tokens,
            wh_per_million_tokens,
            cost: price.map(|p| energy_wh / 1000.0 * p),
            cost_per_million_tokens: price.and_then(|p| wh_per_million_tokens.map(|wh| wh / 1000.0 * p)),
        })
    }

    /// Now (last 15 min), today (since `today_start_unix_s`, the local midnight) and the last 7 days.
    pub fn energy(
        &self,
        now_unix_s: u64,
        today_start_unix_s: u64,
        tariff: Option<&Tariff>,
    ) -> Result<EnergyFigures, HistoryError> {
        Ok(EnergyFigures {
            now: self.energy_window(now_unix_s.saturating_sub(NOW_WINDOW_S), now_unix_s, now_unix_s, tariff)?,
            today: self.energy_window(today_start_unix_s, now_unix_s, now_unix_s, tariff)?,
            week: self.energy_window(now_unix_s.saturating_sub(WEEK_WINDOW_S), now_unix_s, now_unix_s, tariff)?,
            currency: tariff.map(|t| t.currency.clone()),
        })
    }
}

/// The Unix time of the local midnight that began the day holding `now_unix_s`.
pub fn local_midnight(now_unix_s: u64) -> u64 {
    use chrono::{Local, TimeZone};
    let Some(now) = Local.timestamp_opt(super::to_sql(now_unix_s), 0).single() else {
        return now_unix_s - now_unix_s % 86_400;
    };
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|m| Local.from_local_datetime(&m).earliest())
        .map(|m| super::from_sql(m.timestamp()))
        .unwrap_or(now_unix_s - now_unix_s % 86_400)
}

/// How often the Snapshot's energy figures are read again (they move slowly, and the sampler
/// may run every second while the popover is open).
pub const ENERGY_READ_EVERY_S: u64 = 60;

/// Reads the energy figures for the Snapshot from the history database, at most once a
/// [`ENERGY_READ_EVERY_S`], over one read-only connection kept open between reads.
#[derive(Default)]
pub struct EnergyReader {
    path: Option<std::path::PathBuf>,
    db: Option<History>,
    last: Option<(u64, Option<EnergyFigures>)>,
}

impl EnergyReader {
    /// Reads the database at `path` instead of the default one.
    pub fn at(path: std::path::PathBuf) -> Self {
        EnergyReader {
            path: Some(path),
            ..EnergyReader::default()
        }
    }

    /// The figures as of `now_unix_s`; `None` while nothing is recorded (no database yet) or
    /// the database cannot be read (the recorder reports that; it is not this reader's to say).
    pub fn read(&mut self, now_unix_s: u64, tariff: Option<&Tariff>) -> Option<EnergyFigures> {
        if let Some((at, figures)) = &self.last {
            if now_unix_s.abs_diff(*at) < ENERGY_READ_EVERY_S {
                return figures.clone();
            }
        }
        let figures = self.read_now(now_unix_s, tariff);
        self.last = Some((now_unix_s, figures.clone()));
        figures
    }

    fn read_now(&mut self, now_unix_s: u64, tariff: Option<&Tariff>) -> Option<EnergyFigures> {
        if self.db.is_none() {
            let path = self.path.clone().unwrap_or_else(super::default_path);
            match History::open_read_only(&path) {
                Ok(db) => self.db = Some(db),
                Err(HistoryError::Missing(_)) => return None,
                Err(error) => {
                    tracing::debug!(%error, "energy figures: the history is not readable");
                    return None;
                }
            }
        }
        let db = self.db.as_ref()?;
        match db.energy(now_unix_s, local_midnight(now_unix_s), tariff) {
            Ok(figures) => Some(figures),
            Err(error) => {
                // Reopened next time: the file may have been set aside and replaced.
                tracing::debug!(%error, "energy figures: reading the history failed");
                self.db = None;
                None
            }
        }
    }
}

/// The energy figures as gauges for the meter's Prometheus page
/// (`clusterbar_energy_wh_per_million_tokens{window="today"}` …).
pub fn prometheus_gauges(energy: &EnergyFigures) -> Vec<clusterbar_meter::ExternalGauge> {
    let windows = [("now", &energy.now), ("today", &energy.today), ("week", &energy.week)];
    let window = |name: &str| vec![("window".to_owned(), name.to_owned())];
    let gauge = |name: &str, help: &str, pick: &dyn Fn(&EnergyWindow) -> Option<f64>| clusterbar_meter::ExternalGauge {
        name: name.to_owned(),
        help: help.to_owned(),
        samples: windows
            .iter()
            .filter_map(|(label, w)| pick(w).map(|v| (window(label), v)))
            .collect(),
    };
    let mut gauges = vec![
        gauge(
            "energy_wh",
            "Energy the cluster drew in the window (now = 15 min, today, week = 7 days), watt-hours",
            &|w| Some(w.energy_wh),
        ),
        gauge("energy_tokens", "Completion tokens served in the window", &|w| {
            Some(w.tokens as f64)
        }),
        gauge(
            "energy_wh_per_million_tokens",
            "Watt-hours per million completion tokens in the window",
            &|w| w.wh_per_million_tokens,
        ),
    ];
    if let Some(currency) = &energy.currency {
        let with_currency = |mut g: clusterbar_meter::ExternalGauge| {
            for (labels, _) in &mut g.samples {
                labels.push(("currency".to_owned(), currency.clone()));
            }
            g
        };
        gauges.push(with_currency(gauge(
            "energy_cost",
            "Electricity cost of the window at the tariff in Settings",
            &|w| w.cost,
        )));
        gauges.push(with_currency(gauge(
            "energy_cost_per_million_tokens",
            "Electricity cost per million completion tokens",
            &|w| w.cost_per_million_tokens,
        )));
    }
    gauges
}
