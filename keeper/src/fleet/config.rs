//! `[daemon.fleet]`: where a fleet's keepers share their work (NATS JetStream), and how.
//!
//! Empty `nats_urls` (the default): no fleet queue, the keeper works alone on its SQLite
//! store exactly as before.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::setting::{within, InvalidSetting};

/// `[daemon.fleet]` (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// NATS server URLs (`nats://host:4222`, `tls://host:4222`), tried in turn. Empty:
    /// no fleet queue.
    pub nats_urls: Vec<String>,
    /// User name for NATS user/password auth.
    pub user: Option<String>,
    /// A file holding the password (one line), read at start; never in the config file.
    pub password_file: Option<PathBuf>,
    /// A PEM file of the CA that signed the servers' certificates, for `tls://` URLs.
    pub ca_file: Option<PathBuf>,
    /// The work stream: due executions waiting for a submitter.
    pub work_stream: String,
    /// The dead-letter stream every keeper of the fleet reads.
    pub dead_letter_stream: String,
    /// Subject prefix of both streams (`<prefix>.work.*`, `<prefix>.dead`).
    pub subject_prefix: String,
    /// How long a submitter may hold a delivery unacknowledged before it goes to
    /// another (a submitter killed mid-execution), seconds.
    pub ack_wait_secs: u64,
    /// Deliveries of one execution before it is dead-lettered.
    pub max_deliver: u32,
    /// How long the work stream remembers a published execution's id, seconds: a
    /// republish of the same due time within it (a new leader's) is dropped.
    pub duplicate_window_secs: u64,
    /// Bound of one NATS request (connecting included), milliseconds.
    pub request_timeout_ms: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            nats_urls: Vec::new(),
            user: None,
            password_file: None,
            ca_file: None,
            work_stream: "THREAD_WORK".into(),
            dead_letter_stream: "THREAD_DEAD".into(),
            subject_prefix: "thread".into(),
            ack_wait_secs: 60,
            max_deliver: 6,
            duplicate_window_secs: 120,
            request_timeout_ms: 5_000,
        }
    }
}

impl FleetConfig {
    /// Whether this keeper shares its work through NATS.
    pub fn enabled(&self) -> bool {
        !self.nats_urls.is_empty()
    }

    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs)
    }

    pub fn duplicate_window(&self) -> Duration {
        Duration::from_secs(self.duplicate_window_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Checks every `[daemon.fleet]` value, naming the first bad one by its full key.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        for url in &self.nats_urls {
            let scheme_ok = ["nats://", "tls://"].iter().any(|s| url.starts_with(s));
            if !scheme_ok || url.len() <= "nats://".len() {
                return Err(InvalidSetting::new(
                    "daemon.fleet.nats_urls",
                    url,
                    "expected nats://host:port or tls://host:port",
                ));
            }
        }
        if self.user.is_some() != self.password_file.is_some() {
            return Err(InvalidSetting::new(
                "daemon.fleet.password_file",
                self.password_file
                    .as_ref()
                    .map_or("none".into(), |p| p.display().to_string()),
                "daemon.fleet.user and daemon.fleet.password_file go together: set both or neither",
            ));
        }
        for (field, name) in [
            ("daemon.fleet.work_stream", &self.work_stream),
            ("daemon.fleet.dead_letter_stream", &self.dead_letter_stream),
        ] {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(InvalidSetting::new(
                    field,
                    name,
                    "expected letters, digits, '_' or '-' (a JetStream stream name)",
                ));
            }
        }
        if self.work_stream == self.dead_letter_stream {
            return Err(InvalidSetting::new(
                "daemon.fleet.dead_letter_stream",
                &self.dead_letter_stream,
                "expected a stream other than daemon.fleet.work_stream",
            ));
        }
        let prefix_ok = !self.subject_prefix.is_empty()
            && self
                .subject_prefix
                .split('.')
                .all(|token| !token.is_empty() && !token.contains(['*', '>', ' ']));
        if !prefix_ok {
            return Err(InvalidSetting::new(
                "daemon.fleet.subject_prefix",
                &self.subject_prefix,
                "expected dot-separated tokens without spaces or wildcards",
            ));
        }
        within("daemon.fleet.ack_wait_secs", self.ack_wait_secs, 1..=3_600)?;
        within(
            "daemon.fleet.max_deliver",
            u64::from(self.max_deliver),
            1..=100,
        )?;
        within(
            "daemon.fleet.duplicate_window_secs",
            self.duplicate_window_secs,
            1..=86_400,
        )?;
        within(
            "daemon.fleet.request_timeout_ms",
            self.request_timeout_ms,
            100..=120_000,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_urls_no_fleet_and_the_defaults_are_valid() {
        let config = FleetConfig::default();
        assert!(!config.enabled());
        assert_eq!(config.validate_settings(), Ok(()));
    }

    #[test]
    fn each_bad_value_is_refused_by_its_key() {
        type Spoil = fn(&mut FleetConfig);
        let spoils: [(&str, Spoil); 8] = [
            ("daemon.fleet.nats_urls", |c| {
                c.nats_urls = vec!["http://x:4222".into()]
            }),
            ("daemon.fleet.password_file", |c| {
                c.user = Some("keeper".into())
            }),
            ("daemon.fleet.work_stream", |c| c.work_stream = "a.b".into()),
            ("daemon.fleet.dead_letter_stream", |c| {
                c.dead_letter_stream = c.work_stream.clone()
            }),
            ("daemon.fleet.subject_prefix", |c| {
                c.subject_prefix = "a.*".into()
            }),
            ("daemon.fleet.ack_wait_secs", |c| c.ack_wait_secs = 0),
            ("daemon.fleet.max_deliver", |c| c.max_deliver = 0),
            ("daemon.fleet.request_timeout_ms", |c| {
                c.request_timeout_ms = 5
            }),
        ];
        for (field, spoil) in spoils {
            let mut config = FleetConfig {
                nats_urls: vec!["nats://127.0.0.1:4222".into()],
                ..FleetConfig::default()
            };
            spoil(&mut config);
            assert_eq!(config.validate_settings().unwrap_err().field, field);
        }
    }
}
