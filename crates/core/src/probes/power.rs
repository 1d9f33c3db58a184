//! Power draw, GPU use and temperature.
//!
//! macOS: the `macmon` library, in process ([`MacmonInProcess`]): each reading is the average
//! since the previous one, taken when the sampler asks (no timer of its own, no child waking
//! every second), and serialised to the JSON object `macmon pipe` prints, so one parser
//! ([`parse_macmon_line`]) reads both, and a report bundle holds what a `macmon pipe` would
//! have shown. Its schema changed over versions (0.6.1: `gpu_usage: [MHz, ratio]`; 0.8+:
//! `gpu_active_ratio`; 0.10: nullable temperatures); the parser reads all of them. When the
//! library cannot sample this chip (a chip newer than the linked macmon), an installed
//! `macmon pipe` child is used instead; [`MacmonReader`] keeps its latest line.
//! Linux: hwmon `power*_average` (µW) and `temp*_input` (m°C), RAPL `energy_uj` (two readings
//! give watts; root-only since Linux 5.10, so "permission denied" means n/a, never 0).

use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One `macmon pipe` sample, reduced to what Clusterbar shows.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MacmonSample {
    /// Whole machine (`sys_power`), W.
    pub sys_power_watts: Option<f64>,
    /// CPU + GPU + ANE (`all_power`), W.
    pub soc_power_watts: Option<f64>,
    pub cpu_power_watts: Option<f64>,
    pub gpu_power_watts: Option<f64>,
    /// 0–1.
    pub gpu_usage: Option<f64>,
    pub cpu_temp_c: Option<f64>,
    pub gpu_temp_c: Option<f64>,
    pub ram_total_bytes: Option<u64>,
}

/// Parses the last JSON line of `macmon pipe` output.
pub fn parse_macmon_output(text: &str) -> Result<MacmonSample, super::ProbeError> {
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or(super::ProbeError::Parse {
            what: "macmon pipe",
            reason: "no output".into(),
        })?;
    parse_macmon_line(line)
}

pub fn parse_macmon_line(line: &str) -> Result<MacmonSample, super::ProbeError> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| super::ProbeError::Parse {
        what: "macmon pipe",
        reason: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(super::ProbeError::Parse {
            what: "macmon pipe",
            reason: "not a JSON object".into(),
        });
    }
    let number = |v: Option<&serde_json::Value>| v.and_then(|n| n.as_f64()).filter(|n| n.is_finite());
    let watts = |key: &str| number(value.get(key)).filter(|w| *w >= 0.0);
    // A zero reading means the sensor did not report (a machine never draws 0 W).
    let positive_watts = |key: &str| watts(key).filter(|w| *w > 0.0);
    let gpu_usage = number(value.get("gpu_active_ratio"))
        .or_else(|| number(value.get("gpu_usage").and_then(|u| u.get(1))))
        .filter(|r| (0.0..=1.0).contains(r));
    let temp = |key: &str| number(value.get("temp").and_then(|t| t.get(key))).filter(|c| *c > 0.0 && *c < 150.0);
    Ok(MacmonSample {
        sys_power_watts: positive_watts("sys_power"),
        soc_power_watts: positive_watts("all_power"),
        cpu_power_watts: positive_watts("cpu_power"),
        gpu_power_watts: watts("gpu_power"),
        gpu_usage,
        cpu_temp_c: temp("cpu_temp_avg"),
        gpu_temp_c: temp("gpu_temp_avg"),
        ram_total_bytes: value
            .get("memory")
            .and_then(|m| m.get("ram_total"))
            .and_then(|t| t.as_u64()),
    })
}

/// Where macmon is: PATH, then Homebrew's prefixes (a GUI app does not get the shell's PATH).
pub fn find_macmon() -> Option<PathBuf> {
    which::which("macmon").ok().or_else(|| {
        ["/opt/homebrew/bin/macmon", "/usr/local/bin/macmon"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

pub const MACMON_MISSING: &str = "install macmon (brew install macmon)";

/// The `macmon` library on a thread of its own (its sampler holds CoreFoundation objects that
/// must stay on one thread), answering one request at a time: no request, no work.
#[cfg(target_os = "macos")]
pub struct MacmonInProcess {
    requests: std::sync::mpsc::Sender<std::sync::mpsc::Sender<Result<String, String>>>,
}

#[cfg(target_os = "macos")]
impl MacmonInProcess {
    /// Opens the sensors (IOReport, SMC, HID) and takes the baseline the first reading is
    /// measured from. Fails on a chip this macmon does not know.
    pub fn start() -> Result<Self, String> {
        use std::sync::mpsc;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (requests, incoming) = mpsc::channel::<mpsc::Sender<Result<String, String>>>();
        std::thread::Builder::new()
            .name("macmon".into())
            .spawn(move || {
                let mut sampler = match macmon::Sampler::new() {
                    Ok(sampler) => sampler,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("macmon cannot read this Mac's sensors: {e}")));
                        return;
                    }
                };
                // The baseline: every later reading covers the time since the one before.
                if let Err(e) = sampler.get_metrics(100) {
                    let _ = ready_tx.send(Err(format!("macmon's first reading failed: {e}")));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                // Ends when the handle (the only sender) is dropped.
                for reply in incoming {
                    let line = sampler
                        .get_metrics(0)
                        .map_err(|e| format!("macmon reading failed: {e}"))
                        .and_then(|metrics| serde_json::to_string(&metrics).map_err(|e| e.to_string()));
                    let _ = reply.send(line);
                }
            })
            .map_err(|e| format!("starting the macmon thread: {e}"))?;
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "macmon did not start in 5 s".to_owned())??;
        Ok(Self { requests })
    }

    /// One reading, as the JSON object `macmon pipe` prints: averages since the last call.
    pub fn sample(&self) -> Result<String, String> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.requests
            .send(reply)
            .map_err(|_| "the macmon thread has ended".to_owned())?;
        answer
            .recv_timeout(Duration::from_secs(2))
            .map_err(|_| "macmon did not answer in 2 s".to_owned())?
    }
}

#[derive(Debug, Default)]
struct Latest {
    line: Option<(Instant, String)>,
    ended: Option<String>,
}

/// A long-lived `macmon pipe` child; a thread keeps its latest line.
pub struct MacmonReader {
    child: Child,
    latest: Arc<Mutex<Latest>>,
}

impl MacmonReader {
    /// Starts `program args…` (normally `macmon pipe`) with its output read on its own thread.
    pub fn spawn(program: &Path, args: &[&str]) -> std::io::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
        let latest = Arc::new(Mutex::new(Latest::default()));
        let shared = Arc::clone(&latest);
        std::thread::Builder::new()
            .name("macmon-reader".into())
            .spawn(move || {
                let mut reader = std::io::BufReader::new(stdout);
                let mut buffer = Vec::new();
                let reason = loop {
                    buffer.clear();
                    match reader.read_until(b'\n', &mut buffer) {
                        Ok(0) => break "macmon exited".to_owned(),
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buffer).trim().to_owned();
                            if !line.is_empty() {
                                if let Ok(mut l) = shared.lock() {
                                    l.line = Some((Instant::now(), line));
                                }
                            }
                        }
                        Err(e) => break format!("reading macmon: {e}"),
                    }
                };
                if let Ok(mut l) = shared.lock() {
                    l.ended = Some(reason);
                }
            })?;
        Ok(Self { child, latest })
    }

    /// The newest line if it is younger than `max_age`; otherwise why there is none.
    pub fn latest(&self, max_age: Duration) -> Result<String, String> {
        let latest = self.latest.lock().map_err(|_| "macmon reader failed".to_owned())?;
        match (&latest.line, &latest.ended) {
            (Some((at, line)), _) if at.elapsed() <= max_age => Ok(line.clone()),
            (_, Some(ended)) => Err(ended.clone()),
            (Some(_), None) => Err("macmon stopped reporting".to_owned()),
            (None, None) => Err("waiting for macmon's first sample".to_owned()),
        }
    }

    /// The child has exited (it will not report again).
    pub fn has_ended(&self) -> bool {
        self.latest.lock().map(|l| l.ended.is_some()).unwrap_or(true)
    }
}

impl Drop for MacmonReader {
    fn drop(&mut self) {
        // Our own child, by handle: stop it and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Linux

/// `power1_average` (µW) → W.
pub fn parse_microwatts(text: &str) -> Option<f64> {
    text.trim().parse::<u64>().ok().map(|uw| uw as f64 / 1_000_000.0)
}

/// `temp1_input` (m°C) → °C. Sensors print negative or absurd values when absent.
pub fn parse_millidegrees(text: &str) -> Option<f64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .map(|m| m as f64 / 1000.0)
        .filter(|c| *c > 0.0 && *c < 150.0)
}

/// Watts from two RAPL readings (`monotonic_ms energy_uj` lines, oldest first). The counter
/// wraps at `max_energy_range_uj`.
pub fn rapl_watts(samples: &str, max_range_uj: Option<u64>) -> Option<f64> {
    let readings: Vec<(u64, u64)> = samples
        .lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect();
    let [.., (t0, e0), (t1, e1)] = readings.as_slice() else {
        return None;
    };
    if t1 <= t0 {
        return None;
    }
    let used = if e1 >= e0 {
        e1 - e0
    } else {
        max_range_uj?.checked_sub(*e0)?.checked_add(*e1)?
    };
    Some(used as f64 / ((t1 - t0) as f64 * 1000.0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn close(value: Option<f64>, expected: f64) -> bool {
        value.is_some_and(|v| (v - expected).abs() < 1e-9)
    }

    pub(crate) const MACMON_080: &str = include_str!("../../tests/fixtures/macos/macmon-pipe-0.8.0-trimmed-real.json");
    const MACMON_0100: &str = include_str!("../../tests/fixtures/macos/macmon-pipe-v0.10.0-readme.jsonc");
    const MACMON_061: &str = include_str!("../../tests/fixtures/macos/macmon-pipe-v0.6.1-readme.jsonc");

    /// The readme samples are JSONC (comments, trailing commas); macmon itself prints one JSON
    /// object per line. Strips comments and trailing commas and joins the lines.
    pub(crate) fn jsonc_to_line(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_string {
                out.push(c);
                if c == '\\' {
                    out.extend(chars.next());
                } else if c == '"' {
                    in_string = false;
                }
                continue;
            }
            match (c, chars.peek()) {
                ('"', _) => {
                    in_string = true;
                    out.push(c);
                }
                ('/', Some('/')) => {
                    for n in chars.by_ref() {
                        if n == '\n' {
                            break;
                        }
                    }
                }
                ('/', Some('*')) => {
                    chars.next();
                    let mut last = ' ';
                    for n in chars.by_ref() {
                        if last == '*' && n == '/' {
                            break;
                        }
                        last = n;
                    }
                }
                ('\n', _) => out.push(' '),
                _ => out.push(c),
            }
        }
        // Trailing commas: ", }" / ", ]".
        let mut cleaned = String::new();
        let compact: Vec<char> = out.chars().collect();
        for (i, c) in compact.iter().enumerate() {
            if *c == ',' {
                let next = compact[i + 1..].iter().find(|n| !n.is_whitespace());
                if matches!(next, Some('}') | Some(']')) {
                    continue;
                }
            }
            cleaned.push(*c);
        }
        cleaned
    }

    #[test]
    fn macmon_080_real_sample() {
        let s = parse_macmon_line(&jsonc_to_line(MACMON_080)).unwrap();
        assert!(close(s.sys_power_watts, 7.6835761070251465), "{:?}", s.sys_power_watts);
        assert!(close(s.soc_power_watts, 0.5507163405418396), "{:?}", s.soc_power_watts);
        assert!(close(s.cpu_power_watts, 0.2923669219017029), "{:?}", s.cpu_power_watts);
        assert!(close(s.gpu_usage, 0.32043036818504333), "{:?}", s.gpu_usage);
        assert!(close(s.cpu_temp_c, 50.0324592590332), "{:?}", s.cpu_temp_c);
        assert!(close(s.gpu_temp_c, 47.14311599731445), "{:?}", s.gpu_temp_c);
        assert_eq!(s.ram_total_bytes, Some(68_719_476_736));
    }

    #[test]
    fn macmon_061_tuple_schema() {
        let s = parse_macmon_line(&jsonc_to_line(MACMON_061)).unwrap();
        assert!(close(s.sys_power_watts, 5.876533), "{:?}", s.sys_power_watts);
        assert!(close(s.gpu_usage, 0.021497859), "{:?}", s.gpu_usage);
        assert!(close(s.cpu_temp_c, 43.73614), "{:?}", s.cpu_temp_c);
        assert_eq!(s.ram_total_bytes, Some(25_769_803_776));
    }

    #[test]
    fn macmon_0100_schema_and_null_temperatures() {
        let line = jsonc_to_line(MACMON_0100);
        let s = parse_macmon_line(&line).unwrap();
        assert!(close(s.sys_power_watts, 5.876533), "{:?}", s.sys_power_watts);
        assert_eq!(s.gpu_usage, Some(0.09));
        assert!(close(s.gpu_temp_c, 36.95167), "{:?}", s.gpu_temp_c);
        let nulls = line.replace("43.73614", "null").replace("36.95167", "null");
        let s = parse_macmon_line(&nulls).unwrap();
        assert_eq!((s.cpu_temp_c, s.gpu_temp_c), (None, None));
    }

    #[test]
    fn zero_cpu_power_is_unknown() {
        let s = parse_macmon_line(r#"{"cpu_power":0.0,"sys_power":0,"all_power":3.5,"gpu_power":0.0}"#).unwrap();
        assert_eq!(s.cpu_power_watts, None);
        assert_eq!(s.sys_power_watts, None);
        assert_eq!(s.soc_power_watts, Some(3.5));
        assert_eq!(s.gpu_power_watts, Some(0.0));
    }

    #[test]
    fn macmon_malformed() {
        assert!(parse_macmon_output("").is_err());
        assert!(parse_macmon_output("\n\n").is_err());
        assert!(parse_macmon_line("[1,2]").is_err());
        assert!(parse_macmon_line(&MACMON_080[..40]).is_err());
        assert!(parse_macmon_line(&String::from_utf8_lossy(b"{\"sys_power\": \xff}")).is_err());
        let odd =
            parse_macmon_line(r#"{"sys_power":"7","gpu_usage":[1],"temp":{"cpu_temp_avg":-5},"future":{}}"#).unwrap();
        assert_eq!(odd, MacmonSample::default());
        // The last line wins.
        let two = format!("{{\"sys_power\": 1.5}}\n{}\n", jsonc_to_line(MACMON_080));
        assert!(
            close(parse_macmon_output(&two).unwrap().sys_power_watts, 7.6835761070251465),
            "{:?}",
            parse_macmon_output(&two).unwrap().sys_power_watts
        );
    }

    #[test]
    fn hwmon_and_rapl_values() {
        assert_eq!(parse_microwatts("15250000\n"), Some(15.25));
        assert_eq!(parse_microwatts("-1"), None);
        assert_eq!(parse_millidegrees("45500\n"), Some(45.5));
        assert_eq!(parse_millidegrees("-273000"), None);
        assert_eq!(parse_millidegrees("garbage"), None);
        // 10 J over 2 s = 5 W.
        assert_eq!(rapl_watts("1000 5000000\n3000 15000000\n", None), Some(5.0));
        assert_eq!(rapl_watts("1000 5000000\n", None), None);
        assert_eq!(rapl_watts("3000 1\n1000 2\n", None), None);
        // Wrapped counter.
        assert_eq!(
            rapl_watts("0 999000000\n1000 1000000\n", Some(1_000_000_000)),
            Some(2.0)
        );
        assert_eq!(rapl_watts("0 999000000\n1000 1000000\n", None), None);
        assert_eq!(rapl_watts("x y\n", None), None);
    }

    #[cfg(unix)]
    #[test]
    fn macmon_reader_keeps_the_latest_line_and_notices_exit() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-macmon");
        let line = jsonc_to_line(MACMON_080);
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho '{{\"sys_power\": 1.0}}'\necho '{line}'\nsleep 0.3\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let reader = MacmonReader::spawn(&script, &["pipe"]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let latest = loop {
            match reader.latest(Duration::from_secs(10)) {
                Ok(l) if l.contains("7.68") => break l,
                _ if Instant::now() > deadline => panic!("no line from the fake macmon"),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        assert!(
            close(parse_macmon_line(&latest).unwrap().sys_power_watts, 7.6835761070251465),
            "{:?}",
            parse_macmon_line(&latest).unwrap().sys_power_watts
        );
        while !reader.has_ended() {
            assert!(Instant::now() < deadline, "the reader did not notice the exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(reader.latest(Duration::ZERO), Err("macmon exited".to_owned()));
    }

    #[test]
    fn missing_program_fails_to_spawn() {
        assert!(MacmonReader::spawn(Path::new("/nonexistent/macmon"), &["pipe"]).is_err());
    }
}
