//! Tokens served per client and local calendar day, kept across restarts in a small JSON file
//! (`{"schema": 1, "clients": {"porten": {"2026-11-22": 51234, …}}}`), so "in total" means
//! since the ledger began, not since the meter last started.

use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Completion tokens per local day.
pub type Days = BTreeMap<NaiveDate, u64>;
/// Per client.
pub type Ledger = BTreeMap<String, Days>;

const SCHEMA: u64 = 1;
/// Ten years of days, per client; older days are dropped.
const MAX_DAYS: usize = 3660;
/// A ledger of that size is well under 200 KiB.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// The ledger in `text`; unknown fields and malformed days are skipped.
pub fn parse(text: &str) -> Result<Ledger, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let clients = value
        .get("clients")
        .and_then(|c| c.as_object())
        .ok_or("no \"clients\" object")?;
    let mut ledger = Ledger::new();
    for (client, days) in clients {
        let Some(days) = days.as_object() else { continue };
        let parsed: Days = days
            .iter()
            .filter_map(|(day, tokens)| Some((day.parse::<NaiveDate>().ok()?, tokens.as_u64()?)))
            .collect();
        ledger.insert(client.clone(), trimmed(parsed));
    }
    Ok(ledger)
}

fn trimmed(mut days: Days) -> Days {
    while days.len() > MAX_DAYS {
        days.pop_first();
    }
    days
}

pub fn render(ledger: &Ledger) -> String {
    let clients: serde_json::Map<String, serde_json::Value> = ledger
        .iter()
        .map(|(client, days)| {
            let days: serde_json::Map<String, serde_json::Value> = days
                .iter()
                .map(|(day, tokens)| (day.to_string(), (*tokens).into()))
                .collect();
            (client.clone(), days.into())
        })
        .collect();
    serde_json::json!({"schema": SCHEMA, "clients": clients}).to_string()
}

/// Reads the ledger; a missing file is an empty ledger. A file that cannot be read as one is
/// moved aside (`.bad`) so the next save does not erase what it held.
pub fn load(path: &Path) -> Result<Ledger, String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ledger::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let meta = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} is not a ledger file (not a regular file, or too large)",
            path.display()
        ));
    }
    let mut text = String::new();
    let parsed = file
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())
        .and_then(|_| parse(&text));
    parsed.map_err(|reason| {
        let bad = path.with_extension("json.bad");
        let kept = match std::fs::rename(path, &bad) {
            Ok(()) => format!("kept as {}", bad.display()),
            Err(e) => format!("could not be moved aside: {e}"),
        };
        format!("{} is unreadable ({reason}); {kept}", path.display())
    })
}

/// Writes the ledger atomically: a temporary file beside it, flushed, renamed over it.
pub fn save(path: &Path, ledger: &Ledger) -> Result<(), String> {
    use std::io::Write;
    let error = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(error)?;
    file.write_all(render(ledger).as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        error(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn round_trips_and_skips_what_it_does_not_understand() {
        let text = r#"{"schema": 1, "clients": {"porten": {"2026-11-21": 10, "2026-11-22": 5, "nonsense": 3, "2026-11-23": -1},
                       "other": 7}, "future": true}"#;
        let ledger = parse(text).unwrap();
        assert_eq!(
            ledger["porten"],
            Days::from([(day("2026-11-21"), 10), (day("2026-11-22"), 5)])
        );
        assert!(!ledger.contains_key("other"));
        assert_eq!(parse(&render(&ledger)).unwrap(), ledger);
        assert!(parse("[]").is_err());
    }

    #[test]
    fn a_broken_file_is_kept_aside_and_a_missing_one_is_empty() {
        let dir = std::env::temp_dir().join(format!("ledger-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        assert!(load(&path).unwrap().is_empty());
        let ledger = Ledger::from([("porten".to_owned(), Days::from([(day("2026-01-02"), 42)]))]);
        save(&path, &ledger).unwrap();
        assert_eq!(load(&path).unwrap(), ledger);
        std::fs::write(&path, "{not json").unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.contains("tokens.json.bad"), "{error}");
        assert!(dir.join("tokens.json.bad").exists());
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
