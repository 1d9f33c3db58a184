//! One query for every reader of the history: `clusterbar history` and the popover's charts
//! call the same function, so the CLI's `--json` is what the charts draw.

use super::{BoxRow, ClusterRow, History, HistoryError, ModelRow, Series};

/// The spans the charts offer (1 h, 24 h, 7 d, 90 d), in seconds.
pub const CHART_SPANS_S: [u64; 4] = [3600, 86_400, 7 * 86_400, 90 * 86_400];

/// Rows over the last `span_s` seconds as of `now_unix_s`, at the finest tier that holds them;
/// with `max_points`, consecutive rows are merged so no series has more (a 24 h chart 340 px
/// wide gains nothing from 8,640 raw rows per box, and the page would parse megabytes).
pub fn since(
    db: &History,
    span_s: u64,
    now_unix_s: u64,
    only_box: Option<&str>,
    max_points: Option<usize>,
) -> Result<Series, HistoryError> {
    let from = now_unix_s.saturating_sub(span_s);
    let tier = History::tier_for(from, now_unix_s);
    let series = db.rows(tier, from, now_unix_s, only_box)?;
    Ok(match max_points {
        Some(points) => thin(series, points),
        None => series,
    })
}

/// Merges rows into buckets of whole multiples of the resolution so each series has at most
/// `max_points` rows: gauges are averaged over the rows that have them, increments summed, so
/// totals are unchanged.
pub fn thin(mut series: Series, max_points: usize) -> Series {
    let span = series.to_unix_s.saturating_sub(series.from_unix_s).max(1);
    let max_points = max_points.max(1) as u64;
    let needed = span.div_ceil(max_points);
    if needed <= series.resolution_s {
        return series;
    }
    let step = needed.div_ceil(series.resolution_s) * series.resolution_s;
    series.resolution_s = step;
    series.cluster = merge(&series.cluster, step, |rows| ClusterRow {
        at_unix_s: rows[0].at_unix_s / step * step,
        power_watts: mean(rows.iter().map(|r| r.power_watts)),
        tokens_per_s: mean(rows.iter().map(|r| r.tokens_per_s)),
        ttft_p50_ms: mean(rows.iter().map(|r| r.ttft_p50_ms)),
        // The worst, as the coarser tiers keep it.
        ttft_p95_ms: rows.iter().filter_map(|r| r.ttft_p95_ms).reduce(f64::max),
        requests: rows.iter().map(|r| r.requests).sum(),
        errors: rows.iter().map(|r| r.errors).sum(),
        tokens: rows.iter().map(|r| r.tokens).sum(),
        porten_tokens: rows.iter().map(|r| r.porten_tokens).sum(),
        tokens_served_total: rows.iter().rev().find_map(|r| r.tokens_served_total),
    });
    for rows in series.boxes.values_mut() {
        *rows = merge(rows, step, |rows| BoxRow {
            at_unix_s: rows[0].at_unix_s / step * step,
            memory_used_bytes: mean(rows.iter().map(|r| r.memory_used_bytes)),
            memory_total_bytes: mean(rows.iter().map(|r| r.memory_total_bytes)),
            power_watts: mean(rows.iter().map(|r| r.power_watts)),
            gpu_usage: mean(rows.iter().map(|r| r.gpu_usage)),
            temp_c: mean(rows.iter().map(|r| r.temp_c)),
        });
    }
    for rows in series.models.values_mut() {
        *rows = merge(rows, step, |rows| ModelRow {
            at_unix_s: rows[0].at_unix_s / step * step,
            tokens_per_s: mean(rows.iter().map(|r| r.tokens_per_s)),
            requests: rows.iter().map(|r| r.requests).sum(),
            tokens: rows.iter().map(|r| r.tokens).sum(),
        });
    }
    series
}

trait Timed {
    fn at(&self) -> u64;
}
impl Timed for ClusterRow {
    fn at(&self) -> u64 {
        self.at_unix_s
    }
}
impl Timed for BoxRow {
    fn at(&self) -> u64 {
        self.at_unix_s
    }
}
impl Timed for ModelRow {
    fn at(&self) -> u64 {
        self.at_unix_s
    }
}

/// Rows (sorted by time) grouped by `at / step`, each group folded into one row.
fn merge<R: Timed>(rows: &[R], step: u64, fold: impl Fn(&[R]) -> R) -> Vec<R> {
    rows.chunk_by(|a, b| a.at() / step == b.at() / step).map(fold).collect()
}

/// The mean of the known values; `None` when none is known (never 0).
pub fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (sum, n) = values.flatten().fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cluster_row(at: u64, watts: Option<f64>, tokens: u64) -> ClusterRow {
        ClusterRow {
            at_unix_s: at,
            power_watts: watts,
            tokens_per_s: Some(tokens as f64 / 10.0),
            ttft_p50_ms: None,
            ttft_p95_ms: Some(at as f64),
            requests: 1,
            errors: 0,
            tokens,
            porten_tokens: 0,
            tokens_served_total: Some(at),
        }
    }

    #[test]
    fn thinning_keeps_totals_and_averages_gauges_over_known_values() {
        // 24 h of raw rows (8,640) into at most 360 points: 4-minute buckets.
        let rows: Vec<ClusterRow> = (0..8640u64)
            .map(|i| cluster_row(i * 10, (i % 2 == 0).then_some(100.0 + (i % 24) as f64), 7))
            .collect();
        let series = Series {
            from_unix_s: 0,
            to_unix_s: 86_400,
            resolution_s: 10,
            cluster: rows,
            boxes: BTreeMap::from([(
                "studio".to_owned(),
                (0..8640u64)
                    .map(|i| BoxRow {
                        at_unix_s: i * 10,
                        memory_used_bytes: Some(1e9),
                        memory_total_bytes: Some(2e9),
                        power_watts: None,
                        gpu_usage: Some(0.5),
                        temp_c: None,
                    })
                    .collect(),
            )]),
            models: BTreeMap::new(),
        };
        let thin = thin(series, 360);
        assert_eq!(thin.resolution_s, 240);
        assert_eq!(thin.cluster.len(), 360);
        assert_eq!(thin.boxes["studio"].len(), 360);
        assert_eq!(thin.cluster.iter().map(|r| r.tokens).sum::<u64>(), 8640 * 7);
        assert_eq!(thin.cluster.iter().map(|r| r.requests).sum::<u64>(), 8640);
        // Each bucket holds 24 rows: 12 with power 100, 102, … 122 → mean 111, the gaps ignored.
        assert_eq!(thin.cluster[0].power_watts, Some(111.0));
        assert_eq!(thin.cluster[1].at_unix_s, 240);
        assert_eq!(thin.cluster[0].ttft_p95_ms, Some(230.0), "the worst of the bucket");
        assert_eq!(
            thin.cluster[0].tokens_served_total,
            Some(230),
            "the counter at the bucket's end"
        );
        assert_eq!(
            thin.boxes["studio"][0].power_watts, None,
            "unknown stays unknown, never 0"
        );
        assert_eq!(thin.boxes["studio"][0].gpu_usage, Some(0.5));
    }

    #[test]
    fn a_series_within_the_limit_is_left_alone() {
        let series = Series {
            from_unix_s: 0,
            to_unix_s: 3600,
            resolution_s: 10,
            cluster: (0..360u64).map(|i| cluster_row(i * 10, Some(1.0), 1)).collect(),
            boxes: BTreeMap::new(),
            models: BTreeMap::new(),
        };
        assert_eq!(thin(series.clone(), 360), series);
    }
}
