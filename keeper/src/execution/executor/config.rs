//! The executor's settings (`[daemon.executor]`).
//!
//! Owns: what an operator tunes about sending, confirming, replaying and dead-lettering
//! executions, and the defaults. Must not: act on the settings (the executor's other
//! modules do) or check them against other subsystems' settings (the daemon's
//! configuration does).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::retry::RetryStrategy;

/// Executor settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Attempts after the first before an execution is dead-lettered.
    pub max_retries: u32,
    /// Priority of non-durable executions.
    pub non_durable_priority: ExecutionPriority,
    /// Priority of durable executions (raised from Low by the builder's policy).
    pub durable_priority: ExecutionPriority,
    /// The lowest priority an owner's choice is honoured at: below it, this.
    pub owner_priority_floor: ExecutionPriority,
    /// The highest priority an owner's choice is honoured at: above it, this (a higher
    /// priority costs this keeper more in compute-unit price).
    pub owner_priority_ceiling: ExecutionPriority,
    /// A sent transaction with no status after this long is treated as dropped and
    /// replayed (seconds).
    pub confirm_timeout_secs: u64,
    /// Rows taken per replay tick.
    pub replay_batch: usize,
    /// Longest wait between two replays of one execution (seconds): the priority's base
    /// delay doubles per replay up to this.
    pub replay_max_delay_secs: u64,
    /// Backoff of a send the endpoint did not answer, within one attempt
    /// (`[daemon.executor.send_retry]`); what still fails goes to the replay queue.
    pub send_retry: RetryStrategy,
    /// Least lamports an execution must leave this keeper: the thread's `fee_per_exec`
    /// less the transaction's fee and a durable thread's share of its lease transactions.
    /// 0: never run at a loss; negative: accept that much loss per execution.
    pub min_margin_lamports: i64,
    /// Seconds a due time declined as unprofitable waits before it is priced again (the
    /// fee market, or the owner's fee, may change meanwhile).
    pub unprofitable_recheck_secs: u64,
}

/// The send backoff by default: 200 ms doubling to 2 s, three tries, ±10 % jitter. Short,
/// since a non-durable transaction's blockhash lives about a minute and the replay queue
/// takes over after.
pub fn default_send_retry() -> RetryStrategy {
    RetryStrategy {
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        multiplier: 2.0,
        max_attempts: 3,
        jitter: 0.1,
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            max_retries: 5,
            non_durable_priority: ExecutionPriority::Medium,
            durable_priority: ExecutionPriority::High,
            owner_priority_floor: ExecutionPriority::Low,
            owner_priority_ceiling: ExecutionPriority::Critical,
            confirm_timeout_secs: 60,
            replay_batch: 64,
            replay_max_delay_secs: 600,
            send_retry: default_send_retry(),
            min_margin_lamports: 0,
            unprofitable_recheck_secs: 60,
        }
    }
}
