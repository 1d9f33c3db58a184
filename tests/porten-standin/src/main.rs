//! `porten-standin`: behaves like the Porten agent `porten` as far as Clusterbar can tell.
//! Tests copy or link it as `porten` and steer it with environment variables:
//!
//! ```text
//! porten-standin login     prints a code and a URL, then ends as PORTEN_STANDIN_LOGIN says
//!   PORTEN_STANDIN_LOGIN    success (default) | denied | expired | hang
//!   PORTEN_STANDIN_WORDING  0–9: which of the wordings in `login()` (colours, code in URL, code
//!                           first, code on its own line without the word "code", JSON, stderr …)
//!   PORTEN_STANDIN_URL      the sign-in URL (default https://porten.ai/device)
//!   PORTEN_STANDIN_URL_PAD  N: append ?pad=<N × "a"> to the URL (a 1 MB URL)
//!   PORTEN_STANDIN_CODE     the code (default WDJB-MJHT)
//!   PORTEN_STANDIN_DELAY_MS how long "the user" takes (default 300)
//!   PORTEN_STANDIN_KEY      on success, write a key to this file
//! porten-standin run       the agent: appends one JSON line per start to PORTEN_STANDIN_ENV_TO
//!                          ({"env": {PORTEN_*…}, "health": "ok"|"…error…"}), where health is
//!                          GET $PORTEN_ENGINE_URL/v1/models; then runs until a signal.
//!   PORTEN_STANDIN_PID_TO   append its pid to this file
//!   PORTEN_STANDIN_CRASH_ONCE FILE: when FILE does not exist, create it and exit 3 after 200 ms
//! porten-standin status    "logged in" / "not logged in" (PORTEN_STANDIN_KEY exists)
//! porten-standin hub [--catalog a,b] [--key K] [--forbidden-key K] [--warming ID=TOTAL_MB:DOWNLOAD_S:LOAD_S]…
//!                          a stand-in Hub (see lib.rs); prints its port on the first line
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn login() -> ExitCode {
    let mut url = var("PORTEN_STANDIN_URL").unwrap_or_else(|| "https://porten.ai/device".into());
    if let Some(pad) = var("PORTEN_STANDIN_URL_PAD").and_then(|p| p.parse::<usize>().ok()) {
        // An absurdly long URL (larger than an environment variable may be).
        url = format!("{url}?pad={}", "a".repeat(pad));
    }
    let code = var("PORTEN_STANDIN_CODE").unwrap_or_else(|| "WDJB-MJHT".into());
    let wording: u32 = var("PORTEN_STANDIN_WORDING").and_then(|w| w.parse().ok()).unwrap_or(0);
    let prompt = match wording {
        1 => format!("\x1b[1;33mCode:\x1b[0m \x1b[1m{code}\x1b[0m\n\x1b[4m{url}\x1b[0m\n"),
        2 => format!("Visit {url}?user_code={code} to approve this device\n"),
        3 => format!("Your one-time code is {code}\nOpen: {url}\n"),
        4 => format!("Enter this code:\n\n    {code}\n\nat ({url}).\n"),
        // The URL alone, the code on a later line with no "code" word (issue #12).
        5 => format!("Open this link on any device:\n{url}\nthen confirm the words {code}\n"),
        // The same behind a terminal hyperlink and colours.
        6 => format!(
            "\x1b]8;;{url}\x1b\\{url}\x1b]8;;\x1b\\\n\x1b[2mthen confirm the words\x1b[0m \x1b[1m{code}\x1b[0m\n"
        ),
        // Machine-readable, device-flow field names.
        7 => format!("{{\"verification_uri\":\"{url}\",\"user_code\":\"{code}\",\"expires_in\":900}}\n"),
        // The code on stderr first, the URL on stdout a moment later.
        8 => {
            eprintln!("Your code: {code}");
            std::thread::sleep(Duration::from_millis(50));
            format!("Approve this machine at {url}\n")
        }
        // The code only inside the URL.
        9 => format!("Approve this machine: {url}?code={code}\n"),
        _ => format!("To sign in, open {url} and enter the code {code}.\n"),
    };
    say(&prompt);
    say("Waiting for approval...\n");
    let delay = var("PORTEN_STANDIN_DELAY_MS")
        .and_then(|d| d.parse().ok())
        .unwrap_or(300);
    let outcome = var("PORTEN_STANDIN_LOGIN").unwrap_or_else(|| "success".into());
    if outcome == "hang" {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    std::thread::sleep(Duration::from_millis(delay));
    match outcome.as_str() {
        "denied" => {
            eprintln!("\x1b[31mError: the request was denied.\x1b[0m");
            ExitCode::from(1)
        }
        "expired" => {
            eprintln!("Error: the code expired before it was approved.");
            ExitCode::from(1)
        }
        _ => {
            if let Some(path) = var("PORTEN_STANDIN_KEY") {
                if let Err(e) = std::fs::write(&path, "standin-key\n") {
                    eprintln!("writing {path}: {e}");
                    return ExitCode::from(2);
                }
            }
            say("Logged in.\n");
            ExitCode::SUCCESS
        }
    }
}

/// GET URL/v1/models over plain HTTP/1.0 (the meter and exo are plain http on loopback).
fn health(engine_url: &str) -> String {
    let Some(rest) = engine_url.strip_prefix("http://") else {
        return format!("not an http URL: {engine_url}");
    };
    let (authority, prefix) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, String::new()));
    let prefix = prefix.trim_end_matches('/');
    let mut stream = match std::net::TcpStream::connect(authority) {
        Ok(stream) => stream,
        Err(e) => return format!("connect {authority}: {e}"),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let request = format!("GET {prefix}/v1/models HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return format!("send: {e}");
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    match answer.split_whitespace().nth(1) {
        Some("200") => "ok".into(),
        Some(status) => format!("HTTP {status}"),
        None => "no answer".into(),
    }
}

fn run() -> ExitCode {
    if let Some(path) = var("PORTEN_STANDIN_PID_TO") {
        append(&path, &format!("{}\n", std::process::id()));
    }
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PORTEN_") && !k.starts_with("PORTEN_STANDIN"))
        .collect();
    let health = env
        .get("PORTEN_ENGINE_URL")
        .map(|u| health(u))
        .unwrap_or_else(|| "no PORTEN_ENGINE_URL".into());
    println!("agent starting; engine health: {health}");
    if let Some(path) = var("PORTEN_STANDIN_ENV_TO") {
        let line = serde_json::json!({"env": env, "health": health});
        append(&path, &format!("{line}\n"));
    }
    if let Some(marker) = var("PORTEN_STANDIN_CRASH_ONCE") {
        if !std::path::Path::new(&marker).exists() {
            let _ = std::fs::write(&marker, "crashed\n");
            std::thread::sleep(Duration::from_millis(200));
            eprintln!("agent: simulated crash");
            return ExitCode::from(3);
        }
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn append(path: &str, text: &str) {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
    if let Err(e) = file.and_then(|mut f| f.write_all(text.as_bytes())) {
        eprintln!("writing {path}: {e}");
    }
}

fn hub(args: &[String]) -> ExitCode {
    let mut config = porten_standin::HubConfig::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match (arg.as_str(), iter.next()) {
            ("--catalog", Some(list)) => config.offered.extend(list.split(',').map(str::to_owned)),
            ("--key", Some(key)) => config.key = Some(key.clone()),
            ("--forbidden-key", Some(key)) => config.forbidden_key = Some(key.clone()),
            ("--warming", Some(spec)) => match warm_plan(spec) {
                Some((id, plan)) => {
                    config.warming.insert(id, plan);
                }
                None => {
                    eprintln!("porten-standin hub: --warming wants ID=TOTAL_MB:DOWNLOAD_S:LOAD_S, not {spec}");
                    return ExitCode::from(2);
                }
            },
            (other, _) => {
                eprintln!("porten-standin hub: unexpected {other}");
                return ExitCode::from(2);
            }
        }
    }
    match porten_standin::HubStandIn::serve(config) {
        Ok(hub) => {
            println!("{}", hub.port());
            hub.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("porten-standin hub: {e}");
            ExitCode::from(1)
        }
    }
}

/// `ID=TOTAL_MB:DOWNLOAD_S:LOAD_S`, e.g. `qwen3-coder-next=49131:20:10`.
fn warm_plan(spec: &str) -> Option<(String, porten_standin::WarmPlan)> {
    let (id, figures) = spec.rsplit_once('=')?;
    let mut parts = figures.split(':');
    let total_mb = parts.next()?.parse().ok()?;
    let seconds = |p: Option<&str>| p?.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
    let download = Duration::from_secs_f64(seconds(parts.next())?);
    let load = Duration::from_secs_f64(seconds(parts.next())?);
    Some((
        id.to_owned(),
        porten_standin::WarmPlan {
            total_mb,
            download,
            load,
        },
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("login") => login(),
        Some("run") => run(),
        Some("status") => {
            let logged_in = var("PORTEN_STANDIN_KEY").is_some_and(|k| std::path::Path::new(&k).exists());
            say(if logged_in { "logged in\n" } else { "not logged in\n" });
            ExitCode::SUCCESS
        }
        Some("hub") => hub(&args[1..]),
        _ => {
            eprintln!("usage: porten-standin login|run|status|hub");
            ExitCode::from(2)
        }
    }
}
