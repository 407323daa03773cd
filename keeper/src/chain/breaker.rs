//! Circuit breaker: stops sending requests
//! to an endpoint that keeps failing, and lets a few probes through after a pause to see
//! whether it came back.
//!
//! Owns one endpoint's breaker state (Closed, Open, HalfOpen) and its transitions, each
//! logged once and reported to an optional hook (the failover chain sets a gauge with
//! it). Must not: make the calls it guards, decide what counts as a failure (callers
//! report outcomes through [`CircuitBreaker::record_success`] and
//! [`CircuitBreaker::record_failure`]), or pick another endpoint (that is
//! [`crate::chain::failover`]). Time is `tokio::time`, so tests pause the clock.
//!
//! ```text
//!   Closed{failures} --failure_threshold failures in a row--> Open{since}
//!   Open{since}      --allow() after open_timeout-----------> HalfOpen{successes}
//!   HalfOpen         --success_threshold successes----------> Closed{0}
//!   HalfOpen         --any failure--------------------------> Open{now}
//!   Closed           --a success----------------------------> Closed{0}
//! ```
//!
//! While HalfOpen every call is let through as a probe, not just one (no bookkeeping of
//! which call is the probe): the first failure re-opens the breaker, so a still-dead
//! endpoint costs at most the probes already in flight. Outcomes reported while Open (calls admitted before it
//! opened) change nothing, in particular they do not restart the open timeout.

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// When a breaker opens and closes.
///
/// In configuration files `open_timeout` is whole milliseconds under `open_timeout_ms`;
/// missing keys take their [`Default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker; at least 1.
    pub failure_threshold: u32,
    /// Consecutive successful probes that close a half-open breaker; at least 1.
    pub success_threshold: u32,
    /// How long an open breaker rejects calls before letting probes through.
    #[serde(rename = "open_timeout_ms", with = "crate::execution::retry::millis")]
    pub open_timeout: Duration,
}

impl Default for BreakerConfig {
    /// 5 failures open it, 2 successful probes close it, probes after 30 s.
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            success_threshold: 2,
            open_timeout: Duration::from_secs(30),
        }
    }
}

/// A [`BreakerConfig`] that cannot be used; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakerConfigError {
    #[error("breaker.failure_threshold must be at least 1")]
    FailureThreshold,
    #[error("breaker.success_threshold must be at least 1")]
    SuccessThreshold,
}

impl BreakerConfigError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FailureThreshold => "failure_threshold",
            Self::SuccessThreshold => "success_threshold",
        }
    }
}

impl BreakerConfig {
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        if self.failure_threshold == 0 {
            return Err(BreakerConfigError::FailureThreshold);
        }
        if self.success_threshold == 0 {
            return Err(BreakerConfigError::SuccessThreshold);
        }
        Ok(())
    }
}

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls are rejected; opened at `since`.
    Open { since: Instant },
    /// Calls pass as probes; `successes` in a row so far.
    HalfOpen { successes: u32 },
}

impl BreakerState {
    /// Stable label for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Closed { .. } => "closed",
            Self::HalfOpen { .. } => "half_open",
            Self::Open { .. } => "open",
        }
    }

    /// The value of the state gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge(&self) -> i64 {
        match self {
            Self::Closed { .. } => 0,
            Self::HalfOpen { .. } => 1,
            Self::Open { .. } => 2,
        }
    }

    fn same_kind(&self, other: &Self) -> bool {
        self.gauge() == other.gauge()
    }
}

type Hook = Box<dyn Fn(&str, BreakerState) + Send + Sync>;

/// One endpoint's breaker; share it by reference or `Arc`.
pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    state: Mutex<BreakerState>,
    on_change: Option<Hook>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker for the endpoint `name` (used in logs and handed to the hook).
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Result<Self, BreakerConfigError> {
        config.validate()?;
        Ok(Self {
            name: name.into(),
            config,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
            on_change: None,
        })
    }

    /// Calls `hook(name, new_state)` on every change of state kind (closed, half-open,
    /// open), once per change, in order. It runs under the breaker's lock: it must be
    /// quick and must not call back into this breaker.
    pub fn on_change(mut self, hook: impl Fn(&str, BreakerState) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Box::new(hook));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state as last changed. An open breaker whose timeout has passed stays `Open`
    /// here until the next [`Self::allow`] moves it to `HalfOpen`.
    pub fn state(&self) -> BreakerState {
        *self.lock()
    }

    /// Whether a call may go to the endpoint now: yes when closed or half-open (a
    /// probe), no when open, except that the first call after `open_timeout` turns the
    /// breaker half-open and is let through.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        match *state {
            BreakerState::Closed { .. } | BreakerState::HalfOpen { .. } => true,
            BreakerState::Open { since } => {
                if since.elapsed() >= self.config.open_timeout {
                    self.set(&mut state, BreakerState::HalfOpen { successes: 0 });
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The endpoint answered.
    pub fn record_success(&self) {
        let mut state = self.lock();
        let next = match *state {
            BreakerState::Closed { .. } => BreakerState::Closed { failures: 0 },
            BreakerState::HalfOpen { successes } => {
                let successes = successes.saturating_add(1);
                if successes >= self.config.success_threshold {
                    BreakerState::Closed { failures: 0 }
                } else {
                    BreakerState::HalfOpen { successes }
                }
            }
            BreakerState::Open { .. } => return,
        };
        self.set(&mut state, next);
    }

    /// The endpoint could not be reached or did not answer.
    pub fn record_failure(&self) {
        let mut state = self.lock();
        let next = match *state {
            BreakerState::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    BreakerState::Open {
                        since: Instant::now(),
                    }
                } else {
                    BreakerState::Closed { failures }
                }
            }
            BreakerState::HalfOpen { .. } => BreakerState::Open {
                since: Instant::now(),
            },
            BreakerState::Open { .. } => return,
        };
        self.set(&mut state, next);
    }

    fn set(&self, state: &mut BreakerState, next: BreakerState) {
        let previous = std::mem::replace(state, next);
        if previous.same_kind(&next) {
            return;
        }
        let (endpoint, from, to) = (self.name.as_str(), previous.as_str(), next.as_str());
        match next {
            BreakerState::Open { .. } => tracing::warn!(
                endpoint,
                from,
                to,
                open_for = ?self.config.open_timeout,
                "circuit breaker opened: endpoint skipped"
            ),
            BreakerState::HalfOpen { .. } => {
                tracing::info!(endpoint, from, to, "circuit breaker half-open: probing")
            }
            BreakerState::Closed { .. } => {
                tracing::info!(endpoint, from, to, "circuit breaker closed: endpoint back")
            }
        }
        if let Some(hook) = &self.on_change {
            hook(&self.name, next);
        }
    }

    fn lock(&self) -> MutexGuard<'_, BreakerState> {
        // Nothing that holds the lock can leave the state half-updated.
        self.state.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new("rpc-a", BreakerConfig::default()).unwrap()
    }

    fn fail(b: &CircuitBreaker, times: u32) {
        for _ in 0..times {
            b.record_failure();
        }
    }

    fn is_open(b: &CircuitBreaker) -> bool {
        matches!(b.state(), BreakerState::Open { .. })
    }

    /// A breaker that has just opened and then waited out its timeout.
    async fn half_open() -> CircuitBreaker {
        let b = breaker();
        fail(&b, 5);
        tokio::time::advance(TIMEOUT).await;
        assert!(b.allow());
        b
    }

    #[test]
    fn defaults_follow_the_seed() {
        let c = BreakerConfig::default();
        assert_eq!((c.failure_threshold, c.success_threshold), (5, 2));
        assert_eq!(c.open_timeout, Duration::from_secs(30));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn config_reads_milliseconds_and_rejects_zero_thresholds() {
        let c: BreakerConfig =
            serde_json::from_str(r#"{"failure_threshold": 3, "open_timeout_ms": 1500}"#).unwrap();
        assert_eq!(c.failure_threshold, 3);
        assert_eq!(c.success_threshold, 2);
        assert_eq!(c.open_timeout, Duration::from_millis(1500));
        let zero = BreakerConfig {
            failure_threshold: 0,
            ..BreakerConfig::default()
        };
        let err = CircuitBreaker::new("x", zero).unwrap_err();
        assert_eq!(err, BreakerConfigError::FailureThreshold);
        assert_eq!(err.kind(), "failure_threshold");
        let zero = BreakerConfig {
            success_threshold: 0,
            ..BreakerConfig::default()
        };
        assert_eq!(zero.validate().unwrap_err().kind(), "success_threshold");
    }

    #[tokio::test(start_paused = true)]
    async fn state_labels_and_gauge_values() {
        let closed = BreakerState::Closed { failures: 3 };
        let half = BreakerState::HalfOpen { successes: 1 };
        let open = BreakerState::Open {
            since: Instant::now(),
        };
        assert_eq!(
            [closed.as_str(), half.as_str(), open.as_str()],
            ["closed", "half_open", "open"]
        );
        assert_eq!([closed.gauge(), half.gauge(), open.gauge()], [0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_failure_threshold() {
        let b = breaker();
        fail(&b, 4);
        assert_eq!(b.state(), BreakerState::Closed { failures: 4 });
        assert!(b.allow());
        b.record_failure();
        assert_eq!(
            b.state(),
            BreakerState::Open {
                since: Instant::now()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rejects_while_open() {
        let b = breaker();
        fail(&b, 5);
        assert!(!b.allow());
        tokio::time::advance(TIMEOUT - Duration::from_millis(1)).await;
        assert!(!b.allow());
        assert!(is_open(&b), "rejections do not change the state");
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_after_open_timeout() {
        let b = breaker();
        fail(&b, 5);
        tokio::time::advance(TIMEOUT).await;
        assert!(is_open(&b), "the state moves on the next allow()");
        assert!(b.allow());
        assert_eq!(b.state(), BreakerState::HalfOpen { successes: 0 });
        assert!(b.allow(), "probes keep passing while half-open");
    }

    #[tokio::test(start_paused = true)]
    async fn closes_after_success_threshold() {
        let b = half_open().await;
        b.record_success();
        assert_eq!(b.state(), BreakerState::HalfOpen { successes: 1 });
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        assert!(b.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_failure_reopens_and_restarts_the_timeout() {
        let b = half_open().await;
        b.record_success();
        tokio::time::advance(Duration::from_secs(5)).await;
        b.record_failure();
        assert_eq!(
            b.state(),
            BreakerState::Open {
                since: Instant::now()
            }
        );
        assert!(!b.allow());
        tokio::time::advance(TIMEOUT - Duration::from_millis(1)).await;
        assert!(!b.allow());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(b.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn success_in_closed_resets_the_failure_count() {
        let b = breaker();
        fail(&b, 4);
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        fail(&b, 4);
        assert_eq!(b.state(), BreakerState::Closed { failures: 4 });
        assert!(b.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_while_open_change_nothing() {
        let b = breaker();
        fail(&b, 5);
        let opened = b.state();
        tokio::time::advance(Duration::from_secs(20)).await;
        b.record_failure();
        b.record_success();
        assert_eq!(
            b.state(),
            opened,
            "late outcomes neither close nor extend it"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn hook_sees_each_change_of_state_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let b = CircuitBreaker::new("rpc-a", BreakerConfig::default())
            .unwrap()
            .on_change(move |name, state| {
                log.lock()
                    .unwrap()
                    .push(format!("{name}:{}", state.as_str()))
            });
        fail(&b, 7); // opens at the fifth; the rest change nothing
        assert!(!b.allow());
        tokio::time::advance(TIMEOUT).await;
        assert!(b.allow());
        assert!(b.allow());
        b.record_success();
        b.record_success();
        b.record_success();
        assert_eq!(
            *seen.lock().unwrap(),
            ["rpc-a:open", "rpc-a:half_open", "rpc-a:closed"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_between_tasks() {
        let b = Arc::new(
            CircuitBreaker::new(
                "rpc-a",
                BreakerConfig {
                    failure_threshold: 1_000,
                    ..BreakerConfig::default()
                },
            )
            .unwrap(),
        );
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { fail(&b, 249) })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(b.state(), BreakerState::Closed { failures: 996 });
        fail(&b, 4);
        assert!(is_open(&b));
    }
}
