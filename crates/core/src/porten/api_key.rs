//! The optional Porten API key (`sk-porten-…`, sent as `Authorization: Bearer …`). Porten's API
//! reference documents it as what the Hub API (`https://porten.ai/v1`) authenticates with, and
//! the catalog (`GET /v1/models`) is part of that API: without a key there is no catalog check.
//!
//! Looked up in this order, the first one set wins:
//! 1. the environment variable `PORTEN_API_KEY` (the CLI, a headless head node);
//! 2. on macOS, the login Keychain's generic password named by the setting
//!    `porten_api_key_keychain_item` (default [`DEFAULT_KEYCHAIN_ITEM`]);
//! 3. the key file (setting `porten_api_key_file`, default `porten-api-key` in the config
//!    directory), for machines without a keychain; it must be readable by its owner only.
//!
//! The key is a [`Secret`]: not in `Debug`, logs, the Snapshot or a report bundle. Only where it
//! came from ([`KeySource`]) is ever shown.

pub use clusterbar_model::porten::KeySource;
use std::path::{Path, PathBuf};

use crate::settings::Settings;
use crate::supervise::secret::{keychain_secret, KeychainError};
use crate::supervise::Secret;

pub const API_KEY_ENV: &str = "PORTEN_API_KEY";
pub use crate::settings::DEFAULT_KEYCHAIN_ITEM;
/// The key file's name in the config directory.
pub const KEY_FILE_NAME: &str = "porten-api-key";
/// A key is a few dozen characters; anything much longer is not one.
const MAX_KEY_BYTES: usize = 512;

/// The key and its origin. `Debug` shows the origin only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub secret: Secret,
    pub source: KeySource,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Keychain(#[from] KeychainError),
    #[error("the Porten API key {} is not usable: {reason}", .from.describe())]
    Malformed { from: KeySource, reason: &'static str },
    #[error("the key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// The Keychain would not take the key (macOS `security add-generic-password`).
    #[error("the Keychain did not store the key: {0}")]
    KeychainStore(String),
}

/// Checks the characters of a key, which goes into an HTTP header: visible ASCII only, so a
/// pasted line break can never start another header.
pub fn validate(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("it is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return Err("it is longer than 512 characters");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it holds spaces, line breaks or non-ASCII characters");
    }
    Ok(())
}

fn checked(value: &str, source: KeySource) -> Result<Option<ApiKey>, ApiKeyError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    validate(value).map_err(|reason| ApiKeyError::Malformed { from: source, reason })?;
    Ok(Some(ApiKey {
        secret: Secret::new(value),
        source,
    }))
}

/// The lookup order over already-read sources (see the module docs); the keychain and the file
/// are only read when nothing before them is set.
pub fn lookup_from(
    env: Option<String>,
    keychain: impl FnOnce() -> Result<Option<Secret>, KeychainError>,
    file: impl FnOnce() -> Result<Option<String>, ApiKeyError>,
) -> Result<Option<ApiKey>, ApiKeyError> {
    if let Some(key) = env
        .as_deref()
        .map(|v| checked(v, KeySource::Environment))
        .transpose()?
        .flatten()
    {
        return Ok(Some(key));
    }
    if let Some(secret) = keychain()? {
        if let Some(key) = checked(secret.expose(), KeySource::Keychain)? {
            return Ok(Some(key));
        }
    }
    match file()? {
        Some(text) => checked(&text, KeySource::File),
        None => Ok(None),
    }
}

/// The key file: the setting, else `porten-api-key` in the config directory.
pub fn key_file(settings: &Settings) -> PathBuf {
    settings
        .porten_api_key_file
        .clone()
        .unwrap_or_else(|| crate::paths::config_dir().join(KEY_FILE_NAME))
}

/// Reads the key file: absent is `None`; a file others can read is refused (as ssh refuses
/// such a private key), so a key copied there carelessly is noticed rather than used.
pub fn read_key_file(path: &Path) -> Result<Option<String>, ApiKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let error = |reason: String| ApiKeyError::File {
        path: path.to_owned(),
        reason,
    };
    let file = match crate::files::open_regular(path) {
        Ok(file) => file,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(error(e.to_string())),
    };
    let mode = file.metadata().map_err(|e| error(e.to_string()))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(error(format!(
            "others can read it (mode {:o}); run chmod 600 on it",
            mode & 0o777
        )));
    }
    let bytes = crate::files::read_regular(path, MAX_KEY_BYTES as u64 + 2).map_err(|e| error(e.to_string()))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Writes the key file readable by its owner only (created 0600, then renamed into place).
pub fn write_key_file(path: &Path, key: &str) -> Result<(), ApiKeyError> {
    use std::io::Write;
    validate(key).map_err(|reason| ApiKeyError::Malformed {
        from: KeySource::File,
        reason,
    })?;
    let error = |e: std::io::Error| ApiKeyError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(error)?;
    // NamedTempFile creates the file with mode 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    tmp.write_all(key.as_bytes()).map_err(error)?;
    tmp.write_all(b"\n").map_err(error)?;
    tmp.as_file().sync_all().map_err(error)?;
    tmp.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}

/// The key as Settings and the environment give it (see the module docs).
pub fn lookup(settings: &Settings) -> Result<Option<ApiKey>, ApiKeyError> {
    lookup_from(
        std::env::var(API_KEY_ENV).ok(),
        || keychain_secret(&settings.porten_api_key_keychain_item),
        || read_key_file(&key_file(settings)),
    )
}

/// What `security -i` reads to store the key in the login Keychain (`-U` updates an existing
/// item). Fed on stdin, so the key never appears in a process list as an argument would.
/// Only names and keys that need no quoting are accepted.
pub fn keychain_store_command(item: &str, account: &str, key: &str) -> Result<String, &'static str> {
    validate(key)?;
    if key.contains(['"', '\\']) {
        return Err("the key holds a quote or a backslash");
    }
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || " ._-@".contains(c));
    if !plain(item) || !plain(account) {
        return Err("the Keychain item and account names may hold only letters, digits, spaces and . _ - @");
    }
    Ok(format!(
        "add-generic-password -U -s \"{item}\" -a \"{account}\" -w \"{key}\"\n"
    ))
}

/// Stores the key: the Keychain on macOS, the key file elsewhere. Returns where it went.
pub fn store(settings: &Settings, key: &str) -> Result<KeySource, ApiKeyError> {
    let key = key.trim();
    #[cfg(target_os = "macos")]
    {
        use std::io::Write;
        let account = std::env::var("USER").unwrap_or_else(|_| "clusterbar".to_owned());
        let command = keychain_store_command(&settings.porten_api_key_keychain_item, &account, key)
            .map_err(|reason| ApiKeyError::KeychainStore(reason.to_owned()))?;
        let mut child = std::process::Command::new("/usr/bin/security")
            .arg("-i")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| ApiKeyError::KeychainStore(format!("running security: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(command.as_bytes())
                .map_err(|e| ApiKeyError::KeychainStore(format!("talking to security: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| ApiKeyError::KeychainStore(format!("waiting for security: {e}")))?;
        let said = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || !said.trim().is_empty() {
            return Err(ApiKeyError::KeychainStore(said.trim().to_owned()));
        }
        Ok(KeySource::Keychain)
    }
    #[cfg(not(target_os = "macos"))]
    {
        write_key_file(&key_file(settings), key)?;
        Ok(KeySource::File)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_keychain() -> Result<Option<Secret>, KeychainError> {
        Ok(None)
    }

    #[test]
    fn the_environment_wins_then_the_keychain_then_the_file() {
        let key = lookup_from(
            Some("sk-porten-env".into()),
            || panic!("the keychain is not asked when the environment has a key"),
            || panic!("nor the file"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (key.secret.expose(), key.source),
            ("sk-porten-env", KeySource::Environment)
        );

        let key = lookup_from(
            Some("  ".into()),
            || Ok(Some(Secret::new("sk-porten-kc"))),
            || panic!("the file is not read"),
        )
        .unwrap()
        .unwrap();
        assert_eq!((key.secret.expose(), key.source), ("sk-porten-kc", KeySource::Keychain));

        let key = lookup_from(None, no_keychain, || Ok(Some("sk-porten-file\n".into())))
            .unwrap()
            .unwrap();
        assert_eq!((key.secret.expose(), key.source), ("sk-porten-file", KeySource::File));

        assert!(lookup_from(None, no_keychain, || Ok(None)).unwrap().is_none());
    }

    #[test]
    fn a_key_that_could_break_a_header_is_refused() {
        for bad in ["sk-porten-a\r\nX-Evil: 1", "sk porten", "sk-porten-ä", &"k".repeat(600)] {
            let error = lookup_from(Some(bad.into()), no_keychain, || Ok(None)).unwrap_err();
            assert!(error.to_string().contains("PORTEN_API_KEY"), "{error}");
            assert!(
                !error.to_string().contains("sk-porten"),
                "the key is not repeated: {error}"
            );
        }
    }

    #[test]
    fn debug_shows_the_source_never_the_key() {
        let key = ApiKey {
            secret: Secret::new("sk-porten-topsecret"),
            source: KeySource::Keychain,
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("Keychain"), "{shown}");
    }

    #[test]
    fn the_key_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        assert_eq!(read_key_file(&path).unwrap(), None);
        write_key_file(&path, "sk-porten-abc").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_key_file(&path).unwrap().unwrap().trim(), "sk-porten-abc");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_key_file(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        assert!(write_key_file(&path, "two words").is_err());
    }

    #[test]
    fn the_keychain_command_keeps_to_plain_names() {
        assert_eq!(
            keychain_store_command("Clusterbar Porten API key", "ana", "sk-porten-1").unwrap(),
            "add-generic-password -U -s \"Clusterbar Porten API key\" -a \"ana\" -w \"sk-porten-1\"\n"
        );
        assert!(keychain_store_command("a\"b", "ana", "sk").is_err());
        assert!(keychain_store_command("item", "ana", "sk\"; delete-keychain").is_err());
        assert!(keychain_store_command("item", "ana", "sk-1\n").is_err());
        assert!(keychain_store_command("item", "ana", "sk\"-1").is_err());
    }
}
