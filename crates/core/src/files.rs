//! Reading files that someone else may have put in our way: a settings file, a pid file, a report
//! bundle from another machine. Only regular files are read (a FIFO would block forever, a device
//! such as `/dev/zero` would never end), and never more than a stated size.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Settings are a few hundred bytes; anything near this is not ours.
pub const SETTINGS_MAX_BYTES: u64 = 1 << 20;
/// Our pid/state files hold a pid record and a give-up reason with a few log lines.
pub const PID_FILE_MAX_BYTES: u64 = 1 << 20;
/// The most one file of a report bundle may hold. `clusterbar report` refuses to save more and
/// `clusterbar doctor` to read more; exo's `/state` is read up to the same figure
/// (`exo::client::MAX_BODY_BYTES`), so what `report` fetched is what `doctor` can read.
pub const BUNDLE_FILE_MAX_BYTES: u64 = 32 << 20;
/// The most a whole bundle may hold, all files together.
pub const BUNDLE_MAX_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a regular file but {kind}; refusing to read it")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is larger than {max_bytes} bytes; refusing to read it")]
    TooLarge { path: PathBuf, max_bytes: u64 },
}

impl ReadFileError {
    /// Whether the file simply does not exist (often a normal state, not a problem).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadFileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file. O_NONBLOCK makes opening a FIFO return at
/// once instead of waiting for a writer; the type is then checked on the opened file itself, so
/// nothing can swap the file between the check and the read.
pub fn open_regular(path: &Path) -> Result<File, ReadFileError> {
    let io = |source| ReadFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadFileError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// The whole of a regular file of at most `max_bytes` bytes (see [`open_regular`]). The size is
/// checked before reading and enforced while reading, for files that grow or lie about it.
pub fn read_regular(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadFileError> {
    let file = open_regular(path)?;
    let too_large = || ReadFileError::TooLarge {
        path: path.to_owned(),
        max_bytes,
    };
    let len = file
        .metadata()
        .map_err(|source| ReadFileError::Io {
            path: path.to_owned(),
            source,
        })?
        .len();
    if len > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadFileError::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

/// How many unreadable files are kept: `settings.json.bad` and `.bad.1` … `.bad.4` (history likewise).
pub const KEPT_BAD_FILES: u32 = 5;

/// Makes room for a new set-aside copy at `bad` (`settings.json.bad`, `history.db.bad`): earlier
/// ones move up to `<bad>.1` … `<bad>.<keep-1>` and the oldest beyond that is dropped, so repeated
/// corruption keeps a few recent copies without filling the disk. Returns `bad`, now free.
pub fn make_room_for_bad_file(bad: &Path, keep: u32) -> PathBuf {
    let numbered = |n: u32| {
        let mut name = bad.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    for n in (1..keep).rev() {
        let from = if n == 1 { bad.to_owned() } else { numbered(n - 1) };
        if let Err(e) = std::fs::rename(&from, numbered(n)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %from.display(), error = %e, "cannot keep an older set-aside file");
            }
        }
    }
    bad.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn reads_regular_files_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&path, 4),
            Err(ReadFileError::TooLarge { max_bytes: 4, .. })
        ));
        let missing = read_regular(&dir.path().join("none"), 5).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        mkfifo(&path);
        let started = Instant::now();
        let error = read_regular(&path, SETTINGS_MAX_BYTES).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            matches!(error, ReadFileError::NotRegular { kind: "a FIFO", .. }),
            "{error}"
        );
        assert!(!error.is_not_found());
    }

    #[test]
    fn refuses_endless_devices_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("snapshot.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let error = read_regular(&link, BUNDLE_FILE_MAX_BYTES).unwrap_err();
        assert!(
            matches!(
                error,
                ReadFileError::NotRegular {
                    kind: "a character device",
                    ..
                }
            ),
            "{error}"
        );
        assert!(matches!(
            read_regular(dir.path(), 10),
            Err(ReadFileError::NotRegular {
                kind: "a directory",
                ..
            }) | Err(ReadFileError::Io { .. })
        ));
    }

    #[test]
    fn a_file_that_reports_no_size_is_still_capped() {
        // /proc files say they are empty and then produce text.
        let path = Path::new("/proc/self/status");
        if path.exists() {
            assert!(matches!(read_regular(path, 16), Err(ReadFileError::TooLarge { .. })));
            assert!(!read_regular(path, 1 << 20).unwrap().is_empty());
        }
    }
}
