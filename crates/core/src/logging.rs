//! Logging with `tracing`: the app writes a daily-rotated file in the platform log dir (a week
//! kept); both also log to stderr. Level from `CLUSTERBAR_LOG` (an env-filter), default `info`
//! for the file and `warn` for the CLI's stderr. Secrets never reach a log call.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

fn filter<S>(default: &str) -> impl Filter<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    capped(EnvFilter::try_from_env("CLUSTERBAR_LOG").unwrap_or_else(|_| EnvFilter::new(default)))
}

/// ureq's TRACE level is the wire, headers unredacted (its docs say so): the Porten API key's
/// `Authorization` header would reach the log at `CLUSTERBAR_LOG=trace`. Its DEBUG level lists
/// safe headers only, so that is as far as it goes, whatever the filter asks — a ceiling, not a
/// floor: at the default `warn` ureq says nothing (a directive `ureq=debug` would raise it).
fn capped<S>(filter: EnvFilter) -> impl Filter<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let ceiling = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("ureq", LevelFilter::DEBUG)
        .with_target("ureq_proto", LevelFilter::DEBUG);
    filter.and(ceiling)
}

/// Warnings and errors on stderr, without module paths (both the CLI and the app).
fn stderr_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter("warn"))
}

/// For the CLI: stderr only, quiet by default so `--json` output stays clean.
pub fn init_cli() {
    let _ = tracing_subscriber::registry().with(stderr_layer()).try_init();
}

/// For the app: a rotating file plus stderr. Keep the guard alive for the process's life,
/// or buffered lines are lost at exit.
pub fn init_app(file_prefix: &str) -> Result<WorkerGuard, std::io::Error> {
    let dir = crate::paths::log_dir();
    std::fs::create_dir_all(&dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(file_prefix)
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .map_err(std::io::Error::other)?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let _ = tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter("info")),
        )
        .with(stderr_layer())
        .try_init();
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `log` writes through the capped filter `level`, as the log file would hold it.
    fn logged_at(level: &str, log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_filter(capped(EnvFilter::new(level))),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[test]
    fn the_http_clients_wire_trace_never_reaches_the_log() {
        let text = logged_at("trace", || {
            tracing::trace!(target: "ureq_proto::client", "Authorization: Bearer sk-porten-wire");
            tracing::trace!(target: "ureq::unit", "Authorization: Bearer sk-porten-wire2");
            tracing::debug!(target: "ureq::unit", "GET /v1/models");
            tracing::trace!(target: "clusterbar_core::x", "our own trace");
        });
        assert!(!text.contains("sk-porten"), "{text}");
        assert!(
            text.contains("GET /v1/models") && text.contains("our own trace"),
            "{text}"
        );
    }

    #[test]
    fn at_the_default_level_the_http_client_says_nothing() {
        let text = logged_at("warn", || {
            tracing::debug!(target: "ureq::unit", "GET /v1/models");
            tracing::info!(target: "ureq_proto::client", "connected");
            tracing::warn!(target: "clusterbar_core::x", "a warning");
        });
        assert!(
            !text.contains("GET /v1/models") && !text.contains("connected"),
            "{text}"
        );
        assert!(text.contains("a warning"), "{text}");
    }
}
