//! A size-rotated log file for a supervised program's output: `name.log`, then `name.log.1`,
//! `name.log.2` … (oldest last), so the UI can show the last lines and the disk never fills.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How big the log may grow: `max_bytes` per file, `files` files in all (the live one included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub files: u32,
}

impl LogConfig {
    /// 5 MiB × 3 files.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_bytes: 5 * 1024 * 1024,
            files: 3,
        }
    }
}

pub struct RotatingLog {
    config: LogConfig,
    file: Option<File>,
    size: u64,
}

impl RotatingLog {
    /// Opens (appending to) the live file, creating its directory. Failing to write the log never
    /// stops the program it records, so errors are only reported through `tracing`.
    pub fn open(config: LogConfig) -> Self {
        let mut log = Self {
            config,
            file: None,
            size: 0,
        };
        log.reopen();
        log
    }

    pub fn path(&self) -> &Path {
        &self.config.path
    }

    fn reopen(&mut self) {
        if let Some(dir) = self.config.path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create the log directory");
            }
        }
        match OpenOptions::new().create(true).append(true).open(&self.config.path) {
            Ok(file) => {
                self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(file);
            }
            Err(e) => {
                tracing::warn!(path = %self.config.path.display(), error = %e, "cannot open the log file");
                self.file = None;
                self.size = 0;
            }
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        rotated_path(&self.config.path, n)
    }

    fn rotate(&mut self) {
        self.file = None;
        let keep = self.config.files.max(1);
        // The oldest falls off the end; a missing file in the chain is normal.
        let _ = std::fs::remove_file(self.rotated(keep - 1));
        for n in (1..keep.saturating_sub(1)).rev() {
            let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
        }
        if keep > 1 {
            let _ = std::fs::rename(&self.config.path, self.rotated(1));
        } else {
            let _ = std::fs::remove_file(&self.config.path);
        }
        self.reopen();
    }

    /// Appends one line (a newline is added), rotating first when it would overflow the file.
    pub fn write_line(&mut self, line: &[u8]) {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.config.max_bytes {
            self.rotate();
        }
        if self.file.is_none() {
            self.reopen();
        }
        if let Some(file) = &mut self.file {
            let mut bytes = Vec::with_capacity(line.len() + 1);
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
            match file.write_all(&bytes) {
                Ok(()) => self.size += len,
                Err(e) => {
                    tracing::warn!(path = %self.config.path.display(), error = %e, "cannot write the log file");
                    self.file = None;
                }
            }
        }
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<String> {
        tail(&self.config, n)
    }
}

fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The last `n` lines across the live file and its rotated predecessors, oldest first. Invalid
/// UTF-8 is replaced, never an error; missing files mean fewer lines.
pub fn tail(config: &LogConfig, n: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for index in 0..config.files.max(1) {
        if lines.len() >= n {
            break;
        }
        let path = if index == 0 {
            config.path.clone()
        } else {
            rotated_path(&config.path, index)
        };
        let mut older = last_lines_of_file(&path, n - lines.len());
        older.append(&mut lines);
        lines = older;
    }
    lines
}

/// Reads backwards from the end in blocks until `n` complete lines are found, so tailing a
/// 5 MiB file reads kilobytes.
fn last_lines_of_file(path: &Path, n: usize) -> Vec<String> {
    const BLOCK: u64 = 16 * 1024;
    if n == 0 {
        return Vec::new();
    }
    // Only a regular file: opening a FIFO put in the log's place would block.
    let Ok(mut file) = crate::files::open_regular(path) else {
        return Vec::new();
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return Vec::new();
    };
    let mut start = len;
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        // Count newlines not counting a final one that ends the last line.
        let body = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let newlines = body.iter().filter(|&&b| b == b'\n').count();
        if newlines >= n || start == 0 {
            break;
        }
        let read_from = start.saturating_sub(BLOCK);
        let mut block = vec![0u8; (start - read_from) as usize];
        if file.seek(SeekFrom::Start(read_from)).is_err() || file.read_exact(&mut block).is_err() {
            break;
        }
        block.extend_from_slice(&buffer);
        buffer = block;
        start = read_from;
    }
    let body = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
    if body.is_empty() {
        return Vec::new();
    }
    let all: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    all[all.len().saturating_sub(n)..]
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, max_bytes: u64, files: u32) -> LogConfig {
        LogConfig {
            path: dir.join("sub/exo.log"),
            max_bytes,
            files,
        }
    }

    #[test]
    fn rotates_at_the_size_limit_and_keeps_only_the_configured_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 100, 3);
        let mut log = RotatingLog::open(cfg.clone());
        for n in 0..40 {
            log.write_line(format!("line {n:02} ........").as_bytes()); // 18 bytes + newline
        }
        // 5 lines (95 bytes) per file; 40 lines = 8 files' worth, 3 kept.
        for n in 0..3 {
            let path = if n == 0 {
                cfg.path.clone()
            } else {
                rotated_path(&cfg.path, n)
            };
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(size <= 100, "{} is {size} bytes", path.display());
        }
        assert!(!rotated_path(&cfg.path, 3).exists());
        let last = tail(&cfg, 12);
        let expected: Vec<String> = (28..40).map(|n| format!("line {n:02} ........")).collect();
        assert_eq!(last, expected);
        // More lines than were kept: only what survived rotation, in order.
        let all = tail(&cfg, 1000);
        assert_eq!(all.len(), 15);
        assert_eq!(all[0], "line 25 ........");
    }

    #[test]
    fn tail_reads_across_blocks_and_replaces_invalid_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 10 * 1024 * 1024, 2);
        let mut log = RotatingLog::open(cfg.clone());
        let long = "y".repeat(40_000);
        log.write_line(long.as_bytes());
        log.write_line(b"bad \xff byte");
        log.write_line(b"last");
        assert_eq!(log.tail(2), vec!["bad \u{fffd} byte".to_owned(), "last".to_owned()]);
        assert_eq!(log.tail(3)[0], long);
        assert_eq!(log.tail(0), Vec::<String>::new());
    }

    #[test]
    fn a_missing_log_has_no_lines_and_a_partial_last_line_counts() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 100, 3);
        assert!(tail(&cfg, 5).is_empty());
        std::fs::create_dir_all(cfg.path.parent().unwrap()).unwrap();
        std::fs::write(&cfg.path, "a\nb\nunterminated").unwrap();
        assert_eq!(tail(&cfg, 2), vec!["b".to_owned(), "unterminated".to_owned()]);
    }

    #[test]
    fn reopening_appends() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 1000, 3);
        RotatingLog::open(cfg.clone()).write_line(b"first run");
        RotatingLog::open(cfg.clone()).write_line(b"second run");
        assert_eq!(tail(&cfg, 5), vec!["first run".to_owned(), "second run".to_owned()]);
    }
}
