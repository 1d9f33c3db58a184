//! What the meter's test binaries share: a meter in front of an upstream, and a raw stats request.

#![allow(dead_code)] // each test binary uses a different part

use clusterbar_meter::{Meter, MeterHandle, MeterOptions, STATS_PATH};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A meter on a free loopback port in front of `upstream`, with default options.
pub async fn start_meter(upstream: SocketAddr) -> MeterHandle {
    Meter::start(
        "127.0.0.1:0".parse().unwrap(),
        &format!("http://{upstream}"),
        MeterOptions::default(),
    )
    .await
    .unwrap()
}

/// The status line of `GET /_clusterbar/stats` on a fresh keep-alive connection, which is returned still open.
pub async fn stats_status(meter: &MeterHandle) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(meter.local_addr()).await.unwrap();
    let request = format!("GET {STATS_PATH} HTTP/1.1\r\nHost: meter\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (String::from_utf8_lossy(&head).trim().to_owned(), stream)
}
