//! `exo-standin --scenario FILE [--port N] [--bind ADDR]`: serves a scenario (see the library
//! docs) until killed. The first line on stdout is the bound port.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("exo-standin: {reason}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let mut scenario_path = None;
    let mut port: u16 = 0;
    let mut bind = "127.0.0.1".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => scenario_path = args.next(),
            "--bind" => bind = args.next().ok_or("--bind needs an address")?,
            "--port" => {
                let text = args.next().ok_or("--port needs a number")?;
                port = text.parse().map_err(|_| format!("--port {text}: not a port number"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: --scenario FILE [--port N] [--bind ADDR]"
                ))
            }
        }
    }
    let scenario_path = scenario_path.ok_or("--scenario FILE is required")?;
    let standin = exo_standin::StandIn::start(std::path::Path::new(&scenario_path), &bind, port)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", standin.port())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    drop(stdout);
    standin.wait();
    Ok(())
}
