//! Incremental Server-Sent Events parser (WHATWG HTML §9.2.6), fed the bytes of a response as they arrive.
//!
//! Unlike an ordinary SSE client it keeps `:` comment lines, because exo reports its own figures in them
//! (`: generation_stats {...}`). Lines may end in CRLF, LF or CR, and any line may be split across chunks. A UTF-8
//! byte order mark opening the stream is dropped, as the spec's decoder does.

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event: the `event:` name (if any) and its `data:` lines joined with `\n`.
    Event { event: Option<String>, data: String },
    /// A comment line, without the leading `:` (and without one following space).
    Comment(String),
}

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// A line longer than this is not SSE we can meter (1 MiB; a token delta is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an SSE line exceeded {MAX_LINE_BYTES} bytes")]
    LineTooLong,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF starting the next chunk belongs to the same line end.
    pending_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    failed: bool,
    /// The stream's first bytes have been checked for a BOM.
    started: bool,
    /// How many bytes of a BOM the stream has opened with so far (it may be split across chunks).
    bom_matched: usize,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes and appends every item they complete to `out`. After an error the parser stays failed
    /// and ignores further input (the stream is then forwarded unmetered).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if self.failed {
            return Err(SseError::LineTooLong);
        }
        let mut rest = bytes;
        if !self.started {
            // Without this, a BOM glued to the first `data:` made it an unknown field: 0 tokens.
            while self.bom_matched < BOM.len() {
                match rest.first() {
                    None => return Ok(()),
                    Some(&b) if b == BOM[self.bom_matched] => {
                        self.bom_matched += 1;
                        rest = &rest[1..];
                    }
                    Some(_) => {
                        // Not a BOM after all: the bytes held back are the line's start.
                        self.line.extend_from_slice(&BOM[..self.bom_matched]);
                        break;
                    }
                }
            }
            self.started = true;
        }
        // Only once a byte follows: an empty chunk between CR and LF must not split the line end
        // in two (an extra blank line dispatched an event early; found by the fault suite).
        if self.pending_cr && !rest.is_empty() {
            self.pending_cr = false;
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
        }
        while !rest.is_empty() {
            match memchr::memchr2(b'\n', b'\r', rest) {
                Some(end) => {
                    let (whole_line, terminator) = (&rest[..end], rest[end]);
                    rest = &rest[end + 1..];
                    if terminator == b'\r' {
                        match rest.first() {
                            Some(b'\n') => rest = &rest[1..],
                            Some(_) => {}
                            None => self.pending_cr = true,
                        }
                    }
                    if self.line.is_empty() {
                        // The usual case: the whole line is in this chunk; read it in place.
                        if whole_line.len() > MAX_LINE_BYTES {
                            return self.fail();
                        }
                        self.process_line(whole_line, out);
                    } else {
                        self.line.extend_from_slice(whole_line);
                        if self.line.len() > MAX_LINE_BYTES {
                            return self.fail();
                        }
                        // Taken and given back, so its capacity serves the next split line.
                        let mut line = std::mem::take(&mut self.line);
                        self.process_line(&line, out);
                        line.clear();
                        self.line = line;
                    }
                }
                None => {
                    self.line.extend_from_slice(rest);
                    if self.line.len() > MAX_LINE_BYTES {
                        return self.fail();
                    }
                    break;
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self) -> Result<(), SseError> {
        self.failed = true;
        self.line = Vec::new();
        self.data = String::new();
        Err(SseError::LineTooLong)
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseItem>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseItem::Event {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.has_data = false;
            self.event = None;
            return;
        }
        let text = String::from_utf8_lossy(line);
        if let Some(comment) = text.strip_prefix(':') {
            out.push(SseItem::Comment(
                comment.strip_prefix(' ').unwrap_or(comment).to_string(),
            ));
            return;
        }
        let (field, value) = match text.find(':') {
            Some(colon) => {
                let value = &text[colon + 1..];
                (&text[..colon], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&*text, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {} // `id:`, `retry:` and unknown fields do not matter for metering
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(pieces: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in pieces {
            parser.feed(piece, &mut out).unwrap();
        }
        out
    }

    fn data(s: &str) -> SseItem {
        SseItem::Event {
            event: None,
            data: s.to_string(),
        }
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_is_one_line_end() {
        let whole: &[u8] = b"data: x\r\n";
        assert_eq!(parse_in_pieces(&[whole]), vec![]);
        assert_eq!(parse_in_pieces(&[b"data: x\r", b"", b"\n"]), vec![]);
        assert_eq!(parse_in_pieces(&[b"data: x\r", b"", b"\n\n"]), vec![data("x")]);
    }

    #[test]
    fn event_split_mid_line_and_mid_terminator() {
        let whole = b"data: {\"a\":1}\r\n\r\ndata: two\n\n";
        let expected = vec![data("{\"a\":1}"), data("two")];
        // Every possible split point, including between CR and LF.
        for split in 0..=whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(parse_in_pieces(&[a, b]), expected, "split at {split}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(parse_in_pieces(&bytes), expected);
    }

    /// Issue #11: a stream opening with a UTF-8 BOM was metered as 0 tokens.
    #[test]
    fn a_leading_bom_is_dropped_even_when_split() {
        let whole = b"\xEF\xBB\xBFdata: x\n\ndata: y\n\n";
        for split in 0..=whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(parse_in_pieces(&[a, b]), vec![data("x"), data("y")], "split at {split}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(parse_in_pieces(&bytes), vec![data("x"), data("y")]);
        // Only a leading BOM: one later on, or the start of one that is not, is content.
        assert_eq!(
            parse_in_pieces(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]),
            vec![data("a")]
        );
        assert_eq!(
            parse_in_pieces(&[b"\xEF", b"\xBBdata: a\n\n"]).len(),
            0,
            "EF BB without BF is not a BOM"
        );
        assert_eq!(parse_in_pieces(&[b"\xEF\xBB\xBF", b"\xEF\xBB\xBFdata: a\n\n"]), vec![]);
    }

    #[test]
    fn bare_cr_line_endings() {
        assert_eq!(
            parse_in_pieces(&[b"data: x\r\rdata: y\r", b"\r"]),
            vec![data("x"), data("y")]
        );
    }

    #[test]
    fn multi_line_data_and_event_names() {
        let out = parse_in_pieces(&[b"event: content_block_delta\ndata: line1\ndata:line2\n\n"]);
        assert_eq!(
            out,
            vec![SseItem::Event {
                event: Some("content_block_delta".into()),
                data: "line1\nline2".into()
            }]
        );
    }

    #[test]
    fn comments_are_kept_and_do_not_dispatch() {
        let out = parse_in_pieces(&[b": generation_stats {\"generation_tps\":1.5}\n\n:ping\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            out,
            vec![
                SseItem::Comment("generation_stats {\"generation_tps\":1.5}".into()),
                SseItem::Comment("ping".into()),
                data("[DONE]")
            ]
        );
    }

    #[test]
    fn unterminated_event_is_not_dispatched() {
        assert_eq!(parse_in_pieces(&[b"data: half"]), vec![]);
    }

    #[test]
    fn non_utf8_does_not_panic() {
        let out = parse_in_pieces(&[b"data: \xff\xfe\n\n"]);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn overlong_line_fails_and_stays_failed() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        assert_eq!(parser.feed(&big, &mut out), Err(SseError::LineTooLong));
        assert_eq!(parser.feed(b"data: x\n\n", &mut out), Err(SseError::LineTooLong));
        assert!(out.is_empty());
    }
}
