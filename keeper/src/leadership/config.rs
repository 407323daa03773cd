//! [`LeadershipConfig`]: where the fleet's etcd is, which key the keepers compete for, and
//! the timing of leases, with a `validate()` that names the bad field (and
//! `validate_settings()`, its full key in the keeper's TOML file).
//!
//! Owns the defaults (no endpoints: a single keeper that always leads; a 10 s lease;
//! stepping down after 2/3 of it) and the derived durations the elector runs on. Must
//! not: talk to etcd or decide leadership (that is [`super::elector`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;

use crate::config::setting::InvalidSetting;

/// Largest lease TTL accepted, seconds (a day): longer only slows failover down.
pub const MAX_LEASE_TTL_SECS: u64 = 86_400;

/// Largest `step_down_fraction`: at least a tenth of the lease is kept as margin for the
/// clocks' rates and for the daemon to stop acting.
pub const MAX_STEP_DOWN_FRACTION: f64 = 0.9;

/// Fleet leadership through etcd leases (`[daemon.leadership]` once wired in).
///
/// Missing keys take their [`Default`]. With no `endpoints` the keeper is alone and
/// always leads; with endpoints it campaigns for `key` and executes only while it holds
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadershipConfig {
    /// etcd client URLs (`http://host:port` or `https://host:port`) of one cluster, tried in order: a request
    /// that cannot reach one goes to the next. Empty: no fleet, always leader.
    pub endpoints: Vec<String>,
    /// The key keepers compete for; `None`: `/thread-keeper/<thread program id>/leader`.
    pub key: Option<String>,
    /// This keeper's value under the key, as others see it; `None`:
    /// `<signing pubkey>@<hostname>/<pid>`.
    pub id: Option<String>,
    /// TTL of the etcd lease that holds the key: how long a dead leader keeps it.
    pub lease_ttl_secs: u64,
    /// A leader steps down when its last confirmed keepalive was *sent* more than this
    /// share of the TTL ago (0 < f <= 0.9); it renews three times per such window.
    pub step_down_fraction: f64,
    /// How often a keeper that does not lead checks the key, milliseconds: how soon it
    /// notices that the key is free.
    pub poll_interval_ms: u64,
    /// Bound of each etcd request, milliseconds (connecting included); must be shorter
    /// than the step-down window.
    pub request_timeout_ms: u64,
    /// etcd user, when the cluster has auth enabled; with `password_file`.
    pub user: Option<String>,
    /// File holding the etcd user's password (surrounding whitespace ignored).
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed `https://` endpoints' certificates; `None`: the
    /// public web roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for LeadershipConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            key: None,
            id: None,
            lease_ttl_secs: 10,
            step_down_fraction: 2.0 / 3.0,
            poll_interval_ms: 1_000,
            request_timeout_ms: 2_000,
            user: None,
            password_file: None,
            ca_file: None,
        }
    }
}

/// A [`LeadershipConfig`] field that cannot work; each names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeadershipConfigError {
    #[error("leadership.endpoints[{index}] {url:?}: {reason}")]
    Endpoint {
        index: usize,
        url: String,
        reason: String,
    },
    #[error("leadership.key must not be empty")]
    Key,
    #[error("leadership.id must not be empty")]
    Id,
    #[error("leadership.lease_ttl_secs must be 1 to {MAX_LEASE_TTL_SECS}, got {0}")]
    LeaseTtl(u64),
    #[error(
        "leadership.step_down_fraction must be above 0 and at most {MAX_STEP_DOWN_FRACTION}, \
         got {0}"
    )]
    StepDownFraction(f64),
    #[error("leadership.poll_interval_ms must be 10 to 60000, got {0}")]
    PollInterval(u64),
    #[error(
        "leadership.request_timeout_ms must be at least 1 and shorter than the step-down \
         window ({window_ms} ms = lease_ttl_secs x step_down_fraction), got {got}"
    )]
    RequestTimeout { got: u64, window_ms: u64 },
    #[error(
        "leadership.user and leadership.password_file go together: set both (auth enabled \
         on etcd) or neither"
    )]
    Credentials,
    #[error(
        "leadership.ca_file is for https:// endpoints, and none is configured; use \
         https://host:port or drop ca_file"
    )]
    CaWithoutTls,
}

impl LeadershipConfigError {
    /// Stable label for metrics and logs: the field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Endpoint { .. } => "endpoints",
            Self::Key => "key",
            Self::Id => "id",
            Self::LeaseTtl(_) => "lease_ttl_secs",
            Self::StepDownFraction(_) => "step_down_fraction",
            Self::PollInterval(_) => "poll_interval_ms",
            Self::RequestTimeout { .. } => "request_timeout_ms",
            Self::Credentials => "password_file",
            Self::CaWithoutTls => "ca_file",
        }
    }
}

impl LeadershipConfig {
    /// Whether a fleet is configured (else this keeper always leads).
    pub fn is_fleet(&self) -> bool {
        !self.endpoints.is_empty()
    }

    pub fn validate(&self) -> Result<(), LeadershipConfigError> {
        for (index, url) in self.endpoints.iter().enumerate() {
            check_endpoint(url).map_err(|reason| LeadershipConfigError::Endpoint {
                index,
                url: url.clone(),
                reason,
            })?;
        }
        if self.key.as_deref().is_some_and(str::is_empty) {
            return Err(LeadershipConfigError::Key);
        }
        if self.id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(LeadershipConfigError::Id);
        }
        if !(1..=MAX_LEASE_TTL_SECS).contains(&self.lease_ttl_secs) {
            return Err(LeadershipConfigError::LeaseTtl(self.lease_ttl_secs));
        }
        // Written so that NaN fails too.
        let fraction = self.step_down_fraction;
        if !(fraction > 0.0 && fraction <= MAX_STEP_DOWN_FRACTION) {
            return Err(LeadershipConfigError::StepDownFraction(fraction));
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err(LeadershipConfigError::PollInterval(self.poll_interval_ms));
        }
        if self.user.is_some() != self.password_file.is_some()
            || self.user.as_deref().is_some_and(str::is_empty)
        {
            return Err(LeadershipConfigError::Credentials);
        }
        if self.ca_file.is_some() && !self.endpoints.iter().any(|url| url.starts_with("https://")) {
            return Err(LeadershipConfigError::CaWithoutTls);
        }
        let window_ms = u64::try_from(self.step_down_window().as_millis()).unwrap_or(u64::MAX);
        if self.request_timeout_ms == 0 || self.request_timeout_ms >= window_ms {
            return Err(LeadershipConfigError::RequestTimeout {
                got: self.request_timeout_ms,
                window_ms,
            });
        }
        Ok(())
    }

    /// [`Self::validate`], naming the bad value by its full key under
    /// `[daemon.leadership]`.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        self.validate().map_err(|e| {
            let (field, value) = match &e {
                LeadershipConfigError::Endpoint { url, .. } => {
                    ("daemon.leadership.endpoints", url.clone())
                }
                LeadershipConfigError::Key => ("daemon.leadership.key", String::new()),
                LeadershipConfigError::Id => ("daemon.leadership.id", String::new()),
                LeadershipConfigError::LeaseTtl(ttl) => {
                    ("daemon.leadership.lease_ttl_secs", ttl.to_string())
                }
                LeadershipConfigError::StepDownFraction(f) => {
                    ("daemon.leadership.step_down_fraction", f.to_string())
                }
                LeadershipConfigError::PollInterval(ms) => {
                    ("daemon.leadership.poll_interval_ms", ms.to_string())
                }
                LeadershipConfigError::RequestTimeout { got, .. } => {
                    ("daemon.leadership.request_timeout_ms", got.to_string())
                }
                LeadershipConfigError::Credentials => (
                    "daemon.leadership.password_file",
                    self.password_file
                        .as_ref()
                        .map_or("none".into(), |p| p.display().to_string()),
                ),
                LeadershipConfigError::CaWithoutTls => (
                    "daemon.leadership.ca_file",
                    self.ca_file
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string()),
                ),
            };
            InvalidSetting::new(field, value, e.to_string())
        })
    }

    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }

    /// How long after sending its last confirmed keepalive a leader may still act.
    pub fn step_down_window(&self) -> Duration {
        self.lease_ttl().mul_f64(self.step_down_fraction)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The key, or `/thread-keeper/<program_id>/leader`.
    pub fn key_for(&self, program_id: &Pubkey) -> String {
        self.key
            .clone()
            .unwrap_or_else(|| format!("/thread-keeper/{program_id}/leader"))
    }

    /// The id, or `<keeper>@<hostname>/<pid>`.
    pub fn id_for(&self, keeper: &Pubkey) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("{keeper}@{}/{}", hostname(), std::process::id()))
    }
}

/// Why `url` cannot be an etcd endpoint, if it cannot.
fn check_endpoint(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(format!("scheme {other:?} is not http or https")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err("must be scheme://host:port, without a path or query".into());
    }
    Ok(())
}

/// This machine's name, for default keeper ids.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| {
            let name = std::fs::read_to_string(path).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}
