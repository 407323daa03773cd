//! Dead-letter notifications: a dead letter needs a person, so each one is POSTed as JSON
//! to the configured webhooks, generic fields plus a Slack-compatible `text`, instead of
//! waiting for someone to run `keeper dlq list`.
//!
//! Owns: the queue of notices, the POSTs with their own backoff, and the
//! `keeper_notifications_sent_total` / `keeper_notifications_failed_total` counters.
//! Must not: slow the executor down (a notice is queued, never awaited; a full queue
//! drops it and counts it as failed) or decide anything about executions.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::setting::InvalidSetting;
use crate::execution::retry::RetryStrategy;
use crate::ops::metrics::Metrics;
use crate::store::DeadLetter;

/// Notices waiting for their POSTs; past this, new ones are dropped (and counted).
const QUEUE: usize = 1_024;

/// `[daemon.notify]`: where dead letters are announced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// `http://` or `https://` URLs, each sent every notice (none: no notifications).
    pub webhooks: Vec<String>,
    /// Bound of one POST, milliseconds.
    pub timeout_ms: u64,
    /// Backoff between tries of one POST (`[daemon.notify.retry]`).
    pub retry: RetryStrategy,
}

impl Default for NotifyConfig {
    /// No webhooks; 5 s per POST; 1 s doubling to 30 s, five tries.
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            timeout_ms: 5_000,
            retry: RetryStrategy {
                initial_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
                multiplier: 2.0,
                max_attempts: 5,
                jitter: 0.1,
            },
        }
    }
}

impl NotifyConfig {
    /// Checks every `[daemon.notify]` value, naming the first bad one by its full key.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        for url in &self.webhooks {
            let parsed = reqwest::Url::parse(url);
            if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(InvalidSetting::new(
                    "daemon.notify.webhooks",
                    url,
                    "expected an http:// or https:// URL with a host",
                ));
            }
        }
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(InvalidSetting::new(
                "daemon.notify.timeout_ms",
                self.timeout_ms,
                "expected 100 to 60000 milliseconds",
            ));
        }
        if let Err(e) = self.retry.validate() {
            return Err(InvalidSetting::new(
                "daemon.notify.retry",
                "",
                e.to_string(),
            ));
        }
        if self.retry.max_attempts > 20 || self.retry.max_delay > Duration::from_secs(600) {
            return Err(InvalidSetting::new(
                "daemon.notify.retry",
                "",
                "expected at most 20 tries, at most 600000 ms apart",
            ));
        }
        Ok(())
    }
}

/// The JSON a webhook receives for dead letter `entry` of the keeper `keeper`.
pub fn payload(keeper: &str, entry: &DeadLetter) -> Value {
    let retry_command = format!("keeper dlq retry {}", entry.id);
    let text = format!(
        "Thread {} moved to the dead-letter queue at exec_count {} after {} attempt{}: {}. \
         Retry with `{retry_command}` on keeper {keeper}.",
        entry.thread,
        entry.exec_count_at_build,
        entry.attempts,
        if entry.attempts == 1 { "" } else { "s" },
        entry.reason,
    );
    json!({
        "event": "dead_letter",
        "keeper": keeper,
        "dead_letter_id": entry.id,
        "execution_id": entry.execution_id,
        "thread": entry.thread.to_string(),
        "exec_count": entry.exec_count_at_build,
        "priority": entry.priority.as_str(),
        "reason": entry.reason,
        "attempts": entry.attempts,
        "dead_at": entry.dead_at,
        "retry_command": retry_command,
        "text": text,
    })
}

/// Where the executor hands dead letters; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Value>,
    /// Who speaks: the keeper's pubkey, named in every notice.
    keeper: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// Starts the task that POSTs notices to `config.webhooks`, or returns `None` when
    /// there are none. The task ends once every [`Notifier`] is dropped and the queue is
    /// empty.
    pub fn spawn(
        config: &NotifyConfig,
        keeper: String,
        metrics: Arc<Metrics>,
    ) -> Option<(Self, JoinHandle<()>)> {
        if config.webhooks.is_empty() {
            return None;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(deliver(config.clone(), rx, metrics.clone()));
        let keeper = keeper.into();
        Some((
            Self {
                tx,
                keeper,
                metrics,
            },
            task,
        ))
    }

    /// Queues `entry`'s notice; never waits.
    pub fn dead_letter(&self, entry: &DeadLetter) {
        if self.tx.try_send(payload(&self.keeper, entry)).is_err() {
            self.metrics.notifications_failed_total.inc();
            tracing::warn!(
                dead_letter = entry.id,
                "dead-letter notification dropped: the notification queue is full"
            );
        }
    }
}

async fn deliver(config: NotifyConfig, mut rx: mpsc::Receiver<Value>, metrics: Arc<Metrics>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let mut rng = SmallRng::seed_from_u64(crate::execution::retry::jitter_seed());
    while let Some(notice) = rx.recv().await {
        let body = notice.to_string();
        for url in &config.webhooks {
            let result = config
                .retry
                .execute(
                    &mut rng,
                    || post(&client, url, body.clone()),
                    |_: &String| true,
                )
                .await;
            match result {
                Ok(()) => metrics.notifications_sent_total.inc(),
                Err(error) => {
                    metrics.notifications_failed_total.inc();
                    tracing::warn!(webhook = %url, %error, "dead-letter notification failed");
                }
            }
        }
    }
}

/// One POST; any 2xx is delivered.
async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<(), String> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::setting::{refusal, Spoil};

    #[test]
    fn webhook_settings_are_refused_by_their_full_key() {
        let cases: [(&str, Spoil<NotifyConfig>); 4] = [
            ("daemon.notify.webhooks", |c| {
                c.webhooks = vec!["ftp://example/hook".into()]
            }),
            ("daemon.notify.webhooks", |c| {
                c.webhooks = vec!["http://".into()]
            }),
            ("daemon.notify.timeout_ms", |c| c.timeout_ms = u64::MAX),
            ("daemon.notify.retry", |c| c.retry.max_attempts = 21),
        ];
        for (field, spoil) in cases {
            assert_eq!(refusal(spoil, NotifyConfig::validate_settings).field, field);
        }
        assert_eq!(NotifyConfig::default().validate_settings(), Ok(()));
    }
}
