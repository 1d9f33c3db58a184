//! The standing fault suite's property tests of the SSE parser and the response meter (issue #11):
//! arbitrary bytes, and real streams (exo's, llama-server's) cut at random points and mutated. A
//! stream cut anywhere must read exactly as the whole one. `PROPTEST_CASES` sets the number of
//! cases (`scripts/fault-suite.sh`); without it a small number keeps `cargo test` quick.

use clusterbar_meter::metering::ResponseMeter;
use clusterbar_meter::sse::{SseItem, SseParser};
use clusterbar_meter::{Endpoint, Outcome};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::path::Path;
use std::time::Instant;

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config.failure_persistence = None;
    config
}

/// Real streams: exo's captures (in the core's fixtures) and the meter's own.
fn real_streams() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        "../core/tests/fixtures/exo/real-linux/1node_chat_stream.sse",
        "../core/tests/fixtures/exo/real-linux/2node_chat_stream_via_B.sse",
        "../core/tests/fixtures/exo/real-linux/1node_GET_instance_await_ready.sse",
        "tests/fixtures/exo/chat-stream-tail.derived.txt",
        "tests/fixtures/llama-server/chat-stream-usage.txt",
    ];
    files
        .iter()
        .map(|f| std::fs::read(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect()
}

/// Items and whether the parser failed, feeding `bytes` cut at `cuts` (positions modulo the length).
fn parse(bytes: &[u8], cuts: &[usize]) -> (Vec<SseItem>, bool) {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut failed = false;
    for pair in at.windows(2) {
        failed |= parser.feed(&bytes[pair[0]..pair[1]], &mut out).is_err();
    }
    (out, failed)
}

fn check_items(items: &[SseItem]) -> Result<(), TestCaseError> {
    for item in items {
        match item {
            // Lines end at CR or LF: neither can be inside a comment, nor CR inside data.
            SseItem::Comment(text) => prop_assert!(!text.contains(['\r', '\n']), "{:?}", text),
            SseItem::Event { event, data } => {
                prop_assert!(!data.contains('\r'), "{:?}", data);
                prop_assert!(!event.as_deref().unwrap_or("").contains(['\r', '\n']));
            }
        }
    }
    Ok(())
}

/// Line ends rewritten (CRLF, CR), a BOM, bytes dropped or inserted: still a stream to read.
fn mutate(mut bytes: Vec<u8>, how: u8, at: usize, noise: &[u8]) -> Vec<u8> {
    let at = at % (bytes.len() + 1);
    match how % 6 {
        0 => bytes,
        1 => bytes
            .iter()
            .flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] })
            .collect(),
        2 => bytes.iter().map(|&b| if b == b'\n' { b'\r' } else { b }).collect(),
        3 => [b"\xEF\xBB\xBF".as_slice(), &bytes].concat(),
        4 => {
            bytes.splice(at..at, noise.iter().copied());
            bytes
        }
        _ => {
            bytes.drain(at..(at + noise.len()).min(bytes.len()));
            bytes
        }
    }
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    let noise = prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        3 => (proptest::sample::select(real_streams()), any::<u8>(), any::<usize>(), noise)
            .prop_map(|(s, how, at, noise)| mutate(s, how, at, &noise)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => prop::collection::vec(
            prop_oneof![
                Just(b"data: ".to_vec()), Just(b"\n".to_vec()), Just(b"\r".to_vec()),
                Just(b":".to_vec()), Just(b"event:".to_vec()), Just(b"\xEF\xBB\xBF".to_vec()),
                Just(b"{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}".to_vec()),
                prop::collection::vec(any::<u8>(), 0..8),
            ],
            0..64,
        ).prop_map(|parts| parts.concat()),
    ]
}

#[test]
fn a_stream_cut_anywhere_reads_as_the_whole() {
    let cuts = prop::collection::vec(any::<usize>(), 0..40);
    proptest!(config(), |(bytes in stream(), cuts in cuts)| {
        let whole = parse(&bytes, &[]);
        check_items(&whole.0)?;
        prop_assert_eq!(parse(&bytes, &cuts), whole);
    });
}

#[test]
fn a_stream_fed_one_byte_at_a_time_reads_as_the_whole() {
    proptest!(config(), |(bytes in stream())| {
        let every: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(parse(&bytes, &every), parse(&bytes, &[]));
    });
}

/// The meter's figures (tokens, content events, metered or not) do not depend on where the stream was cut.
#[test]
fn the_meter_counts_the_same_however_the_stream_is_cut() {
    let cuts = prop::collection::vec(any::<usize>(), 0..40);
    proptest!(config(), |(bytes in stream(), cuts in cuts)| {
        let meter = |cuts: &[usize]| {
            let now = Instant::now();
            let mut meter = ResponseMeter::new(Endpoint::ChatCompletions, 200, Some("text/event-stream"), now);
            let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            at.extend([0, bytes.len()]);
            at.sort_unstable();
            let mut live = 0;
            for pair in at.windows(2) {
                live += meter.observe(&bytes[pair[0]..pair[1]], now);
            }
            let record = meter.finish("m".into(), Outcome::Completed, now, 0);
            serde_json::to_string(&record).unwrap();
            (live, (record.content_events, record.completion_tokens, record.prompt_tokens, record.metered))
        };
        let (whole_live, whole) = meter(&[]);
        let (cut_live, cut) = meter(&cuts);
        prop_assert_eq!(&cut, &whole);
        // Events counted live cannot be taken back when a later one turns the stream unmetered,
        // so only a metered stream's live count is whole; it never exceeds the events seen.
        prop_assert!(cut_live <= cut.0 && whole_live <= whole.0);
        if cut.3 {
            prop_assert_eq!(cut_live, cut.0);
            prop_assert_eq!(whole_live, whole.0);
        }
    });
}

/// Checks the checks: the real streams do hold events, and a BOM changes nothing.
#[test]
fn sanity_the_real_streams_read_as_events() {
    for bytes in real_streams() {
        let (items, failed) = parse(&bytes, &[]);
        assert!(!failed);
        assert!(
            items.iter().any(|i| matches!(i, SseItem::Event { .. })),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(parse(&mutate(bytes.clone(), 3, 0, &[]), &[7, 100]).0, items);
        assert_eq!(parse(&mutate(bytes, 1, 0, &[]), &[3]).0, items);
    }
}
