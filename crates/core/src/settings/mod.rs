//! User settings, persisted atomically as JSON in the platform config dir.
//!
//! A file that cannot be read as settings is never overwritten in place: it is moved aside
//! as `settings.json.bad` (earlier ones become `.bad.1` … `.bad.4`), defaults are used, and the
//! reason is reported so the UI can say so.
//! Keys this version does not know (written by a newer one) are kept on save.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub mod hub;
pub mod meter_routes;

/// The Keychain item (service name) the key is kept under unless the setting names another.
pub const DEFAULT_KEYCHAIN_ITEM: &str = "Clusterbar Porten API key";

pub const DEFAULT_EXO_API_PORT: u16 = 52415;
/// Near exo's port, clear of the ports exo itself uses.
pub const DEFAULT_METER_PORT: u16 = 52480;
pub const DEFAULT_PORTEN_HUB_URL: &str = "wss://porten.ai";
/// The price of electricity (price per kWh and its currency), for energy costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tariff {
    pub price_per_kwh: f64,
    pub currency: String,
}

/// The meter's port for the Porten agent alone, next to [`DEFAULT_METER_PORT`].
pub const DEFAULT_PORTEN_METER_PORT: u16 = 52481;
/// Ollama's own default port.
pub const DEFAULT_OLLAMA_PORT: u16 = 11434;
/// More Ollama boxes than this is a typo (each is asked every sample).
pub const MAX_OLLAMA_BOXES: usize = 32;
/// A cold load longer than an hour is a typo.
pub const MAX_OLLAMA_COLD_LOAD_S: u64 = 60 * 60;
/// The longest `porten login` may wait for approval: a day. Longer is a typo, and a huge figure
/// would overflow the deadline.
pub const MAX_PORTEN_LOGIN_TIMEOUT_S: u64 = 24 * 60 * 60;
/// The longest a new agent environment may have to hold before the agent restarts: an hour.
pub const MAX_PORTEN_RESTART_DEBOUNCE_S: u64 = 60 * 60;
pub use crate::files::KEPT_BAD_FILES;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Launch Clusterbar when the user logs in. Opt-in.
    pub start_at_login: bool,
    /// The exo executable; `None` = search PATH and EXO.app.
    pub exo_path: Option<PathBuf>,
    /// The Porten agent executable; `None` = search PATH.
    pub porten_path: Option<PathBuf>,
    /// exo's API port; every node of a cluster must use the same one.
    pub exo_api_port: u16,
    /// exo's discovery namespace (`exo --namespace`) for an exo Clusterbar starts; `None` =
    /// exo's default, its own version. Only boxes with the same one form a cluster.
    pub exo_namespace: Option<String>,
    /// The token meter's loopback port (the Porten agent and local clients talk to it).
    pub meter_port: u16,
    /// Show the live tokens/s beside the menu-bar icon.
    pub show_tokens_in_menu_bar: bool,
    /// The Porten Hub the agent connects to (`PORTEN_HUB_URL`); the login page must be on its host.
    pub porten_hub_url: String,
    /// Arguments that run the agent in the foreground (undocumented by Porten, hence a setting).
    pub porten_run_args: Vec<String>,
    /// Arguments of the agent's status command (undocumented by Porten, hence a setting).
    pub porten_status_args: Vec<String>,
    /// Where the agent keeps its key; only its presence is read ("logged in"). `None` = `~/.porten/key`.
    pub porten_key_path: Option<PathBuf>,
    /// How long `porten login` may wait for the user to approve.
    pub porten_login_timeout_s: u64,
    /// A new agent environment (budget, models) must hold this long before the agent restarts.
    pub porten_restart_debounce_s: u64,
    /// The Hub's API base, for the catalog; `None` = `https://<the Hub's host>/v1` (Porten's
    /// API reference: `https://porten.ai/v1`).
    pub porten_api_url: Option<String>,
    /// The macOS Keychain item (service name) that holds the optional Porten API key.
    pub porten_api_key_keychain_item: String,
    /// The API key's file where there is no Keychain; `None` = `porten-api-key` in the config dir.
    pub porten_api_key_file: Option<PathBuf>,
    /// A second loopback port of the token meter, for the Porten agent alone: what arrives here
    /// is what the Hub pays for.
    pub porten_meter_port: u16,
    // ---- meter_routes (issue #14, the meter replacing the nginx hop; see meter_routes.rs) ----
    /// More listeners of the token meter, each with an upstream of its own
    /// (`[{"listen_port": 11436, "upstream": "192.168.99.2:11434", "name": "box2", "serve_lan": false}]`).
    #[serde(skip_serializing_if = "meter_routes::MeterRoutes::is_empty")]
    pub meter_routes: meter_routes::MeterRoutes,
    // ---- end meter_routes ----
    /// Porten's desktop app (its layout is undocumented, hence settings): where it is installed
    /// (`~/` = the home directory) …
    pub porten_app_paths: Vec<PathBuf>,
    /// … the bundle ids (or their prefixes) of its launchd jobs …
    pub porten_app_bundle_ids: Vec<String>,
    /// … and the process names its agent may run under.
    pub porten_app_process_names: Vec<String>,
    /// The price of electricity per kWh, for the cost per 1M tokens and per day; `None` = not
    /// shown (energy per token still is).
    pub electricity_price_per_kwh: Option<f64>,
    /// The currency of that price, as the user writes it ("EUR", "$"); shown, never converted.
    pub currency: String,
    /// Ollama daemons on other boxes, as `host:port` ("192.168.99.2:11434", or this Mac's nginx
    /// in front of one, "127.0.0.1:11436"); each is shown, with the reason when it does not answer.
    pub ollama_boxes: Vec<String>,
    /// This Mac's own Ollama port, looked at on 127.0.0.1 (shown only when it answers); 0 = do not look.
    pub ollama_local_port: u16,
    /// The engine the Porten agent runs with: `openai` (exo, through the meter) or `ollama`
    /// (this Mac's Ollama at `ollama_local_port`).
    pub porten_engine: String,
    /// How long a cold load of the models in use takes, seconds: a keep-alive shorter than ten
    /// of them warns (`ollama_keep_alive_short`).
    pub ollama_cold_load_s: u64,
    /// Unknown keys, kept so a downgrade does not erase a newer version's settings.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            start_at_login: false,
            exo_path: None,
            porten_path: None,
            exo_api_port: DEFAULT_EXO_API_PORT,
            exo_namespace: None,
            meter_port: DEFAULT_METER_PORT,
            show_tokens_in_menu_bar: false,
            porten_hub_url: DEFAULT_PORTEN_HUB_URL.to_owned(),
            porten_run_args: vec!["run".to_owned()],
            porten_status_args: vec!["status".to_owned()],
            porten_key_path: None,
            porten_login_timeout_s: 15 * 60,
            porten_restart_debounce_s: 10,
            porten_api_url: None,
            porten_api_key_keychain_item: DEFAULT_KEYCHAIN_ITEM.to_owned(),
            porten_api_key_file: None,
            porten_meter_port: DEFAULT_PORTEN_METER_PORT,
            meter_routes: meter_routes::MeterRoutes::default(), // issue #14, see meter_routes.rs
            porten_app_paths: vec![
                PathBuf::from("/Applications/Porten.app"),
                PathBuf::from("~/Applications/Porten.app"),
            ],
            porten_app_bundle_ids: vec!["ai.porten".to_owned()],
            porten_app_process_names: vec!["Porten".to_owned(), "porten-agent".to_owned()],
            electricity_price_per_kwh: None,
            currency: "USD".to_owned(),
            ollama_boxes: Vec::new(),
            ollama_local_port: DEFAULT_OLLAMA_PORT,
            porten_engine: "openai".to_owned(),
            ollama_cold_load_s: clusterbar_model::limits::OLLAMA_DEFAULT_COLD_LOAD_S,
            other: serde_json::Map::new(),
        }
    }
}

/// A `host:port` (`[v6]:port` for IPv6) with no scheme or path and a port 1–65535 → the host
/// (without brackets) and the port; else why not. Used for `ollama_boxes`.
pub fn check_host_port(address: &str) -> Result<(String, u16), String> {
    let bad = |reason: &str| Err(reason.to_owned());
    let text = address.trim();
    if text.contains("://") || text.contains('/') {
        return bad("give host:port only, e.g. 192.168.99.2:11434, without http:// or a path");
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return bad("the port is missing, e.g. :11434");
    };
    let Some(port) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
        return bad("the port must be 1–65535");
    };
    let host = if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return bad("an IPv6 address goes in [brackets]");
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address in the brackets");
        }
        inner
    } else {
        if host.contains(':') {
            return bad("an IPv6 address goes in [brackets]");
        }
        host
    };
    if host.is_empty() {
        return bad("the host is missing");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("the host has spaces or control characters");
    }
    Ok((host.to_owned(), port))
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("writing settings to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("encoding settings: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Settings {
    /// Each `ollama_boxes` entry is `host:port`, at most [`MAX_OLLAMA_BOXES`], none twice. A
    /// loaded file is not refused for these (that would lose every other setting): a bad entry
    /// is shown as a box that cannot be asked, with this reason, until it is fixed.
    pub fn validate_ollama_boxes(&self) -> Result<(), SettingsError> {
        if self.ollama_boxes.len() > MAX_OLLAMA_BOXES {
            return Err(SettingsError::Invalid(format!(
                "ollama_boxes: at most {MAX_OLLAMA_BOXES} boxes, not {}",
                self.ollama_boxes.len()
            )));
        }
        for (index, address) in self.ollama_boxes.iter().enumerate() {
            check_host_port(address).map_err(|reason| {
                SettingsError::Invalid(format!("ollama_boxes: {address:?} is not host:port ({reason})"))
            })?;
            if self.ollama_boxes[..index].iter().any(|a| a.trim() == address.trim()) {
                return Err(SettingsError::Invalid(format!(
                    "ollama_boxes: {address} is listed twice"
                )));
            }
        }
        Ok(())
    }

    /// The rules every settings in use pass, loaded or saved. A save also checks the Ollama
    /// boxes' and the meter routes' syntax ([`SettingsStore::save`]); a loaded file is never
    /// refused for those (a bad entry is shown where it is used, with why).
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !["openai", "ollama"].contains(&self.porten_engine.as_str()) {
            return Err(SettingsError::Invalid(format!(
                "porten_engine must be openai (exo) or ollama, not {:?}",
                self.porten_engine
            )));
        }
        if self.porten_engine == "ollama" && self.ollama_local_port == 0 {
            return Err(SettingsError::Invalid(
                "porten_engine ollama needs this Mac's Ollama: set ollama_local_port (11434)".into(),
            ));
        }
        if !(1..=MAX_OLLAMA_COLD_LOAD_S).contains(&self.ollama_cold_load_s) {
            return Err(SettingsError::Invalid(format!(
                "ollama_cold_load_s must be 1–{MAX_OLLAMA_COLD_LOAD_S} seconds, not {}",
                self.ollama_cold_load_s
            )));
        }
        if self.exo_api_port == 0 {
            return Err(SettingsError::Invalid("exo_api_port must be 1–65535".into()));
        }
        if let Some(namespace) = &self.exo_namespace {
            if namespace.is_empty()
                || namespace.len() > 64
                || namespace.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(SettingsError::Invalid(
                    "exo_namespace must be 1–64 characters without spaces (or empty for exo's default)".into(),
                ));
            }
        }
        if self.meter_port == 0 || self.meter_port == self.exo_api_port {
            return Err(SettingsError::Invalid(
                "meter_port must be 1–65535 and differ from exo_api_port".into(),
            ));
        }
        if !(1..=MAX_PORTEN_LOGIN_TIMEOUT_S).contains(&self.porten_login_timeout_s) {
            return Err(SettingsError::Invalid(format!(
                "porten_login_timeout_s must be 1–{MAX_PORTEN_LOGIN_TIMEOUT_S} seconds (at most a day), not {}",
                self.porten_login_timeout_s
            )));
        }
        if self.porten_restart_debounce_s > MAX_PORTEN_RESTART_DEBOUNCE_S {
            return Err(SettingsError::Invalid(format!(
                "porten_restart_debounce_s must be 0–{MAX_PORTEN_RESTART_DEBOUNCE_S} seconds (at most an hour), not {}",
                self.porten_restart_debounce_s
            )));
        }
        if self.porten_meter_port == 0
            || self.porten_meter_port == self.meter_port
            || self.porten_meter_port == self.exo_api_port
        {
            return Err(SettingsError::Invalid(
                "porten_meter_port must be 1–65535 and differ from meter_port and exo_api_port".into(),
            ));
        }
        if let Some(price) = self.electricity_price_per_kwh {
            if !price.is_finite() || price < 0.0 {
                return Err(SettingsError::Invalid(format!(
                    "electricity_price_per_kwh must be a number ≥ 0 (or unset), not {price}"
                )));
            }
        }
        if self.currency.is_empty() || self.currency.chars().count() > 8 || self.currency.chars().any(char::is_control)
        {
            return Err(SettingsError::Invalid(
                "currency must be 1–8 characters, e.g. USD or €".into(),
            ));
        }
        if let Some(api) = &self.porten_api_url {
            hub::api_endpoints(&self.porten_hub_url, Some(api))
                .map_err(|e| SettingsError::Invalid(format!("porten_api_url: {e}")))?;
        }
        Ok(())
    }
}

impl Settings {
    /// This Mac's Ollama, as the Porten agent reaches it.
    pub fn ollama_local_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ollama_local_port)
    }

    /// The tariff for energy costs, when a price is set.
    pub fn tariff(&self) -> Option<Tariff> {
        self.electricity_price_per_kwh.map(|price_per_kwh| Tariff {
            price_per_kwh,
            currency: self.currency.clone(),
        })
    }
}

/// The result of loading: the settings to use, and what went wrong on the way (if anything).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// Set when the file was unreadable and defaults are in use.
    pub problem: Option<String>,
}

impl Loaded {
    /// The warning every snapshot carries while defaults replace an unreadable file.
    pub fn standing_warnings(&self) -> Vec<clusterbar_model::Warning> {
        self.problem
            .iter()
            .map(|p| clusterbar_model::Warning::settings_reset(p))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("settings.json"),
        }
    }

    /// The store in the platform config dir.
    pub fn platform() -> Self {
        Self::new(&crate::paths::config_dir())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> Loaded {
        // Only a regular file of sane size: a FIFO here would block, /dev/zero would never end.
        let bytes = match crate::files::read_regular(&self.path, crate::files::SETTINGS_MAX_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Loaded {
                    settings: Settings::default(),
                    problem: None,
                };
            }
            Err(e) => {
                return Loaded {
                    settings: Settings::default(),
                    problem: Some(format!("could not read the settings: {e}; using defaults")),
                }
            }
        };
        let parsed = serde_json::from_slice::<Settings>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map(|_| s).map_err(|e| e.to_string()));
        match parsed {
            Ok(settings) => Loaded {
                settings,
                problem: None,
            },
            Err(reason) => {
                let bad = self.make_room_for_bad_file();
                let kept = match std::fs::rename(&self.path, &bad) {
                    Ok(()) => format!("kept it as {}", bad.display()),
                    Err(e) => format!("could not move it aside ({e})"),
                };
                tracing::warn!(path = %self.path.display(), %reason, "settings file unreadable; using defaults");
                Loaded {
                    settings: Settings::default(),
                    problem: Some(format!(
                        "Settings were unreadable ({reason}); {kept} and started from defaults."
                    )),
                }
            }
        }
    }

    /// `settings.json.bad` for the newest unreadable file: earlier ones move up to `.bad.1` …
    /// `.bad.4` (see [`crate::files::make_room_for_bad_file`]).
    fn make_room_for_bad_file(&self) -> PathBuf {
        crate::files::make_room_for_bad_file(&self.path.with_extension("json.bad"), KEPT_BAD_FILES)
    }

    /// Writes to a temporary file in the same directory, flushes it to disk, then renames it
    /// over the old file, so a crash never leaves half a settings file.
    pub fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        settings.validate()?;
        // ollama_boxes and meter_routes (issue #14) are checked on save only: a bad one never
        // costs a load the rest (a bad box is shown as a box that cannot be asked, with why).
        settings.validate_ollama_boxes()?;
        settings
            .meter_routes
            .validate(&settings.reserved_ports())
            .map_err(SettingsError::Invalid)?;
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        let write_err = |source| SettingsError::Write {
            path: self.path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
        let json = serde_json::to_vec_pretty(settings)?;
        tmp.write_all(&json).map_err(write_err)?;
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(&self.path).map_err(|e| write_err(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_electricity_price_is_a_finite_number_at_least_zero() {
        let mut s = Settings::default();
        assert!(s.tariff().is_none(), "no price unless the user sets one");
        for bad in [f64::NAN, f64::INFINITY, -0.01] {
            s.electricity_price_per_kwh = Some(bad);
            assert!(matches!(s.validate(), Err(SettingsError::Invalid(_))), "{bad}");
        }
        s.electricity_price_per_kwh = Some(0.0);
        assert!(s.validate().is_ok());
        s.electricity_price_per_kwh = Some(0.31);
        s.currency = "€".into();
        assert!(s.validate().is_ok());
        assert_eq!(
            s.tariff().map(|t| (t.price_per_kwh, t.currency)),
            Some((0.31, "€".to_owned()))
        );
        for bad in ["", "far too long a name", "E\nUR"] {
            s.currency = bad.into();
            assert!(s.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ollama_boxes_are_checked_on_save_and_a_bad_one_never_loses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        let mut s = Settings {
            ollama_boxes: vec!["192.168.99.2:11434".into(), "127.0.0.1:11436".into()],
            ..Settings::default()
        };
        store.save(&s).unwrap();
        assert_eq!(store.load().settings.ollama_boxes, s.ollama_boxes);
        for bad in ["http://192.168.99.2:11434", "192.168.99.2", "box:0"] {
            s.ollama_boxes = vec![bad.into()];
            let error = store.save(&s).unwrap_err().to_string();
            assert!(error.contains("ollama_boxes") && error.contains(bad), "{error}");
        }
        s.ollama_boxes = vec!["a:1".into(), "a:1".into()];
        assert!(store.save(&s).unwrap_err().to_string().contains("listed twice"));
        // Written by hand: the file loads, the other settings are kept, the box is shown bad.
        std::fs::write(
            store.path(),
            r#"{"exo_api_port": 8000, "ollama_boxes": ["192.168.99.2"]}"#,
        )
        .unwrap();
        let loaded = store.load();
        assert!(loaded.problem.is_none());
        assert_eq!(loaded.settings.exo_api_port, 8000);
        assert_eq!(loaded.settings.ollama_boxes, ["192.168.99.2"]);
        std::fs::write(store.path(), r#"{"ollama_cold_load_s": 0}"#).unwrap();
        assert!(store.load().problem.unwrap().contains("ollama_cold_load_s"));
        // The agent's engine: exo's openai or this Mac's Ollama, which must be looked at.
        let mut s = Settings {
            porten_engine: "ollama".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_ok());
        assert_eq!(s.ollama_local_url(), "http://127.0.0.1:11434");
        s.ollama_local_port = 0;
        assert!(s.validate().unwrap_err().to_string().contains("ollama_local_port"));
        s.porten_engine = "builtin".into();
        assert!(s.validate().unwrap_err().to_string().contains("porten_engine"));
    }

    #[test]
    fn missing_file_gives_defaults_silently() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = SettingsStore::new(dir.path()).load();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.problem.is_none());
        assert!(!loaded.settings.start_at_login, "start at login must be opt-in");
    }

    #[test]
    fn save_then_load_round_trips_and_keeps_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(&dir.path().join("nested"));
        std::fs::create_dir_all(dir.path().join("nested")).unwrap();
        std::fs::write(store.path(), r#"{"start_at_login": true, "future_key": {"a": 1}}"#).unwrap();
        let mut loaded = store.load();
        assert!(loaded.problem.is_none());
        assert!(loaded.settings.start_at_login);
        loaded.settings.exo_api_port = 8000;
        store.save(&loaded.settings).unwrap();
        let again = store.load().settings;
        assert_eq!(again.exo_api_port, 8000);
        assert_eq!(again.other.get("future_key"), Some(&serde_json::json!({"a": 1})));
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("settings.json")]);
    }

    #[test]
    fn corrupt_file_is_kept_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        std::fs::write(store.path(), b"{\"start_at_login\": tru\xff").unwrap();
        let loaded = store.load();
        assert_eq!(loaded.settings, Settings::default());
        let problem = loaded.problem.expect("a problem must be reported");
        assert!(problem.contains("settings.json.bad"), "{problem}");
        assert_eq!(
            std::fs::read(dir.path().join("settings.json.bad")).unwrap(),
            b"{\"start_at_login\": tru\xff"
        );
        assert!(!store.path().exists());
    }

    /// Issue #11: a second corrupt file overwrote the first `.bad`; now a few are kept.
    #[test]
    fn repeated_corruption_keeps_earlier_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        for n in 0..7 {
            std::fs::write(store.path(), format!("corrupt {n}")).unwrap();
            let problem = store.load().problem.unwrap();
            assert!(problem.contains("settings.json.bad"), "{problem}");
        }
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("settings.json.bad"), "corrupt 6");
        assert_eq!(read("settings.json.bad.1"), "corrupt 5");
        assert_eq!(read("settings.json.bad.4"), "corrupt 2");
        assert!(!dir.path().join("settings.json.bad.5").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), KEPT_BAD_FILES as usize);
    }

    /// Issue #11: a huge `porten_login_timeout_s` loaded silently and then overflowed a deadline.
    #[test]
    fn absurd_timeouts_are_refused_with_the_setting_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        for text in [
            r#"{"porten_login_timeout_s": 18446744073709551615}"#,
            r#"{"porten_login_timeout_s": 0}"#,
        ] {
            std::fs::write(store.path(), text).unwrap();
            let loaded = store.load();
            assert_eq!(loaded.settings, Settings::default());
            let problem = loaded.problem.unwrap();
            assert!(
                problem.contains("porten_login_timeout_s must be 1–86400 seconds"),
                "{problem}"
            );
        }
        std::fs::write(store.path(), r#"{"porten_restart_debounce_s": 99999999999}"#).unwrap();
        assert!(store.load().problem.unwrap().contains("porten_restart_debounce_s"));
        std::fs::write(store.path(), r#"{"porten_login_timeout_s": 86400}"#).unwrap();
        assert!(store.load().problem.is_none());
    }

    /// Issue #11: a FIFO at settings.json blocked forever; /dev/zero was read until memory ran out.
    #[test]
    fn a_fifo_or_an_endless_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        let c_path = std::ffi::CString::new(store.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let loaded = store.load();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.problem.unwrap().contains("not a regular file but a FIFO"));
        std::fs::remove_file(store.path()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", store.path()).unwrap();
        assert!(store.load().problem.unwrap().contains("a character device"));
        // Larger than any settings file: refused without reading it all.
        std::fs::remove_file(store.path()).unwrap();
        let big = std::fs::File::create(store.path()).unwrap();
        big.set_len(crate::files::SETTINGS_MAX_BYTES + 1).unwrap();
        assert!(store.load().problem.unwrap().contains("larger than"));
    }

    #[test]
    fn invalid_values_count_as_corrupt_and_are_never_saved() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        std::fs::write(store.path(), r#"{"exo_api_port": 0}"#).unwrap();
        assert!(store.load().problem.is_some());
        let bad = Settings {
            exo_api_port: 0,
            ..Settings::default()
        };
        assert!(matches!(store.save(&bad), Err(SettingsError::Invalid(_))));
        std::fs::write(store.path(), r#"{"exo_api_port": 70000}"#).unwrap();
        assert!(store.load().problem.is_some(), "out-of-range port is a type error");
    }
}
