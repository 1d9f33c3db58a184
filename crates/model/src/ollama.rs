//! Ollama as a second engine: each box that runs an Ollama daemon (this Mac at 127.0.0.1:11434
//! when it answers, plus the boxes named in the settings), what it has loaded and installed, how
//! its daemon is configured and which interface reaches it.
//!
//! Filled by `clusterbar_core::ollama`; the derivations here (the "unloads in" text, the
//! warnings) are pure so the CLI and the page say the same.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::warning::{Severity, Warning, WarningCode, WarningScope};

/// Every Ollama box Clusterbar looked at, in the order found (this Mac first, then the
/// settings' `ollama_boxes`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, TS)]
pub struct OllamaView {
    pub boxes: Vec<OllamaBox>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OllamaBox {
    /// `host:port` as asked ("127.0.0.1:11434", "192.168.99.2:11434").
    pub address: String,
    /// What to call it: "this Mac" for the local daemon, else the host.
    pub name: String,
    /// The local daemon (found on this Mac), not one from the settings.
    pub is_local: bool,
    /// It answered `/api/version` (and `/api/ps`) this sample.
    pub reachable: bool,
    /// Why it is not reachable or a part is missing ("not answering", "HTTP 500 on /api/ps" …).
    pub error: Option<String>,
    /// `/api/version`.
    pub version: Option<String>,
    /// `/api/ps`: the models in memory now.
    pub loaded: Vec<OllamaLoadedModel>,
    /// `/api/tags`: the models on disk.
    pub installed: Vec<OllamaInstalledModel>,
    /// The daemon's settings, where they could be read (this Mac only).
    pub env: Option<OllamaEnv>,
    /// The interface this Mac's traffic to a remote box leaves by (`None` for the local one or
    /// when the route could not be read).
    pub route: Option<OllamaRoute>,
    /// Models Ollama unloaded to make room for another (shown for a few minutes after).
    #[serde(default)]
    pub evictions: Vec<OllamaEviction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OllamaLoadedModel {
    /// Exactly as Ollama names it ("llama3.2:latest"): what a client (and Porten) must send.
    pub name: String,
    pub size_bytes: u64,
    /// `size_vram`: the part in GPU memory (all of it on Apple Silicon when it fits).
    pub vram_bytes: Option<u64>,
    pub context_length: Option<u64>,
    pub parameter_size: Option<String>,
    pub quantization: Option<String>,
    /// When Ollama unloads it unless it is used again; `None` when pinned or unknown.
    pub expires_at_unix_ms: Option<u64>,
    /// Kept loaded for good (`keep_alive: -1`: Ollama reports an expiry centuries away).
    pub pinned: bool,
}

impl OllamaLoadedModel {
    /// "pinned", "unloads in 3 h", "unloads in 12 min", "unloads now", "—" (unknown).
    pub fn unload_text(&self, now_unix_ms: u64) -> String {
        if self.pinned {
            return "pinned".into();
        }
        let Some(at) = self.expires_at_unix_ms else {
            return "—".into();
        };
        let seconds = at.saturating_sub(now_unix_ms) / 1000;
        if seconds == 0 {
            "unloads now".into()
        } else {
            format!("unloads in {}", short_duration(seconds))
        }
    }
}

/// "45 s", "12 min", "3 h", "2 d": one unit, rounded, as a glance needs (a model loaded with
/// a 3 h keep-alive a second ago "unloads in 3 h").
pub fn short_duration(seconds: u64) -> String {
    let rounded = |unit: u64| seconds.saturating_add(unit / 2) / unit;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3569 => format!("{} min", rounded(60)),
        3570..=171_000 => format!("{} h", rounded(3600)),
        _ => format!("{} d", rounded(86_400)),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OllamaInstalledModel {
    pub name: String,
    pub size_bytes: u64,
    pub parameter_size: Option<String>,
    pub quantization: Option<String>,
}

/// Where the daemon's settings were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum OllamaEnvSource {
    /// `launchctl getenv` (macOS: the Ollama app reads launchd's environment).
    Launchctl,
    /// `/proc/PID/environ` of the running `ollama serve` (Linux, same user).
    ProcessEnviron,
}

/// The daemon's settings that matter here; a value the daemon does not set is `None` (Ollama's
/// default applies: 127.0.0.1:11434, 5m, 3 models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OllamaEnv {
    /// `OLLAMA_HOST`, as set ("0.0.0.0:11434").
    pub host: Option<String>,
    /// `OLLAMA_KEEP_ALIVE`, as set ("24h", "-1", "300").
    pub keep_alive: Option<String>,
    /// `OLLAMA_KEEP_ALIVE` in seconds; `None` = unset or unreadable; negative = forever.
    pub keep_alive_s: Option<i64>,
    /// `OLLAMA_MAX_LOADED_MODELS`.
    pub max_loaded_models: Option<u32>,
    pub source: OllamaEnvSource,
}

/// What kind of link an interface is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceKind {
    Thunderbolt,
    Ethernet,
    Wifi,
    Loopback,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OllamaRoute {
    /// "bridge0", "en0", "thunderbolt0", "eth0" …
    pub interface: String,
    pub kind: InterfaceKind,
}

/// A model Ollama unloaded before its keep-alive ran out while the box was full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OllamaEviction {
    pub model: String,
    /// The model that took its place, when one appeared.
    pub by: Option<String>,
    pub at_unix_ms: u64,
}

/// Warnings over the whole view, one per code (each names every box it concerns).
impl OllamaView {
    pub fn warnings(&self, cold_load_s: u64) -> Vec<Warning> {
        let mut out = Vec::new();
        let unreachable: Vec<String> = self
            .boxes
            .iter()
            .filter(|b| !b.reachable)
            .map(|b| format!("{} ({})", b.address, b.error.as_deref().unwrap_or("no answer")))
            .collect();
        if !unreachable.is_empty() {
            out.push(Warning::ollama_unreachable(&unreachable));
        }
        let exposed: Vec<String> = self
            .boxes
            .iter()
            .filter_map(|b| {
                let host = b.env.as_ref()?.host.as_deref()?;
                crate::limits::binds_every_interface(host).then(|| format!("{} (OLLAMA_HOST={host})", b.name))
            })
            .collect();
        if !exposed.is_empty() {
            out.push(Warning::ollama_exposed(&exposed));
        }
        let evicted: Vec<String> = self
            .boxes
            .iter()
            .flat_map(|b| {
                b.evictions.iter().map(move |e| match &e.by {
                    Some(by) => format!("{} on {} (for {by})", e.model, b.name),
                    None => format!("{} on {}", e.model, b.name),
                })
            })
            .collect();
        if !evicted.is_empty() {
            out.push(Warning::ollama_model_evicted(&evicted));
        }
        let short: Vec<String> = self
            .boxes
            .iter()
            .filter_map(|b| {
                let env = b.env.as_ref()?;
                let keep = env.keep_alive_s.unwrap_or(crate::limits::OLLAMA_DEFAULT_KEEP_ALIVE_S);
                crate::limits::keep_alive_too_short(keep, cold_load_s).then(|| {
                    let shown = env.keep_alive.as_deref().unwrap_or("unset: 5m");
                    format!("{} (OLLAMA_KEEP_ALIVE {shown})", b.name)
                })
            })
            .collect();
        if !short.is_empty() {
            out.push(Warning::ollama_keep_alive_short(&short, cold_load_s));
        }
        let off_thunderbolt: Vec<String> = self
            .boxes
            .iter()
            .filter(|b| !b.is_local)
            .filter_map(|b| {
                let route = b.route.as_ref()?;
                matches!(route.kind, InterfaceKind::Ethernet | InterfaceKind::Wifi).then(|| {
                    let kind = if route.kind == InterfaceKind::Wifi {
                        "Wi-Fi"
                    } else {
                        "Ethernet"
                    };
                    format!("{} via {} ({kind})", b.address, route.interface)
                })
            })
            .collect();
        if !off_thunderbolt.is_empty() {
            out.push(Warning::ollama_route_not_thunderbolt(&off_thunderbolt));
        }
        out
    }
}

impl Warning {
    /// A configured Ollama box did not answer.
    pub fn ollama_unreachable(boxes: &[String]) -> Self {
        Self::new(
            WarningCode::OllamaUnreachable,
            Severity::Error,
            format!("Ollama is not answering on {}.", boxes.join(", ")),
            "Start Ollama on that box (open the Ollama app, or `ollama serve`), check that it listens on that address (OLLAMA_HOST) and the cable; or remove it from Settings › ollama_boxes.",
        )
        .in_scope(WarningScope::Cluster)
    }

    /// The daemon binds every interface: its API has no authentication.
    pub fn ollama_exposed(boxes: &[String]) -> Self {
        Self::new(
            WarningCode::OllamaExposed,
            Severity::Warning,
            format!(
                "Ollama listens on every network interface on {}: its API has no authentication, so anyone on Wi-Fi or Ethernet can use and delete your models.",
                boxes.join(", ")
            ),
            "Bind it to the Thunderbolt address only, e.g. `launchctl setenv OLLAMA_HOST 192.168.99.2:11434` (or 127.0.0.1:11434 when only this Mac uses it), then quit and reopen Ollama.",
        )
    }

    /// A model was unloaded to make room for another.
    pub fn ollama_model_evicted(models: &[String]) -> Self {
        Self::new(
            WarningCode::OllamaModelEvicted,
            Severity::Warning,
            format!(
                "Ollama unloaded {} before its keep-alive ran out to make room: the next request for it waits for a cold load.",
                models.join(", ")
            ),
            "Raise OLLAMA_MAX_LOADED_MODELS if memory allows (`launchctl setenv OLLAMA_MAX_LOADED_MODELS 3`, then reopen Ollama), or send each model to its own box.",
        )
        .in_scope(WarningScope::Cluster)
    }

    /// The keep-alive is short against a cold load.
    pub fn ollama_keep_alive_short(boxes: &[String], cold_load_s: u64) -> Self {
        Self::new(
            WarningCode::OllamaKeepAliveShort,
            Severity::Warning,
            format!(
                "Ollama's keep-alive is short for models that take ~{} to load on {}: an idle model unloads and the next request waits for it.",
                short_duration(cold_load_s),
                boxes.join(", ")
            ),
            "Keep models loaded longer: `launchctl setenv OLLAMA_KEEP_ALIVE 24h` (or -1 to pin them), then reopen Ollama.",
        )
    }

    /// A remote Ollama box is reached over Ethernet or Wi-Fi instead of Thunderbolt.
    pub fn ollama_route_not_thunderbolt(routes: &[String]) -> Self {
        Self::new(
            WarningCode::OllamaRouteNotThunderbolt,
            Severity::Warning,
            format!(
                "Traffic to Ollama on {} does not use the Thunderbolt link.",
                routes.join(", ")
            ),
            "Give both Macs static addresses on the Thunderbolt Bridge (e.g. 192.168.99.1 and .2 in System Settings › Network › Thunderbolt Bridge) and use that address in Settings › ollama_boxes and nginx.",
        )
        .in_scope(WarningScope::Cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(name: &str, expires: Option<u64>, pinned: bool) -> OllamaLoadedModel {
        OllamaLoadedModel {
            name: name.into(),
            size_bytes: 1,
            vram_bytes: Some(1),
            context_length: None,
            parameter_size: None,
            quantization: None,
            expires_at_unix_ms: expires,
            pinned,
        }
    }

    #[test]
    fn unload_times_read_at_a_glance() {
        let now = 1_000_000_000;
        assert_eq!(
            loaded("a", Some(now + 3 * 3600 * 1000 + 5), false).unload_text(now),
            "unloads in 3 h"
        );
        assert_eq!(
            loaded("a", Some(now + 12 * 60 * 1000), false).unload_text(now),
            "unloads in 12 min"
        );
        assert_eq!(loaded("a", Some(now - 5), false).unload_text(now), "unloads now");
        assert_eq!(loaded("a", None, true).unload_text(now), "pinned");
        assert_eq!(loaded("a", None, false).unload_text(now), "—");
        assert_eq!(short_duration(3 * 86_400), "3 d");
        assert_eq!(short_duration(3 * 3600 - 1), "3 h");
        assert_eq!(short_duration(3569), "59 min");
        assert_eq!(short_duration(90), "2 min");
    }

    fn boxed(address: &str) -> OllamaBox {
        OllamaBox {
            address: address.into(),
            name: address.into(),
            is_local: false,
            reachable: true,
            error: None,
            version: Some("0.5.1".into()),
            loaded: vec![],
            installed: vec![],
            env: None,
            route: None,
            evictions: vec![],
        }
    }

    #[test]
    fn warnings_name_every_box_once_per_code() {
        let mut down = boxed("192.168.99.2:11434");
        down.reachable = false;
        down.error = Some("not answering".into());
        let mut local = boxed("127.0.0.1:11434");
        local.is_local = true;
        local.env = Some(OllamaEnv {
            host: Some("0.0.0.0:11434".into()),
            keep_alive: Some("30s".into()),
            keep_alive_s: Some(30),
            max_loaded_models: Some(2),
            source: OllamaEnvSource::Launchctl,
        });
        let mut wifi = boxed("10.0.0.7:11434");
        wifi.route = Some(OllamaRoute {
            interface: "en0".into(),
            kind: InterfaceKind::Wifi,
        });
        let view = OllamaView {
            boxes: vec![local, down, wifi],
        };
        let warnings = view.warnings(60);
        let codes: Vec<&str> = warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "ollama_unreachable",
                "ollama_exposed",
                "ollama_keep_alive_short",
                "ollama_route_not_thunderbolt"
            ]
        );
        assert!(warnings[0].message.contains("192.168.99.2:11434 (not answering)"));
        assert!(warnings[3].message.contains("en0 (Wi-Fi)"), "{}", warnings[3].message);
        // A pinned keep-alive and a loopback binding are fine.
        let mut calm = view.clone();
        calm.boxes.truncate(1);
        let env = calm.boxes[0].env.as_mut().unwrap();
        env.host = Some("127.0.0.1:11434".into());
        env.keep_alive_s = Some(-1);
        assert!(calm.warnings(60).is_empty());
    }
}
