//! `ollama-standin --scenario FILE [--port N] [--bind ADDR] [--max-loaded N] [--cold-load-ms MS]
//! [--token-delay-ms MS] [--keep-alive DUR]`: serves a scenario (see the library docs) until
//! killed. The first line on stdout is the bound port.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("ollama-standin: {reason}");
            ExitCode::from(1)
        }
    }
}

const USAGE: &str = "usage: --scenario FILE [--port N] [--bind ADDR] [--max-loaded N] [--cold-load-ms MS] [--token-delay-ms MS] [--keep-alive DUR]";

fn run() -> Result<(), String> {
    let mut scenario_path = None;
    let mut port: u16 = 0;
    let mut bind = "127.0.0.1".to_owned();
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value; {USAGE}"));
        match arg.as_str() {
            "--scenario" => scenario_path = Some(value()?),
            "--bind" => bind = value()?,
            "--port" => {
                let text = value()?;
                port = text.parse().map_err(|_| format!("--port {text}: not a port number"))?;
            }
            "--max-loaded" | "--cold-load-ms" | "--token-delay-ms" | "--keep-alive" => {
                let text = value()?;
                overrides.push((arg.clone(), text));
            }
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    let path = scenario_path.ok_or(format!("--scenario FILE is required; {USAGE}"))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let mut scenario = ollama_standin::parse_scenario(&text).map_err(|e| format!("{path}: {e}"))?;
    for (flag, text) in overrides {
        let number = || {
            text.parse::<u64>()
                .map_err(|_| format!("{flag} {text}: not a whole number"))
        };
        match flag.as_str() {
            "--max-loaded" => scenario.max_loaded_models = number()?.max(1) as usize,
            "--cold-load-ms" => scenario.cold_load = Duration::from_millis(number()?),
            "--token-delay-ms" => scenario.token_delay = Duration::from_millis(number()?),
            _ => {
                scenario.keep_alive_s = ollama_standin::parse_duration_s(&serde_json::Value::String(text.clone()))
                    .ok_or(format!("--keep-alive {text}: not a duration"))?
            }
        }
    }
    let standin = ollama_standin::StandIn::start(scenario, &bind, port)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", standin.port())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    drop(stdout);
    standin.wait();
    Ok(())
}
