//! `standin-proc`: a program that misbehaves on request, so the supervisor can be tested against
//! real processes. Options (all optional, applied in this order):
//!
//! - `--env-to FILE`      write the environment (`KEY=VALUE` lines, sorted) to FILE
//! - `--pid-file FILE`    write this process's pid to FILE
//! - `--refuse MESSAGE`   print MESSAGE on stderr and exit 1 at once
//! - `--ignore-int`       ignore SIGINT; `--ignore-term` ignore SIGTERM
//! - `--grandchild FILE`  start a copy of itself (same process group, ignoring the same signals,
//!   running until killed) and append that copy's pid to FILE (a line each run)
//! - `--lines N`          print N lines (`line 1` … on stdout; odd ones also to stderr as `err N`)
//! - `--line-bytes B`     pad each printed stdout line to B bytes (for log rotation tests)
//! - `--exit CODE`        exit with CODE after `--after-ms T` (default 0 ms)
//! - `--run`              otherwise run until a signal ends it (the default when `--exit` is absent)

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Default)]
struct Options {
    env_to: Option<String>,
    pid_file: Option<String>,
    refuse: Option<String>,
    ignore_int: bool,
    ignore_term: bool,
    grandchild: Option<String>,
    lines: u32,
    line_bytes: usize,
    exit: Option<u8>,
    after_ms: u64,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--env-to" => o.env_to = Some(value("--env-to")?),
            "--pid-file" => o.pid_file = Some(value("--pid-file")?),
            "--refuse" => o.refuse = Some(value("--refuse")?),
            "--ignore-int" => o.ignore_int = true,
            "--ignore-term" => o.ignore_term = true,
            "--grandchild" => o.grandchild = Some(value("--grandchild")?),
            "--lines" => o.lines = value("--lines")?.parse().map_err(|e| format!("--lines: {e}"))?,
            "--line-bytes" => {
                o.line_bytes = value("--line-bytes")?
                    .parse()
                    .map_err(|e| format!("--line-bytes: {e}"))?
            }
            "--exit" => o.exit = Some(value("--exit")?.parse().map_err(|e| format!("--exit: {e}"))?),
            "--after-ms" => o.after_ms = value("--after-ms")?.parse().map_err(|e| format!("--after-ms: {e}"))?,
            "--run" => o.exit = None,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn ignore(signal: libc::c_int) {
    // SAFETY: installing SIG_IGN has no handler code to be unsafe in.
    unsafe {
        libc::signal(signal, libc::SIG_IGN);
    }
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("standin-proc: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = run(&options) {
        eprintln!("standin-proc: {e}");
        return ExitCode::from(3);
    }
    match options.exit {
        Some(code) => {
            std::thread::sleep(Duration::from_millis(options.after_ms));
            ExitCode::from(code)
        }
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}

fn run(o: &Options) -> Result<(), String> {
    if let Some(path) = &o.env_to {
        let mut vars: Vec<String> = std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        vars.sort();
        std::fs::write(path, vars.join("\n") + "\n").map_err(|e| format!("writing {path}: {e}"))?;
    }
    if let Some(path) = &o.pid_file {
        std::fs::write(path, std::process::id().to_string()).map_err(|e| format!("writing {path}: {e}"))?;
    }
    if let Some(message) = &o.refuse {
        eprintln!("{message}");
        std::process::exit(1);
    }
    if o.ignore_int {
        ignore(libc::SIGINT);
    }
    if o.ignore_term {
        ignore(libc::SIGTERM);
    }
    if let Some(path) = &o.grandchild {
        let exe = std::env::current_exe().map_err(|e| format!("finding myself: {e}"))?;
        let mut command = std::process::Command::new(exe);
        command.arg("--run");
        if o.ignore_int {
            command.arg("--ignore-int");
        }
        if o.ignore_term {
            command.arg("--ignore-term");
        }
        let grandchild = command.spawn().map_err(|e| format!("starting the grandchild: {e}"))?;
        // Appended in one write, so restarts keep every run's grandchild (the kill loop counts them).
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("opening {path}: {e}"))?;
        file.write_all(format!("{}\n", grandchild.id()).as_bytes())
            .map_err(|e| format!("writing {path}: {e}"))?;
    }
    let mut out = std::io::stdout().lock();
    for n in 1..=o.lines {
        let line = format!("line {n}");
        let pad = o.line_bytes.saturating_sub(line.len());
        writeln!(out, "{line}{}", "x".repeat(pad)).map_err(|e| format!("stdout: {e}"))?;
        if n % 2 == 1 {
            eprintln!("err {n}");
        }
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(())
}
