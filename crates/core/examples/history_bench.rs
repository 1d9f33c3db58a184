//! History figures (issue #13), printed, never asserted: the database's size for 6 boxes and 2 models × 90
//! days at full retention, its growth per day, the cost of one flush, and one 90-day query at
//! 15-min resolution (read in parts on up to 4 connections, `history::read`).
//!
//! `cargo run --release -p clusterbar-core --example history_bench [DAYS]`

use clusterbar_core::history::{BoxSample, ClusterSample, History, ModelSample, Recorder, Sample, QUARTER};
use std::path::Path;
use std::time::Instant;

const BOXES: usize = 6;
/// Models served side by side (each gets its own rows).
const MODELS: usize = 2;
const DAY: u64 = 86_400;

fn sample(at: u64, i: u64) -> Sample {
    let wave = (i % 360) as f64;
    Sample {
        at_unix_s: at,
        boxes: (0..BOXES)
            .map(|b| BoxSample {
                name: format!("studio-{b}"),
                memory_used_bytes: Some(400_000_000_000 + i % 1000 * 1_000_000),
                memory_total_bytes: Some(512_000_000_000),
                power_watts: Some(80.0 + wave / 3.0 + b as f64),
                gpu_usage: Some(wave / 360.0),
                temp_c: Some(45.0 + wave / 20.0),
            })
            .collect(),
        cluster: ClusterSample {
            power_watts: Some(BOXES as f64 * (80.0 + wave / 3.0)),
            tokens_per_s: Some(30.0 + wave / 10.0),
            ttft_p50_ms: Some(250.0),
            ttft_p95_ms: Some(900.0),
            requests: Some(i / 3),
            errors: Some(i / 1000),
            tokens_served: Some(i * 300),
            porten_tokens: Some(i * 100),
        },
        models: (0..MODELS)
            .map(|m| ModelSample {
                id: format!("mlx-community/model-{m}"),
                tokens_per_s: Some(15.0 + wave / 20.0),
                requests: Some(i / 6),
                tokens_served: Some(i * 150),
            })
            .collect(),
    }
}

fn size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Runs `query` `runs` times (at least once): the times in ms, sorted, and what the last run
/// returned.
fn timed<T, E>(runs: usize, mut query: impl FnMut() -> Result<T, E>) -> Result<(Vec<f64>, T), E> {
    let mut ms = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(query()?);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms, last.expect("at least one run")))
}

/// The `q` quantile of sorted times (NaN when there are none).
fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q) as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Rows in a series: the cluster's, every box's and every model's.
fn rows_in(series: &clusterbar_core::history::Series) -> usize {
    series.cluster.len()
        + series.boxes.values().map(Vec::len).sum::<usize>()
        + series.models.values().map(Vec::len).sum::<usize>()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let days: u64 = std::env::args().nth(1).and_then(|d| d.parse().ok()).unwrap_or(90);
    let dir = tempfile::tempdir()?;
    // HISTORY_BENCH_DB=FILE keeps the filled database; an existing one is only queried.
    let kept = std::env::var_os("HISTORY_BENCH_DB").map(std::path::PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("history.db"));
    let fill = !path.exists();
    let opening = Instant::now();
    let (history, _) = History::open(&path)?;
    // An existing file of an older schema is migrated (and compacted) here.
    let open_ms = opening.elapsed().as_secs_f64() * 1e3;
    let mut recorder = Recorder::new(history);
    let start = 1_700_000_000 / 900 * 900;
    let mut flush_times = Vec::new();
    let mut sizes = Vec::new();
    let began = Instant::now();
    // A sample every 10 s, flushed every 60 s as the recording thread does.
    let mut i = 0;
    for day in (0..days).filter(|_| fill) {
        for step in 0..DAY / 10 {
            let at = start + day * DAY + step * 10;
            let t = Instant::now();
            recorder.record(sample(at, i))?;
            if step % 6 == 5 {
                recorder.flush(at)?;
                // Steady state (past the 7-day tier) is the flush users pay for.
                if day >= 8 {
                    flush_times.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            i += 1;
        }
        sizes.push(size(&path));
    }
    let now = start + days * DAY - 10;
    if fill {
        recorder.flush(now)?;
    }
    let filled = began.elapsed();
    drop(recorder);

    let reader = History::open_read_only(&path)?;
    let from = now - days * DAY;
    let (query_ms, rows) = timed(21, || reader.rows(QUARTER, from, now, None).map(|s| rows_in(&s)))?;
    // The peer in the same run: the same rows on this one connection.
    let (one_connection_ms, _) = timed(21, || reader.rows_on(QUARTER, from, now, None, Some(1)))?;
    // What the popover's 90-day chart asks: the same rows thinned to 360 points a series.
    let (chart_ms, _) = timed(21, || {
        clusterbar_core::history::query::since(&reader, days * DAY, now, None, Some(360))
    })?;
    // The app's `history_series` opens the file for each chart it draws: that open counted too.
    let (cold_chart_ms, _) = timed(21, || {
        let reader = History::open_read_only(&path)?;
        clusterbar_core::history::query::since(&reader, days * DAY, now, None, Some(360))
    })?;
    let (one_box_ms, _) = timed(21, || reader.rows(QUARTER, from, now, Some("studio-0")))?;
    flush_times.sort_by(f64::total_cmp);

    println!(
        "figure: boxes={BOXES} days={days} samples={i} filled_in_s={:.1}",
        filled.as_secs_f64()
    );
    println!("figure: db_size_mb={:.2} (file + WAL)", mb(size(&path)));
    if !fill {
        println!("figure: open_for_recording_ms={open_ms:.1} (its quick_check; an older schema's file is migrated and compacted here too)");
    }
    for d in [1, 2, 7, 8, 30, 60, 90] {
        if let Some(s) = sizes.get(d as usize - 1) {
            println!("figure: size_after_day_{d}_mb={:.2}", mb(*s));
        }
    }
    if sizes.len() > 20 {
        let n = sizes.len();
        let per_day = (sizes[n - 1] as f64 - sizes[n - 11] as f64) / 10.0;
        println!("figure: growth_per_day_steady_kb={:.0} (last 10 days)", per_day / 1e3);
    }
    println!(
        "figure: flush_of_6_samples_ms p50={:.2} p95={:.2} max={:.2}",
        pct(&flush_times, 0.5),
        pct(&flush_times, 0.95),
        pct(&flush_times, 1.0)
    );
    println!(
        "figure: query_{days}d_15min_all_boxes_ms p50={:.2} max={:.2} rows={rows}",
        pct(&query_ms, 0.5),
        pct(&query_ms, 1.0)
    );
    println!(
        "figure: query_{days}d_15min_all_boxes_one_connection_ms p50={:.2} max={:.2} (ratio {:.2}; cores={})",
        pct(&one_connection_ms, 0.5),
        pct(&one_connection_ms, 1.0),
        pct(&one_connection_ms, 0.5) / pct(&query_ms, 0.5),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "figure: chart_{days}d_360_points_ms p50={:.2} max={:.2} (the popover's query: the rows above, thinned)",
        pct(&chart_ms, 0.5),
        pct(&chart_ms, 1.0)
    );
    println!(
        "figure: open_and_chart_{days}d_ms p50={:.2} max={:.2} (as the app's history_series: open, read, thin)",
        pct(&cold_chart_ms, 0.5),
        pct(&cold_chart_ms, 1.0)
    );
    println!(
        "figure: query_{days}d_15min_one_box_ms p50={:.2} max={:.2}",
        pct(&one_box_ms, 0.5),
        pct(&one_box_ms, 1.0)
    );
    // Every span the popover offers, as it asks (the 24 h chart reads raw rows, the 7 d one minutes).
    for span in clusterbar_core::history::query::CHART_SPANS_S {
        let (ms, rows) = timed(11, || {
            let series = reader.rows(History::tier_for(now - span, now), now - span, now, None)?;
            let rows = rows_in(&series);
            clusterbar_core::history::query::thin(series, 360);
            Ok::<_, clusterbar_core::history::HistoryError>(rows)
        })?;
        println!(
            "figure: chart_span_{}h_ms p50={:.2} max={:.2} rows_read={rows}",
            span / 3600,
            pct(&ms, 0.5),
            pct(&ms, 1.0)
        );
    }
    let t = Instant::now();
    let energy = reader.energy(now, now - 12 * 3600, None)?;
    println!(
        "figure: energy_now_today_week_ms={:.2} wh_per_1m_tokens_week={:.1}",
        t.elapsed().as_secs_f64() * 1e3,
        energy.week.wh_per_million_tokens.unwrap_or(f64::NAN)
    );
    Ok(())
}
