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
        Self::start_with(config_dir, log_dir, &[])
    }

    /// With extra environment for the app (it inherits tauri-driver's).
    fn start_with(config_dir: &Path, log_dir: &Path, env: &[(&str, &Path)]) -> Driver {
        let port = free_port();
        let native_port = free_port();
        let child = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("CLUSTERBAR_SHOW", "1")
            .env("CLUSTERBAR_CONFIG_DIR", config_dir)
            .env("CLUSTERBAR_LOG_DIR", log_dir)
            // Only what these tests started (under target/ci/tmp) counts as a running exo or
            // agent: on a Mac where EXO.app runs, the app must not adopt that exo.
            .env("CLUSTERBAR_PROCESS_SCOPE", config_dir.parent().unwrap_or(config_dir))
            .envs(env.iter().map(|(k, v)| (*k, *v)))
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

/// The app with `settings` (JSON, or any text: a test may give a broken file) written to its
/// own config dir and its own log dir, connected, once it shows its first Snapshot. Keep the
/// returned driver alive for the whole test: dropping it ends the app.
async fn open_app(config: &Path, logs: &Path, settings: impl ToString, env: &[(&str, &Path)]) -> (Driver, Client) {
    std::fs::write(config.join("settings.json"), settings.to_string()).expect("writing the settings");
    let driver = Driver::start_with(config, logs, env);
    let client = driver.connect().await;
    rendered_bytes(&client, "mem-total").await;
    (driver, client)
}

/// Clicks an element after scrolling it to the middle of the popover (the footer is sticky:
/// an element scrolled only to the bottom edge would sit under it).
async fn click(client: &Client, id: &str) {
    click_css(client, &format!("#{id}")).await;
}

async fn click_css(client: &Client, css: &str) {
    client
        .execute(
            "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});",
            vec![serde_json::json!(css)],
        )
        .await
        .expect("scrolling to the element");
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect(css);
}

/// Whether an element is on screen (not hidden by itself or an ancestor).
async fn displayed(client: &Client, id: &str) -> bool {
    let value = client
        .execute(
            "const e = document.getElementById(arguments[0]); return !!e && e.getClientRects().length > 0",
            vec![serde_json::json!(id)],
        )
        .await
        .expect("reading whether an element shows");
    value == serde_json::json!(true)
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
        if Instant::now() >= deadline {
            let error = client.find(Locator::Id("error-line")).await.ok();
            let error = match error {
                Some(el) => el.text().await.unwrap_or_default(),
                None => String::new(),
            };
            let state = client.find(Locator::Id("state-word")).await.ok();
            let state = match state {
                Some(el) => el.text().await.unwrap_or_default(),
                None => String::new(),
            };
            panic!("#{id} never rendered a figure (header {state:?}, page error {error:?})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An element's whole text, shown or not (the Details panel holds the services' rows closed).
async fn content(client: &Client, id: &str) -> String {
    let value = client
        .execute(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent.trim() : null",
            vec![serde_json::json!(id)],
        )
        .await
        .expect("reading an element's text");
    value.as_str().unwrap_or_else(|| panic!("no #{id}")).to_owned()
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

/// One attribute of every element matching `css`, read in one script: the page re-renders lists on
/// every snapshot, so element handles held across awaits can go stale between two reads.
async fn attrs(client: &Client, css: &str, attr: &str) -> Vec<String> {
    let script =
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]) || '')";
    let value = client
        .execute(script, vec![serde_json::json!(css), serde_json::json!(attr)])
        .await
        .expect("reading attributes");
    serde_json::from_value(value).expect("a list of strings")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn popover_shows_this_machine_with_real_memory_figures() {
    let config = tempdir("config");
    let logs = tempdir("logs");
    // A meter port of its own: a Clusterbar running on this machine holds the default one.
    let meter_port = free_port();
    std::fs::write(
        config.join("settings.json"),
        serde_json::json!({ "meter_port": meter_port }).to_string(),
    )
    .unwrap();
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
    assert!(["Running", "Stopped", "Not installed"].contains(&content(&client, "exo-state").await.as_str()));

    // This Mac alone: its card, not the cluster's rows; the footer's API row names the meter.
    assert!(displayed(&client, "boxes").await && !displayed(&client, "cluster").await);
    // (textContent: WebKitWebDriver reads an ellipsis-styled element's text as empty.)
    let deadline = Instant::now() + Duration::from_secs(20);
    let api = loop {
        let api = content(&client, "api-address").await;
        if api.starts_with("http://127.0.0.1:") || Instant::now() > deadline {
            break api;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(api, format!("http://127.0.0.1:{meter_port}"), "the footer's API row");

    // Nothing the page hides shows anyway (a `display` rule on a class beats the `hidden` attribute
    // unless the stylesheet says otherwise: the sign-in code box once showed before any sign-in).
    let hidden = client
        .find_all(Locator::Css("[hidden]"))
        .await
        .expect("hidden elements");
    assert!(!hidden.is_empty());
    for element in hidden {
        let id = element.attr("id").await.ok().flatten().unwrap_or_default();
        assert!(
            !element.is_displayed().await.expect("is_displayed"),
            "#{id} is hidden yet displayed"
        );
    }

    screenshot_after_paint(&client, "popover.png").await;
    client.close().await.expect("closing the session");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn corrupt_settings_are_set_aside_and_the_popover_says_so() {
    let config = tempdir("config-corrupt");
    let logs = tempdir("logs-corrupt");
    let (_driver, client) = open_app(&config, &logs, "{\"start_at_login\": maybe", &[]).await;

    let warnings = client
        .find(Locator::Css("#warnings li[data-code='settings_reset']"))
        .await;
    warnings.expect("a settings_reset warning row");
    // One line, ellipsised when long (the whole message is its tooltip): read all of it.
    let row = client
        .execute(
            "return document.querySelector(\"#warnings li[data-code='settings_reset'] .message\").title",
            vec![],
        )
        .await
        .unwrap();
    let row = row.as_str().unwrap_or("").to_owned();
    assert!(row.contains("settings.json.bad"), "warning row: {row}");
    assert_eq!(
        std::fs::read_to_string(config.join("settings.json.bad")).unwrap(),
        "{\"start_at_login\": maybe",
        "the unreadable file is kept, byte for byte"
    );
    screenshot_after_paint(&client, "popover-settings-reset.png").await;
    client.close().await.expect("closing the session");
}

/// The first screen (no scrolling, 380 × 600 less the sticky footer) holds the header, the
/// attention rows, the cluster picture, every box row and the throughput sparkline and figures;
/// saved as `name`.
async fn at_a_glance(client: &Client, name: &str) {
    client
        .execute("window.scrollTo(0, 0); document.body.scrollTop = 0;", vec![])
        .await
        .unwrap();
    let below = client
        .execute(
            "const fold = document.getElementById('footer').getBoundingClientRect().top; \
             const parts = ['#header', '#attention', '#topology', '#node-list li.node:last-child', '#throughput .spark', '#tokens-today']; \
             return parts.filter((css) => { const e = document.querySelector(css); \
               return !e || e.getClientRects().length === 0 || e.getBoundingClientRect().bottom > fold + 0.5; });",
            vec![],
        )
        .await
        .expect("measuring the first screen");
    let viewport = client
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .unwrap();
    screenshot_after_paint(client, name).await;
    assert_eq!(
        below,
        serde_json::json!([]),
        "below the fold (or missing) at {viewport}: {below}"
    );
}

/// Ten minutes of history (10 s rows) of the three boxes, recorded "before" the app starts:
/// 300 W and 500 tokens a step. Returns the tokens the rows hold.
fn seed_history(config: &Path) -> u64 {
    use clusterbar_core::history::{BoxSample, ClusterSample, History, Recorder, Sample};
    let now = clusterbar_core::clock::now_unix_ms() / 1000;
    let start = now / 10 * 10 - 600;
    let (history, problem) = History::open(&config.join("history.db")).expect("a history database");
    assert!(problem.is_none());
    let mut recorder = Recorder::new(history);
    for i in 0..60u64 {
        recorder
            .record(Sample {
                at_unix_s: start + i * 10,
                boxes: ["studio-1", "mini-2", "mini-3"]
                    .iter()
                    .map(|name| BoxSample {
                        name: (*name).to_owned(),
                        memory_used_bytes: Some(20_000_000_000 + i * 100_000_000),
                        memory_total_bytes: Some(64_000_000_000),
                        power_watts: Some(100.0),
                        gpu_usage: Some(0.5),
                        temp_c: Some(50.0),
                    })
                    .collect(),
                cluster: ClusterSample {
                    power_watts: Some(300.0),
                    tokens_per_s: Some(50.0),
                    tokens_served: Some(1_000 + i * 500),
                    requests: Some(i),
                    errors: Some(0),
                    ..ClusterSample::default()
                },
                models: Vec::new(),
            })
            .expect("recording");
    }
    recorder.flush(now).expect("writing the history");
    // The first row's counter is what was served before recording began.
    59 * 500
}

/// 29500 → "29,500", as the page's toLocaleString("en-US") writes it.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

/// The stand-in exo (tests/exo-standin) serving a scenario; killed on drop.
struct StandIn {
    child: Child,
    port: u16,
}

impl StandIn {
    fn start(scenario: &str) -> StandIn {
        let bin = std::env::var_os("EXO_STANDIN_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| app_binary().with_file_name("exo-standin"));
        let scenario = workspace_root().join("tests/exo-standin/scenarios").join(scenario);
        let mut child = Command::new(&bin)
            .args(["--scenario", scenario.to_str().expect("utf-8 path"), "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} (cargo build -p exo-standin): {e}", bin.display()));
        let mut first = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first).expect("the port line");
        let port = first.trim().parse().expect("the stand-in prints its port first");
        StandIn { child, port }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn popover_renders_a_three_node_cluster_from_exo() {
    let exo = StandIn::start("three-nodes-rdma.json");
    let config = tempdir("config-cluster");
    let logs = tempdir("logs-cluster");
    let seeded_tokens = seed_history(&config);
    let settings = serde_json::json!({ "exo_api_port": exo.port });
    let (_driver, client) = open_app(&config, &logs, settings, &[]).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut names = loop {
        let names = attrs(&client, "#node-list li.node", "data-name").await;
        if names.len() == 3 {
            break names;
        }
        assert!(Instant::now() < deadline, "expected 3 boxes, saw {}", names.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    names.sort();
    assert_eq!(names, ["mini-2", "mini-3", "studio-1"]);
    at_a_glance(&client, "popover-glance-light.png").await;

    // Keyboard: ↓ moves from one box row to the next, Enter opens it.
    client
        .execute("document.querySelector('#node-list li.node summary').focus()", vec![])
        .await
        .unwrap();
    let focused_row = || async {
        client
            .execute(
                "return document.activeElement.closest('li.node')?.dataset.name ?? ''",
                vec![],
            )
            .await
            .unwrap()
    };
    let first_row = focused_row().await;
    client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E015}")
        .await
        .unwrap();
    let second_row = focused_row().await;
    assert_ne!(first_row, second_row, "↓ moved to the next box");
    assert_ne!(second_row, serde_json::json!(""), "focus stayed in the box list");
    client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    let open = client
        .execute("return document.activeElement.closest('details').open", vec![])
        .await
        .unwrap();
    assert_eq!(open, serde_json::json!(true), "Enter opened the focused box");
    client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    assert_eq!(text(&client, "box-count").await, "3 boxes");
    assert_eq!(
        text(&client, "state-word").await,
        "Degraded",
        "rdma_disabled and tb_link_slow are active"
    );
    let this_mac = client
        .find(Locator::Css("#node-list li[data-name='studio-1'] .tag"))
        .await
        .unwrap();
    assert_eq!(this_mac.text().await.unwrap(), "this Mac");
    // The link chips sit in the box's detail (the picture shows the cables at a glance).
    let rdma_chip = client
        .execute(
            "return document.querySelector(\"#node-list li[data-name='studio-1'] .chip[data-kind='rdma']\").textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(rdma_chip.as_str().unwrap_or("").contains("80 Gb/s"), "{rdma_chip}");
    // A box opens for detail, and stays open across the next snapshots (each re-renders the list).
    let box_state = "const d = document.querySelector(\"#node-list li[data-name='studio-1'] details\"); \
                     return [d.open, d.querySelector('.box-detail').textContent]";
    let read_box = || async {
        let value = client.execute(box_state, vec![]).await.expect("reading studio-1's box");
        serde_json::from_value::<(bool, String)>(value).expect("open flag and detail text")
    };
    assert!(!read_box().await.0, "boxes start closed");
    client
        .find(Locator::Css("#node-list li[data-name='studio-1'] summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await; // re-rendered at least once (1 s cadence while open)
    let (open, detail_text) = read_box().await;
    assert!(open, "the box closed itself on re-render");
    assert!(
        detail_text.contains("Mac Studio") && detail_text.contains("RDMA on"),
        "studio-1's detail: {detail_text:?}"
    );
    let seen = attrs(&client, "#warnings li", "data-code").await;
    assert!(
        seen.contains(&"rdma_disabled".to_owned()) && seen.contains(&"tb_link_slow".to_owned()),
        "{seen:?}"
    );
    assert!(text(&client, "pool-line").await.starts_with("Pool "));
    assert_eq!(content(&client, "exo-state").await, "Running");

    // The cluster picture: 3 boxes, 3 cables; the 40 Gb/s Thunderbolt cable amber, the
    // Ethernet-only pair red, RDMA green — colours read from the page as painted.
    assert_eq!(attrs(&client, "#topology .topo-box", "data-name").await.len(), 3);
    let mut kinds = attrs(&client, "#topology .topo-edge", "data-kind").await;
    kinds.sort();
    assert_eq!(kinds, ["ethernet", "rdma", "thunderbolt"]);
    let colours = client
        .execute(
            "const css = (v) => { const p = document.createElement('span'); p.style.color = `var(${v})`; \
               document.body.append(p); const c = getComputedStyle(p).color; p.remove(); return c; }; \
             const stroke = (k) => getComputedStyle(document.querySelector(`#topology .topo-edge[data-kind='${k}'] line`)).stroke; \
             return [stroke('thunderbolt'), css('--amber'), stroke('ethernet'), css('--red'), stroke('rdma'), css('--green')];",
            vec![],
        )
        .await
        .expect("reading the cables' colours");
    let colours: Vec<String> = serde_json::from_value(colours).expect("six colours");
    assert_eq!(colours[0], colours[1], "the slow link is amber: {colours:?}");
    assert_eq!(colours[2], colours[3], "the Ethernet fallback is red: {colours:?}");
    assert_eq!(colours[4], colours[5], "RDMA at 80 Gb/s is green: {colours:?}");
    let labels = client
        .execute(
            "return Array.from(document.querySelectorAll('#topology .topo-edge-label')).map(e => e.textContent)",
            vec![],
        )
        .await
        .unwrap();
    let labels: Vec<String> = serde_json::from_value(labels).unwrap();
    assert!(
        labels.contains(&"RDMA 80 Gb/s".to_owned()) && labels.contains(&"TB 40 Gb/s".to_owned()),
        "{labels:?}"
    );
    client
        .execute("document.getElementById('cluster').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot_after_paint(&client, "popover-topology.png").await;
    // Clicking a box in the picture opens its row.
    client
        .find(Locator::Css("#topology .topo-box[data-name='mini-2'] .topo-frame"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let opened = client
        .execute(
            "return document.querySelector(\"#node-list li[data-name='mini-2'] details\").open",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(opened, serde_json::json!(true), "the picture's box opens its row");

    // History recorded before this launch is charted, and says what `clusterbar history` says.
    click_css(&client, "#history-details > summary").await;
    let status = wait_for_text(&client, "history-status", "the history", |t| {
        t.contains("tokens served")
    })
    .await;
    let cli = std::process::Command::new(app_binary().with_file_name("clusterbar"))
        .args(["history", "--json", "--since", "1h", "--points", "360"])
        .env("CLUSTERBAR_CONFIG_DIR", &config)
        .output()
        .expect("clusterbar history");
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let cli_tokens: u64 = cli["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(cli_tokens, seeded_tokens);
    assert_eq!(
        status,
        format!("{} tokens served in the last 1 h", group_thousands(cli_tokens)),
        "the chart and the CLI agree"
    );
    let charts = attrs(&client, "#history .chart:not([hidden]) canvas", "class").await;
    assert_eq!(charts.len(), 3, "throughput, power and memory are drawn");
    let energy = text(&client, "energy-line").await;
    assert!(energy.starts_with("Wh per 1M tokens: now "), "{energy}");
    client
        .execute("document.getElementById('throughput').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot_after_paint(&client, "popover-history.png").await;
    screenshot_after_paint(&client, "popover-cluster.png").await;
    client.close().await.expect("closing the session");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn start_exo_from_the_popover_and_quit_leaves_no_child() {
    let config = tempdir("config-exo");
    let logs = tempdir("logs-exo");
    // A stand-in exo: records its pid and runs until signalled.
    let fake = config.join("exo");
    let pid_file = config.join("fake-exo.pid");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nwhile :; do sleep 0.2; done\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let settings = serde_json::json!({ "exo_path": fake, "exo_api_port": free_port() });
    let (_driver, client) = open_app(&config, &logs, settings, &[]).await;

    let action = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("exo-action"))
        .await
        .unwrap();
    // exo's switch, off.
    assert_eq!(action.attr("aria-checked").await.unwrap().as_deref(), Some("false"));
    action.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let detail = content(&client, "exo-detail").await;
        if content(&client, "exo-state").await == "Running" && detail.starts_with("running (started by Clusterbar)") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "exo never showed as running and ours: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pid: i32 = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            if let Ok(pid) = text.trim().parse() {
                break pid;
            }
        }
        assert!(Instant::now() < deadline, "the stand-in exo never wrote its pid");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    screenshot_after_paint(&client, "popover-exo-running.png").await;

    let switch = client.find(Locator::Id("exo-action")).await.unwrap();
    assert_eq!(switch.attr("aria-checked").await.unwrap().as_deref(), Some("true"));
    // Quit from the footer: it would stop the exo Clusterbar started, so it asks first; then
    // the app must stop that exo before it exits.
    client
        .find(Locator::Id("quit-btn"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let question = wait_for_text(&client, "confirm-text", "the Quit question", |t| {
        t.starts_with("Quit Clusterbar?")
    })
    .await;
    assert!(question.contains("stops exo"), "{question}");
    let _ = client.find(Locator::Id("confirm-ok")).await.unwrap().click().await;
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(Instant::now() < deadline, "exo (pid {pid}) outlived Quit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// llama-server with SmolLM2 (built by scripts/llama-server.sh), started as the meter's own tests
// start it; killed on drop.
#[path = "../../../crates/meter/tests/support/llama_server.rs"]
mod llama_server;
use llama_server::LlamaServer;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn throughput_dashboard_shows_real_tokens_through_the_meter() {
    let Some((bin, model)) = LlamaServer::configured() else {
        eprintln!("SKIPPED: LLAMA_SERVER_BIN / LLAMA_MODEL unset (scripts/test-all.sh sets them)");
        return;
    };
    let llama = LlamaServer::start(&bin, &model).await.unwrap_or_else(|e| panic!("{e}"));
    let config = tempdir("config-meter");
    let logs = tempdir("logs-meter");
    let meter_port = free_port();
    let settings = serde_json::json!({ "exo_api_port": llama.addr.port(), "meter_port": meter_port });
    let (_driver, client) = open_app(&config, &logs, settings, &[]).await;

    let body = serde_json::json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Write a short story about a robot who learns to paint."}],
        "max_tokens": 64, "stream": true, "stream_options": {"include_usage": true},
        "temperature": 0, "ignore_eos": true, "cache_prompt": false
    });
    for _ in 0..2 {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-N",
                "--max-time",
                "120",
                "-H",
                "content-type: application/json",
                "-d",
                &body.to_string(),
            ])
            .arg(format!("http://127.0.0.1:{meter_port}/v1/chat/completions"))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "request through the meter failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("data: [DONE]"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let today = client
            .find(Locator::Id("tokens-today"))
            .await
            .unwrap()
            .attr("data-value")
            .await
            .unwrap();
        if today.as_deref() == Some("128") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the popover never showed 128 tokens served (saw {today:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ttft = text(&client, "ttft-p50").await;
    assert!(ttft.ends_with(" ms"), "TTFT p50 shown: {ttft}");
    assert!(content(&client, "meter-line")
        .await
        .contains(&format!("127.0.0.1:{meter_port}")));
    screenshot_after_paint(&client, "popover-throughput.png").await;

    // Benchmark before routing, from the popover: llama-server is no exo, so the model comes from
    // its /v1/models; 3 runs × (story + JSON) go through the meter (another 384 tokens at most).
    click_css(&client, "#bench-details > summary").await;
    click(&client, "bench-btn").await;
    // While its requests stream, the header carries the live rate (hidden when idle: WebDriver
    // reads a hidden element's text as "").
    wait_for_text(&client, "header-tps", "the live rate in the header", |t| {
        t.ends_with("tok/s")
    })
    .await;
    let status = wait_for_text(&client, "bench-status", "the finished benchmark", |t| {
        t.contains("runs per model") || t.starts_with("Benchmark failed")
    })
    .await;
    assert!(status.starts_with("3 runs per model"), "benchmark status: {status}");
    // WebDriver reads no text from what is scrolled out of the popover.
    client
        .execute("document.getElementById('bench-results').scrollIntoView()", vec![])
        .await
        .expect("scrolling to the results");
    let row = client
        .find(Locator::Css("#bench-results tbody tr[data-model='smollm2']"))
        .await
        .expect("a result row for smollm2");
    assert!(row.is_displayed().await.unwrap(), "the result row is not shown");
    // WebKitWebDriver's element text reads "" for table cells; their textContent is what shows.
    let cells: Vec<String> = serde_json::from_value(
        client
            .execute(
                "return [...document.querySelectorAll(\"#bench-results tbody tr[data-model='smollm2'] td\")].map(c => c.textContent)",
                vec![],
            )
            .await
            .expect("reading the result cells"),
    )
    .expect("cell texts");
    assert_eq!(cells[0], "smollm2");
    let ttft: f64 = cells[1].trim_end_matches(" ms").parse().expect("TTFT in ms");
    let decode: f64 = cells[2].trim_end_matches(" tok/s").parse().expect("decode in tok/s");
    assert!(ttft > 0.0 && decode > 0.0, "benchmark cells: {cells:?}");
    assert!(cells[3].ends_with("/3 valid"), "JSON fidelity cell: {cells:?}");
    screenshot_after_paint(&client, "popover-benchmark.png").await;
    client.close().await.expect("closing the session");
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

async fn wait_for_text(client: &Client, id: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let now = text(client, id).await;
        if ok(&now) {
            return now;
        }
        if Instant::now() >= deadline {
            screenshot_after_paint(client, &format!("failed-{id}.png")).await;
            let error = text(client, "error-line").await;
            let section = client
                .execute(
                    "const e = document.getElementById(arguments[0]); const s = e && e.closest('section'); return s ? s.innerText : ''",
                    vec![serde_json::json!(id)],
                )
                .await
                .unwrap_or_default();
            panic!(
                "#{id} never showed {what}; it says {now:?}; page error {error:?}; its section: {section} (target/ci/failed-{id}.png)"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The whole head-Mac flow against the stand-ins: Join (preflight, exo started and joined with
/// a peer), Sign in to Porten (code shown, the Hub's URL opened, success), Enroll (the agent
/// is held until a model is loaded, and says so).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn join_then_sign_in_then_enroll_against_the_stand_ins() {
    let config = tempdir("config-enroll");
    let logs = tempdir("logs-enroll");
    let bin_dir = app_binary().parent().expect("target dir").to_owned();
    let exo_port = free_port();
    let scenario = workspace_root().join("tests/exo-standin/scenarios/two-nodes.json");
    let exo = config.join("exo");
    write_script(
        &exo,
        &format!(
            "exec '{}' --scenario '{}' --port {exo_port}",
            bin_dir.join("exo-standin").display(),
            scenario.display()
        ),
    );
    let key = config.join("porten-key");
    let porten = config.join("porten");
    write_script(
        &porten,
        &format!(
            "PORTEN_STANDIN_KEY='{}' PORTEN_STANDIN_DELAY_MS=1500 PORTEN_STANDIN_CODE=QXRT-7PLM exec '{}' \"$@\"",
            key.display(),
            bin_dir.join("porten-standin").display()
        ),
    );
    let opened = config.join("opened-urls");
    let opener = config.join("opener");
    write_script(&opener, &format!("echo \"$1\" >> '{}'", opened.display()));
    let settings = serde_json::json!({
        "exo_path": exo, "exo_api_port": exo_port, "meter_port": free_port(),
        "porten_path": porten, "porten_key_path": key,
    });
    let (_driver, client) = open_app(&config, &logs, settings, &[("CLUSTERBAR_OPENER", &opener)]).await;

    // Join.
    let join = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("join-btn"))
        .await
        .unwrap();
    join.click().await.unwrap();
    // The checklist arrives from the app asynchronously after the click.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ids = loop {
        let ids = attrs(&client, "#preflight li", "data-id").await;
        if !ids.is_empty() {
            break ids;
        }
        assert!(Instant::now() < deadline, "the preflight checklist never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        ids.contains(&"exo_found".to_owned()) && ids.contains(&"free_memory".to_owned()),
        "{ids:?}"
    );
    let joined = wait_for_text(&client, "join-progress", "joined", |t| t.starts_with("Joined with ")).await;
    assert!(joined.contains("mini-2") || joined.contains("studio-1"), "{joined}");
    wait_for_text(&client, "box-count", "2 boxes", |t| t == "2 boxes").await;
    // The flow collapsed to its outcome: no "not in a cluster" lead or Join button under the
    // two-box list, and no pre-join checklist beside the cluster's own picture.
    assert!(
        !displayed(&client, "join-lead").await,
        "the 'not in a cluster' lead shows under a cluster"
    );
    assert!(
        !displayed(&client, "preflight").await,
        "the pre-join checklist outlived the join"
    );
    screenshot_after_paint(&client, "popover-joined.png").await;

    // Sign in: the code shows while the user approves, and only the Hub's URL is opened.
    click(&client, "porten-signin").await;
    wait_for_text(&client, "porten-code", "the code", |t| t == "QXRT-7PLM").await;
    client
        .execute("document.getElementById('porten').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot_after_paint(&client, "popover-sign-in.png").await;
    wait_for_text(&client, "porten-login-state", "signed in", |t| t == "Signed in").await;
    // Signed in: the code box has done its job and is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while displayed(&client, "porten-login").await {
        assert!(Instant::now() < deadline, "the sign-in code box stayed after success");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let urls = std::fs::read_to_string(&opened).expect("the opener was called");
    assert_eq!(
        urls.lines().collect::<Vec<_>>(),
        ["https://porten.ai/device"],
        "opened: {urls}"
    );

    // Enroll: the two-node scenario has no model loaded, so the agent is held and says why.
    click(&client, "porten-enroll").await;
    let agent = wait_for_text(&client, "porten-agent", "the agent state", |t| t.starts_with("Agent ")).await;
    assert!(agent.starts_with("Agent held: "), "{agent}");
    wait_for_text(&client, "porten-login-state", "signed in", |t| t == "Signed in").await;
    screenshot_after_paint(&client, "popover-enrolled.png").await;
    client.close().await.expect("closing the session");
}

/// Load a model that fits from the popover, watch it download → load → ready, then unload it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn load_and_unload_a_model_from_the_popover() {
    let exo = StandIn::start("three-nodes-rdma.json");
    let config = tempdir("config-models");
    let logs = tempdir("logs-models");
    let settings = serde_json::json!({ "exo_api_port": exo.port, "meter_port": free_port() });
    let (_driver, client) = open_app(&config, &logs, settings, &[]).await;
    wait_for_text(&client, "box-count", "3 boxes", |t| t == "3 boxes").await;

    click(&client, "load-btn").await;
    let first = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#loadable li.loadable"))
        .await
        .expect("at least one model that fits");
    let id = first.attr("data-id").await.unwrap().expect("data-id");
    click_css(&client, &format!("#loadable li.loadable[data-id='{id}'] button")).await;
    let row = "#model-list li.model[data-state='ready'] .model-id";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(el) = client.find(Locator::Css(row)).await {
            // The row shows the short name; the full id is its tooltip.
            assert_eq!(el.attr("title").await.unwrap().as_deref(), Some(id.as_str()));
            // (Read as textContent: WebKitWebDriver reports an ellipsis-clipped span's text as empty.)
            let shown = client
                .execute(
                    "return document.querySelector(arguments[0]).textContent",
                    vec![serde_json::json!(row)],
                )
                .await
                .unwrap();
            assert_eq!(shown.as_str(), Some(id.rsplit('/').next().unwrap_or(&id)));
            break;
        }
        assert!(Instant::now() < deadline, "{id} never became ready in the popover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    screenshot_after_paint(&client, "popover-model-ready.png").await;
    click_css(&client, "#model-list li.model button.unload").await;
    // Unload stops serving that model: it asks first.
    let question = wait_for_text(&client, "confirm-text", "the Unload question", |t| {
        t.starts_with("Unload ")
    })
    .await;
    assert!(question.contains("Requests for it fail"), "{question}");
    click(&client, "confirm-ok").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .find_all(Locator::Css("#model-list li.model"))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the model was never unloaded");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    client.close().await.expect("closing the session");
}

/// Settings edited in the popover are saved atomically; a bad value is refused with the reason
/// and loses nothing.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn settings_are_edited_in_their_window_and_bad_values_refused() {
    let config = tempdir("config-edit");
    let logs = tempdir("logs-edit");
    let meter_port = free_port();
    let (_driver, client) = open_app(&config, &logs, serde_json::json!({ "meter_port": meter_port }), &[]).await;
    let popover = client.window().await.unwrap();
    click(&client, "settings-btn").await;
    // Settings open in a window of their own (the popover stays a glance).
    let deadline = Instant::now() + Duration::from_secs(20);
    let settings = loop {
        let windows = client.windows().await.unwrap();
        if let Some(other) = windows.into_iter().find(|w| *w != popover) {
            break other;
        }
        assert!(Instant::now() < deadline, "no Settings window opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    client.switch_to_window(settings).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "Clusterbar Settings");

    let toggle = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("setting-show_tokens_in_menu_bar"))
        .await
        .unwrap();
    toggle.click().await.unwrap();
    click(&client, "settings-save").await;
    wait_for_text(&client, "settings-status", "Saved.", |t| t == "Saved.").await;
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config.join("settings.json")).unwrap()).unwrap();
    assert_eq!(saved["show_tokens_in_menu_bar"], true);
    assert_eq!(saved["meter_port"], meter_port);

    let port = client.find(Locator::Id("setting-exo_api_port")).await.unwrap();
    port.clear().await.unwrap();
    port.send_keys("0").await.unwrap();
    click(&client, "settings-save").await;
    let refused = wait_for_text(&client, "settings-status", "the refusal", |t| {
        t.starts_with("Not saved")
    })
    .await;
    assert!(refused.contains("exo_api_port"), "{refused}");
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config.join("settings.json")).unwrap()).unwrap();
    assert_eq!(after, saved, "a refused change writes nothing");
    screenshot_after_paint(&client, "settings-window.png").await;
    client.switch_to_window(popover).await.unwrap();
    client.close().await.expect("closing the session");
}

/// Issue #14's setup with stand-ins: this Mac's Ollama and a second box by address, the meter's
/// route in place of nginx in front of box 2. The popover shows both boxes, their models with
/// keep-alive, and the tokens that went through the route.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn popover_shows_two_ollama_boxes_and_the_tokens_through_the_meters_route() {
    let scenarios = workspace_root().join("tests/ollama-standin/scenarios");
    let box1 =
        ollama_standin::StandIn::start_file(&scenarios.join("two-loaded-max-two.json"), "127.0.0.1", 0).expect("box 1");
    let box2 = ollama_standin::StandIn::start_file(&scenarios.join("one-loaded.json"), "127.0.0.1", 0).expect("box 2");
    // Bound at once, so the two are different ports (one after the other may be the same).
    let held: Vec<TcpListener> = (0..2)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect();
    drop(held);
    let (route_port, exo_port) = (ports[0], ports[1]);
    let config = tempdir("config-ollama");
    let logs = tempdir("logs-ollama");
    let box2_address = format!("127.0.0.1:{}", box2.port());
    let settings = serde_json::json!({
        // Nothing answers on exo's port: the boxes are Ollama's.
        "exo_api_port": exo_port,
        "ollama_local_port": box1.port(),
        "ollama_boxes": [box2_address],
        "meter_routes": [{"name": "box2", "listen_port": route_port, "upstream": box2_address}],
    });
    let (_driver, client) = open_app(&config, &logs, settings, &[]).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let addresses = loop {
        let addresses = attrs(&client, "#ollama-boxes li.ollama-box", "data-address").await;
        if addresses.len() == 2 {
            break addresses;
        }
        assert!(Instant::now() < deadline, "expected 2 Ollama boxes, saw {addresses:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(addresses, [format!("127.0.0.1:{}", box1.port()), box2_address.clone()]);
    let models = attrs(&client, "#ollama-boxes .ollama-model", "data-name").await;
    assert!(models.contains(&"gpt-oss:120b".to_owned()), "{models:?}");
    let keep_alive = client
        .execute(
            "return Array.from(document.querySelectorAll('#ollama-boxes .keep-alive')).map(e => e.textContent)",
            vec![],
        )
        .await
        .unwrap();
    let keep_alive: Vec<String> = serde_json::from_value(keep_alive).unwrap();
    assert!(
        !keep_alive.is_empty() && keep_alive.iter().all(|k| k.starts_with("unloads in") || k == "pinned"),
        "{keep_alive:?}"
    );

    // A streamed chat through the route, as a client that used nginx's port would send it.
    let answer = tokio::task::spawn_blocking(move || {
        ollama_standin::post(
            &format!("127.0.0.1:{route_port}"),
            "/api/chat",
            r#"{"model": "gpt-oss:120b", "messages": [{"role": "user", "content": "hello"}]}"#,
        )
    })
    .await
    .unwrap()
    .expect("the route answers");
    assert_eq!(answer.0, 200, "{}", answer.1);
    let eval_count = answer
        .1
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["done"] == true)
        .and_then(|v| v["eval_count"].as_u64())
        .expect("the last line's eval_count");
    let row = wait_for_text(&client, "meter-routes", "the route's tokens", |t| {
        t.contains(&format!("{eval_count} tokens"))
    })
    .await;
    assert!(row.contains(&format!(":{route_port} → http://{box2_address}")), "{row}");
    // Benchmark before routing, per box and model, from the popover.
    click_css(&client, "#bench-details > summary").await;
    click(&client, "bench-ollama-btn").await;
    let done = wait_for_text(&client, "bench-status", "the Ollama benchmark", |t| {
        t.contains("on each Ollama box") || t.starts_with("Benchmark failed")
    })
    .await;
    assert!(done.starts_with("3 runs per model on each Ollama box"), "{done}");
    let rows = client
        .execute(
            "return Array.from(document.querySelectorAll('#bench-results tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent))",
            vec![],
        )
        .await
        .unwrap();
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap();
    let models: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(models.len(), 3, "one row per box × loaded model: {rows:?}");
    assert!(models.iter().any(|m| m.starts_with("this Mac · ")), "{models:?}");
    assert!(
        models.contains(&format!("{box2_address} · gpt-oss:120b").as_str()),
        "{models:?}"
    );
    assert!(
        rows.iter().all(|r| r[2].ends_with(" tok/s")),
        "every model measured: {rows:?}"
    );
    client
        .execute("document.getElementById('ollama').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot_after_paint(&client, "popover-ollama.png").await;
    client.close().await.expect("closing the session");
}

/// The same three-box cluster in dark mode (GTK's dark theme, which WebKitGTK reports as
/// prefers-color-scheme: dark): the page follows it, and everything still fits the first screen.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built app, tauri-driver, WebKitWebDriver and a display (scripts/test-all.sh)"]
async fn popover_at_a_glance_in_dark_mode() {
    let exo = StandIn::start("three-nodes-rdma.json");
    let config = tempdir("config-dark");
    let logs = tempdir("logs-dark");
    let settings = serde_json::json!({ "exo_api_port": exo.port });
    let (_driver, client) = open_app(&config, &logs, settings, &[("GTK_THEME", Path::new("Adwaita:dark"))]).await;
    wait_for_text(&client, "box-count", "3 boxes", |t| t == "3 boxes").await;
    let dark = client
        .execute("return matchMedia('(prefers-color-scheme: dark)').matches", vec![])
        .await
        .unwrap();
    assert_eq!(dark, serde_json::json!(true), "the page did not get the dark scheme");
    let background = client
        .execute("return getComputedStyle(document.body).backgroundColor", vec![])
        .await
        .unwrap();
    assert_eq!(background, serde_json::json!("rgb(30, 30, 32)"), "the dark background");
    at_a_glance(&client, "popover-glance-dark.png").await;
    client.close().await.expect("closing the session");
}
