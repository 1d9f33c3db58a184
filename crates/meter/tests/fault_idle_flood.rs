//! The fault suite's idle-connection flood (issue #11 item 6), in real time and in a test binary
//! of its own: it counts this process's file descriptors, which tests running beside it would
//! change.

mod common;
use common::stats_status;

use clusterbar_meter::{Meter, MeterOptions};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Raises this process's descriptor limit to at least `wanted` where the hard limit allows (a
/// flood needs two per socket here: the client's end and the meter's). Returns the soft limit.
fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    limit.rlim_cur
}

/// The fault suite's idle-connection flood (issue #11 item 6, in real time): `FAULT_IDLE_CONNECTIONS`
/// sockets (default 200; the suite's long form 3,000) connect and send nothing. The meter keeps
/// answering `/_clusterbar/stats` meanwhile, closes every one after the header timeout, and its
/// descriptors return to where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_flood_is_shed_after_the_header_timeout_and_stats_answer_throughout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let count: usize = std::env::var("FAULT_IDLE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let limit = raise_fd_limit(2 * count as u64 + 256);
    assert!(
        limit >= 2 * count as u64 + 128,
        "the descriptor limit ({limit}) is too low for {count} idle sockets"
    );
    // The bound the meter derives from the limit, as in the product; the flood stays within it
    // here (beyond it: the paused-time test above).
    let max_connections = clusterbar_meter::default_max_connections();
    assert!(
        count < max_connections,
        "{count} sockets exceed the bound {max_connections}"
    );
    let options = MeterOptions {
        header_read_timeout: TIMEOUT,
        max_connections,
        ..MeterOptions::default()
    };
    let meter = Meter::start("127.0.0.1:0".parse().unwrap(), "http://127.0.0.1:9", options)
        .await
        .unwrap();
    let baseline = open_fds();

    let started = std::time::Instant::now();
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(TcpStream::connect(meter.local_addr()).await.unwrap());
    }
    let connected_in = started.elapsed();
    // Held: the meter accepted them all (its end of each is a descriptor too).
    let held = wait_real("the meter to accept the flood", || open_fds() >= baseline + 2 * count).await;
    assert!(
        held,
        "{} descriptors open, {baseline} before {count} sockets",
        open_fds()
    );
    let peak = open_fds();

    // The stats answer while the flood is held, each on a connection of its own.
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let asked = std::time::Instant::now();
        let (status, stream) = tokio::time::timeout(Duration::from_secs(10), stats_status(&meter))
            .await
            .expect("/_clusterbar/stats did not answer during the flood");
        assert_eq!(status, "HTTP/1.1 200 OK");
        slowest = slowest.max(asked.elapsed());
        drop(stream);
    }

    // Every idle socket is closed by the meter, after the header timeout and not long after.
    let mut closed_after = Duration::ZERO;
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(TIMEOUT * 10, stream.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "an idle connection was held or answered: {read:?}"
        );
        closed_after = closed_after.max(started.elapsed());
    }
    assert!(
        closed_after >= TIMEOUT,
        "closed after {closed_after:?}, before the timeout"
    );
    drop(idle);
    let back = wait_real("the descriptors to return", || open_fds() <= baseline).await;
    let after = open_fds();
    assert!(back, "{after} descriptors open, {baseline} before the flood");
    let (status, _) = stats_status(&meter).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    println!(
        "figure: idle flood: {count} idle sockets connected in {:.2} s, fds {baseline} -> {peak} -> {}, \
         stats answered in <= {:.0} ms during it, all closed {:.1} s after the first connect (header timeout {} s)",
        connected_in.as_secs_f64(),
        after,
        slowest.as_secs_f64() * 1000.0,
        closed_after.as_secs_f64(),
        TIMEOUT.as_secs()
    );
    meter.shutdown().await;
}

/// Polls `ok` in real time for up to a minute.
async fn wait_real(what: &str, ok: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ok() {
        if std::time::Instant::now() >= deadline {
            eprintln!("timed out waiting for {what}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
