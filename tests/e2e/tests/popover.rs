//! The real app under Xvfb, driven through tauri-driver + WebKitWebDriver.
//!
//! Run with `xvfb-run -a cargo test -p e2e -- --ignored --test-threads=1` after building
//! `clusterbar-app` (scripts/test-all.sh does all of it). Each test starts its own
//! tauri-driver with its own settings and log directories, so they never touch the user's.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn app_binary() -> PathBuf {
    let path = std::env::var_os("TAURI_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/clusterbar-app"));
    assert!(path.is_file(), "build the app first: {} is missing", path.display());
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// tauri-driver with the app's environment; killed (with the app) on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(config_dir: &Path, log_dir: &Path) -> Driver {
        let port = free_port();
        let native_port = free_port();
        let child = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("CLUSTERBAR_SHOW", "1")
            .env("CLUSTERBAR_CONFIG_DIR", config_dir)
            .env("CLUSTERBAR_LOG_DIR", log_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tauri-driver on PATH (cargo install tauri-driver --locked)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port }
    }

    async fn connect(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app_binary() }),
        );
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session with the app")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the element has a `data-bytes` attribute, i.e. the first Snapshot rendered.
async fn rendered_bytes(client: &Client, id: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(el) = client.find(Locator::Id(id)).await {
            if let Ok(Some(value)) = el.attr("data-bytes").await {
                return value.parse().expect("data-bytes is a number");
            }
        }
        assert!(Instant::now() < deadline, "#{id} never rendered a figure");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn text(client: &Client, id: &str) -> String {
    client.find(Locator::Id(id)).await.expect(id).text().await.expect(id)
}

/// Screenshots are of the last painted frame: wait for two animation frames after the DOM
/// changed, or the picture can show the page before the first Snapshot arrived.
async fn screenshot_after_paint(client: &Client, name: &str) {
    client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             requestAnimationFrame(() => requestAnimationFrame(() => done(null)));",
            vec![],
        )
        .await
        .expect("waiting for a paint");
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(artifact_dir().join(name), png).expect("saving the screenshot");
}

fn artifact_dir() -> PathBuf {
    let dir = workspace_root().join("target/ci");
    std::fs::create_dir_all(&dir).expect("target/ci");
    dir
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn popover_shows_this_machine_with_real_memory_figures() {
    let config = tempdir("config");
    let logs = tempdir("logs");
    let driver = Driver::start(&config, &logs);
    let client = driver.connect().await;

    let total = rendered_bytes(&client, "mem-total").await;
    let used = rendered_bytes(&client, "mem-used").await;
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let now = clusterbar_core::probes::memory::parse_meminfo(&meminfo).expect("meminfo parses");
    assert_eq!(total, now.total_bytes, "the popover's total must be MemTotal");
    assert_eq!(
        text(&client, "mem-total").await,
        clusterbar_core::format::bytes(now.total_bytes)
    );
    // "Used" moves while the test runs: it must be within 20 % (or 512 MiB) of a fresh reading,
    // which tells it apart from free, available or total.
    let slack = (now.used_bytes / 5).max(512 << 20);
    assert!(
        used.abs_diff(now.used_bytes) <= slack,
        "popover used {used} vs /proc/meminfo used {} (MemTotal − MemAvailable)",
        now.used_bytes
    );
    let host = clusterbar_core::probes::host::read();
    assert_eq!(text(&client, "host-name").await, host.name);
    assert!(["Running", "Stopped", "Not installed"].contains(&text(&client, "exo-state").await.as_str()));

    // The settings panel opens from the footer and names the file it would write.
    client
        .find(Locator::Id("settings-btn"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let list = text(&client, "settings-list").await;
    assert!(list.contains("settings.json"), "settings panel: {list}");

    screenshot_after_paint(&client, "popover.png").await;
    client.close().await.expect("closing the session");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn corrupt_settings_are_set_aside_and_the_popover_says_so() {
    let config = tempdir("config-corrupt");
    let logs = tempdir("logs-corrupt");
    std::fs::write(config.join("settings.json"), "{\"start_at_login\": maybe").unwrap();
    let driver = Driver::start(&config, &logs);
    let client = driver.connect().await;
    rendered_bytes(&client, "mem-total").await;

    let warnings = client
        .find(Locator::Css("#warnings li[data-code='settings_reset']"))
        .await;
    let row = warnings.expect("a settings_reset warning row").text().await.unwrap();
    assert!(row.contains("settings.json.bad"), "warning row: {row}");
    assert_eq!(
        std::fs::read_to_string(config.join("settings.json.bad")).unwrap(),
        "{\"start_at_login\": maybe",
        "the unreadable file is kept, byte for byte"
    );
    screenshot_after_paint(&client, "popover-settings-reset.png").await;
    client.close().await.expect("closing the session");
}

/// A fresh directory under target/ci/tmp (kept after the run for inspection).
fn tempdir(name: &str) -> PathBuf {
    let dir = artifact_dir()
        .join("tmp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
