//! The `/state` parser and the watcher against what the real exo answered (captures in
//! `tests/fixtures/exo/real-linux`, see `SOURCES.md` there): exo 0.3.70 on Linux, one and two nodes.

use clusterbar_core::exo::state::parse_timestamp_ms;
use clusterbar_core::exo::{loaded_model_ids, parse_state, ClusterView, ModelState, Watcher, ELECTION_DEBOUNCE};
use serde_json::Value;

fn capture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/exo/real-linux/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn node_id(name: &str) -> String {
    capture(name).as_str().expect("a JSON string").to_owned()
}

/// The newest `lastSeen` in a capture plus `after_s`: "now" as the capturing client saw it.
fn now_after(state: &Value, after_s: u64) -> u64 {
    let newest = state["lastSeen"]
        .as_object()
        .expect("lastSeen")
        .values()
        .filter_map(|v| v.as_str().and_then(parse_timestamp_ms))
        .max()
        .expect("a lastSeen");
    newest + after_s * 1000
}

fn view(name: &str, this: Option<&str>, after_s: u64) -> ClusterView {
    let state = capture(name);
    parse_state(&state, this, now_after(&state, after_s))
}

#[test]
fn two_real_nodes_are_two_boxes_with_a_link_and_no_placeholders() {
    let a = node_id("2node_A_node_id.json");
    let b = node_id("2node_B_node_id.json");
    let view = view("2node_A_state.json", Some(&b), 1);
    assert_eq!(view.nodes.len(), 2, "{:?}", view.nodes);
    // Both ran on one host named "vm": told apart by their ids, never merged into one box.
    let mut names: Vec<String> = view.nodes.iter().map(|n| n.name.clone()).collect();
    names.sort();
    let mut expected = vec![format!("vm ({})", &a[..8]), format!("vm ({})", &b[..8])];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(view.this_node().map(|n| n.node_id.as_str()), Some(b.as_str()));
    for node in &view.nodes {
        assert_eq!(node.chip, None, "\"Unknown Chip\" is no chip");
        assert_eq!(node.hardware_model, None, "\"Unknown Model\" is no model");
        assert_eq!(node.os_build, None, "build \"Unknown\" is no build");
        assert_eq!(node.os_version.as_deref(), Some("Linux"));
        assert_eq!(node.power_watts, None);
        assert_eq!(node.memory_total_bytes, Some(25_276_063_744));
        assert!(node.disk_available_bytes.is_some_and(|d| d > 0));
        assert!(node.disk_total_bytes >= node.disk_available_bytes);
        assert_eq!(node.backends, ["MlxCpu"]);
    }
    assert_eq!(view.power_watts, None, "no box reports power: unknown, not 0 W");
    assert_eq!(view.links.len(), 1, "{:?}", view.links);
    assert_eq!(view.memory_total_bytes, 2 * 25_276_063_744);
    assert!(view.last_event_applied_idx.is_some());
    assert_eq!(view.frozen_for_s, None);
    let codes: Vec<&str> = view.warnings.iter().map(|w| w.code.as_str()).collect();
    assert!(
        !codes.contains(&"os_build_mismatch") && !codes.contains(&"node_stale"),
        "{codes:?}"
    );
}

#[test]
fn a_model_over_two_real_nodes_is_ready_with_a_shard_on_each() {
    let view = view("2node_A_state_with_2node_instance.json", None, 1);
    let ready: Vec<_> = view.models.iter().filter(|m| m.state == ModelState::Ready).collect();
    assert_eq!(ready.len(), 1, "{:?}", view.models);
    assert_eq!(ready[0].id, "local/tiny-llama");
    assert_eq!(ready[0].shards.len(), 2);
    assert_eq!(loaded_model_ids(&view.models), ["local/tiny-llama"]);
}

#[test]
fn a_real_load_goes_through_loading_to_ready_and_a_failed_runner_is_failed() {
    let this = node_id("1node_GET_node_id.body");
    let before = view("1node_state_before_place.json", Some(&this), 1);
    assert!(before.models.is_empty());
    let ready = view("1node_state_ready.json", Some(&this), 1);
    assert_eq!(ready.models.len(), 1);
    assert_eq!(ready.models[0].state, ModelState::Ready);
    assert_eq!(ready.models[0].progress, Some(1.0));
    let early = view("1node_state_t01.json", Some(&this), 1);
    assert!(
        early
            .models
            .iter()
            .all(|m| matches!(m.state, ModelState::Loading | ModelState::Ready)),
        "{:?}",
        early.models
    );
    let failed = view("1node_state_runner_failed.json", Some(&this), 1);
    for model in &failed.models {
        assert_eq!(model.state, ModelState::Failed);
        assert!(model.error.as_deref().is_some_and(|e| !e.is_empty()));
    }
    assert!(ready.unknown.is_empty(), "{:?}", ready.unknown);
}

#[test]
fn a_killed_follower_ages_then_leaves_and_the_watcher_says_so() {
    let master = node_id("2node_A_node_id.json");
    let twenty = view("2node_afterkill_A_state_t020.json", Some(&master), 0);
    assert_eq!(twenty.nodes.len(), 2, "exo still lists the dead box at 20 s");
    let dead = twenty.nodes.iter().find(|n| !n.is_this_node).expect("the follower");
    assert!(dead.last_seen_s.is_some_and(|s| s >= 19.0), "{:?}", dead.last_seen_s);

    let mut watcher = Watcher::new(ELECTION_DEBOUNCE);
    let state = capture("2node_afterkill_A_state_t020.json");
    watcher.observe(
        parse_state(&state, Some(&master), now_after(&state, 0)),
        now_after(&state, 0),
    );
    let later = capture("2node_afterkill_A_state_t039.json");
    let at = now_after(&later, 0);
    let seen = watcher.observe(parse_state(&later, Some(&master), at), at);
    assert_eq!(seen.view.nodes.len(), 1);
    assert!(
        seen.events
            .iter()
            .any(|e| matches!(e, clusterbar_core::exo::ClusterEvent::NodeLeft { .. })),
        "{:?}",
        seen.events
    );
}

#[test]
fn the_survivor_of_a_killed_master_is_frozen_not_healthy() {
    // The survivor is the member that is not the killed master (A).
    let master = node_id("2node_A_node_id.json");
    let state = capture("2node_B_state_frozen_after_master_kill_long.json");
    let b = state["topology"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|id| *id != master)
        .expect("the survivor")
        .to_owned();
    // Captured ~95 s after the kill; every lastSeen stood still from the kill on.
    let frozen = parse_state(&state, Some(&b), now_after(&state, 95));
    assert!(
        frozen.frozen_for_s.is_some_and(|s| s >= 90.0),
        "{:?}",
        frozen.frozen_for_s
    );
    let codes: Vec<&str> = frozen.warnings.iter().map(|w| w.code.as_str()).collect();
    assert!(codes.contains(&"exo_view_frozen"), "{codes:?}");
    assert!(
        !codes.contains(&"node_stale"),
        "one warning, not one per box: {codes:?}"
    );

    // Without knowing which node answers, the watcher sees the index stand still.
    let mut watcher = Watcher::new(ELECTION_DEBOUNCE);
    let t0 = now_after(&state, 0);
    let first = watcher.observe(parse_state(&state, None, t0), t0);
    assert_eq!(first.view.frozen_for_s, None);
    let second = watcher.observe(parse_state(&state, None, t0 + 31_000), t0 + 31_000);
    assert!(second.view.frozen_for_s.is_some());
    assert!(second
        .view
        .warnings
        .iter()
        .any(|w| w.code == clusterbar_core::warnings::WarningCode::ExoViewFrozen));
}

#[test]
fn a_restarted_box_is_one_box_not_a_box_beside_its_ghost() {
    // Box b restarts exo: a new random id with the same name and memory, while exo keeps the
    // old id in topology.nodes for ~40 s. Built from the real two-node capture.
    let mut state = capture("2node_A_state.json");
    let a = node_id("2node_A_node_id.json");
    let b = node_id("2node_B_node_id.json");
    let fresh = "0123456789abcdef0123456789abcdef".to_owned();
    for table in [
        "nodeIdentities",
        "nodeMemory",
        "nodeDisk",
        "nodeNetwork",
        "nodeBackends",
    ] {
        let entry = state[table][&b].clone();
        state[table][&fresh] = entry;
    }
    state["topology"]["nodes"]
        .as_array_mut()
        .unwrap()
        .push(Value::String(fresh.clone()));
    let newest = now_after(&state, 0);
    let stamp = |ms: u64| {
        chrono::DateTime::from_timestamp_millis(ms as i64)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    state["lastSeen"][&b] = Value::String(stamp(newest - 25_000));
    state["lastSeen"][&fresh] = Value::String(stamp(newest));
    state["lastSeen"][&a] = Value::String(stamp(newest));
    let view = parse_state(&state, Some(&a), newest + 500);
    assert_eq!(
        view.nodes.len(),
        2,
        "{:?}",
        view.nodes.iter().map(|n| &n.node_id).collect::<Vec<_>>()
    );
    assert!(view.nodes.iter().any(|n| n.node_id == fresh));
    assert!(!view.nodes.iter().any(|n| n.node_id == b), "the ghost is gone");
}
