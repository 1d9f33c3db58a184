//! `meter_routes`: more listeners of the token meter, each with an upstream of its own — what
//! replaces an nginx hop (e.g. 127.0.0.1:11436 → another box's Ollama on 192.168.99.2:11434).
//!
//! A file whose routes cannot be read or do not hold together never costs the other settings:
//! what the file says is kept as written ([`MeterRoutes::unreadable`], written back unchanged),
//! each bad route is refused with its reason when the meter starts ([`MeterRoutes::check`]),
//! and a save is refused with that reason ([`MeterRoutes::validate`]) until it is fixed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// More routes than this is a typo.
pub const MAX_METER_ROUTES: usize = 16;

impl super::Settings {
    /// The ports a route may not listen on: exo's and the meter's own listeners.
    pub fn reserved_ports(&self) -> Vec<(u16, &'static str)> {
        vec![
            (self.exo_api_port, "exo_api_port"),
            (self.meter_port, "meter_port"),
            (self.porten_meter_port, "porten_meter_port"),
        ]
    }
}

/// One listener and where it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterRoute {
    /// The port the meter listens on for this route (on 127.0.0.1 unless `serve_lan`).
    pub listen_port: u16,
    /// `host:port` of the upstream (plain http), e.g. `192.168.99.2:11434`; `[v6]:port` for IPv6.
    pub upstream: String,
    /// Names the route in the stats and metrics: 1–32 of `A–Z a–z 0–9 . _ -`.
    pub name: String,
    /// Listen on every interface (0.0.0.0) so the LAN can use it. Off unless the user opts in:
    /// Ollama's API has no authentication, so anyone who reaches the port uses the upstream.
    #[serde(default)]
    pub serve_lan: bool,
}

impl MeterRoute {
    /// The upstream as the meter takes it: `http://host:port`.
    pub fn upstream_url(&self) -> String {
        format!("http://{}", self.upstream.trim())
    }
}

/// The `meter_routes` setting: the routes, or what the file held when it was not a list of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeterRoutes {
    pub routes: Vec<MeterRoute>,
    /// The file's value and why it is not a list of routes; saved back as it was.
    pub unreadable: Option<(serde_json::Value, String)>,
}

impl MeterRoutes {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.unreadable.is_none()
    }

    /// Each route, usable or with why not, in order. `reserved` are the ports taken by the
    /// meter's other listeners and exo (`(port, "meter_port")` …). A route whose name or port
    /// an earlier route already has is the one refused.
    pub fn check(&self, reserved: &[(u16, &str)]) -> Vec<(&MeterRoute, Result<(), String>)> {
        self.routes
            .iter()
            .enumerate()
            .map(|(index, route)| (route, check_route(route, &self.routes[..index], reserved)))
            .collect()
    }

    /// Every rule, for a save: the first problem, naming the setting and the route.
    pub fn validate(&self, reserved: &[(u16, &str)]) -> Result<(), String> {
        if let Some((_, why)) = &self.unreadable {
            return Err(format!("meter_routes: {why}"));
        }
        if self.routes.len() > MAX_METER_ROUTES {
            return Err(format!(
                "meter_routes: at most {MAX_METER_ROUTES} routes, not {}",
                self.routes.len()
            ));
        }
        for (route, checked) in self.check(reserved) {
            checked.map_err(|why| format!("meter_routes: route {:?}: {why}", route.name))?;
        }
        Ok(())
    }
}

impl Serialize for MeterRoutes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.unreadable {
            Some((raw, _)) => raw.serialize(serializer),
            None => self.routes.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MeterRoutes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        Ok(match serde_json::from_value::<Vec<MeterRoute>>(raw.clone()) {
            Ok(routes) => Self {
                routes,
                unreadable: None,
            },
            Err(e) => {
                let why = format!(
                    "not a list of {{\"listen_port\", \"upstream\", \"name\", \"serve_lan\"}} routes ({e}); ignored"
                );
                tracing::warn!(%why, "the meter_routes setting is not usable");
                Self {
                    routes: Vec::new(),
                    unreadable: Some((raw, why)),
                }
            }
        })
    }
}

fn check_route(route: &MeterRoute, earlier: &[MeterRoute], reserved: &[(u16, &str)]) -> Result<(), String> {
    let name = &route.name;
    if name.is_empty()
        || name.len() > 32
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "the name {name:?} must be 1–32 of A–Z a–z 0–9 . _ - (it names the route in the stats)"
        ));
    }
    if earlier.iter().any(|r| r.name == *name) {
        return Err(format!("the name {name:?} is used by an earlier route"));
    }
    let port = route.listen_port;
    if port == 0 {
        return Err("listen_port must be 1–65535".into());
    }
    if let Some((_, what)) = reserved.iter().find(|(p, _)| *p == port) {
        return Err(format!("listen_port {port} is already {what}"));
    }
    if let Some(other) = earlier.iter().find(|r| r.listen_port == port) {
        return Err(format!("listen_port {port} is already route {:?}'s", other.name));
    }
    let (host, upstream_port) =
        host_port(&route.upstream).map_err(|why| format!("upstream {:?} is not host:port: {why}", route.upstream))?;
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback && upstream_port == port {
        return Err(format!(
            "upstream {} is the route's own port: it would send its requests to itself",
            route.upstream
        ));
    }
    Ok(())
}

/// `host:port` (`[v6]:port`) without a scheme or path, port 1–65535 → (host, port).
fn host_port(address: &str) -> Result<(String, u16), String> {
    let text = address.trim();
    if text.contains("://") || text.contains(['/', '?', '#', '@']) {
        return Err("give host:port only, e.g. 192.168.99.2:11434, without http:// or a path".into());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("the port is missing, e.g. :11434".into());
    };
    let Some(port) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
        return Err("the port must be 1–65535".into());
    };
    let host = match host.strip_prefix('[') {
        Some(inner) => {
            let inner = inner.strip_suffix(']').ok_or("an IPv6 address goes in [brackets]")?;
            inner
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| "not an IPv6 address in the brackets")?;
            inner
        }
        None if host.contains(':') => return Err("an IPv6 address goes in [brackets]".into()),
        None => host,
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the host is missing or has spaces".into());
    }
    Ok((host.to_owned(), port))
}

/// The settings' meter_routes and `more` (from the command line) that hold together, as the
/// meter takes them, and why each other one is left out. `reserved` are the ports the meter's
/// other listeners and exo use.
pub fn extra_routes(
    settings: &super::Settings,
    more: &[MeterRoute],
    reserved: &[(u16, &str)],
) -> (Vec<clusterbar_meter::ExtraRoute>, Vec<String>) {
    let mut problems = Vec::new();
    if let Some((_, why)) = &settings.meter_routes.unreadable {
        problems.push(format!("the meter_routes setting is {why}"));
    }
    let all = MeterRoutes {
        routes: settings.meter_routes.routes.iter().chain(more).cloned().collect(),
        unreadable: None,
    };
    let mut routes = Vec::new();
    for (route, checked) in all.check(reserved) {
        match checked {
            Ok(()) => routes.push(clusterbar_meter::ExtraRoute {
                name: route.name.clone(),
                port: route.listen_port,
                upstream: route.upstream_url(),
                serve_lan: route.serve_lan,
            }),
            Err(why) => problems.push(format!(
                "route {}: {why}; not started",
                crate::format::printable(&route.name)
            )),
        }
    }
    (routes, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, SettingsStore};

    fn route(name: &str, listen_port: u16, upstream: &str) -> MeterRoute {
        MeterRoute {
            listen_port,
            upstream: upstream.into(),
            name: name.into(),
            serve_lan: false,
        }
    }

    const RESERVED: &[(u16, &str)] = &[
        (52415, "exo_api_port"),
        (52480, "meter_port"),
        (52481, "porten_meter_port"),
    ];

    #[test]
    fn good_routes_pass_and_each_bad_one_says_why() {
        let good = MeterRoutes {
            routes: vec![
                route("box2", 11436, "192.168.99.2:11434"),
                route("v6", 11437, "[fe80::1]:11434"),
                route("local-ollama", 11438, "localhost:11434"),
            ],
            unreadable: None,
        };
        assert_eq!(good.validate(RESERVED), Ok(()));
        assert_eq!(good.routes[0].upstream_url(), "http://192.168.99.2:11434");
        let cases = [
            (route("", 1, "h:1"), "name"),
            (route("sp ace", 11440, "h:1"), "name"),
            (route("box2", 11440, "h:1"), "earlier route"),
            (route("x", 0, "h:1"), "1–65535"),
            (route("x", 52480, "h:1"), "meter_port"),
            (route("x", 52415, "h:1"), "exo_api_port"),
            (route("x", 52481, "h:1"), "porten_meter_port"),
            (route("x", 11436, "h:1"), "route \"box2\"'s"),
            (route("x", 11440, "http://h:1"), "without http://"),
            (route("x", 11440, "h"), "port is missing"),
            (route("x", 11440, "h:99999"), "1–65535"),
            (route("x", 11440, "fe80::1:11434"), "brackets"),
            (route("x", 11440, ":11434"), "host is missing"),
            (route("x", 11440, "127.0.0.1:11440"), "itself"),
        ];
        for (bad, why) in cases {
            let mut routes = good.clone();
            routes.routes.push(bad.clone());
            let checked = routes.check(RESERVED);
            assert!(checked[..3].iter().all(|(_, r)| r.is_ok()), "{bad:?}");
            let error = checked[3].1.clone().unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
            let whole = routes.validate(RESERVED).unwrap_err();
            assert!(whole.starts_with("meter_routes: route"), "{whole}");
        }
        let too_many = MeterRoutes {
            routes: (0..=MAX_METER_ROUTES as u16)
                .map(|i| route(&format!("r{i}"), 20000 + i, "h:1"))
                .collect(),
            unreadable: None,
        };
        assert!(too_many.validate(RESERVED).unwrap_err().contains("at most"));
    }

    #[test]
    fn the_default_is_no_routes_and_loopback_only() {
        assert!(Settings::default().meter_routes.is_empty());
        let parsed: MeterRoute =
            serde_json::from_str(r#"{"listen_port":11436,"upstream":"192.168.99.2:11434","name":"box2"}"#).unwrap();
        assert!(!parsed.serve_lan, "serving the LAN is opt-in");
        // Settings without routes are written without the key.
        let json = serde_json::to_value(Settings::default()).unwrap();
        assert!(json.get("meter_routes").is_none());
    }

    #[test]
    fn routes_round_trip_and_a_save_refuses_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        let mut settings = Settings::default();
        settings.meter_routes.routes.push(MeterRoute {
            serve_lan: true,
            ..route("box2", 11436, "192.168.99.2:11434")
        });
        store.save(&settings).unwrap();
        let loaded = store.load();
        assert!(loaded.problem.is_none());
        assert_eq!(loaded.settings, settings);
        settings
            .meter_routes
            .routes
            .push(route("again", settings.meter_port, "h:1"));
        let error = store.save(&settings).unwrap_err().to_string();
        assert!(
            error.contains("meter_routes") && error.contains("meter_port"),
            "{error}"
        );
        assert_eq!(
            store.load().settings.meter_routes.routes.len(),
            1,
            "nothing was written"
        );
    }

    /// Bad routes in the file never cost the other settings: the file is read, the routes'
    /// text kept as written, and the reason given where they are used.
    #[test]
    fn bad_routes_in_the_file_keep_every_other_setting() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        // Not a list of routes at all.
        std::fs::write(
            store.path(),
            r#"{"exo_api_port": 8000, "currency": "EUR", "meter_routes": {"11436": "box2"}}"#,
        )
        .unwrap();
        let loaded = store.load();
        assert!(loaded.problem.is_none(), "{:?}", loaded.problem);
        assert_eq!(
            (loaded.settings.exo_api_port, loaded.settings.currency.as_str()),
            (8000, "EUR")
        );
        let routes = &loaded.settings.meter_routes;
        assert!(routes.routes.is_empty());
        assert!(routes.validate(RESERVED).unwrap_err().contains("not a list"));
        // Written back as it was.
        let json: serde_json::Value = serde_json::to_value(&loaded.settings).unwrap();
        assert_eq!(json["meter_routes"], serde_json::json!({"11436": "box2"}));

        // Routes that read but clash: kept, each checked on its own where it is used.
        std::fs::write(
            store.path(),
            r#"{"currency": "EUR", "meter_routes": [
                {"listen_port": 11436, "upstream": "192.168.99.2:11434", "name": "box2"},
                {"listen_port": 52480, "upstream": "192.168.99.3:11434", "name": "box3"}]}"#,
        )
        .unwrap();
        let loaded = store.load();
        assert!(loaded.problem.is_none(), "{:?}", loaded.problem);
        assert_eq!(loaded.settings.currency, "EUR");
        let checked = loaded.settings.meter_routes.check(&loaded.settings.reserved_ports());
        assert!(checked[0].1.is_ok());
        assert!(checked[1].1.as_ref().unwrap_err().contains("meter_port"));
    }
}
