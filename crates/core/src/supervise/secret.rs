//! Secret values (the Hugging Face token): passed to a child's environment, never shown.

use std::fmt;

/// A value that never appears in `Debug`, logs or serialized output (it implements neither
/// `Display` nor `Serialize`); only [`Secret::expose`] reads it, at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    #[error("running `security` to read the keychain item {service:?}: {source}")]
    Run { service: String, source: std::io::Error },
    #[error("the keychain refused to read {service:?} (security exit status {status}); allow Clusterbar access in Keychain Access")]
    Refused { service: String, status: i32 },
}

/// What `security find-generic-password -w` printed: the password and one newline. Empty output
/// means an empty item, which is no token at all.
pub fn parse_security_password(stdout: &[u8]) -> Option<Secret> {
    let text = String::from_utf8_lossy(stdout);
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    (!value.is_empty()).then(|| Secret::new(value))
}

/// Reads a generic password from the login keychain (`security find-generic-password -s
/// <service> -w`). A missing item is `Ok(None)`, a normal state. Other systems have no
/// keychain: `Ok(None)`.
pub fn keychain_secret(service: &str) -> Result<Option<Secret>, KeychainError> {
    #[cfg(target_os = "macos")]
    {
        let output = std::process::Command::new("/usr/bin/security")
            .args(["find-generic-password", "-s", service, "-w"])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| KeychainError::Run {
                service: service.to_owned(),
                source,
            })?;
        // 44 = errSecItemNotFound: no such item.
        match output.status.code() {
            Some(0) => Ok(parse_security_password(&output.stdout)),
            Some(44) => Ok(None),
            status => Err(KeychainError::Refused {
                service: service.to_owned(),
                status: status.unwrap_or(-1),
            }),
        }
    }
    #[cfg(not(target_os = "macos"))]
    {
        let _ = service;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hf_abcdef123");
        assert!(!format!("{secret:?}").contains("hf_abc"));
        assert_eq!(secret.expose(), "hf_abcdef123");
    }

    #[test]
    fn parses_security_output() {
        assert_eq!(parse_security_password(b"hf_x\n").unwrap().expose(), "hf_x");
        assert_eq!(parse_security_password(b"hf_x\r\n").unwrap().expose(), "hf_x");
        assert!(parse_security_password(b"").is_none());
        assert!(parse_security_password(b"\n").is_none());
        assert_eq!(parse_security_password(b"a\xffb").unwrap().expose(), "a\u{fffd}b");
    }
}
