//! [`Heartbeat`] and [`HeartbeatCheck`]: a loop (the scheduler) completed a round
//! recently. A scheduler stuck in a tick executes nothing, so the keeper is not ready,
//! whatever RPC says. Must not: beat on its own; only the watched loop beats.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::check::{HealthCheck, HealthStatus};

/// When a loop last completed a round: beaten by the loop, read by [`HeartbeatCheck`].
/// A clone shares the same beat. Starts fresh, so a loop has its grace to begin.
#[derive(Clone, Debug)]
pub struct Heartbeat(Arc<parking_lot::Mutex<Instant>>);

impl Heartbeat {
    pub fn new() -> Self {
        Self(Arc::new(parking_lot::Mutex::new(Instant::now())))
    }

    /// The loop completed a round now.
    pub fn beat(&self) {
        *self.0.lock() = Instant::now();
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        self.0.lock().elapsed()
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

/// A loop (the scheduler) beat its [`Heartbeat`] within `stale_after`. Critical: a
/// keeper whose scheduler stalled executes nothing, whatever its RPC answers.
pub struct HeartbeatCheck {
    name: String,
    heartbeat: Heartbeat,
    stale_after: Duration,
}

impl HeartbeatCheck {
    /// Named `name` (`scheduler`); fails when the last beat is older than `stale_after`.
    pub fn new(name: impl Into<String>, heartbeat: Heartbeat, stale_after: Duration) -> Self {
        Self {
            name: name.into(),
            heartbeat,
            stale_after,
        }
    }
}

#[async_trait]
impl HealthCheck for HeartbeatCheck {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> HealthStatus {
        let age = self.heartbeat.age();
        let status = if age > self.stale_after {
            HealthStatus::unhealthy(format!(
                "{} has not completed a round for {} ms (stale after {} ms): stalled",
                self.name,
                age.as_millis(),
                self.stale_after.as_millis()
            ))
        } else {
            HealthStatus::healthy(format!(
                "{} completed a round {} ms ago",
                self.name,
                age.as_millis()
            ))
        };
        status.with_metric("age_seconds", age.as_secs_f64())
    }
}
