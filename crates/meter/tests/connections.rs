//! Issue #11: connections that send nothing were held forever (thousands of idle sockets, then no file
//! descriptors left and `/_clusterbar/stats` stopped answering). Paused time: no real waiting.

mod common;
use common::stats_status;

use clusterbar_meter::{Meter, MeterHandle, MeterOptions};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

async fn start(max_connections: usize) -> MeterHandle {
    let options = MeterOptions {
        header_read_timeout: HEADER_TIMEOUT,
        max_connections,
        ..MeterOptions::default()
    };
    // Nothing is proxied here: the stats endpoint is the meter's own.
    Meter::start("127.0.0.1:0".parse().unwrap(), "http://127.0.0.1:9", options)
        .await
        .unwrap()
}

/// Reads until the peer closes (or resets) the connection; the bytes read. Fails on a connection held for
/// ten minutes.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(600), read)
        .await
        .expect("the connection was held open");
    bytes
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let meter = start(64).await;
    let mut idle = TcpStream::connect(meter.local_addr()).await.unwrap();
    let started = Instant::now();
    assert!(read_to_close(&mut idle).await.is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= HEADER_TIMEOUT && waited < HEADER_TIMEOUT * 2,
        "closed after {waited:?}"
    );
    // A kept-alive connection that sends no second request is closed the same way.
    let (status, mut kept) = stats_status(&meter).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let started = Instant::now();
    read_to_close(&mut kept).await;
    assert!(started.elapsed() >= HEADER_TIMEOUT);
    meter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn beyond_the_connection_bound_new_connections_get_503_and_stats_answer_again() {
    let meter = start(4).await;
    // Four kept-alive connections hold every permit.
    let mut held = Vec::new();
    for _ in 0..4 {
        let (status, stream) = stats_status(&meter).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    // The fifth is told at once and closed, not queued or held.
    let started = Instant::now();
    let mut extra = TcpStream::connect(meter.local_addr()).await.unwrap();
    let answer = read_to_close(&mut extra).await;
    assert!(started.elapsed() < HEADER_TIMEOUT, "the extra connection was held");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503 Service Unavailable"),
        "{answer:?}"
    );
    // Once the idle ones time out, the stats endpoint answers again.
    tokio::time::sleep(HEADER_TIMEOUT + Duration::from_secs(1)).await;
    let (status, _) = stats_status(&meter).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    for mut stream in held {
        read_to_close(&mut stream).await;
    }
    meter.shutdown().await;
}

#[test]
fn the_default_bound_leaves_descriptors_for_the_rest_of_the_process() {
    let bound = clusterbar_meter::default_max_connections();
    assert!((16..=4096).contains(&bound), "{bound}");
}
