//! Tokens served to the Porten agent — what the Hub pays for — per day and in total.
//!
//! The meter knows which requests are the agent's because the agent has a listener of its own
//! (setting `porten_meter_port`, default 52481; the agent's `PORTEN_ENGINE_URL` points there):
//! Porten documents no header or user agent its agent sends, so the port is the one sure sign.
//! The meter keeps the counts per local day in its ledger (`porten-tokens.json` in the config
//! directory) so the total survives restarts. `clusterbar status` asks the running meter
//! (`GET /_clusterbar/stats`, its `clients[]`) and reads the ledger when no meter runs.
//!
//! Counted are completion tokens as the meter counts them (the server's `usage`, else content
//! events). Porten's payout terms are not public; whether prompt tokens pay too is unknown.

use chrono::NaiveDate;
pub use clusterbar_model::porten::{DayTokens, PortenTokens, TokensSource};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

use crate::settings::Settings;

/// The client name of the agent's listener in the meter.
pub const PORTEN_CLIENT: &str = "porten";
pub const LEDGER_FILE: &str = "porten-tokens.json";
/// Days listed in [`PortenTokens::days`], as the meter lists them.
const DAYS_SHOWN: usize = 30;
/// The meter's stats carry the 15-minute history per model: tens of KB, not more.
const MAX_STATS_BYTES: u64 = 16 << 20;

/// The meter's ledger: `<config dir>/porten-tokens.json`.
pub fn ledger_path() -> PathBuf {
    crate::paths::config_dir().join(LEDGER_FILE)
}

/// The agent's entry in the meter's `/_clusterbar/stats`.
pub fn from_meter_stats(stats: &Value) -> Option<PortenTokens> {
    let entry = stats
        .get("clients")?
        .as_array()?
        .iter()
        .find(|c| c.get("client").and_then(Value::as_str) == Some(PORTEN_CLIENT))?;
    let number = |key: &str| entry.get(key).and_then(Value::as_u64);
    let days = entry
        .get("days")
        .and_then(Value::as_array)
        .map(|days| {
            days.iter()
                .filter_map(|d| {
                    Some(DayTokens {
                        date: d.get("date")?.as_str()?.to_owned(),
                        tokens: d.get("tokens")?.as_u64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PortenTokens {
        source: TokensSource::Meter,
        tokens_today: number("tokens_today")?,
        tokens_total: number("tokens_total")?,
        since: entry.get("since").and_then(Value::as_str).map(str::to_owned),
        requests: number("requests"),
        days,
    })
}

/// The agent's days in the meter's ledger (`{"clients": {"porten": {"YYYY-MM-DD": n}}}`).
pub fn from_ledger(text: &str, today: NaiveDate) -> Option<PortenTokens> {
    let value: Value = serde_json::from_str(text).ok()?;
    let days: std::collections::BTreeMap<NaiveDate, u64> = value
        .get("clients")?
        .get(PORTEN_CLIENT)?
        .as_object()?
        .iter()
        .filter_map(|(day, tokens)| Some((day.parse().ok()?, tokens.as_u64()?)))
        .collect();
    Some(PortenTokens {
        source: TokensSource::Ledger,
        tokens_today: days.get(&today).copied().unwrap_or(0),
        tokens_total: crate::format::saturating_sum(days.values().copied()),
        since: days.keys().next().map(NaiveDate::to_string),
        requests: None,
        days: days
            .iter()
            .rev()
            .take(DAYS_SHOWN)
            .rev()
            .map(|(day, tokens)| DayTokens {
                date: day.to_string(),
                tokens: *tokens,
            })
            .collect(),
    })
}

/// From the running meter on `meter_port`, else from the ledger; `None` when neither knows.
pub fn read(settings: &Settings) -> Option<PortenTokens> {
    read_with(fetch_meter_stats(settings).as_ref())
}

/// From the meter's stats already fetched ([`fetch_meter_stats`]), else from the ledger.
pub fn read_with(stats: Option<&Value>) -> Option<PortenTokens> {
    stats.and_then(from_meter_stats).or_else(|| {
        let bytes = crate::files::read_regular(&ledger_path(), 4 << 20).ok()?;
        from_ledger(&String::from_utf8_lossy(&bytes), chrono::Local::now().date_naive())
    })
}

/// The running meter's `GET /_clusterbar/stats` on `meter_port` (2 s at most); `None` when no
/// meter answers there.
pub fn fetch_meter_stats(settings: &Settings) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://127.0.0.1:{}/_clusterbar/stats", settings.meter_port);
    let mut response = agent.get(&url).call().ok()?;
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_STATS_BYTES)
        .read_to_string()
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// The meter's own warnings (its stats' `warnings[]`) as Snapshot warnings: one
/// `meter_serves_lan` for the routes open to the LAN (one code per scope in a Snapshot: each
/// route's message, in one). Codes this version does not know are left out.
pub fn meter_warnings(stats: &Value) -> Vec<clusterbar_model::Warning> {
    let lan: Vec<String> = stats
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|w| w.get("code").and_then(Value::as_str) == Some("meter_serves_lan"))
        .filter_map(|w| w.get("message").and_then(Value::as_str))
        .map(|message| crate::format::printable(message).into_owned())
        .collect();
    if lan.is_empty() {
        return Vec::new();
    }
    vec![clusterbar_model::Warning::meter_serves_lan(&lan.join(" "))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_meters_lan_routes_are_one_warning() {
        assert!(meter_warnings(&json!({"clients": []})).is_empty());
        assert!(meter_warnings(&json!({"warnings": [{"code": "something_new", "message": "x"}]})).is_empty());
        let stats = json!({"warnings": [
            {"code": "meter_serves_lan", "route": "box2", "message": "The meter serves route box2 on port 11436."},
            {"code": "meter_serves_lan", "route": "box3", "message": "The meter serves route box3 on port 11437.\u{1b}[2J"},
        ]});
        let warnings = meter_warnings(&stats);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "meter_serves_lan");
        assert!(warnings[0].message.contains("port 11436") && warnings[0].message.contains("port 11437"));
        assert!(!warnings[0].message.contains('\u{1b}'), "{}", warnings[0].message);
    }

    #[test]
    fn the_meters_entry_for_the_agent_is_read() {
        let stats = json!({"cluster": {}, "clients": [
            {"client": "other", "requests": 1, "tokens_today": 1, "tokens_total": 1, "since": null, "days": []},
            {"client": "porten", "requests": 4, "tokens_today": 120, "tokens_total": 5120, "since": "2026-11-01",
             "days": [{"date": "2026-11-01", "tokens": 5000}, {"date": "2026-11-22", "tokens": 120}, {"date": 3}]}]});
        let tokens = from_meter_stats(&stats).unwrap();
        assert_eq!(tokens.source, TokensSource::Meter);
        assert_eq!(
            (tokens.tokens_today, tokens.tokens_total, tokens.requests),
            (120, 5120, Some(4))
        );
        assert_eq!(tokens.since.as_deref(), Some("2026-11-01"));
        assert_eq!(tokens.days.len(), 2);
        // A meter from before client listeners, or without the agent's.
        assert_eq!(from_meter_stats(&json!({"cluster": {}})), None);
        assert_eq!(from_meter_stats(&json!({"clients": [{"client": "other"}]})), None);
    }

    #[test]
    fn the_ledger_is_read_when_no_meter_runs() {
        let text = r#"{"schema": 1, "clients": {"porten": {"2026-11-21": 100, "2026-11-22": 7, "bad": 1}}}"#;
        let today: NaiveDate = "2026-11-22".parse().unwrap();
        let tokens = from_ledger(text, today).unwrap();
        assert_eq!((tokens.tokens_today, tokens.tokens_total), (7, 107));
        assert_eq!(tokens.source, TokensSource::Ledger);
        assert_eq!(tokens.requests, None);
        assert_eq!(
            tokens.days[0],
            DayTokens {
                date: "2026-11-21".into(),
                tokens: 100
            }
        );
        let tomorrow: NaiveDate = "2026-11-23".parse().unwrap();
        assert_eq!(from_ledger(text, tomorrow).unwrap().tokens_today, 0);
        assert_eq!(from_ledger("{}", today), None);
        assert_eq!(from_ledger("not json", today), None);
    }
}
