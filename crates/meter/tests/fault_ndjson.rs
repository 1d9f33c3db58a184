//! Property tests of the NDJSON splitter and of the response meter on Ollama's native streams
//! (`/api/chat`, `/api/generate`): a stream cut anywhere must read exactly as the whole one, a
//! line that is not JSON or never ends is counted as malformed and skipped, and memory stays
//! bounded. `PROPTEST_CASES` sets the number of cases; without it a small number keeps
//! `cargo test` quick.

use clusterbar_meter::metering::ResponseMeter;
use clusterbar_meter::ndjson::{NdjsonLine, NdjsonParser, MAX_LINE_BYTES};
use clusterbar_meter::{Endpoint, Outcome, RequestRecord};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::time::{Duration, Instant};

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config.failure_persistence = None;
    config
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// Cut positions (modulo the length), sorted, with both ends.
fn cut_points(len: usize, cuts: &[usize]) -> Vec<usize> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    at.push(0);
    at.push(len);
    at.sort_unstable();
    at
}

/// The lines of `bytes` fed in pieces cut at `cuts`, and the most the parser ever held.
fn split(bytes: &[u8], cuts: &[usize]) -> (Vec<Line>, usize) {
    let mut parser = NdjsonParser::new();
    let mut out = Vec::new();
    let mut held = 0;
    let mut push = |line: NdjsonLine<'_>| {
        out.push(match line {
            NdjsonLine::Line(l) => Line::Text(l.to_vec()),
            NdjsonLine::TooLong => Line::TooLong,
        })
    };
    for pair in cut_points(bytes.len(), cuts).windows(2) {
        parser.feed(&bytes[pair[0]..pair[1]], &mut push);
        held = held.max(parser.buffered());
    }
    parser.finish(&mut push);
    (out, held)
}

fn chat_line(content: &str) -> String {
    let object = serde_json::json!({
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": content, "images": null},
        "done": false,
    });
    format!("{object}\n")
}

fn done_line(eval_count: u64) -> String {
    let object = serde_json::json!({
        "model": "llama3.2",
        "created_at": "2023-08-04T19:22:45.499127Z",
        "message": {"role": "assistant", "content": ""},
        "done": true,
        "done_reason": "stop",
        "total_duration": 4_883_583_458u64,
        "load_duration": 1_334_875u64,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 342_546_000u64,
        "eval_count": eval_count,
        "eval_duration": 4_535_599_000u64,
    });
    format!("{object}\n")
}

/// The record of `bytes` as an `/api/chat` NDJSON response cut at `cuts`; every piece arrives
/// 1 ms after the one before, so timings depend on the cuts but counts must not.
fn meter(bytes: &[u8], cuts: &[usize]) -> RequestRecord {
    let t0 = Instant::now();
    let mut meter = ResponseMeter::new(Endpoint::OllamaChat, 200, Some("application/x-ndjson"), t0);
    let mut at = t0;
    for pair in cut_points(bytes.len(), cuts).windows(2) {
        at += Duration::from_millis(1);
        meter.observe(&bytes[pair[0]..pair[1]], at);
    }
    meter.finish("m".into(), Outcome::Completed, at, 0)
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes (newlines likely) read the same whole or cut anywhere, and no line handed
    /// out holds a line end.
    #[test]
    fn arbitrary_bytes_split_anywhere_give_the_same_lines(
        bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), any::<u8>()], 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (whole, _) = split(&bytes, &[]);
        let (pieces, _) = split(&bytes, &cuts);
        prop_assert_eq!(&pieces, &whole);
        for line in &whole {
            if let Line::Text(text) = line {
                prop_assert!(!text.contains(&b'\n'));
                prop_assert!(text.iter().any(|b| !b.is_ascii_whitespace()), "blank lines are skipped");
            }
        }
    }

    /// An Ollama chat stream with malformed lines and an over-long line among its objects: the
    /// same tokens, server figures and malformed count however it is cut, and tokens = eval_count.
    #[test]
    fn an_ollama_stream_cut_anywhere_meters_the_same(
        texts in proptest::collection::vec("[a-z é\\n\"]{0,6}", 1..30),
        garbage_at in proptest::collection::vec(any::<usize>(), 0..3),
        long_line in any::<bool>(),
        crlf in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..60),
    ) {
        let mut lines: Vec<String> = texts.iter().map(|t| chat_line(t)).collect();
        let tokens = texts.iter().filter(|t| !t.is_empty()).count() as u64;
        for at in &garbage_at {
            lines.insert(at % (lines.len() + 1), "{\"message\": {\"content\": \"cut\n".to_owned());
        }
        let mut stream = lines.concat();
        if long_line {
            stream.push_str(&"x".repeat(MAX_LINE_BYTES + 10));
            stream.push('\n');
        }
        stream.push_str(&done_line(tokens));
        if crlf {
            stream = stream.replace('\n', "\r\n");
        }
        let whole = meter(stream.as_bytes(), &[]);
        let cut = meter(stream.as_bytes(), &cuts);
        prop_assert!(cut.metered);
        prop_assert_eq!(cut.content_events, tokens);
        prop_assert_eq!(cut.completion_tokens, Some(tokens));
        prop_assert_eq!(cut.malformed_lines, garbage_at.len() as u64 + u64::from(long_line));
        prop_assert_eq!(&cut.server_reported, &whole.server_reported);
        prop_assert_eq!(cut.server_reported.ollama.as_ref().and_then(|o| o.eval_count), Some(tokens));
        prop_assert_eq!(cut.prompt_tokens, Some(26));
        prop_assert_eq!(
            (whole.content_events, whole.completion_tokens, whole.malformed_lines),
            (cut.content_events, cut.completion_tokens, cut.malformed_lines)
        );
    }
}

/// An endless line (no LF ever) arriving in small pieces: held at most MAX_LINE_BYTES, reported
/// once, and the meter keeps what it counted before.
#[test]
fn an_endless_line_is_bounded_and_counted_once() {
    let t0 = Instant::now();
    let mut meter = ResponseMeter::new(Endpoint::OllamaGenerate, 200, Some("application/x-ndjson"), t0);
    meter.observe(b"{\"model\":\"m\",\"response\":\"Hi\",\"done\":false}\n", t0);
    let mut parser = NdjsonParser::new();
    let mut too_long = 0;
    let piece = vec![b'{'; 4096];
    for _ in 0..(3 * MAX_LINE_BYTES / piece.len()) {
        meter.observe(&piece, t0);
        parser.feed(&piece, |line| too_long += u32::from(line == NdjsonLine::TooLong));
        assert!(parser.buffered() <= MAX_LINE_BYTES);
    }
    assert_eq!(too_long, 1);
    let record = meter.finish("m".into(), Outcome::UpstreamFailed, t0, 0);
    assert!(record.metered);
    assert_eq!((record.content_events, record.malformed_lines), (1, 1));
}
