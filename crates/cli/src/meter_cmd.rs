//! `clusterbar meter` (the metering proxy on its own) and `clusterbar bench`.

use clap::Args;
use clusterbar_core::exo::{models_to_bench, ExoClient};
use clusterbar_core::format::printable;
use clusterbar_core::settings::meter_routes::{extra_routes, MeterRoute};
use clusterbar_core::settings::SettingsStore;
use clusterbar_meter::bench::{
    render_boxes_report, render_report, run_bench, run_bench_boxes, BenchOptions, BoxesBenchReport, Engine,
};
use clusterbar_meter::{ExtraRoute, Meter, MeterHandle, MeterOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// exo's API port.
const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:52415";

#[derive(Args, Debug)]
pub struct MeterArgs {
    /// Address to listen on, e.g. 127.0.0.1:52416 (loopback only unless --allow-remote).
    #[arg(long)]
    listen: SocketAddr,
    /// The server to meter (plain http).
    #[arg(long, default_value = DEFAULT_UPSTREAM)]
    upstream: String,
    /// Allow a non-loopback --listen address: anyone who reaches it reaches the upstream.
    #[arg(long)]
    allow_remote: bool,
    /// One more listener with its own upstream, e.g. 11436=192.168.99.2:11434 (repeatable),
    /// besides the settings' meter_routes. NAME:PORT=… names it (default route-PORT); a trailing
    /// ",lan" listens on every interface — anyone on the LAN can then use the upstream, and
    /// Ollama's API has no authentication.
    #[arg(long = "route", value_name = "[NAME:]PORT=HOST:PORT[,lan]")]
    routes: Vec<String>,
}

/// `[NAME:]PORT=HOST:PORT[,lan]` → a route (checked with the others by [`extra_routes`]).
pub fn parse_route_arg(arg: &str) -> Result<MeterRoute, String> {
    let usage = || format!("--route {arg:?}: expected [NAME:]PORT=HOST:PORT[,lan], e.g. 11436=192.168.99.2:11434");
    let (listen, upstream) = arg.split_once('=').ok_or_else(usage)?;
    let (upstream, serve_lan) = match upstream.strip_suffix(",lan") {
        Some(upstream) => (upstream, true),
        None => (upstream, false),
    };
    let (name, port) = match listen.rsplit_once(':') {
        Some((name, port)) => (Some(name), port),
        None => (None, listen),
    };
    let listen_port: u16 = port.trim().parse().map_err(|_| usage())?;
    Ok(MeterRoute {
        listen_port,
        upstream: upstream.trim().to_owned(),
        name: name.map_or_else(|| format!("route-{listen_port}"), |n| n.trim().to_owned()),
        serve_lan,
    })
}

/// One line per extra route (where it listens and where it sends), a loud one per route open to
/// the LAN, and why a route did not start.
pub fn print_routes(meter: &MeterHandle, routes: &[ExtraRoute]) {
    for route in routes {
        let name = printable(&route.name);
        match meter.route_addr(&route.name) {
            Some(addr) => eprintln!("clusterbar: route {name}: http://{addr} -> {}", route.upstream),
            None => eprintln!(
                "clusterbar: route {name} did not start: {}",
                meter.route_problem(&route.name).unwrap_or("unknown")
            ),
        }
    }
    for warning in meter.stats().warnings {
        eprintln!("clusterbar: WARNING ({}): {}", warning.code, warning.message);
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A meter or an upstream (plain http; default exo's, http://127.0.0.1:52415). With
    /// --engine ollama, one Ollama box (http://HOST:PORT).
    #[arg(long)]
    url: Option<String>,
    /// How to ask it: openai (/v1/chat/completions, the default) or ollama (/api/ps and /api/chat).
    #[arg(long, value_parser = parse_engine)]
    engine: Option<Engine>,
    /// Every Ollama box, one after the other: this Mac's (when it answers) and the ollama_boxes
    /// setting's; one row per box and model. The same as --engine ollama without --url.
    #[arg(long, conflicts_with = "url")]
    ollama: bool,
    /// Model id to bench (repeatable); default: the models exo has loaded, or every model in
    /// /v1/models on a server that is not exo; on Ollama, each box's loaded models (/api/ps) —
    /// a named model that is not loaded is loaded by the bench, which may unload another.
    #[arg(long = "model")]
    models: Vec<String>,
    /// Streamed requests per model and prompt.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// max_tokens per request.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

pub fn run_meter(args: MeterArgs) -> Result<(), String> {
    if args.allow_remote && !args.listen.ip().is_loopback() {
        eprintln!(
            "clusterbar: warning: listening on {} (not loopback): anyone who can reach it can use {}",
            args.listen, args.upstream
        );
    }
    let more = args
        .routes
        .iter()
        .map(|arg| parse_route_arg(arg))
        .collect::<Result<Vec<_>, _>>()?;
    let loaded = SettingsStore::platform().load();
    if let Some(problem) = &loaded.problem {
        eprintln!("clusterbar: {problem}");
    }
    let mut reserved = loaded.settings.reserved_ports();
    reserved.push((args.listen.port(), "the --listen port"));
    let (routes, problems) = extra_routes(&loaded.settings, &more, &reserved);
    for problem in &problems {
        eprintln!("clusterbar: {problem}");
    }
    // A route asked for on this command line that cannot run is a usage error, not a warning.
    if more.iter().any(|m| !routes.iter().any(|r| r.name == m.name)) {
        return Err("a --route cannot be used (see above)".into());
    }
    runtime()?.block_on(async {
        let options = MeterOptions {
            allow_remote: args.allow_remote,
            routes: routes.clone(),
            ..MeterOptions::default()
        };
        let meter = Meter::start(args.listen, &args.upstream, options)
            .await
            .map_err(|e| e.to_string())?;
        let addr = meter.local_addr();
        eprintln!(
            "clusterbar: metering http://{addr} -> {} (stats: http://{addr}/_clusterbar/stats)",
            args.upstream
        );
        print_routes(&meter, &routes);
        // History: the meter's figures every 10 s, written on the recorder's own thread.
        let recorder = crate::history_cmd::start_recording();
        let record = async {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            // Energy per token for the metrics page, from what is recorded (read once a minute).
            let mut energy = clusterbar_core::history::EnergyReader::default();
            let tariff = SettingsStore::platform().load().settings.tariff();
            let mut health = crate::history_cmd::HealthReport::default();
            loop {
                tick.tick().await;
                let now = clusterbar_core::clock::now_unix_ms() / 1000;
                if let Some(recorder) = &recorder {
                    recorder.send(clusterbar_core::history::sample_from(None, Some(&meter.stats()), now));
                    health.check(recorder);
                }
                if let Some(figures) = energy.read(now, tariff.as_ref()) {
                    meter.set_external_gauges(clusterbar_core::history::energy::prometheus_gauges(&figures));
                }
            }
        };
        let stopped = tokio::select! {
            result = wait_for_stop_signal() => result,
            () = record => Ok(()),
        };
        meter.shutdown().await;
        if let Some(recorder) = recorder {
            recorder.close();
        }
        stopped
    })
}

async fn wait_for_stop_signal() -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| format!("installing a SIGTERM handler: {e}"))?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(|e| format!("waiting for Ctrl-C: {e}")),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("waiting for Ctrl-C: {e}"))
    }
}

fn parse_engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text).ok_or_else(|| format!("{text:?}: expected openai or ollama"))
}

pub fn run_bench_cmd(args: BenchArgs) -> Result<(), String> {
    let engine = if args.ollama {
        Engine::Ollama
    } else {
        args.engine.unwrap_or_default()
    };
    if engine == Engine::Ollama {
        return run_ollama_bench(args);
    }
    let url = args.url.unwrap_or_else(|| DEFAULT_UPSTREAM.to_owned());
    // exo's /v1/models lists every card it knows: bench what it has loaded instead.
    let models = if args.models.is_empty() {
        let exo = ExoClient::new(&url).map_err(|e| e.to_string())?;
        models_to_bench(&exo)?.unwrap_or_default()
    } else {
        args.models
    };
    let options = BenchOptions {
        url,
        models,
        runs: args.runs,
        max_tokens: args.max_tokens,
        timeout: Duration::from_secs(300),
        ..BenchOptions::default()
    };
    let report = runtime()?.block_on(run_bench(&options)).map_err(|e| e.to_string())?;
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| format!("encoding the report: {e}"))?
    } else {
        // Model ids come from exo's /v1/models and failures quote the server: made printable.
        let mut shown = report.clone();
        for model in &mut shown.models {
            model.model = printable(&model.model).into_owned();
            for failure in &mut model.failures {
                *failure = printable(failure).into_owned();
            }
        }
        render_report(&shown)
    };
    crate::render::print_text(&text)?;
    let failed: usize = report.models.iter().map(|m| m.failures.len()).sum();
    if failed > 0 && report.models.iter().all(|m| m.ttft_ms.is_none()) {
        return Err(format!("every bench request failed ({failed} failures)"));
    }
    Ok(())
}

/// `http://HOST:PORT[/]` → `HOST:PORT` (Ollama is asked at its root).
fn ollama_address(url: &str) -> Result<String, String> {
    let bad = || format!("--url {url:?}: with --engine ollama, expected http://HOST:PORT");
    let rest = url.trim().strip_prefix("http://").ok_or_else(bad)?;
    let address = rest.trim_end_matches('/');
    if address.is_empty() || address.contains('/') {
        return Err(bad());
    }
    clusterbar_core::ollama::check_address(address).map_err(|e| format!("--url {url:?}: {e}"))?;
    Ok(address.to_owned())
}

fn run_ollama_bench(args: BenchArgs) -> Result<(), String> {
    let mut settings = SettingsStore::platform().load().settings;
    if let Some(url) = &args.url {
        // One box: read as a configured one (shown with the reason when it does not answer).
        settings.ollama_local_port = 0;
        settings.ollama_boxes = vec![ollama_address(url)?];
    }
    let now = clusterbar_core::clock::now_unix_ms();
    let view = clusterbar_core::ollama::Reader::default().read(
        &settings,
        &clusterbar_core::ollama::Interfaces::default(),
        now,
    );
    let Some(view) = view else {
        return Err(format!(
            "no Ollama box: this Mac's does not answer on 127.0.0.1:{} and the setting ollama_boxes is empty \
             (or pass --url http://HOST:PORT --engine ollama)",
            clusterbar_core::ollama::local_port(&settings)
        ));
    };
    let targets = clusterbar_core::ollama::bench::targets(&view.boxes, &args.models, now);
    for (target, b) in targets.iter().zip(&view.boxes) {
        for model in &target.models {
            if !clusterbar_core::ollama::bench::same_model(b.loaded.iter().map(|m| m.name.as_str()), model) {
                eprintln!(
                    "clusterbar: {} is not loaded on {}: the bench loads it (which may unload another model)",
                    printable(model),
                    printable(&b.address)
                );
            }
        }
    }
    let options = BenchOptions {
        runs: args.runs,
        max_tokens: args.max_tokens,
        timeout: Duration::from_secs(300),
        engine: Engine::Ollama,
        ..BenchOptions::default()
    };
    let report = runtime()?.block_on(run_bench_boxes(&targets, &options));
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| format!("encoding the report: {e}"))?
    } else {
        render_boxes_report(&printable_boxes(&report))
    };
    crate::render::print_text(&text)?;
    let rows = report.boxes.iter().flat_map(|b| &b.models);
    if !rows.clone().any(|m| m.ttft_ms.is_some()) {
        let failed: usize = rows.map(|m| m.failures.len()).sum();
        return Err(format!(
            "no Ollama box was benched ({failed} failed requests; see above)"
        ));
    }
    Ok(())
}

/// Model names, failures and problems quote the servers: made printable.
fn printable_boxes(report: &BoxesBenchReport) -> BoxesBenchReport {
    let mut shown = report.clone();
    for b in &mut shown.boxes {
        b.address = printable(&b.address).into_owned();
        b.problem = b.problem.as_deref().map(|p| printable(p).into_owned());
        for model in &mut b.models {
            model.model = printable(&model.model).into_owned();
            for failure in &mut model.failures {
                *failure = printable(failure).into_owned();
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ollama_url_is_a_box_root() {
        assert_eq!(
            ollama_address("http://192.168.99.2:11434/").unwrap(),
            "192.168.99.2:11434"
        );
        assert_eq!(ollama_address("http://[fe80::1]:11434").unwrap(), "[fe80::1]:11434");
        for bad in [
            "192.168.99.2:11434",
            "https://h:1",
            "http://h:1/ollama",
            "http://h",
            "http://",
        ] {
            assert!(ollama_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_args_read_port_upstream_name_and_lan() {
        let plain = parse_route_arg("11436=192.168.99.2:11434").unwrap();
        assert_eq!(
            (
                plain.listen_port,
                plain.upstream.as_str(),
                plain.name.as_str(),
                plain.serve_lan
            ),
            (11436, "192.168.99.2:11434", "route-11436", false)
        );
        let named = parse_route_arg("box2:11437=[fe80::1]:11434,lan").unwrap();
        assert_eq!(
            (
                named.listen_port,
                named.upstream.as_str(),
                named.name.as_str(),
                named.serve_lan
            ),
            (11437, "[fe80::1]:11434", "box2", true)
        );
        for bad in ["11436", "x=h:1", "box2:=h:1", "=h:1"] {
            assert!(parse_route_arg(bad).unwrap_err().contains("expected"), "{bad}");
        }
    }

    #[test]
    fn settings_routes_and_command_line_routes_are_checked_together() {
        let mut settings = clusterbar_core::settings::Settings::default();
        settings.meter_routes.routes.push(MeterRoute {
            listen_port: 11436,
            upstream: "192.168.99.2:11434".into(),
            name: "box2".into(),
            serve_lan: false,
        });
        let more = [
            parse_route_arg("11437=192.168.99.3:11434,lan").unwrap(),
            parse_route_arg("again:11436=h:1").unwrap(),
            parse_route_arg("52416=h:1").unwrap(),
        ];
        let mut reserved = settings.reserved_ports();
        reserved.push((52416, "the --listen port"));
        let (routes, problems) = extra_routes(&settings, &more, &reserved);
        let started: Vec<(&str, u16, &str, bool)> = routes
            .iter()
            .map(|r| (r.name.as_str(), r.port, r.upstream.as_str(), r.serve_lan))
            .collect();
        assert_eq!(
            started,
            [
                ("box2", 11436, "http://192.168.99.2:11434", false),
                ("route-11437", 11437, "http://192.168.99.3:11434", true)
            ]
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("again") && problems[0].contains("route \"box2\"'s"));
        assert!(problems[1].contains("--listen"));
    }
}
