//! The standing fault suite's property tests for every parser in the core (issue #11): exo's
//! `/state`, the macOS and Linux probes, `porten login`'s output and the settings file. Each
//! feeds arbitrary input and mutations of the real captures under `tests/fixtures`, asserts no
//! panic and a few invariants. `PROPTEST_CASES` sets the number of cases per test
//! (`scripts/fault-suite.sh`); without it a small number keeps `cargo test` quick.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;
use std::path::Path;

/// `PROPTEST_CASES` when set (the fault suite), else few: plain `cargo test` runs these too.
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    // A failure prints its minimal input; nothing is written into the source tree.
    config.failure_persistence = None;
    config
}

fn fixture(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixtures_in(dir: &str, ext: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no .{ext} fixtures in {}", dir.display());
    names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------
// Generators shared by the parsers

/// Keys every JSON fixture uses, so arbitrary objects often hit the fields a parser looks for.
fn json_keys() -> Vec<String> {
    fn collect(value: &Value, keys: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    keys.insert(k.clone());
                    collect(v, keys);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, keys)),
            _ => {}
        }
    }
    let mut keys = std::collections::BTreeSet::new();
    for text in fixtures_in("exo/real-linux", "json") {
        collect(&serde_json::from_str(&text).unwrap(), &mut keys);
    }
    keys.into_iter().collect()
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), Just(1u64 << 53)].prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and ±inf become null, as serde_json does
        ".{0,24}".prop_map(Value::from),
        "[0-9a-f-]{8,40}".prop_map(Value::from),
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(Value::from),
    ]
}

fn arbitrary_json(keys: Vec<String>) -> impl Strategy<Value = Value> {
    let key = prop_oneof![3 => proptest::sample::select(keys), 1 => ".{0,12}"];
    json_leaf().prop_recursive(6, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// One edit of a JSON document: `at` picks a node (modulo the number of nodes).
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace(usize, Value),
    Delete(usize),
    /// Changes the node's type while keeping something of its content.
    Retype(usize, u8),
    /// Copies one subtree over another (a node's fields where another's are expected).
    Graft(usize, usize),
}

fn json_edits(keys: Vec<String>) -> impl Strategy<Value = Vec<JsonEdit>> {
    let edit = prop_oneof![
        (any::<usize>(), arbitrary_json(keys)).prop_map(|(at, v)| JsonEdit::Replace(at, v)),
        any::<usize>().prop_map(JsonEdit::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(at, how)| JsonEdit::Retype(at, how)),
        (any::<usize>(), any::<usize>()).prop_map(|(from, to)| JsonEdit::Graft(from, to)),
    ];
    prop::collection::vec(edit, 1..6)
}

/// How many nodes `value` has, itself included.
fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Object(map) => map.values().map(node_count).sum(),
        Value::Array(items) => items.iter().map(node_count).sum(),
        _ => 0,
    }
}

/// One step down a JSON document.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path to node `n` of `value`, numbered in post-order (children first, the root last), with
/// `n` below [`node_count`]. Walking to one node, rather than listing a pointer for every node of
/// a 300 kB capture at each edit, halved the `/state` test's time: the generator, not the parser,
/// took most of it.
fn nth_path(value: &Value, n: usize) -> Vec<Step> {
    /// Post-order walk counting `left` down; true once node number `n` is reached.
    fn walk(value: &Value, left: &mut usize, path: &mut Vec<Step>) -> bool {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(Step::Key(k.clone()));
                    if walk(v, left, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    if walk(v, left, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        if *left == 0 {
            return true;
        }
        *left -= 1;
        false
    }
    let mut path = Vec::new();
    let mut left = n;
    walk(value, &mut left, &mut path);
    path
}

fn at_path<'a>(mut node: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    for step in path {
        node = match (node, step) {
            (Value::Object(map), Step::Key(k)) => map.get_mut(k)?,
            (Value::Array(items), Step::Index(i)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

fn apply_edits(mut doc: Value, edits: &[JsonEdit]) -> Value {
    for edit in edits {
        let count = node_count(&doc);
        let pick = |doc: &Value, i: usize| nth_path(doc, i % count);
        match edit {
            JsonEdit::Replace(at, v) => {
                let path = pick(&doc, *at);
                if let Some(node) = at_path(&mut doc, &path) {
                    *node = v.clone();
                }
            }
            JsonEdit::Delete(at) => {
                let mut path = pick(&doc, *at);
                let Some(last) = path.pop() else {
                    continue; // the root
                };
                match (at_path(&mut doc, &path), last) {
                    (Some(Value::Object(map)), Step::Key(k)) => {
                        map.remove(&k);
                    }
                    (Some(Value::Array(items)), Step::Index(i)) if i < items.len() => {
                        items.remove(i);
                    }
                    _ => {}
                }
            }
            JsonEdit::Retype(at, how) => {
                let path = pick(&doc, *at);
                if let Some(node) = at_path(&mut doc, &path) {
                    *node = retype(node.take(), *how);
                }
            }
            JsonEdit::Graft(from, to) => {
                let (from, to) = (pick(&doc, *from), pick(&doc, *to));
                let Some(copy) = at_path(&mut doc, &from).map(|v| v.clone()) else {
                    continue;
                };
                if let Some(node) = at_path(&mut doc, &to) {
                    *node = copy;
                }
            }
        }
    }
    doc
}

/// The generator's node numbering is the plain one: every node once, children before parents.
#[test]
fn sanity_nth_path_numbers_every_node_once_in_post_order() {
    fn listing(value: &Value, here: Vec<Step>, out: &mut Vec<Vec<Step>>) {
        match value {
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| listing(v, [here.clone(), vec![Step::Key(k.clone())]].concat(), out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| listing(v, [here.clone(), vec![Step::Index(i)]].concat(), out)),
            _ => {}
        }
        out.push(here);
    }
    let doc = serde_json::json!({"a": [1, {"b": null, "c/~": [true]}], "d": {}, "e": "x"});
    let mut expected = Vec::new();
    listing(&doc, Vec::new(), &mut expected);
    assert_eq!(node_count(&doc), expected.len());
    let got: Vec<Vec<Step>> = (0..expected.len()).map(|n| nth_path(&doc, n)).collect();
    assert_eq!(got, expected);
    let mut copy = doc.clone();
    assert_eq!(
        at_path(&mut copy, &expected[3]).cloned(),
        Some(serde_json::json!([true]))
    );
}

fn retype(value: Value, how: u8) -> Value {
    match (value, how % 6) {
        (Value::Object(map), 0) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
        (Value::Array(items), 0) => {
            Value::Object(items.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect())
        }
        (Value::Number(n), 1) => Value::String(n.to_string()),
        (Value::String(s), 1) => s.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        (Value::Number(n), 2) => Value::from(-n.as_f64().unwrap_or(0.0)),
        (Value::Number(n), 3) => Value::from(n.as_f64().unwrap_or(0.0) * 1e12),
        (v, 4) => Value::Array(vec![v]),
        (v, 5) => serde_json::json!({ "wrapped": v }),
        (_, _) => Value::Null,
    }
}

/// One edit of a text capture, at char positions (taken modulo the text's length).
#[derive(Debug, Clone)]
enum TextEdit {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
    Truncate(usize),
    ReplaceDigits(usize, String),
}

fn text_edits() -> impl Strategy<Value = Vec<TextEdit>> {
    let noise = prop_oneof![
        ".{0,16}",
        "[0-9]{1,30}",
        Just("\n".to_owned()),
        Just(" = ".to_owned()),
        Just("\u{1b}[31m".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("NaN".to_owned()),
    ];
    let edit = prop_oneof![
        (any::<usize>(), 0..64usize).prop_map(|(at, n)| TextEdit::Delete(at, n)),
        (any::<usize>(), noise.clone()).prop_map(|(at, s)| TextEdit::Insert(at, s)),
        (any::<usize>(), 0..256usize).prop_map(|(at, n)| TextEdit::Duplicate(at, n)),
        any::<usize>().prop_map(TextEdit::Truncate),
        (any::<usize>(), "[0-9]{0,24}").prop_map(|(at, s)| TextEdit::ReplaceDigits(at, s)),
    ];
    prop::collection::vec(edit, 1..8)
}

fn apply_text_edits(text: &str, edits: &[TextEdit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match edit {
            TextEdit::Delete(i, n) => {
                let start = at(*i);
                chars.drain(start..(start + n).min(len));
            }
            TextEdit::Insert(i, s) => {
                let start = at(*i);
                chars.splice(start..start, s.chars());
            }
            TextEdit::Duplicate(i, n) => {
                let start = at(*i);
                let copy: Vec<char> = chars[start..(start + n).min(len)].to_vec();
                chars.splice(start..start, copy);
            }
            TextEdit::Truncate(i) => chars.truncate(at(*i)),
            TextEdit::ReplaceDigits(i, digits) => {
                // The number that starts at or after `i` is replaced: figures out of range.
                let Some(start) = (at(*i)..len).find(|&j| chars[j].is_ascii_digit()) else {
                    continue;
                };
                let end = (start..len).find(|&j| !chars[j].is_ascii_digit()).unwrap_or(len);
                chars.splice(start..end, digits.chars());
            }
        }
    }
    chars.into_iter().collect()
}

/// A real capture, or a mutation of one, or arbitrary text.
fn text_like(samples: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => proptest::sample::select(samples.clone()),
        6 => (proptest::sample::select(samples), text_edits()).prop_map(|(t, e)| apply_text_edits(&t, &e)),
        2 => ".{0,200}",
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

// ---------------------------------------------------------------------------------------------
// exo `/state`

mod exo_state {
    use super::*;
    use clusterbar_core::exo::{parse_state, ClusterView};

    fn check(view: &ClusterView) -> Result<(), TestCaseError> {
        let json = serde_json::to_string(view).map_err(|e| TestCaseError::fail(e.to_string()))?;
        serde_json::from_str::<Value>(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Sums saturate: the cluster never holds less than one of its boxes.
        for node in &view.nodes {
            prop_assert!(view.memory_total_bytes >= node.memory_total_bytes.unwrap_or(0));
            prop_assert!(view.memory_available_bytes >= node.memory_available_bytes.unwrap_or(0));
        }
        if let Some(watts) = view.power_watts {
            prop_assert!(!watts.is_nan(), "power NaN");
        }
        Ok(())
    }

    fn real_states() -> Vec<Value> {
        fixtures_in("exo/real-linux", "json")
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect()
    }

    fn node_id() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            ".{0,40}".prop_map(Some),
            "12D3KooW[A-Za-z0-9]{44}".prop_map(Some)
        ]
    }

    fn now() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            any::<u64>(),
            1_700_000_000_000..1_900_000_000_000u64
        ]
    }

    #[test]
    fn arbitrary_json_never_panics() {
        proptest!(config(), |(state in arbitrary_json(json_keys()), id in node_id(), now in now())| {
            check(&parse_state(&state, id.as_deref(), now))?;
        });
    }

    #[test]
    fn mutated_real_captures_never_panic() {
        let states = real_states();
        let ids: Vec<String> = states
            .iter()
            .flat_map(|s| s.get("topology").and_then(|t| t.get("nodes")).into_iter())
            .flat_map(|n| match n {
                Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            })
            .collect();
        let id = prop_oneof![
            Just(None),
            proptest::sample::select(if ids.is_empty() { vec![String::new()] } else { ids }).prop_map(Some)
        ];
        proptest!(config(), |(
            state in proptest::sample::select(states.clone()),
            edits in json_edits(json_keys()),
            id in id,
            now in now(),
        )| {
            let mutated = apply_edits(state, &edits);
            check(&parse_state(&mutated, id.as_deref(), now))?;
        });
    }

    /// The invariants above can fail: the real capture of two boxes sums both.
    #[test]
    fn sanity_the_real_two_box_capture_passes_the_same_checks() {
        let state: Value = serde_json::from_str(&fixture("exo/real-linux/2node_A_state.json")).unwrap();
        let view = parse_state(&state, None, 0);
        assert_eq!(view.nodes.len(), 2);
        check(&view).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// This Mac's probes: ioreg, system_profiler, macmon, vm_stat, meminfo/PSI, sysfs

mod probes {
    use super::*;
    use clusterbar_core::probes::hardware::{self, source, RawSources};
    use clusterbar_core::probes::{bridge, gpu_memory, memory, power, rdma, thunderbolt};

    fn macos(prefix: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/macos");
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(!out.is_empty(), "no {prefix}* fixture");
        out.sort();
        out
    }

    fn linux(prefix: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linux");
        let out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(!out.is_empty(), "no {prefix}* fixture");
        out
    }

    fn system_profiler_json() -> Vec<String> {
        macos("system_profiler-SPThunderboltDataType-")
            .into_iter()
            .filter(|t| t.trim_start().starts_with('{'))
            .collect()
    }

    #[test]
    fn ioreg() {
        proptest!(config(), |(text in text_like(macos("ioreg-")))| {
            let ports = thunderbolt::parse_ioreg_ports(&text);
            for port in thunderbolt::host_ports_from_ioreg(&ports) {
                serde_json::to_string(&port).unwrap();
            }
        });
    }

    #[test]
    fn system_profiler() {
        let samples = system_profiler_json();
        let values: Vec<Value> = samples.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
        let mutated_json = (proptest::sample::select(values), json_edits(json_keys()))
            .prop_map(|(v, e)| apply_edits(v, &e).to_string());
        let input = prop_oneof![text_like(samples), mutated_json];
        proptest!(config(), |(text in input)| {
            if let Ok(ports) = thunderbolt::parse_system_profiler_json(&text) {
                let _ = format!("{ports:?}");
            }
        });
    }

    #[test]
    fn macmon() {
        let mut samples = macos("macmon-pipe-");
        // The readme samples are JSONC: without their comments they are what `macmon pipe` prints.
        for text in samples.iter_mut() {
            *text = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
        }
        let as_lines: Vec<String> = samples
            .iter()
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .map(|v| v.to_string())
            .collect();
        assert!(!as_lines.is_empty(), "no macmon sample parses as JSON");
        let values: Vec<Value> = as_lines.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
        let mutated_json = (proptest::sample::select(values), json_edits(json_keys()))
            .prop_map(|(v, e)| apply_edits(v, &e).to_string());
        let input = prop_oneof![text_like(as_lines), mutated_json];
        proptest!(config(), |(text in input)| {
            if let Ok(sample) = power::parse_macmon_output(&text) {
                serde_json::to_string(&sample).unwrap();
            }
        });
    }

    #[test]
    fn vm_stat_and_the_memory_formula() {
        proptest!(config(), |(text in text_like(macos("vm_stat-")), total in any::<u64>(), swap in any::<Option<(u64, u64)>>())| {
            if let Ok(vm) = memory::parse_vm_stat(&text) {
                if let Ok(info) = memory::macos_memory(total, &vm, swap, None) {
                    prop_assert!(info.used_bytes <= info.total_bytes);
                    prop_assert_eq!(info.used_bytes + info.available_bytes, info.total_bytes);
                    prop_assert!(info.swap_used_bytes <= info.swap_total_bytes);
                }
            }
        });
    }

    #[test]
    fn meminfo_and_pressure() {
        let psi = linux("proc-pressure-memory-");
        proptest!(config(), |(text in text_like(linux("proc-meminfo-")), pressure in text_like(psi.clone()))| {
            if let Ok(info) = memory::parse_meminfo(&text) {
                serde_json::to_string(&info).unwrap();
                prop_assert!(info.used_bytes <= info.total_bytes);
            }
            let _ = memory::parse_psi_memory(&pressure);
            let _ = memory::parse_pressure_level(&pressure);
        });
    }

    #[test]
    fn sysfs_readers() {
        let sysfs = linux("sys-bus-thunderbolt-");
        let values = prop_oneof![
            text_like(sysfs),
            Just("20.0 Gb/s\n".to_owned()),
            "[0-9]{1,25}(\\.[0-9]{0,3})?( Gb/s)?\n?",
            "-?[0-9]{1,25}\n?",
        ];
        proptest!(config(), |(v in values, max in any::<Option<u64>>())| {
            if let Some(g) = thunderbolt::parse_sysfs_speed(&v) {
                prop_assert!(g.is_finite() && g >= 0.0);
            }
            let _ = power::parse_microwatts(&v);
            let _ = power::parse_millidegrees(&v);
            if let Some(w) = power::rapl_watts(&v, max) {
                prop_assert!(w.is_finite(), "{w}");
            }
            let _ = gpu_memory::parse_wired_limit_mb(&v);
            let _ = gpu_memory::parse_metal_working_set(&v);
            let _ = thunderbolt::parse_speed_label(&v);
        });
    }

    #[test]
    fn other_tool_outputs() {
        let samples = [macos("ifconfig-"), macos("networksetup-"), macos("sysctl-")].concat();
        proptest!(config(), |(text in text_like(samples))| {
            let _ = bridge::parse_ifconfig_bridge(&text);
            let _ = bridge::parse_service_enabled(&text);
            let _ = bridge::parse_interface_addresses(&text);
            let _ = rdma::parse_rdma_ctl_status(&text);
            let _ = rdma::parse_ibv_devinfo(&text);
            let _ = thunderbolt::parse_hardware_ports(&text);
        });
    }

    /// The whole report from a bundle whose every source is a mutated capture or noise, as
    /// `doctor --from` reads one from anywhere.
    #[test]
    fn a_hostile_bundle_gives_a_report() {
        let ioreg = text_like(macos("ioreg-"));
        let profiler = text_like(system_profiler_json());
        let vm = text_like(macos("vm_stat-"));
        let misc = text_like([macos("ifconfig-"), macos("networksetup-"), macos("sysctl-")].concat());
        let sysfs = text_like(linux("sys-bus-thunderbolt-"));
        proptest!(config(), |(
            os in prop_oneof![Just("macos"), Just("linux"), Just("")],
            ioreg in ioreg, profiler in profiler, vm in vm, misc in misc, sysfs in sysfs,
        )| {
            let mut raw = RawSources::new();
            raw.insert(source::OS, os).unwrap();
            raw.insert(source::IOREG_THUNDERBOLT, ioreg).unwrap();
            raw.insert(source::SYSTEM_PROFILER_THUNDERBOLT_JSON, profiler).unwrap();
            raw.insert(source::NETWORKSETUP_HARDWARE_PORTS, misc.clone()).unwrap();
            raw.insert(source::IFCONFIG_BRIDGE0, misc.clone()).unwrap();
            raw.insert(source::RDMA_CTL_STATUS, misc.clone()).unwrap();
            raw.insert(source::SYSCTL_IOGPU_WIRED_LIMIT_MB, misc.clone()).unwrap();
            raw.insert(source::SYSCTL_HW_MEMSIZE, vm.clone()).unwrap();
            raw.insert(source::MACMON_PIPE, misc).unwrap();
            raw.insert(&format!("{}0-1/rx_speed", source::THUNDERBOLT_DEVICES), sysfs.clone()).unwrap();
            raw.insert(&format!("{}0-1/rx_lanes", source::THUNDERBOLT_DEVICES), vm).unwrap();
            raw.insert(source::RAPL_ENERGY_SAMPLES, sysfs).unwrap();
            let report = hardware::parse(&raw);
            serde_json::to_string(&report).unwrap();
            let _ = hardware::hardware_warnings(&report, None);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// `porten login` output

mod porten_login {
    use super::*;
    use clusterbar_core::porten::login;

    /// Wordings of the real CLI and of the stand-in's ten variants.
    fn outputs() -> Vec<String> {
        [
            "To sign in, open https://porten.ai/device and enter the code WDJB-MJHT\n",
            "Open this URL in your browser:\n  https://porten.ai/activate?user_code=ABCD-1234\n",
            "Enter this code:\n    WDJB-MJHT\nthen visit https://hub.porten.ai/login\n",
            "{\"verification_uri\":\"https://porten.ai/device\",\"user_code\":\"QWER-TYUI\"}\n",
            "\u{1b}[1mcode\u{1b}[0m: XYZW-9876\r\n\u{1b}]8;;https://porten.ai/d\u{1b}\\link\u{1b}]8;;\u{1b}\\\n",
            "Waiting for approval...\nSigned in.\n",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn scanning_any_output() {
        let hub = prop_oneof![
            Just("https://porten.ai".to_owned()),
            Just("wss://hub.porten.ai".to_owned()),
            Just("http://127.0.0.1:9".to_owned()),
            ".{0,30}",
        ];
        proptest!(config(), |(text in text_like(outputs()), hub in hub, code in any::<Option<i32>>())| {
            let prompt = login::scan_output(&text);
            serde_json::to_string(&prompt).unwrap();
            // Streamed line by line it finds the same.
            let mut streamed = login::LoginPrompt::default();
            for line in text.lines() {
                login::scan_line(line, &mut streamed);
            }
            prop_assert_eq!(&streamed, &prompt);
            let stripped = login::strip_ansi(&text);
            prop_assert!(!stripped.contains('\r'));
            if let Some(url) = &prompt.url {
                let _ = login::code_in_url(url);
                let _ = login::shown_url(url);
                if let Ok(checked) = login::check_login_url(url, &hub) {
                    prop_assert!(checked.scheme() == "https" || checked.scheme() == "http");
                }
            }
            let _ = login::hub_host(&hub);
            let _ = login::classify_end(code, &text, &text);
        });
    }

    #[test]
    fn checking_any_url() {
        let url = prop_oneof![
            "https://[a-z.]{0,20}porten\\.ai(:[0-9]{1,6})?/[ -~]{0,40}",
            "[a-z]{0,6}://[ -~]{0,60}",
            ".{0,80}",
        ];
        proptest!(config(), |(url in url)| {
            if let Ok(checked) = login::check_login_url(&url, "https://porten.ai") {
                prop_assert_eq!(checked.scheme(), "https");
                let host = checked.host_str().unwrap_or_default().to_owned();
                prop_assert!(host == "porten.ai" || host.ends_with(".porten.ai"), "{}", host);
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The settings file

mod settings {
    use super::*;
    use clusterbar_core::settings::{Settings, SettingsStore};

    fn valid_json() -> Value {
        serde_json::to_value(Settings::default()).unwrap()
    }

    #[test]
    fn loading_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        let keys: Vec<String> = valid_json().as_object().unwrap().keys().cloned().collect();
        let bytes = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            json_edits(keys.clone()).prop_map(|e| apply_edits(valid_json(), &e).to_string().into_bytes()),
            arbitrary_json(keys).prop_map(|v| v.to_string().into_bytes()),
        ];
        proptest!(config(), |(bytes in bytes)| {
            std::fs::write(store.path(), &bytes).unwrap();
            let loaded = store.load();
            // Whatever was read, what is used is valid and can be saved again.
            prop_assert!(loaded.settings.validate().is_ok());
            serde_json::to_string(&loaded.settings).unwrap();
            if loaded.problem.is_none() {
                prop_assert!(store.path().exists(), "a file read fine is kept");
            } else {
                prop_assert_eq!(&loaded.settings, &Settings::default());
            }
            // Each case starts from an empty directory (the `.bad` copies would pile up).
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
        });
    }

    #[test]
    fn sanity_the_default_file_loads_without_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        std::fs::write(store.path(), valid_json().to_string()).unwrap();
        assert_eq!(store.load().problem, None);
    }
}
