//! The dashboard's actions (retry or purge a dead letter, pause or resume the keeper's
//! work), and who may take them.
//!
//! Read-only unless the operator names a token file (`daemon.dashboard.token_file`).
//! Then every action must carry `Authorization: Bearer <token>` (compared in constant
//! time), come from the dashboard's own origin (`Origin`, or `Sec-Fetch-Site:
//! same-origin`, must match the `Host` the request was sent to), and be a JSON `POST`,
//! which a cross-site form cannot send. The token lives in the operator's browser
//! session only: no page ever contains it, and no cookie carries it, so another site
//! cannot make the browser act with it (no ambient credential, nothing to forge).
//!
//! Owns: the token, the checks, and running an allowed action on the store. Must not:
//! serve pages or read the chain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::config::setting::InvalidSetting;
use crate::store::Store;

/// The least a token may be: guessing one must not be practical.
pub const MIN_TOKEN_CHARS: usize = 24;

/// `[daemon.dashboard]`: the web page served on the health address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Serve no dashboard (only /health, /ready and /metrics).
    pub disabled: bool,
    /// Serve the dashboard here instead of on `daemon.health_addr` (which then serves
    /// only /health, /ready and /metrics). Loopback unless you put it behind a proxy
    /// that authenticates: the page shows every thread this keeper tracks.
    pub addr: Option<SocketAddr>,
    /// A file holding the token that allows actions (one line, at least
    /// [`MIN_TOKEN_CHARS`] characters); read-only without one.
    pub token_file: Option<PathBuf>,
}

impl DashboardConfig {
    /// The action token, read from `token_file` at start-up; `None` when actions are off.
    pub fn load_token(&self) -> Result<Option<ActionToken>, InvalidSetting> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        ActionToken::read(path).map(Some)
    }
}

/// The secret an action must carry. Never printed: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ActionToken(String);

impl std::fmt::Debug for ActionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActionToken(..)")
    }
}

impl ActionToken {
    fn read(path: &Path) -> Result<Self, InvalidSetting> {
        const FIELD: &str = "daemon.dashboard.token_file";
        let text = std::fs::read_to_string(path).map_err(|e| {
            InvalidSetting::new(
                FIELD,
                path.display(),
                format!("cannot read it ({e}); write the token there, or remove the key for a read-only dashboard"),
            )
        })?;
        let token = text.trim();
        if token.chars().count() < MIN_TOKEN_CHARS || token.contains(char::is_whitespace) {
            return Err(InvalidSetting::new(
                FIELD,
                path.display(),
                format!(
                    "expected one line of at least {MIN_TOKEN_CHARS} characters without \
                     spaces (e.g. `openssl rand -hex 32 > {}`)",
                    path.display()
                ),
            ));
        }
        Ok(Self(token.to_string()))
    }

    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        // Constant time over the token's length: no early exit on the first difference.
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Why an action was refused: the status and a message for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }
}

/// Whether a request with `headers` may act, given the configured `token`.
pub fn authorize(token: Option<&ActionToken>, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = token else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "actions are off: set daemon.dashboard.token_file to allow them",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let same_origin = match (header(ORIGIN.as_str()), header(HOST.as_str())) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (None, _) => header("sec-fetch-site") == Some("same-origin"),
        _ => false,
    };
    if !same_origin {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "actions are taken from the dashboard's own page only",
        ));
    }
    let json = header(CONTENT_TYPE.as_str()).is_some_and(|t| t.starts_with("application/json"));
    if !json {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "an action is a POST with Content-Type: application/json",
        ));
    }
    let given = header(AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if token.matches(given) => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "a valid token is needed: enter the one in daemon.dashboard.token_file",
        )),
    }
}

/// An action on a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Back to the replay queue, with its retries reset.
    Retry,
    /// Dropped for good.
    Purge,
}

impl DeadLetterAction {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "retry" => Some(Self::Retry),
            "purge" => Some(Self::Purge),
            _ => None,
        }
    }

    /// Runs the action on dead letter `id`; what to tell the page.
    pub fn run(self, store: &Store, id: i64) -> Result<String, crate::store::StoreError> {
        match self {
            Self::Retry => {
                let execution = store.dlq_retry(id)?;
                Ok(format!(
                    "dead letter {id} is queued for replay as execution {}",
                    execution.id
                ))
            }
            Self::Purge => {
                store.dlq_purge(id)?;
                Ok(format!("dead letter {id} purged"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            ("host", "127.0.0.1:9464".into()),
            ("origin", "http://127.0.0.1:9464".into()),
            ("content-type", "application/json".into()),
            ("authorization", format!("Bearer {TOKEN}")),
        ]
    }

    fn with(change: impl FnOnce(&mut Vec<(&'static str, String)>)) -> HeaderMap {
        let mut pairs = good();
        change(&mut pairs);
        let pairs: Vec<(&'static str, &str)> =
            pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        headers(&pairs)
    }

    #[test]
    fn an_action_needs_the_token_the_origin_and_json() {
        let token = ActionToken(TOKEN.into());
        assert_eq!(authorize(Some(&token), &with(|_| {})), Ok(()));

        let refused = |h: HeaderMap| authorize(Some(&token), &h).unwrap_err().status;
        assert_eq!(
            refused(with(|p| p.retain(|(k, _)| *k != "authorization"))),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refused(with(|p| p[3].1 = format!("Bearer {TOKEN}x"))),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refused(with(|p| p[1].1 = "http://evil.example".into())),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            refused(with(|p| p[2].1 = "application/x-www-form-urlencoded".into())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        // No Origin: only the browser's own same-origin marker will do.
        assert_eq!(
            refused(with(|p| p.retain(|(k, _)| *k != "origin"))),
            StatusCode::FORBIDDEN
        );
        let marked = with(|p| {
            p.retain(|(k, _)| *k != "origin");
            p.push(("sec-fetch-site", "same-origin".into()));
        });
        assert_eq!(authorize(Some(&token), &marked), Ok(()));
    }

    #[test]
    fn without_a_token_file_every_action_is_refused() {
        let refusal = authorize(None, &with(|_| {})).unwrap_err();
        assert_eq!(refusal.status, StatusCode::FORBIDDEN);
        assert!(refusal.message.contains("daemon.dashboard.token_file"));
    }

    #[test]
    fn a_token_file_must_hold_one_long_line_and_its_error_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let config = DashboardConfig {
            token_file: Some(path.clone()),
            ..DashboardConfig::default()
        };
        let missing = config.load_token().unwrap_err();
        assert_eq!(missing.field, "daemon.dashboard.token_file");
        std::fs::write(&path, "short\n").unwrap();
        let short = config.load_token().unwrap_err();
        assert!(short.reason.contains("at least 24"), "{short}");
        std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
        let token = config.load_token().unwrap().unwrap();
        assert!(token.matches(TOKEN));
        assert_eq!(format!("{token:?}"), "ActionToken(..)", "never printed");
    }
}
