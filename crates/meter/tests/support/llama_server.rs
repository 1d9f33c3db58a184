//! The real llama.cpp `llama-server` of `scripts/llama-server.sh`, started the way every figure in the README was
//! taken (SmolLM2-135M, `-t 1 -np 1`, loopback). Shared by `tests/real_server.rs`, `benches/proxies.rs` and the
//! app's end-to-end tests (`tests/e2e`).

use clusterbar_meter::bench::BenchClient;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running llama-server; killed when dropped.
pub struct LlamaServer {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// `LLAMA_SERVER_BIN` and `LLAMA_MODEL`, as `scripts/llama-server.sh` prints them; None when either is unset.
    pub fn configured() -> Option<(String, String)> {
        Some((
            std::env::var("LLAMA_SERVER_BIN").ok()?,
            std::env::var("LLAMA_MODEL").ok()?,
        ))
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts it on a free port and waits until it serves the model (it answers 503 while the model loads).
    pub async fn start(bin: &str, model: &str) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let log = std::env::temp_dir().join(format!("clusterbar-meter-llama-{port}.log"));
        let log_file = || std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()));
        let child = Command::new(bin)
            .args(["-m", model, "-t", "1", "-np", "1", "-c", "2048", "--alias", "smollm2"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file()?)
            .stderr(log_file()?)
            .spawn()
            .map_err(|e| format!("starting {bin}: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self { child, addr, log };
        let client = BenchClient::new(&server.base_url(), Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.model_ids().await {
                Ok(ids) if ids == ["smollm2"] => return Ok(server),
                Ok(ids) => return Err(format!("llama-server serves {ids:?}, not [\"smollm2\"]")),
                Err(_) if Instant::now() < deadline => {}
                Err(e) => {
                    return Err(format!(
                        "llama-server did not come up in 60 s ({e}); log: {}",
                        server.log.display()
                    ))
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let text = std::fs::read_to_string(&server.log).unwrap_or_default();
                return Err(format!(
                    "llama-server exited ({status}): {}",
                    text.lines().last().unwrap_or("")
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
