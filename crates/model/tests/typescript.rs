//! The page's TypeScript types are generated from these Rust types (ts-rs), checked in under
//! `ui/src/generated/`, and this test fails when they drift: change a type, then run
//! `CLUSTERBAR_WRITE_TS=1 cargo test -p clusterbar-model --test typescript` and commit the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clusterbar_model::history::Series;
use clusterbar_model::Snapshot;
use ts_rs::{Config, TS};

fn checked_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated")
}

/// Every `.ts` file in `dir`, by name.
fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn export(dir: &Path) {
    // Byte counts and timestamps fit a JS number (2^53) by far; `bigint` would not parse from JSON.
    let config = Config::new().with_large_int("number").with_out_dir(dir);
    Snapshot::export_all(&config).expect("the Snapshot's types export");
    // The charts' rows come from a command of their own, not the Snapshot.
    Series::export_all(&config).expect("the history's types export");
}

#[test]
fn the_pages_types_match_the_rust_model() {
    let fresh = tempfile::tempdir().expect("a temporary directory");
    export(fresh.path());
    let generated = files(fresh.path());
    assert!(generated.contains_key("Snapshot.ts"), "{:?}", generated.keys());
    if std::env::var_os("CLUSTERBAR_WRITE_TS").is_some() {
        let dir = checked_in();
        std::fs::create_dir_all(&dir).expect("ui/src/generated");
        for stale in files(&dir).keys().filter(|name| !generated.contains_key(*name)) {
            std::fs::remove_file(dir.join(stale)).expect("removing a type that is gone");
        }
        export(&dir);
        return;
    }
    let on_disk = files(&checked_in());
    let differing: Vec<&String> = generated
        .keys()
        .chain(on_disk.keys())
        .filter(|name| generated.get(*name) != on_disk.get(*name))
        .collect();
    assert!(
        differing.is_empty(),
        "ui/src/generated/ is out of date for {differing:?}: run \
         `CLUSTERBAR_WRITE_TS=1 cargo test -p clusterbar-model --test typescript` and commit it"
    );
}
