//! What one full sample costs in CPU time (not wall time: macmon's and RAPL's sampling windows
//! are excluded by construction), against a peer measured in the same run: one fork+exec of
//! `true`, the cheapest possible call of an OS tool. Prints figures; asserts nothing.
//!
//!     cargo run --release -p clusterbar-core --example sample_cost [samples]

use std::time::Duration;

use clusterbar_core::settings::Settings;
use clusterbar_core::snapshot::Collector;

fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0;
    let mut children: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = ok && unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut children) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime) + tv(children.ru_utime) + tv(children.ru_stime)
}

fn main() {
    let samples: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let settings = Settings::default();
    let mut collector = Collector::default();
    collector.collect(&settings, &[], None); // warm: host info and the process table are read once
    let start = cpu_time();
    for _ in 0..samples {
        std::hint::black_box(collector.collect(&settings, &[], None));
    }
    let per_sample = (cpu_time() - start) / samples;

    let start = cpu_time();
    for _ in 0..samples {
        let _ = std::process::Command::new("true").status();
    }
    let per_spawn = (cpu_time() - start) / samples;
    println!(
        "one full sample (memory, hardware, processes, exo): {:>8.3} ms CPU",
        per_sample.as_secs_f64() * 1e3
    );
    println!(
        "peer: one fork+exec of `true`:                      {:>8.3} ms CPU",
        per_spawn.as_secs_f64() * 1e3
    );
    println!(
        "ratio: a sample costs {:.1} tool calls; at the closed-popover cadence (10 s) that is {:.4} % of a core",
        per_sample.as_secs_f64() / per_spawn.as_secs_f64().max(1e-9),
        per_sample.as_secs_f64() / 10.0 * 100.0
    );
}
