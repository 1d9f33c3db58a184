//! Human formatting shared by the CLI (the UI has the same rules in TypeScript).

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

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_macos() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(64 * 1024 * 1024 * 1024), "64.0 GB");
        assert_eq!(super::bytes(24_684_092 * 1024), "23.5 GB");
        assert_eq!(super::bytes(1536), "1.5 KB");
    }
}
