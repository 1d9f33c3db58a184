//! `clusterbar history` (a read-only query of the history database), and the conversion of a
//! Snapshot and the meter's stats into the recorder's `Sample` for `serve` and `meter`.

use clap::Args;
use clusterbar_core::format::printable;
use clusterbar_core::history::query::mean;
use clusterbar_core::history::{self, energy, History, RecorderHandle};

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// How far back: a number with s, m, h, d or w (e.g. 90m, 24h, 7d). The resolution follows:
    /// 10 s up to 24 h, 1 min up to 7 days, 15 min beyond.
    #[arg(long, default_value = "24h")]
    since: String,
    /// Only this box's rows (the cluster's figures are kept).
    #[arg(long = "box", value_name = "NAME")]
    box_name: Option<String>,
    /// Print JSON: the rows and the energy figures.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV: one line per time and box (scope `cluster` for the cluster's figures).
    #[arg(long)]
    csv: bool,
    /// At most this many rows per series, merged from consecutive rows (the popover's charts
    /// ask for 360): averages for gauges, sums for counts.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    points: Option<u32>,
}

/// "24h" → seconds.
fn parse_span(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("--since {text:?}: give a number and a unit, e.g. 24h or 7d"))?;
    let unit_s = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("--since {text:?}: the unit is one of s, m, h, d, w")),
    };
    Ok(number.saturating_mul(unit_s))
}

pub fn run(args: HistoryArgs) -> Result<(), String> {
    let span = parse_span(&args.since)?;
    let path = history::default_path();
    let db = History::open_read_only(&path).map_err(|e| e.to_string())?;
    let now = clusterbar_core::clock::now_unix_ms() / 1000;
    if let Some(name) = &args.box_name {
        let known = db.box_names().map_err(|e| e.to_string())?;
        if !known.contains(name) {
            return Err(format!(
                "no box named {:?} in the history (known: {})",
                printable(name),
                printable(&known.join(", "))
            ));
        }
    }
    let points = args.points.map(|p| p as usize);
    let series = history::query::since(&db, span, now, args.box_name.as_deref(), points).map_err(|e| e.to_string())?;
    let settings = clusterbar_core::settings::SettingsStore::platform().load().settings;
    let tariff = settings.tariff();
    let energy = db
        .energy(now, energy::local_midnight(now), tariff.as_ref())
        .map_err(|e| e.to_string())?;
    let text = if args.json {
        let mut value = serde_json::to_value(&series).map_err(|e| format!("encoding the history: {e}"))?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "energy".into(),
                serde_json::to_value(&energy).map_err(|e| format!("encoding the history: {e}"))?,
            );
        }
        serde_json::to_string_pretty(&value).map_err(|e| format!("encoding the history: {e}"))?
    } else if args.csv {
        // print_text ends the last line.
        csv(&series).trim_end().to_owned()
    } else {
        let mut text = summary(&series, &energy);
        if series.cluster.is_empty() {
            // Say why the span is empty rather than print zeros alone.
            let newest = db.newest_unix_s().map_err(|e| e.to_string())?;
            text = format!("{}\n{text}", nothing_recorded(span, newest, now));
        }
        text
    };
    crate::render::print_text(&text)
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn csv(series: &history::Series) -> String {
    let mut out = String::from(
        "time_unix_s,scope,memory_used_bytes,memory_total_bytes,power_w,gpu_usage,temp_c,tokens_per_s,ttft_p50_ms,ttft_p95_ms,requests,errors,tokens,porten_tokens\n",
    );
    for r in &series.cluster {
        out.push_str(&format!(
            "{},cluster,,,{},,,{},{},{},{},{},{},{}\n",
            r.at_unix_s,
            opt(r.power_watts),
            opt(r.tokens_per_s),
            opt(r.ttft_p50_ms),
            opt(r.ttft_p95_ms),
            r.requests,
            r.errors,
            r.tokens,
            r.porten_tokens
        ));
    }
    for (id, rows) in &series.models {
        // Scope `model:ID`, quoted like box names (an id may hold anything).
        let scope = format!("\"model:{}\"", printable(id).replace('"', "\"\""));
        for r in rows {
            out.push_str(&format!(
                "{},{scope},,,,,,{},,,{},,{},\n",
                r.at_unix_s,
                opt(r.tokens_per_s),
                r.requests,
                r.tokens
            ));
        }
    }
    for (name, rows) in &series.boxes {
        // A box name is the user's Mac name: quoted, quotes doubled, so commas survive.
        let scope = format!("\"{}\"", printable(name).replace('"', "\"\""));
        for r in rows {
            out.push_str(&format!(
                "{},{scope},{},{},{},{},{},,,,,,,\n",
                r.at_unix_s,
                opt(r.memory_used_bytes.map(f64::round)),
                opt(r.memory_total_bytes.map(f64::round)),
                opt(r.power_watts),
                opt(r.gpu_usage),
                opt(r.temp_c)
            ));
        }
    }
    out
}

fn summary(series: &history::Series, energy: &history::EnergyFigures) -> String {
    let mut lines = vec![format!(
        "History over {} at {} s resolution: {} cluster rows",
        span_words(series.to_unix_s.saturating_sub(series.from_unix_s)),
        series.resolution_s,
        series.cluster.len()
    )];
    let tokens: u64 = series.cluster.iter().map(|r| r.tokens).sum();
    let porten: u64 = series.cluster.iter().map(|r| r.porten_tokens).sum();
    let requests: u64 = series.cluster.iter().map(|r| r.requests).sum();
    let errors: u64 = series.cluster.iter().map(|r| r.errors).sum();
    lines.push(format!(
        "Cluster: {tokens} tokens served ({porten} to Porten), {requests} requests, {errors} errors; mean {} W, {} tok/s",
        fmt1(mean(series.cluster.iter().map(|r| r.power_watts))),
        fmt1(mean(series.cluster.iter().map(|r| r.tokens_per_s)))
    ));
    for (name, rows) in &series.boxes {
        let last_mem = rows
            .iter()
            .rev()
            .find_map(|r| r.memory_used_bytes.zip(r.memory_total_bytes));
        lines.push(format!(
            "  {}: mean {} W, GPU {} %, max {} °C, memory {}",
            printable(name),
            fmt1(mean(rows.iter().map(|r| r.power_watts))),
            fmt1(mean(rows.iter().map(|r| r.gpu_usage)).map(|g| g * 100.0)),
            fmt1(rows.iter().filter_map(|r| r.temp_c).reduce(f64::max)),
            last_mem
                .map(|(used, total)| format!("{:.0} of {:.0} GB", used / 1e9, total / 1e9))
                .unwrap_or_else(|| "unknown".into())
        ));
    }
    for (id, rows) in &series.models {
        lines.push(format!(
            "  model {}: {} tokens, {} requests, mean {} tok/s",
            printable(id),
            rows.iter().map(|r| r.tokens).sum::<u64>(),
            rows.iter().map(|r| r.requests).sum::<u64>(),
            fmt1(mean(rows.iter().map(|r| r.tokens_per_s)))
        ));
    }
    lines.push("Energy per token:".into());
    for (label, w) in [
        ("now (15 min)", &energy.now),
        ("today", &energy.today),
        ("7 days", &energy.week),
    ] {
        let cost = match (&energy.currency, w.cost_per_million_tokens, w.cost) {
            (Some(cur), per_million, Some(cost)) => format!(
                "; {} {} per 1M tokens, {cost:.2} {} in all",
                per_million.map(|c| format!("{c:.3}")).unwrap_or_else(|| "–".into()),
                printable(cur),
                printable(cur)
            ),
            _ => String::new(),
        };
        lines.push(format!(
            "  {label}: {} Wh per 1M tokens ({:.1} Wh, {} tokens){cost}",
            w.wh_per_million_tokens
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "–".into()),
            w.energy_wh,
            w.tokens
        ));
    }
    lines.join("\n")
}

/// The line for a span with no rows: nothing recorded ever, or not lately (with how long ago).
fn nothing_recorded(span_s: u64, newest_unix_s: Option<u64>, now_unix_s: u64) -> String {
    const WHERE: &str = "history is recorded while the app, `clusterbar serve` or `clusterbar meter` runs";
    match newest_unix_s {
        None => format!("Nothing recorded yet: {WHERE}."),
        Some(newest) => {
            let age = now_unix_s.saturating_sub(newest);
            // Rounded down to a whole unit: "3 d", "5 h", "12 min".
            let unit = [86_400, 3600, 60, 1].into_iter().find(|u| age >= *u).unwrap_or(1);
            format!(
                "Nothing recorded in the last {}; the newest row is {} old ({WHERE}).",
                span_words(span_s),
                span_words(age / unit * unit)
            )
        }
    }
}

fn span_words(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn fmt1(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into())
}

/// Says on stderr when the recorder's writes start failing (or losing samples) and when they
/// recover: once at each change, not at every sample.
#[derive(Default)]
pub struct HealthReport {
    failing: bool,
}

impl HealthReport {
    pub fn check(&mut self, recorder: &RecorderHandle) {
        if let Some(line) = self.line_for(recorder.health().problem()) {
            eprintln!("{line}");
        }
    }

    /// The line to print for the recorder's problem now, if it differs from the last one said
    /// (only the change between failing and not: a growing count of lost samples is not news).
    fn line_for(&mut self, problem: Option<String>) -> Option<String> {
        if problem.is_some() == self.failing {
            return None;
        }
        self.failing = problem.is_some();
        Some(match problem {
            Some(problem) => format!("clusterbar: warning: {}", printable(&problem)),
            None => "clusterbar: history is being written again".to_owned(),
        })
    }
}

/// Starts recording to the default database; a set-aside file or a failure is said on stderr
/// and never stops the command.
pub fn start_recording() -> Option<RecorderHandle> {
    let path = history::default_path();
    match history::spawn_recorder(&path) {
        Ok((handle, problem)) => {
            if let Some(problem) = problem {
                eprintln!("clusterbar: warning: history: {}", printable(&problem.message));
            }
            Some(handle)
        }
        Err(e) => {
            eprintln!(
                "clusterbar: warning: no history this run: {}",
                printable(&e.to_string())
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_recorder_is_said_once_and_its_recovery_once() {
        let mut report = HealthReport::default();
        assert_eq!(report.line_for(None), None, "nothing to say while it writes");
        let failing = || Some("History is not being written: disk full".to_owned());
        assert_eq!(
            report.line_for(failing()).as_deref(),
            Some("clusterbar: warning: History is not being written: disk full")
        );
        assert_eq!(report.line_for(failing()), None, "said once, not at every sample");
        assert_eq!(
            report.line_for(None).as_deref(),
            Some("clusterbar: history is being written again")
        );
        assert_eq!(report.line_for(None), None);
    }

    #[test]
    fn an_empty_span_says_why() {
        assert_eq!(
            nothing_recorded(3600, None, 1_000_000),
            "Nothing recorded yet: history is recorded while the app, `clusterbar serve` or `clusterbar meter` runs."
        );
        let three_days = nothing_recorded(3600, Some(1_000_000 - 3 * 86_400 - 5000), 1_000_000);
        assert!(
            three_days.starts_with("Nothing recorded in the last 1 h; the newest row is 3 d old"),
            "{three_days}"
        );
        assert!(nothing_recorded(600, Some(1_000_000 - 754), 1_000_000).contains("is 12 min old"));
    }

    #[test]
    fn spans_parse() {
        assert_eq!(parse_span("24h"), Ok(86_400));
        assert_eq!(parse_span("90m"), Ok(5400));
        assert_eq!(parse_span("7d"), Ok(604_800));
        assert_eq!(parse_span("2w"), Ok(1_209_600));
        assert_eq!(parse_span("3"), Ok(10_800));
        assert!(parse_span("h").is_err());
        assert!(parse_span("5y").is_err());
        assert!(parse_span("-1h").is_err());
    }
}
