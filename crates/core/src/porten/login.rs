//! `porten login`: run it, find the sign-in URL and the short code in its output (whatever the
//! wording, order or colours), open the URL in the browser only when it is on the Hub's host,
//! and wait for the user to approve (or deny, or let it expire).
//!
//! The pure parts ([`scan_line`], [`check_login_url`], [`classify_end`]) are separate from the
//! driver ([`login`]) so they can be tested over many wordings.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::supervise::group::{self, StopGraces, Target};
use crate::supervise::Env;

/// The environment variable that replaces the browser opener (a program called with the URL as
/// its only argument); tests use it to record what would have been opened.
pub const OPENER_ENV: &str = "CLUSTERBAR_OPENER";

/// The URL and the code found so far in the login output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPrompt {
    pub url: Option<String>,
    pub code: Option<String>,
    /// How the code was found: a surer way replaces a code found a weaker way.
    #[serde(skip)]
    pub code_found: CodeFound,
}

/// How sure a code is, weakest first. Porten does not document what `porten login` prints,
/// so every line is read for both the URL and the code, in any order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum CodeFound {
    #[default]
    Not,
    /// A dashed upper-case token somewhere on a line ("confirm the words KQ7M-R2XD").
    Token,
    /// A query parameter of the URL (`?user_code=…`).
    InUrl,
    /// A line holding only the code.
    Alone,
    /// Next to a word that names it ("code: …", "… is your code").
    Named,
}

/// A sign-in link is a few hundred bytes; a longer one is not opened (nor echoed whole).
pub const MAX_LOGIN_URL_BYTES: usize = 8 * 1024;

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    // CSI sequences (colours, cursor moves) and OSC sequences (hyperlinks, titles).
    Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]").expect("static regex")
});
static URL: LazyLock<Regex> = LazyLock::new(|| {
    // Anything URL-like, including schemes that are refused later (so they can be reported).
    Regex::new(r#"(?i)\b(?:[a-z][a-z0-9+.\-]*://|javascript:|data:|file:|vbscript:)[^\s"'<>`]+"#).expect("static regex")
});
static CODE_AFTER_WORD: LazyLock<Regex> = LazyLock::new(|| {
    // "code: ABCD-1234", "code is WDJB-MJHT", "user code = K7Q2X9", "Code «AB12-CD34»",
    // "confirm the words KQ7M-R2XD", "phrase: …", "PIN 4821-7730".
    Regex::new(r#"(?i:\b(?:code|words?|phrase|pin)\b)[^A-Za-z0-9\n]{0,6}(?:(?i:is)\b[^A-Za-z0-9\n]{0,4})?([A-Z0-9]{4,}(?:-[A-Z0-9]{2,})*)\b"#)
        .expect("static regex")
});
static CODE_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    // A dashed code anywhere: "KQ7M-R2XD", `"user_code":"WDJB-MJHT"`. Groups of four or more
    // keep "HTTP-404" or "UTF-8" out.
    Regex::new(r#"(?:^|[^A-Za-z0-9-])([A-Z0-9]{4,}(?:-[A-Z0-9]{4,})+)(?:$|[^A-Za-z0-9-])"#).expect("static regex")
});
static CODE_BEFORE_WORD: LazyLock<Regex> = LazyLock::new(|| {
    // "ABCD-1234 is your code".
    Regex::new(r#"\b([A-Z0-9]{4,}(?:-[A-Z0-9]{2,})+)\b[^A-Za-z0-9\n]{0,4}(?i:is\s+(?:your|the)\b[^\n]{0,20}\bcode\b)"#)
        .expect("static regex")
});
static CODE_ALONE: LazyLock<Regex> = LazyLock::new(|| {
    // A line that is only a code with a dash ("    WDJB-MJHT"), as printed under "Enter this code:".
    Regex::new(r#"^[^A-Za-z0-9]*([A-Z0-9]{3,}(?:-[A-Z0-9]{3,})+)[^A-Za-z0-9]*$"#).expect("static regex")
});

/// Removes terminal escape sequences (colours, hyperlinks) and carriage returns.
pub fn strip_ansi(text: &str) -> String {
    ANSI.replace_all(text, "").replace('\r', "")
}

/// Query parameters that carry the user code inside a verification URL.
const CODE_PARAMS: [&str; 4] = ["user_code", "code", "usercode", "otp"];

/// Reads one line of output into `prompt`: the first URL wins; a code replaces an earlier one
/// only when found a surer way (see [`CodeFound`]).
pub fn scan_line(line: &str, prompt: &mut LoginPrompt) {
    let clean = strip_ansi(line);
    if prompt.url.is_none() {
        if let Some(found) = URL.find(&clean) {
            let url = found
                .as_str()
                .trim_end_matches(['.', ',', ')', ']', '>', ';', ':', '!', '?', '»', '"']);
            prompt.url = Some(url.to_owned());
        }
    }
    if prompt.code_found == CodeFound::Named {
        return;
    }
    // The URL's own text is not searched for a "code" word (a path like /code/ABCD).
    let without_url = URL.replace_all(&clean, " ");
    let capture = |re: &Regex| {
        re.captures(&without_url)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned())
    };
    let found = capture(&CODE_AFTER_WORD)
        .or_else(|| capture(&CODE_BEFORE_WORD))
        .map(|c| (c, CodeFound::Named))
        .or_else(|| capture(&CODE_ALONE).map(|c| (c, CodeFound::Alone)))
        .or_else(|| {
            prompt
                .url
                .as_deref()
                .and_then(code_in_url)
                .map(|c| (c, CodeFound::InUrl))
        })
        .or_else(|| capture(&CODE_TOKEN).map(|c| (c, CodeFound::Token)));
    if let Some((code, how)) = found {
        if how > prompt.code_found {
            prompt.code = Some(code);
            prompt.code_found = how;
        }
    }
}

/// The code carried as a query parameter (`?user_code=ABCD-1234`), if any.
pub fn code_in_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(key, value)| CODE_PARAMS.contains(&key.to_ascii_lowercase().as_str()) && !value.trim().is_empty())
        .map(|(_, value)| value.trim().to_owned())
}

/// Scans whole output (all lines).
pub fn scan_output(text: &str) -> LoginPrompt {
    let mut prompt = LoginPrompt::default();
    for line in text.lines() {
        scan_line(line, &mut prompt);
    }
    prompt
}

/// The Hub's host, from its URL (`wss://porten.ai` → `porten.ai`), lower-case.
/// Why a login URL is not opened (or the Hub's own URL cannot judge it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginUrlError {
    #[error("it is {bytes} bytes long, far longer than a sign-in link (at most {MAX_LOGIN_URL_BYTES} are opened)")]
    TooLong { bytes: usize },
    #[error("the Hub URL {url:?} is not a URL: {reason}")]
    HubNotAUrl { url: String, reason: String },
    #[error("the Hub URL {0:?} must start with wss:// or https://")]
    HubScheme(String),
    #[error("the Hub URL {0:?} has no host")]
    HubNoHost(String),
    #[error("not a valid URL ({0})")]
    NotAUrl(String),
    #[error("it carries a user name before the host (a trick to disguise the real host)")]
    UserInfo,
    #[error("it has no host")]
    NoHost,
    #[error("it is plain http, not https")]
    PlainHttp,
    #[error("its scheme {0:?} is not https")]
    Scheme(String),
    #[error("its host {host} is not the Hub's ({hub}) or a subdomain of it")]
    OffHub { host: String, hub: String },
}

pub fn hub_host(hub_url: &str) -> Result<url::Host<String>, LoginUrlError> {
    let parsed = url::Url::parse(hub_url.trim()).map_err(|e| LoginUrlError::HubNotAUrl {
        url: hub_url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "wss" | "ws" | "https" | "http") {
        return Err(LoginUrlError::HubScheme(hub_url.to_owned()));
    }
    parsed
        .host()
        .map(|h| h.to_owned())
        .ok_or_else(|| LoginUrlError::HubNoHost(hub_url.to_owned()))
}

fn is_loopback(host: &url::Host<String>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether a login URL may be opened: `https` on the Hub's host or a subdomain of it, or plain
/// `http` only when the Hub itself is on loopback (a development Hub). Everything else —
/// other schemes, other hosts, lookalikes (`porten.ai.evil.com`), user-info tricks
/// (`https://porten.ai@evil.com`) — is refused with the reason.
pub fn check_login_url(candidate: &str, hub_url: &str) -> Result<url::Url, LoginUrlError> {
    if candidate.len() > MAX_LOGIN_URL_BYTES {
        return Err(LoginUrlError::TooLong { bytes: candidate.len() });
    }
    let hub = hub_host(hub_url)?;
    let parsed = url::Url::parse(candidate).map_err(|e| LoginUrlError::NotAUrl(e.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(LoginUrlError::UserInfo);
    }
    let host = parsed.host().map(|h| h.to_owned()).ok_or(LoginUrlError::NoHost)?;
    let hub_is_loopback = is_loopback(&hub);
    match parsed.scheme() {
        "https" => {}
        "http" if hub_is_loopback && is_loopback(&host) => {}
        "http" => return Err(LoginUrlError::PlainHttp),
        other => return Err(LoginUrlError::Scheme(other.to_owned())),
    }
    let on_hub = match (&host, &hub) {
        (url::Host::Domain(name), url::Host::Domain(hub_name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let hub_name = hub_name.trim_end_matches('.').to_ascii_lowercase();
            name == hub_name || name.ends_with(&format!(".{hub_name}"))
        }
        _ => host == hub || (hub_is_loopback && is_loopback(&host)),
    };
    if !on_hub {
        return Err(LoginUrlError::OffHub {
            host: host.to_string(),
            hub: hub.to_string(),
        });
    }
    Ok(parsed)
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum LoginResult {
    Success,
    Denied,
    Expired,
    /// Our own limit (the `porten_login_timeout_s` setting) passed; the process was stopped.
    Timeout,
    Cancelled,
    /// It could not start, or ended in a way that says neither approved, denied nor expired.
    Failed(String),
}

impl LoginResult {
    pub fn word(&self) -> &'static str {
        match self {
            LoginResult::Success => "success",
            LoginResult::Denied => "denied",
            LoginResult::Expired => "expired",
            LoginResult::Timeout => "timeout",
            LoginResult::Cancelled => "cancelled",
            LoginResult::Failed(_) => "failed",
        }
    }
}

/// What the process's exit and its output say about the login. Output wins over the exit code
/// for denied/expired (an agent may exit 0 after printing "denied").
pub fn classify_end(exit_code: Option<i32>, output: &str, exit_text: &str) -> LoginResult {
    let lower = strip_ansi(output).to_ascii_lowercase();
    let said = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if said(&["denied", "rejected", "declined", "not approved", "access_denied"]) {
        LoginResult::Denied
    } else if said(&["expired", "timed out"]) {
        // Past tense only: a prompt saying the code "expires in 15 minutes" (or a JSON
        // `expires_in`) is no expiry.
        LoginResult::Expired
    } else if exit_code == Some(0) {
        LoginResult::Success
    } else {
        let clean = strip_ansi(output);
        match clean.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
            Some(last) => LoginResult::Failed(format!("porten login ended with {exit_text}: {last}")),
            None => LoginResult::Failed(format!("porten login ended with {exit_text}")),
        }
    }
}

/// Progress of a login, for the app to show step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum LoginEvent {
    /// The URL and/or the code were found (sent again when the second one shows up).
    Prompt {
        url: Option<String>,
        code: Option<String>,
    },
    /// The URL is not the Hub's: not opened; show it as suspicious.
    SuspiciousUrl {
        url: String,
        reason: String,
    },
    BrowserOpened {
        url: String,
    },
    BrowserFailed {
        url: String,
        reason: String,
    },
    Finished {
        result: LoginResult,
    },
}

/// What `clusterbar porten login --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginOutcome {
    pub url: Option<String>,
    pub code: Option<String>,
    pub opened: bool,
    pub result: LoginResult,
    /// Set when the URL was refused (see [`check_login_url`]).
    pub suspicious: Option<String>,
    /// Why the URL was not opened: refused, `--no-browser`, or the opener failed.
    #[serde(default)]
    pub not_opened: Option<String>,
}

/// A URL shortened for a terminal line when it is absurdly long (the whole of it stays in
/// `--json`): its start and its length.
pub fn shown_url(url: &str) -> std::borrow::Cow<'_, str> {
    if url.len() <= MAX_LOGIN_URL_BYTES {
        return url.into();
    }
    let start: String = url.chars().take(120).collect();
    format!("{start}… ({} bytes)", url.len()).into()
}

/// Cancels a running [`login`] from another thread (the app's Cancel button).
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// The `porten` executable.
    pub program: PathBuf,
    /// Default `["login"]`.
    pub args: Vec<String>,
    /// Extra environment, e.g. `PORTEN_HUB_URL`.
    pub env: Env,
    pub hub_url: String,
    pub open_browser: bool,
    pub timeout: Duration,
}

impl LoginOptions {
    pub fn new(program: PathBuf, hub_url: &str, timeout: Duration) -> Self {
        let env = Env::from([("PORTEN_HUB_URL".to_owned(), hub_url.into())]);
        Self {
            program,
            args: vec!["login".to_owned()],
            env,
            hub_url: hub_url.to_owned(),
            open_browser: true,
            timeout,
        }
    }
}

/// The browser opener: `CLUSTERBAR_OPENER` when set, else `open` (macOS) or `xdg-open`.
pub fn opener_program() -> PathBuf {
    match std::env::var_os(OPENER_ENV) {
        Some(program) if !program.is_empty() => program.into(),
        _ if cfg!(target_os = "macos") => "open".into(),
        _ => "xdg-open".into(),
    }
}

/// Why the browser could not be opened (the user is then shown the URL to open by hand).
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("could not run {program}: {source}")]
    Run { program: String, source: std::io::Error },
    #[error("{program} ended with {status}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
    },
    #[error("waiting for {program}: {source}")]
    Wait { program: String, source: std::io::Error },
}

/// Opens an already-checked URL; waits a few seconds for the opener to say whether it worked.
pub fn open_in_browser(url: &url::Url) -> Result<(), BrowserError> {
    let program = opener_program();
    let mut child = Command::new(&program)
        .arg(url.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| BrowserError::Run {
            program: program.display().to_string(),
            source,
        })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(BrowserError::Failed {
                    program: program.display().to_string(),
                    status,
                })
            }
            // Some openers stay until the browser closes; by now it has been handed the URL.
            Ok(None) if Instant::now() >= deadline => return Ok(()),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => {
                return Err(BrowserError::Wait {
                    program: program.display().to_string(),
                    source,
                })
            }
        }
    }
}

/// Runs `porten login` to its end (see the module docs). Never fails: every way it can end is
/// a [`LoginResult`].
pub fn login(options: &LoginOptions, cancel: &CancelHandle, mut progress: impl FnMut(&LoginEvent)) -> LoginOutcome {
    let mut outcome = LoginOutcome {
        url: None,
        code: None,
        opened: false,
        result: LoginResult::Cancelled,
        suspicious: None,
        not_opened: None,
    };
    let finish = |mut outcome: LoginOutcome, result: LoginResult, progress: &mut dyn FnMut(&LoginEvent)| {
        progress(&LoginEvent::Finished { result: result.clone() });
        outcome.result = result;
        outcome
    };
    let mut command = Command::new(&options.program);
    command
        .args(&options.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in &options.env {
        command.env(key, value.expose());
    }
    {
        use std::os::unix::process::CommandExt;
        // Its own group, so a timeout or cancel stops whatever it started too.
        command.process_group(0);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let reason = format!("could not run {}: {e}", options.program.display());
            return finish(outcome, LoginResult::Failed(reason), &mut progress);
        }
    };
    let pid = child.id();
    let (lines_tx, lines) = mpsc::channel::<String>();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = lines_tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buffer = Vec::new();
            while matches!(reader.read_until(b'\n', &mut buffer), Ok(n) if n > 0) {
                let _ = tx.send(String::from_utf8_lossy(&buffer).trim_end().to_owned());
                buffer.clear();
            }
        });
    }
    drop(lines_tx);

    // Clamped: the timeout comes from the command line or the settings file.
    let deadline = crate::clock::deadline_after(options.timeout);
    let mut prompt = LoginPrompt::default();
    let mut output = String::new();
    let mut browser_tried = false;
    let mut streams_open = true;
    let stop = |child: &mut std::process::Child| {
        let graces = StopGraces {
            after_interrupt: Duration::from_secs(1),
            after_terminate: Duration::from_secs(1),
            after_kill: Duration::from_secs(1),
        };
        if let Err(e) = group::terminate(Target::Group(pid), Some(child), graces) {
            tracing::warn!(error = %e, "porten login could not be stopped");
        }
    };
    loop {
        if cancel.is_cancelled() {
            stop(&mut child);
            return finish(outcome, LoginResult::Cancelled, &mut progress);
        }
        if Instant::now() >= deadline {
            stop(&mut child);
            return finish(outcome, LoginResult::Timeout, &mut progress);
        }
        match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
                let before = prompt.clone();
                scan_line(&line, &mut prompt);
                if prompt != before {
                    outcome.url.clone_from(&prompt.url);
                    outcome.code.clone_from(&prompt.code);
                    progress(&LoginEvent::Prompt {
                        url: prompt.url.clone(),
                        code: prompt.code.clone(),
                    });
                }
                if let (Some(url), false) = (&prompt.url, browser_tried) {
                    browser_tried = true;
                    match check_login_url(url, &options.hub_url) {
                        Err(refused) => {
                            let reason = refused.to_string();
                            tracing::warn!(url = %shown_url(url), %reason, "refusing to open the login URL");
                            outcome.suspicious = Some(reason.clone());
                            outcome.not_opened = Some(reason.clone());
                            progress(&LoginEvent::SuspiciousUrl {
                                url: url.clone(),
                                reason,
                            });
                        }
                        Ok(checked) if options.open_browser => match open_in_browser(&checked) {
                            Ok(()) => {
                                outcome.opened = true;
                                progress(&LoginEvent::BrowserOpened { url: url.clone() });
                            }
                            Err(failed) => {
                                let reason = failed.to_string();
                                outcome.not_opened = Some(format!("the browser could not be opened: {reason}"));
                                progress(&LoginEvent::BrowserFailed {
                                    url: url.clone(),
                                    reason,
                                })
                            }
                        },
                        Ok(_) => outcome.not_opened = Some("not asked to open it (--no-browser)".to_owned()),
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => streams_open = false,
        }
        if !streams_open {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let text = crate::supervise::process::describe_exit(status);
                    let result = classify_end(status.code(), &output, &text);
                    return finish(outcome, result, &mut progress);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    stop(&mut child);
                    let result = LoginResult::Failed(format!("waiting for porten login: {e}"));
                    return finish(outcome, result, &mut progress);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = "wss://porten.ai";

    fn scan(text: &str) -> (Option<String>, Option<String>) {
        let p = scan_output(text);
        (p.url, p.code)
    }

    #[test]
    fn finds_url_and_code_in_many_wordings() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "To sign in, open https://porten.ai/device and enter the code ABCD-1234.\n",
                "https://porten.ai/device",
                "ABCD-1234",
            ),
            (
                "Your one-time code is WDJB-MJHT\nOpen: https://porten.ai/activate\n",
                "https://porten.ai/activate",
                "WDJB-MJHT",
            ),
            (
                "\x1b[1;33mCode:\x1b[0m \x1b[1mK7Q2-X9PL\x1b[0m\n\x1b[4mhttps://porten.ai/login\x1b[0m\n",
                "https://porten.ai/login",
                "K7Q2-X9PL",
            ),
            (
                "Visit https://app.porten.ai/device?user_code=QWER-TYUI to continue\n",
                "https://app.porten.ai/device?user_code=QWER-TYUI",
                "QWER-TYUI",
            ),
            (
                "Enter this code:\n\n    HJKL-2345\n\nat (https://porten.ai/device).\n",
                "https://porten.ai/device",
                "HJKL-2345",
            ),
            ("ZXCV-7788 is your login code\n→ https://porten.ai/d\n", "https://porten.ai/d", "ZXCV-7788"),
            (
                "user code = 9F3K2M\r\nverification_uri: https://porten.ai/verify?code=9F3K2M\r\n",
                "https://porten.ai/verify?code=9F3K2M",
                "9F3K2M",
            ),
            (
                "\x1b]8;;https://porten.ai/x\x1b\\Click here\x1b]8;;\x1b\\ or go to https://porten.ai/x — code «MNOP-4321»\n",
                "https://porten.ai/x",
                "MNOP-4321",
            ),
            // Issue #12: the URL without the code, then the code with no "code" word.
            (
                "Open this link on any device:\nhttps://porten.ai/device\nthen confirm the words KQ7M-R2XD\n",
                "https://porten.ai/device",
                "KQ7M-R2XD",
            ),
            ("Confirm KQ7M-R2XD\nat https://porten.ai/d\n", "https://porten.ai/d", "KQ7M-R2XD"),
            (
                "{\"verification_uri\":\"https://porten.ai/device\",\"user_code\":\"WDJB-MJHT\"}\n",
                "https://porten.ai/device",
                "WDJB-MJHT",
            ),
            // A code named later replaces a weaker guess (the one in the URL).
            (
                "https://porten.ai/device?code=AAAA-BBBB\nYour code: WDJB-MJHT\n",
                "https://porten.ai/device?code=AAAA-BBBB",
                "WDJB-MJHT",
            ),
        ];
        for (text, url, code) in cases {
            assert_eq!(scan(text), (Some(url.to_string()), Some(code.to_string())), "{text:?}");
        }
    }

    #[test]
    fn words_are_not_mistaken_for_codes() {
        assert_eq!(scan("Enter the code below in your browser\n").1, None);
        assert_eq!(scan("Waiting for approval...\n"), (None, None));
        assert_eq!(scan("the code is\n").1, None);
        assert_eq!(scan("Error: HTTP-404 from UTF-8 server\n").1, None);
        assert_eq!(scan("confirm the words below\n").1, None);
    }

    #[test]
    fn a_huge_url_is_refused_with_its_length() {
        let huge = format!("https://porten.ai/device?pad={}", "a".repeat(1 << 20));
        let reason = check_login_url(&huge, HUB).unwrap_err();
        assert!(matches!(reason, LoginUrlError::TooLong { .. }), "{reason:?}");
        assert!(reason.to_string().contains("bytes long"), "{reason}");
        let shown = shown_url(&huge);
        assert!(shown.len() < 200 && shown.ends_with(" bytes)"), "{shown}");
        assert_eq!(shown_url("https://porten.ai/d"), "https://porten.ai/d");
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            "\x1b[",
            "\x1b]8;;",
            "code:",
            "https://",
            "\u{fffd}\u{0}code ABCD-EFGH",
            "?user_code=",
        ] {
            let _ = scan(text);
        }
        let bytes = b"code \xff\xfe ABCD-1234 https://porten.ai/\xc3";
        let _ = scan(&String::from_utf8_lossy(bytes));
    }

    #[test]
    fn only_the_hubs_https_urls_are_allowed() {
        for good in [
            "https://porten.ai/device",
            "https://PORTEN.AI/device?user_code=X",
            "https://app.porten.ai/login",
            "https://porten.ai./device",
        ] {
            assert!(check_login_url(good, HUB).is_ok(), "{good}");
        }
        for bad in [
            "http://porten.ai/device",
            "https://porten.ai@evil.com/device",
            "https://user:pw@porten.ai/device",
            "https://porten.ai.evil.com/device",
            "https://evilporten.ai/device",
            "https://evil.com/porten.ai",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,hi",
            "ftp://porten.ai/x",
            "https://127.0.0.1/device",
            "http://127.0.0.1:8080/device",
            "not a url",
        ] {
            assert!(check_login_url(bad, HUB).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_loopback_hub_allows_plain_http_on_loopback_only() {
        let hub = "ws://127.0.0.1:9000";
        assert!(check_login_url("http://127.0.0.1:9000/device", hub).is_ok());
        assert!(check_login_url("http://localhost:9000/device", hub).is_ok());
        assert!(check_login_url("http://evil.com/device", hub).is_err());
        assert!(check_login_url("http://192.168.1.5/device", hub).is_err());
        assert!(check_login_url("https://porten.ai/x", "not a hub").is_err());
    }

    #[test]
    fn the_end_is_classified_from_output_and_exit() {
        assert_eq!(
            classify_end(Some(0), "Logged in as ana\n", "exit code 0"),
            LoginResult::Success
        );
        assert_eq!(
            classify_end(Some(1), "Error: access denied\n", "exit code 1"),
            LoginResult::Denied
        );
        assert_eq!(
            classify_end(Some(1), "\x1b[31mThe code has expired.\x1b[0m\n", "exit code 1"),
            LoginResult::Expired
        );
        assert_eq!(
            classify_end(
                Some(0),
                "The code expires in 15 minutes\n{\"expires_in\":900}\nLogged in\n",
                "exit code 0"
            ),
            LoginResult::Success
        );
        assert_eq!(
            classify_end(Some(1), "{\"error\":\"expired_token\"}\n", "exit code 1"),
            LoginResult::Expired
        );
        assert_eq!(
            classify_end(Some(3), "boom\n\n", "exit code 3"),
            LoginResult::Failed("porten login ended with exit code 3: boom".into())
        );
        assert_eq!(
            classify_end(None, "", "killed by SIGKILL"),
            LoginResult::Failed("porten login ended with killed by SIGKILL".into())
        );
    }

    /// Issue #11: a huge timeout (flag or setting) overflowed `Instant + Duration` and panicked.
    #[test]
    fn a_huge_timeout_does_not_panic() {
        let mut options = LoginOptions::new("false".into(), "https://porten.ai", Duration::MAX);
        options.open_browser = false;
        let outcome = login(&options, &CancelHandle::new(), |_| {});
        assert!(matches!(outcome.result, LoginResult::Failed(_)), "{:?}", outcome.result);
    }
}
