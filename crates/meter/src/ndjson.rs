//! Incremental newline-delimited JSON splitter (Ollama's `application/x-ndjson` streams: one JSON
//! object per line), fed a response's bytes as they arrive.
//!
//! It only finds lines: a line that fits in one chunk is handed out in place (no copy); one split
//! across chunks is gathered up to [`MAX_LINE_BYTES`]. A longer line is never buffered: its bytes
//! are dropped until its end and it is reported once as [`NdjsonLine::TooLong`], so memory stays
//! bounded whatever the upstream sends. The proxy forwards the bytes untouched either way; this
//! only reads them. Lines end at LF; a CR before it (and any blank line) is JSON whitespace.

/// A line longer than this is not a token chunk (1 MiB; one is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdjsonLine<'a> {
    /// A complete, non-blank line (without its LF; surrounding whitespace kept).
    Line(&'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`], skipped.
    TooLong,
}

#[derive(Debug, Default)]
pub struct NdjsonParser {
    /// The start of a line split across chunks.
    line: Vec<u8>,
    /// The current line overflowed: its bytes are dropped until the next LF.
    skipping: bool,
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

impl NdjsonParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes and calls `on_line` for every line they complete.
    pub fn feed(&mut self, bytes: &[u8], mut on_line: impl FnMut(NdjsonLine<'_>)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                self.hold(rest, &mut on_line);
                break;
            };
            let piece = &rest[..end];
            rest = &rest[end + 1..];
            if self.skipping {
                self.skipping = false;
                continue;
            }
            if self.line.is_empty() {
                // The usual case: the whole line is in this chunk; read it in place.
                if piece.len() > MAX_LINE_BYTES {
                    on_line(NdjsonLine::TooLong);
                } else if !is_blank(piece) {
                    on_line(NdjsonLine::Line(piece));
                }
                continue;
            }
            if self.line.len() + piece.len() > MAX_LINE_BYTES {
                self.line = Vec::new();
                on_line(NdjsonLine::TooLong);
                continue;
            }
            self.line.extend_from_slice(piece);
            // Taken and given back, so its capacity serves the next split line.
            let mut line = std::mem::take(&mut self.line);
            if !is_blank(&line) {
                on_line(NdjsonLine::Line(&line));
            }
            line.clear();
            self.line = line;
        }
    }

    /// Keeps the start of an unfinished line, or starts skipping it once it is too long.
    fn hold(&mut self, piece: &[u8], on_line: &mut impl FnMut(NdjsonLine<'_>)) {
        if self.skipping {
            return;
        }
        if self.line.len() + piece.len() > MAX_LINE_BYTES {
            self.line = Vec::new();
            self.skipping = true;
            on_line(NdjsonLine::TooLong);
        } else {
            self.line.extend_from_slice(piece);
        }
    }

    /// The stream ended: a last line without its LF is handed out (it may be whole JSON, or the
    /// half of one where the stream was cut).
    pub fn finish(&mut self, mut on_line: impl FnMut(NdjsonLine<'_>)) {
        self.skipping = false;
        let line = std::mem::take(&mut self.line);
        if !is_blank(&line) {
            on_line(NdjsonLine::Line(&line));
        }
    }

    /// Bytes held for an unfinished line (bounded by [`MAX_LINE_BYTES`]).
    pub fn buffered(&self) -> usize {
        self.line.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Line(Vec<u8>),
        TooLong,
    }

    fn parse(pieces: &[&[u8]]) -> Vec<Owned> {
        let mut parser = NdjsonParser::new();
        let mut out = Vec::new();
        let mut push = |line: NdjsonLine<'_>| {
            out.push(match line {
                NdjsonLine::Line(l) => Owned::Line(l.to_vec()),
                NdjsonLine::TooLong => Owned::TooLong,
            })
        };
        for piece in pieces {
            parser.feed(piece, &mut push);
        }
        parser.finish(&mut push);
        out
    }

    fn line(s: &str) -> Owned {
        Owned::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn lines_split_anywhere_read_the_same() {
        let whole = b"{\"a\":1}\r\n\n{\"b\":2}\n  \n{\"c\":3}";
        let expected = vec![line("{\"a\":1}\r"), line("{\"b\":2}"), line("{\"c\":3}")];
        for split in 0..=whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(parse(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(parse(&bytes), expected);
    }

    #[test]
    fn an_endless_line_is_reported_once_and_memory_stays_bounded() {
        let mut parser = NdjsonParser::new();
        let mut too_long = 0;
        let mut lines = Vec::new();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..40 {
            parser.feed(&chunk, |l| match l {
                NdjsonLine::TooLong => too_long += 1,
                NdjsonLine::Line(l) => lines.push(l.to_vec()),
            });
            assert!(parser.buffered() <= MAX_LINE_BYTES);
        }
        assert_eq!(too_long, 1);
        assert_eq!(parser.buffered(), 0, "an overflowed line is dropped, not kept");
        // The next line after it reads normally.
        parser.feed(b"tail of it\n{\"ok\":1}\n", |l| match l {
            NdjsonLine::TooLong => too_long += 1,
            NdjsonLine::Line(l) => lines.push(l.to_vec()),
        });
        assert_eq!((too_long, lines), (1, vec![b"{\"ok\":1}".to_vec()]));
        // A whole overlong line inside one chunk too.
        let mut big = vec![b'y'; MAX_LINE_BYTES + 1];
        big.extend_from_slice(b"\n{}\n");
        assert_eq!(parse(&[&big]), vec![Owned::TooLong, line("{}")]);
    }
}
