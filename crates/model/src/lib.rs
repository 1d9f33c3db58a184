//! Clusterbar's model: the [`Snapshot`] and every type it holds, warnings and statuses.
//!
//! The leaf of the workspace: it depends on serde only and does no I/O, so every other part
//! (readers, the runtime, the CLI, the app, the UI's generated types) can share it and none of
//! them can reach into another through it. What lives here besides the types is pure
//! derivation over them (the tray state, the pool's sums, the warnings a Hub check raises).

pub mod cluster;
pub mod history;
pub mod host;
pub mod limits;
pub mod ollama;
pub mod pool;
pub mod porten;
pub mod service;
pub mod snapshot;
pub mod warning;

pub use snapshot::{Services, Snapshot, ThisNode, TrayState, SNAPSHOT_SCHEMA};
pub use warning::{add_warning, Program, Severity, Warning, WarningCode, WarningScope};
