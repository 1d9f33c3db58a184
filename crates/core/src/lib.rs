//! Clusterbar's core: everything the app and the CLI know and do, with no GUI dependency.
//!
//! Data flows one way: readers (local probes, and later exo, the token meter and the
//! Porten agent) feed one [`Snapshot`]; the CLI prints it, the app renders it, alerts are
//! derived from its changes.

pub mod clock;
pub mod exo;
pub mod files;
pub mod format;
pub mod history;
pub mod join;
pub mod logging;
pub mod ollama;
pub mod paths;
pub mod porten;
pub mod probes;
pub mod runtime;
pub mod sampler;
pub mod settings;
pub mod snapshot;
pub mod supervise;
pub mod warnings;

pub use snapshot::{collect_snapshot, Snapshot, SNAPSHOT_SCHEMA};
