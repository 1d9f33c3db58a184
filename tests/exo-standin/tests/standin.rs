//! Clusterbar's exo reader against the stand-in binary, playing scenarios through time.

use clusterbar_core::exo::{self, ClusterEvent, ExoClient, ExoError, ModelState, Watcher};
use clusterbar_core::snapshot::now_unix_ms;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    client: ExoClient,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(scenario: &str, bind: &str) -> Running {
    let path = format!("{}/scenarios/{scenario}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_exo-standin"))
        .args(["--scenario", &path, "--port", "0", "--bind", bind])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("first line is the port, got {line:?}"));
    let client = ExoClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    Running { child, client }
}

/// Polls every 50 ms for up to `limit`, feeding a watcher, until `done` says stop.
fn watch(
    client: &ExoClient,
    limit: Duration,
    mut done: impl FnMut(&exo::Observation) -> bool,
) -> Vec<exo::Observation> {
    let mut watcher = Watcher::new(exo::ELECTION_DEBOUNCE);
    let mut seen = Vec::new();
    let start = Instant::now();
    while start.elapsed() < limit {
        let view = client.cluster_view(now_unix_ms()).unwrap();
        let observation = watcher.observe(view, now_unix_ms());
        let stop = done(&observation);
        seen.push(observation);
        if stop {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

#[test]
fn the_election_gap_is_debounced() {
    let exo = start("election-gap.json", "127.0.0.1");
    let observations = watch(&exo.client, Duration::from_millis(2600), |_| false);
    assert!(
        observations.iter().all(|o| o.view.nodes.len() == 2),
        "every view shows both boxes"
    );
    assert!(
        observations.iter().all(|o| o.events.is_empty()),
        "nobody left or joined"
    );
    let held = observations.iter().filter(|o| o.view.held_ms.is_some()).count();
    assert!(held >= 5, "the gap (600–1800 ms) was held over {held} polls");
    assert!(
        observations.last().unwrap().view.held_ms.is_none(),
        "fresh again after the gap"
    );
    // The raw state during the gap really is empty.
    let raw = exo::parse_state(&serde_json::json!({}), None, 0);
    assert!(raw.is_empty());
}

#[test]
fn a_node_leaving_is_an_event() {
    let exo = start("node-leaves.json", "127.0.0.1");
    let observations = watch(&exo.client, Duration::from_secs(5), |o| !o.events.is_empty());
    let last = observations.last().unwrap();
    assert_eq!(last.events, vec![ClusterEvent::NodeLeft { name: "mini-3".into() }]);
    assert_eq!(last.view.nodes.len(), 2);
    assert_eq!(observations[0].view.nodes.len(), 3);
}

#[test]
fn a_model_goes_from_downloading_through_loading_to_ready() {
    let exo = start("model-progress.json", "127.0.0.1");
    let observations = watch(&exo.client, Duration::from_secs(5), |o| {
        o.events.iter().any(|e| matches!(e, ClusterEvent::ModelReady { .. }))
    });
    let mut states: Vec<ModelState> = observations.iter().map(|o| o.view.models[0].state).collect();
    states.dedup();
    assert_eq!(
        states,
        [ModelState::Downloading, ModelState::Loading, ModelState::Ready]
    );
    let first = &observations[0].view.models[0];
    let expected = (729808896.0 + 200000000.0) / (2.0 * 729808896.0);
    assert!(
        (first.progress.unwrap() - expected).abs() < 1e-9,
        "{:?}",
        first.progress
    );
    let loading = observations
        .iter()
        .find(|o| o.view.models[0].state == ModelState::Loading)
        .unwrap();
    assert_eq!(loading.view.models[0].progress, Some((8.0 / 16.0 + 4.0 / 16.0) / 2.0));
}

#[test]
fn a_failing_runner_is_an_event_with_the_reason() {
    let exo = start("runner-fails.json", "127.0.0.1");
    let observations = watch(&exo.client, Duration::from_secs(5), |o| !o.events.is_empty());
    let last = observations.last().unwrap();
    assert_eq!(last.view.models[0].state, ModelState::Failed);
    match &last.events[..] {
        [ClusterEvent::ModelFailed {
            id, error: Some(error), ..
        }] => {
            assert_eq!(id, "mlx-community/Llama-3.2-1B-Instruct-4bit");
            assert!(error.starts_with("mini-2: [metal::malloc]"), "{error}");
        }
        other => panic!("expected one ModelFailed, got {other:?}"),
    }
}

#[test]
fn a_ghost_identity_is_not_a_member() {
    let exo = start("ghost-identity.json", "127.0.0.1");
    let view = exo.client.cluster_view(now_unix_ms()).unwrap();
    let names: Vec<&str> = view.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["studio-1", "mini-2"]);
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
    assert!(
        view.nodes.iter().all(|n| n.last_seen_s.unwrap() < 30.0),
        "the stand-in keeps lastSeen fresh"
    );
}

#[test]
fn place_and_delete_an_instance() {
    let exo = start("three-nodes-rdma.json", "127.0.0.1");
    let client = &exo.client;
    assert_eq!(client.node_id().unwrap(), "8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6");
    let models = client.models().unwrap();
    assert_eq!(models.len(), 2);
    assert!(client.cluster_view(now_unix_ms()).unwrap().models.is_empty());

    let accepted = client
        .place_instance("mlx-community/Llama-3.2-1B-Instruct-4bit", 2)
        .unwrap();
    assert_eq!(accepted.message.as_deref(), Some("Command received."));
    let observations = watch(client, Duration::from_secs(5), |o| {
        o.view.models.first().is_some_and(|m| m.state == ModelState::Ready)
    });
    let model = observations.last().unwrap().view.models[0].clone();
    assert_eq!(model.state, ModelState::Ready);
    let boxes: Vec<(&str, Option<u64>, Option<u64>)> = model
        .shards
        .iter()
        .map(|s| (s.node.as_str(), s.start_layer, s.end_layer))
        .collect();
    assert_eq!(boxes, [("studio-1", Some(0), Some(8)), ("mini-2", Some(8), Some(16))]);
    let mut states: Vec<ModelState> = observations
        .iter()
        .filter_map(|o| Some(o.view.models.first()?.state))
        .collect();
    states.dedup();
    assert_eq!(states.last(), Some(&ModelState::Ready));
    assert!(states.contains(&ModelState::Loading), "{states:?}");

    client.delete_instance(&model.instance_id).unwrap();
    assert!(client.cluster_view(now_unix_ms()).unwrap().models.is_empty());
    match client.delete_instance(&model.instance_id) {
        Err(ExoError::Status {
            status: 404, message, ..
        }) => assert_eq!(message, "Instance not found"),
        other => panic!("deleting twice: {other:?}"),
    }
    match client.place_instance("nobody/unknown-model", 1) {
        Err(ExoError::Status { status: 400, .. }) => {}
        other => panic!("unknown model: {other:?}"),
    }
}

#[test]
fn the_three_node_cluster_with_rdma_on_one_link() {
    let exo = start("three-nodes-rdma.json", "127.0.0.1");
    let view = exo.client.cluster_view(now_unix_ms()).unwrap();
    assert_eq!(view.nodes.len(), 3);
    let kinds: Vec<(String, String, exo::LinkKind, Option<f64>)> = view
        .links
        .iter()
        .map(|l| (l.from.clone(), l.to.clone(), l.kind, l.speed_gbps))
        .collect();
    assert_eq!(
        kinds,
        [
            ("mini-2".into(), "mini-3".into(), exo::LinkKind::Ethernet, None),
            ("mini-2".into(), "studio-1".into(), exo::LinkKind::Rdma, Some(80.0)),
            (
                "mini-3".into(),
                "studio-1".into(),
                exo::LinkKind::Thunderbolt,
                Some(40.0)
            ),
        ]
    );
    let codes: Vec<&str> = view.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["rdma_disabled", "tb_link_slow"]);
}

#[test]
fn an_api_answering_on_a_network_address_is_exposed() {
    let addresses: Vec<_> = exo::local_addresses()
        .into_iter()
        .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
        .collect();
    if addresses.is_empty() {
        eprintln!("no non-loopback IPv4 address on this machine; nothing to check");
        return;
    }
    let open = start("two-nodes.json", "0.0.0.0");
    let warning = exo::check_exposure(&open.client, &addresses).expect("exposed on 0.0.0.0");
    assert_eq!(warning.code, "exo_api_exposed");
    let closed = start("two-nodes.json", "127.0.0.1");
    assert!(exo::check_exposure(&closed.client, &addresses).is_none());
}

#[test]
fn a_stopped_exo_is_not_answering() {
    let exo = start("two-nodes.json", "127.0.0.1");
    let url = exo.client.base_url().to_owned();
    drop(exo);
    let error = ExoClient::new(&url).unwrap().node_id().unwrap_err();
    assert!(matches!(error, ExoError::NotAnswering { .. }), "{error}");
    assert!(error.to_string().starts_with("exo is not answering on 127.0.0.1:"));
}

/// The stand-in's `/state` has the real exo's shape: the same tables, the same fields per node
/// (compared with a two-node capture of exo 0.3.70, `real-linux/2node_A_state.json`).
#[test]
fn the_standin_state_has_the_real_exos_shape() {
    let real: serde_json::Value = serde_json::from_str(include_str!(
        "../../../crates/core/tests/fixtures/exo/real-linux/2node_A_state.json"
    ))
    .unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        k.sort();
        k
    };
    let first_entry =
        |v: &serde_json::Value, table: &str| v[table].as_object().and_then(|m| m.values().next().cloned());
    let running = start("two-nodes.json", "127.0.0.1");
    let state = running.client.state().unwrap();
    assert_eq!(keys(&state), keys(&real), "top-level tables");
    for table in ["nodeIdentities", "nodeMemory", "nodeDisk", "nodeNetwork"] {
        let ours = first_entry(&state, table).unwrap_or_else(|| panic!("{table} empty"));
        let theirs = first_entry(&real, table).unwrap();
        assert_eq!(keys(&ours), keys(&theirs), "{table} entry fields");
    }
    let ours = first_entry(&state, "nodeNetwork").unwrap();
    let theirs = first_entry(&real, "nodeNetwork").unwrap();
    assert_eq!(
        keys(&ours["interfaces"][0]),
        keys(&theirs["interfaces"][0]),
        "interface fields"
    );
    let edge = |v: &serde_json::Value| {
        let by_source = v["topology"]["connections"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .cloned()
            .unwrap();
        let edges = by_source.as_object().unwrap().values().next().cloned().unwrap();
        edges
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e.get("sinkMultiaddr").is_some())
            .cloned()
            .unwrap()
    };
    assert_eq!(
        keys(&edge(&state)["sinkMultiaddr"]),
        keys(&edge(&real)["sinkMultiaddr"]),
        "TCP edge fields"
    );
}

/// Like a live exo, the event index moves and every box stays fresh; a frozen step stops both.
#[test]
fn the_event_index_moves_until_the_view_freezes() {
    let running = start("two-nodes.json", "127.0.0.1");
    let idx = || running.client.state().unwrap()["lastEventAppliedIdx"].as_u64().unwrap();
    let first = idx();
    std::thread::sleep(Duration::from_millis(450));
    assert!(idx() > first, "a live exo applies events all the time");

    let frozen = start("master-killed.json", "127.0.0.1");
    std::thread::sleep(Duration::from_millis(400));
    let view = frozen.client.cluster_view(now_unix_ms()).unwrap();
    assert!(view.frozen_for_s.is_some_and(|s| s > 59.0), "{:?}", view.frozen_for_s);
    assert!(
        view.warnings
            .iter()
            .any(|w| w.code == clusterbar_core::warnings::WarningCode::ExoViewFrozen),
        "{:?}",
        view.warnings
    );
    let before = frozen.client.state().unwrap()["lastEventAppliedIdx"].clone();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(frozen.client.state().unwrap()["lastEventAppliedIdx"], before);
}

/// `POST /models/add` finds a local model as real exo does; `/instance/await` streams the answer.
#[test]
fn a_local_model_is_added_then_placed_and_awaited() {
    let running = start("two-nodes.json", "127.0.0.1");
    let client = &running.client;
    match client.add_model("nobody/nothing") {
        Err(ExoError::Status { status: 400, .. }) => {}
        other => panic!("an unknown model is a 400, as on real exo offline: {other:?}"),
    }
    assert_eq!(client.add_model("local/tiny-llama").unwrap(), "local/tiny-llama");
    assert!(client.models().unwrap().iter().any(|c| c.id == "local/tiny-llama"));
    assert_eq!(
        client
            .await_instance("local/tiny-llama", Duration::from_secs(1))
            .unwrap(),
        exo::AwaitOutcome::TimedOut {
            message: "No instance found for model local/tiny-llama".into()
        }
    );
    client.place_instance("local/tiny-llama", 1).unwrap();
    assert!(matches!(
        client
            .await_instance("local/tiny-llama", Duration::from_secs(1))
            .unwrap(),
        exo::AwaitOutcome::Placed { instance_id: Some(_) }
    ));
}
