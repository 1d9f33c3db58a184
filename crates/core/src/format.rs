//! Human formatting shared by the CLI (the UI has the same rules in TypeScript).

use std::borrow::Cow;

/// Memory sizes in binary units labelled "GB", as macOS's own memory figures are
/// (a 64 GiB Mac shows "64 GB" in About This Mac and Activity Monitor).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Sums byte figures without wrapping: figures come from other machines and may be absurd, and
/// a wrapped total would show a pool smaller than one of its boxes.
pub fn saturating_sum(figures: impl IntoIterator<Item = u64>) -> u64 {
    figures.into_iter().fold(0, u64::saturating_add)
}

/// Whether a character must not reach a terminal as is: control characters (C0 incl. TAB, LF,
/// CR and ESC; DEL; C1 incl. the 8-bit CSI) and the Unicode characters that reorder or break
/// what is shown (bidi embeddings, overrides, isolates and marks; line and paragraph separators).
fn unsafe_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Text from other machines (exo's node names and model ids, Porten's and the Hub's words, sensor
/// and tool output) made safe to print: each unsafe character becomes a visible `\u{1b}` escape,
/// so a name can neither forge a line, move the cursor, nor reverse the text after it. For text
/// renderers only; JSON output is left exact (serde escapes control characters itself).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_on_terminal(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_escapes_control_and_bidi_characters() {
        assert!(matches!(
            printable("studio-1 · M3 Ultra ✓"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\r\ny\tz"), "x\\u{d}\\u{a}y\\u{9}z");
        assert_eq!(printable("del\u{7f} csi\u{9b}"), "del\\u{7f} csi\\u{9b}");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("\u{2066}i\u{2069}\u{200f}"), "\\u{2066}i\\u{2069}\\u{200f}");
        assert_eq!(printable("line\u{2028}sep"), "line\\u{2028}sep");
    }

    #[test]
    fn formats_like_macos() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(64 * 1024 * 1024 * 1024), "64.0 GB");
        assert_eq!(super::bytes(24_684_092 * 1024), "23.5 GB");
        assert_eq!(super::bytes(1536), "1.5 KB");
    }
}
