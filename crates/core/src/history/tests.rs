use super::energy::{integrate, Tariff};
use super::recorder::FLUSH_AFTER;
use super::*;

/// A 15-min boundary, so every tier's buckets line up with the samples.
const T0: u64 = 1_699_999_200;

fn sample(at: u64, watts: f64, tokens: u64) -> Sample {
    Sample {
        at_unix_s: at,
        boxes: vec![
            BoxSample {
                name: "alpha".into(),
                memory_used_bytes: Some(100),
                memory_total_bytes: Some(1000),
                power_watts: Some(watts / 2.0),
                gpu_usage: Some(0.5),
                temp_c: Some(40.0),
            },
            BoxSample {
                name: "beta".into(),
                power_watts: Some(watts / 2.0),
                ..BoxSample::default()
            },
        ],
        cluster: ClusterSample {
            power_watts: Some(watts),
            tokens_per_s: Some(1.0),
            ttft_p50_ms: Some(100.0),
            ttft_p95_ms: Some(200.0),
            requests: Some(tokens / 10),
            errors: Some(0),
            tokens_served: Some(tokens),
            porten_tokens: Some(tokens / 2),
        },
        models: vec![ModelSample {
            id: "qwen".into(),
            tokens_per_s: Some(1.0),
            requests: Some(tokens / 10),
            tokens_served: Some(tokens),
        }],
    }
}

fn count(h: &History, table: &str, tier: i64) -> i64 {
    h.conn
        .query_row(&format!("SELECT COUNT(*) FROM {table} WHERE tier = ?1"), [tier], |r| {
            r.get(0)
        })
        .expect("count")
}

#[test]
fn a_new_database_is_versioned_and_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub/history.db");
    let (h, problem) = History::open(&path).expect("opens");
    assert!(problem.is_none());
    let version: i32 = h
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = h.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal");
    drop(h);
    // Opening again migrates nothing and keeps the version.
    let (_h, problem) = History::open(&path).expect("reopens");
    assert!(problem.is_none());
}

#[test]
fn a_corrupt_file_is_set_aside_and_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"this is not a database, not even close; ".repeat(200)).expect("write");
    let (mut h, problem) = History::open(&path).expect("a fresh database instead");
    let problem = problem.expect("the set-aside file is reported");
    assert_eq!(
        problem.moved_to.as_deref(),
        Some(dir.path().join("history.db.bad").as_path())
    );
    assert!(problem.message.contains("history.db.bad"), "{}", problem.message);
    assert!(dir.path().join("history.db.bad").exists());
    h.write_batch(&[sample(T0, 100.0, 0)], T0).expect("the fresh one works");
    assert_eq!(count(&h, "cluster_samples", 0), 1);
    drop(h);
    // A second corrupt file keeps the first one (as `.bad.1`), as settings files are kept.
    let first = std::fs::read(dir.path().join("history.db.bad")).expect("first set aside");
    std::fs::write(&path, b"corrupt again ".repeat(300)).expect("write");
    let (_h, again) = History::open(&path).expect("a fresh database again");
    assert!(again.is_some());
    assert_eq!(
        std::fs::read(dir.path().join("history.db.bad.1")).expect("the earlier copy kept"),
        first
    );
    // The read-only reader says what is wrong with a bad file, and with a missing one.
    std::fs::write(
        dir.path().join("other.db"),
        b"garbage garbage garbage garbage".repeat(100),
    )
    .expect("write");
    let err = History::open_read_only(&dir.path().join("other.db"))
        .err()
        .expect("refused");
    assert!(matches!(err, HistoryError::Unreadable { .. }), "{err}");
    let err = History::open_read_only(&dir.path().join("none.db"))
        .err()
        .expect("refused");
    assert!(matches!(err, HistoryError::Missing(_)), "{err}");
    assert!(err.to_string().contains("no history database"), "{err}");
}

#[test]
fn a_newer_schema_is_refused_and_left_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    {
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("version");
    }
    let err = History::open(&path).err().expect("refused");
    assert!(matches!(err, HistoryError::Newer { .. }), "{err}");
    assert!(path.exists() && !dir.path().join("history.db.bad").exists());
}

#[test]
fn writes_are_batched_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    let (h, _) = History::open(&path).expect("opens");
    let mut rec = Recorder::new(h);
    for i in 0..5 {
        rec.record(sample(T0 + i * 10, 100.0, i * 100)).expect("record");
    }
    // Seconds within one raw step are thinned to the first.
    rec.record(sample(T0 + 41, 100.0, 999)).expect("record");
    assert_eq!(
        count(rec.history(), "cluster_samples", 0),
        0,
        "nothing written before the batch is due"
    );
    rec.record(sample(T0 + 60, 100.0, 600)).expect("record");
    assert_eq!(count(rec.history(), "cluster_samples", 0), 6, "one transaction at 60 s");
    drop(rec);
    // A restart: the rows are there, and the counters go on from the newest one.
    let (h, _) = History::open(&path).expect("reopens");
    let mut rec = Recorder::new(h);
    rec.record(sample(T0 + 70, 100.0, 650)).expect("record");
    rec.flush(T0 + 70).expect("flush");
    let rows = rec.history().cluster_rows(RAW, T0, T0 + 100).expect("rows");
    let tokens: Vec<u64> = rows.iter().map(|r| r.tokens).collect();
    assert_eq!(tokens, vec![0, 100, 100, 100, 100, 200, 50]);
}

#[test]
fn a_clock_set_back_does_not_stop_recording() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    let mut rec = Recorder::new(h);
    rec.record(sample(T0 + 3600, 100.0, 0)).expect("record");
    // The clock goes back an hour: the next samples are kept, and flushed on time.
    for i in 0..7 {
        rec.record(sample(T0 + i * 10, 100.0, i)).expect("record");
    }
    assert_eq!(count(rec.history(), "cluster_samples", 0), 8);
}

#[test]
fn a_meter_restart_counts_its_new_tokens() {
    let mut last = Some(500);
    assert_eq!(
        increment(&mut last, Some(20)),
        20,
        "the counter went down: the meter restarted"
    );
    assert_eq!(increment(&mut last, Some(25)), 5);
    assert_eq!(increment(&mut last, None), 0);
    let mut first = None;
    assert_eq!(increment(&mut first, Some(1000)), 0, "before recording began");
}

#[test]
fn each_tier_holds_its_averages_and_is_pruned_on_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    // One hour every 10 s: power i W (so each minute's mean is known), 10 tokens per sample.
    let samples: Vec<Sample> = (0..360).map(|i| sample(T0 + i * 10, i as f64, i * 10)).collect();
    for batch in samples.chunks(FLUSH_AFTER) {
        let now = batch.last().map(|s| s.at_unix_s).unwrap_or(T0);
        h.write_batch(batch, now).expect("write");
    }
    h.write_batch(&[], T0 + 3600).expect("flush");
    assert_eq!(count(&h, "cluster_samples", 0), 360);
    assert_eq!(count(&h, "cluster_samples", 1), 60);
    assert_eq!(count(&h, "cluster_samples", 2), 4);
    assert_eq!(count(&h, "box_samples", 1), 120, "two boxes");

    let minutes = h.cluster_rows(MINUTE, T0, T0 + 3600).expect("rows");
    // Minute k holds samples 6k..6k+5: mean power 6k + 2.5.
    for (k, row) in minutes.iter().enumerate() {
        assert_eq!(row.at_unix_s, T0 + 60 * k as u64);
        assert_eq!(row.power_watts, Some(6.0 * k as f64 + 2.5));
        assert_eq!(row.tokens, if k == 0 { 50 } else { 60 }, "increments summed");
    }
    let quarters = h.cluster_rows(QUARTER, T0, T0 + 3600).expect("rows");
    assert_eq!(quarters[1].power_watts, Some(90.0 + 44.5));
    assert_eq!(quarters.iter().map(|r| r.tokens).sum::<u64>(), 3590);
    let alpha = h.rows(QUARTER, T0, T0 + 3600, Some("alpha")).expect("rows");
    assert_eq!(alpha.boxes.len(), 1);
    assert_eq!(alpha.boxes["alpha"][1].power_watts, Some((90.0 + 44.5) / 2.0));
    assert_eq!(alpha.boxes["alpha"][1].memory_total_bytes, Some(1000.0));
    // Beta reports power only: its memory stays unknown through both downsamplings, never 0.
    let beta = h.rows(QUARTER, T0, T0 + 3600, Some("beta")).expect("rows");
    assert_eq!(beta.boxes["beta"][1].power_watts, Some((90.0 + 44.5) / 2.0));
    assert_eq!(beta.boxes["beta"][1].memory_used_bytes, None);
    assert_eq!(beta.boxes["beta"][1].gpu_usage, None);

    // 25 h later: raw rows are gone, the averages stay.
    h.write_batch(&[], T0 + 3600 + 25 * 3600).expect("prune");
    assert_eq!(count(&h, "cluster_samples", 0), 0);
    assert_eq!(count(&h, "box_samples", 0), 0);
    assert_eq!(count(&h, "cluster_samples", 1), 60);
    // 8 days: the 1-min tier is gone, the 15-min one stays.
    h.write_batch(&[], T0 + 8 * 86_400).expect("prune");
    assert_eq!(count(&h, "cluster_samples", 1), 0);
    assert_eq!(count(&h, "box_samples", 1), 0);
    assert_eq!(count(&h, "cluster_samples", 2), 4);
    assert_eq!(
        h.cluster_rows(QUARTER, T0, T0 + 3600).expect("rows"),
        quarters,
        "unchanged by pruning"
    );
    // 91 days: nothing left.
    h.write_batch(&[], T0 + 91 * 86_400).expect("prune");
    assert_eq!(count(&h, "cluster_samples", 2), 0);
    assert_eq!(count(&h, "box_samples", 2), 0);
}

#[test]
fn a_partial_bucket_is_completed_by_the_next_flush() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    h.write_batch(&[sample(T0, 10.0, 0), sample(T0 + 10, 20.0, 10)], T0 + 15)
        .expect("write");
    assert_eq!(count(&h, "cluster_samples", 1), 0, "the minute has not ended");
    h.write_batch(&[sample(T0 + 50, 30.0, 20)], T0 + 60).expect("write");
    let minute = h.cluster_rows(MINUTE, T0, T0).expect("rows");
    assert_eq!(minute[0].power_watts, Some(20.0));
    assert_eq!(minute[0].tokens, 20);
}

#[test]
fn the_tier_follows_the_span() {
    let now = T0 + 100 * 86_400;
    assert_eq!(History::tier_for(now - 3600, now), RAW);
    assert_eq!(History::tier_for(now - 24 * 3600, now), RAW);
    assert_eq!(History::tier_for(now - 3 * 86_400, now), MINUTE);
    assert_eq!(History::tier_for(now - 30 * 86_400, now), QUARTER);
    assert_eq!(History::tier_for(0, now), QUARTER);
}

#[test]
fn a_gap_is_not_bridged() {
    // 100 W for 60 s, a 5-minute hole, then 200 W for 30 s.
    let points = [
        (0, Some(100.0), 10),
        (60, Some(100.0), 10),
        (360, Some(200.0), 10),
        (390, Some(200.0), 10),
    ];
    let (wh, covered) = integrate(&points);
    assert_eq!(covered, 90);
    assert!((wh - (100.0 * 60.0 + 200.0 * 30.0) / 3600.0).abs() < 1e-9);
    // Unknown power is a hole too, never 0 W.
    let (wh, covered) = integrate(&[(0, Some(100.0), 10), (10, None, 10), (20, Some(100.0), 10)]);
    assert_eq!((wh, covered), (0.0, 0));
}

/// Done means: energy per token matches a hand computation from the recorded power and tokens.
#[test]
fn energy_per_token_matches_a_hand_computation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    // From T0 + 300: 30 samples every 10 s, power rising 200 → 258 W, 37 tokens a step; then
    // a 130 s hole (the recorder stopped); then 6 samples at 300 W, 50 tokens a step.
    let mut samples = Vec::new();
    let mut tokens = 1_000_000; // the meter had run before recording began
    for i in 0..30u64 {
        samples.push(sample(T0 + 300 + i * 10, 200.0 + 2.0 * i as f64, tokens));
        tokens += 37;
    }
    tokens -= 37;
    for i in 0..6u64 {
        tokens += if i == 0 { 37 } else { 50 };
        samples.push(sample(T0 + 720 + i * 10, 300.0, tokens));
    }
    let end = T0 + 770;
    h.write_batch(&samples, end).expect("write");

    // By hand. First run: 29 trapezoids of 10 s between 200+2i and 200+2(i+1) W.
    let first_wh: f64 = (0..29)
        .map(|i| (200.0 + 2.0 * i as f64 + 200.0 + 2.0 * (i + 1) as f64) / 2.0 * 10.0 / 3600.0)
        .sum();
    // The 130 s hole is not bridged; the second run: 5 trapezoids of 10 s at 300 W.
    let second_wh = 5.0 * 300.0 * 10.0 / 3600.0;
    let wh = first_wh + second_wh;
    // Tokens: every increment after the window's first row: 29 × 37, then the first sample of
    // the second run (37, served in the hole) and 5 × 50.
    let served = 29 * 37 + 37 + 5 * 50;
    let tariff = Tariff {
        price_per_kwh: 0.30,
        currency: "EUR".into(),
    };
    let window = h.energy_window(T0, end, end, Some(&tariff)).expect("energy");
    assert!((window.energy_wh - wh).abs() < 1e-9, "{} vs {wh}", window.energy_wh);
    assert_eq!(window.covered_s, 290 + 50);
    assert_eq!(window.tokens, served);
    let per_million = wh / served as f64 * 1e6;
    let got = window.wh_per_million_tokens.expect("tokens were served");
    assert!((got - per_million).abs() < 1e-6, "{got} vs {per_million}");
    let cost = window.cost_per_million_tokens.expect("a tariff");
    assert!((cost - per_million / 1000.0 * 0.30).abs() < 1e-9);
    assert!((window.cost.expect("a tariff") - wh / 1000.0 * 0.30).abs() < 1e-12);
    assert_eq!(window.porten_tokens, served / 2);

    // The three windows; "now" (15 min) holds it all, no tariff = no cost.
    let figures = h.energy(end, T0, None).expect("energy");
    assert!((figures.now.energy_wh - wh).abs() < 1e-9);
    assert_eq!(figures.today.tokens, served);
    assert_eq!(figures.week.tokens, served);
    assert!(figures.now.cost.is_none() && figures.currency.is_none());
}

#[test]
fn energy_over_a_week_joins_the_minute_tier_and_raw_rows_without_counting_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    // Two days of 100 W and 10 tokens every 10 s: the first day's raw rows get pruned.
    let day = 86_400;
    let samples: Vec<Sample> = (0..2 * day / 10).map(|i| sample(T0 + i * 10, 100.0, i * 10)).collect();
    for batch in samples.chunks(2000) {
        h.write_batch(batch, batch.last().map(|s| s.at_unix_s).unwrap_or(T0))
            .expect("write");
    }
    let now = T0 + 2 * day - 10;
    let week = h.energy_window(now - 7 * day, now, now, None).expect("energy");
    // Every row's 10 tokens after the first; 100 W over the covered seconds.
    assert_eq!(week.tokens, (2 * day / 10 - 1) * 10);
    assert!((week.energy_wh - 100.0 * week.covered_s as f64 / 3600.0).abs() < 1e-6);
    assert!(week.covered_s > 2 * day - 120, "{}", week.covered_s);
}

#[test]
fn each_model_is_recorded_and_downsampled_with_its_own_counters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    let mut rec = Recorder::new(h);
    // Two models; the second appears later, its first counter is history before recording.
    for i in 0..12u64 {
        let mut s = sample(T0 + i * 10, 100.0, i * 100);
        if i >= 6 {
            s.models.push(ModelSample {
                id: "llama".into(),
                tokens_per_s: Some(3.0),
                requests: Some(i),
                tokens_served: Some(1000 + i * 7),
            });
        }
        rec.record(s).expect("record");
    }
    rec.flush(T0 + 180).expect("flush");
    let h = rec.history();
    let raw = h.model_rows(RAW, T0, T0 + 200).expect("rows");
    let qwen: Vec<u64> = raw["qwen"].iter().map(|r| r.tokens).collect();
    assert_eq!(qwen, vec![0, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100]);
    let llama: Vec<u64> = raw["llama"].iter().map(|r| r.tokens).collect();
    assert_eq!(llama, vec![0, 7, 7, 7, 7, 7]);
    // The two complete minutes: sums of increments, mean tokens/s.
    let minutes = h.model_rows(MINUTE, T0, T0 + 200).expect("minute rows");
    let qwen: Vec<(u64, u64)> = minutes["qwen"].iter().map(|r| (r.at_unix_s, r.tokens)).collect();
    assert_eq!(qwen, vec![(T0, 500), (T0 + 60, 600)]);
    assert_eq!(minutes["llama"].len(), 1);
    assert_eq!(minutes["llama"][0].tokens, 35);
    assert_eq!(minutes["llama"][0].tokens_per_s, Some(3.0));
    // `rows` carries them for the CLI and the charts.
    let series = h.rows(MINUTE, T0, T0 + 200, None).expect("series");
    assert_eq!(series.models, minutes);
}

#[test]
fn a_version_1_file_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    {
        // A file as the first schema wrote it, with one cluster row.
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(SCHEMA_V1).expect("v1 schema");
        conn.execute(
            "INSERT INTO cluster_samples(tier, ts, power, requests, errors, tokens, porten_tokens, tokens_total)
             VALUES (0, ?1, 90.0, 1, 0, 42, 0, 4242)",
            [to_sql(T0)],
        )
        .expect("v1 row");
        conn.pragma_update(None, "user_version", 1).expect("version 1");
    }
    // Read-only opening refuses an older file rather than write to it.
    assert!(History::open_read_only(&path).is_err());
    let (h, problem) = History::open(&path).expect("migrates");
    assert!(problem.is_none(), "a migration is not a problem: {problem:?}");
    let version: i32 = h
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let rows = h.cluster_rows(RAW, T0, T0).expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].tokens, rows[0].tokens_served_total), (42, Some(4242)));
    assert!(h.model_rows(RAW, T0, T0 + 10).expect("no model rows").is_empty());
    drop(h);
    assert!(History::open_read_only(&path).is_ok());
}

#[test]
fn the_energy_figures_become_prometheus_gauges_with_window_and_currency() {
    let window = |wh: f64, tokens: u64| EnergyWindow {
        from_unix_s: 0,
        to_unix_s: 900,
        energy_wh: wh,
        covered_s: 900,
        tokens,
        porten_tokens: 0,
        wh_per_million_tokens: (tokens > 0).then(|| wh / tokens as f64 * 1e6),
        cost: Some(wh / 1000.0 * 0.3),
        cost_per_million_tokens: (tokens > 0).then(|| wh / tokens as f64 * 1e6 / 1000.0 * 0.3),
    };
    let figures = EnergyFigures {
        now: window(3.0, 9000),
        today: window(30.0, 0),
        week: window(300.0, 1_000_000),
        currency: Some("EUR".into()),
    };
    let text = clusterbar_meter::stats::external_prometheus_text(&energy::prometheus_gauges(&figures));
    assert!(
        text.contains("# TYPE clusterbar_energy_wh_per_million_tokens gauge\n"),
        "{text}"
    );
    assert!(text.contains("clusterbar_energy_wh{window=\"today\"} 30\n"), "{text}");
    assert!(
        text.contains("clusterbar_energy_wh_per_million_tokens{window=\"week\"} 300\n"),
        "{text}"
    );
    // No tokens today: no per-token figure for it (not 0, not NaN).
    assert!(
        !text.contains("clusterbar_energy_wh_per_million_tokens{window=\"today\"}"),
        "{text}"
    );
    assert!(
        text.contains("clusterbar_energy_cost_per_million_tokens{window=\"week\",currency=\"EUR\"} 0.09"),
        "{text}"
    );
    let without_tariff = EnergyFigures {
        currency: None,
        ..figures
    };
    let text = clusterbar_meter::stats::external_prometheus_text(&energy::prometheus_gauges(&without_tariff));
    assert!(!text.contains("energy_cost"), "{text}");
}

#[test]
fn a_long_span_read_on_several_connections_equals_one_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, _) = History::open(&dir.path().join(FILE_NAME)).expect("opens");
    // Two hours; a third box that was seen only in the first minute.
    let mut samples: Vec<Sample> = (0..720).map(|i| sample(T0 + i * 10, i as f64, i * 10)).collect();
    for s in samples.iter_mut().take(6) {
        s.boxes.push(BoxSample {
            name: "gone".into(),
            power_watts: Some(1.0),
            ..BoxSample::default()
        });
    }
    for batch in samples.chunks(FLUSH_AFTER) {
        let now = batch.last().map(|s| s.at_unix_s).unwrap_or(T0);
        h.write_batch(batch, now).expect("write");
    }
    let one = h.rows_on(RAW, T0, T0 + 7200, None, Some(1)).expect("one connection");
    assert_eq!(one.cluster.len(), 720);
    assert_eq!(one.boxes.keys().collect::<Vec<_>>(), ["alpha", "beta", "gone"]);
    assert_eq!(one.boxes["gone"].len(), 6);
    assert_eq!(one.models["qwen"].len(), 720);
    for readers in [2, 3, 8] {
        let many = h.rows_on(RAW, T0, T0 + 7200, None, Some(readers)).expect("several");
        assert_eq!(many, one, "{readers} readers");
    }
    // A 90-day span is long enough to be split by itself; later than the box was seen, it is left out.
    let later = h.rows(RAW, T0 + 3600, T0 + 90 * 86_400, None).expect("long span");
    assert_eq!(later.boxes.keys().collect::<Vec<_>>(), ["alpha", "beta"]);
    assert_eq!(later.cluster, one.cluster[360..]);
    let only = h.rows_on(RAW, T0, T0 + 7200, Some("beta"), Some(3)).expect("one box");
    assert_eq!(only.boxes.keys().collect::<Vec<_>>(), ["beta"]);
    assert_eq!(only.boxes["beta"], one.boxes["beta"]);
    assert_eq!(only.models, one.models, "models are not filtered by box");
}

#[test]
fn a_version_2_file_keeps_its_box_figures_when_packed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    {
        // Box rows as schema 2 held them: five columns, memory as integers, unknown as NULL.
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(SCHEMA_V1).expect("v1 schema");
        conn.execute_batch(SCHEMA_V2).expect("v2 schema");
        conn.execute_batch(
            "INSERT INTO boxes(id, name) VALUES (1, 'alpha'), (2, 'beta');
             INSERT INTO box_samples(tier, ts, box, mem_used, mem_total, power, gpu, temp) VALUES
               (2, 1699999200, 1, 412316860416, 549755813888, 81.5, 0.25, 44.0),
               (2, 1699999200, 2, NULL, NULL, 12.0, NULL, NULL),
               (0, 1699999210, 2, 7, 8, NULL, 1.0, 30.5);",
        )
        .expect("v2 rows");
        conn.pragma_update(None, "user_version", 2).expect("version 2");
    }
    let (h, problem) = History::open(&path).expect("migrates");
    assert!(problem.is_none(), "{problem:?}");
    let quarter = h.rows(QUARTER, T0, T0, None).expect("quarter rows");
    let alpha = &quarter.boxes["alpha"][0];
    assert_eq!(
        (
            alpha.memory_used_bytes,
            alpha.memory_total_bytes,
            alpha.power_watts,
            alpha.gpu_usage,
            alpha.temp_c
        ),
        (
            Some(412_316_860_416.0),
            Some(549_755_813_888.0),
            Some(81.5),
            Some(0.25),
            Some(44.0)
        )
    );
    let beta = &quarter.boxes["beta"][0];
    assert_eq!(
        (beta.memory_used_bytes, beta.power_watts, beta.temp_c),
        (None, Some(12.0), None)
    );
    let raw = h.rows(RAW, T0, T0 + 10, Some("beta")).expect("raw rows");
    let beta = &raw.boxes["beta"][0];
    assert_eq!(
        (beta.memory_used_bytes, beta.power_watts, beta.gpu_usage),
        (Some(7.0), None, Some(1.0))
    );
    let free: i64 = h
        .conn
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .expect("freelist");
    assert_eq!(free, 0, "the copied table's pages are given back");
    drop(h);
    assert!(History::open_read_only(&path).is_ok(), "read-only once migrated");
}
