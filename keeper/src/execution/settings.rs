//! The execution wing's tables of the keeper's TOML file check their own values:
//! `[daemon.builder]` ([`BuilderConfig`]), `[daemon.leases]` ([`LeaseConfig`]) and
//! `[daemon.executor]` ([`ExecutorConfig`]), each naming a bad value by its full key.
//!
//! Owns the bounds of these settings and why they are what they are. Must not: build,
//! lease or execute anything, or change what a setting means (each type's own module
//! says that); the checks run once, at start, before anything is sent.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::config::setting::{at_least_1, within, InvalidSetting};
use crate::execution::builder::compute::MAX_COMPUTE_UNIT_LIMIT;
use crate::execution::builder::BuilderConfig;
use crate::execution::executor::ExecutorConfig;
use crate::execution::leases::LeaseConfig;
use crate::execution::retry::RetryConfigError;

/// [`BuilderConfig::lease_ttl`], seconds: an hour is far longer than any build holds a
/// nonce, and a nonce held longer by a stuck build would stall its thread.
pub const NONCE_LEASE_TTL_SECS: RangeInclusive<u64> = 1..=3_600;
/// [`LeaseConfig::lease_slots`]: about a day of slots.
pub const LEASE_SLOTS: RangeInclusive<u64> = 1..=216_000;
/// [`LeaseConfig::confirm_timeout_secs`]: a lease transaction waits at most ten minutes.
pub const LEASE_CONFIRM_TIMEOUT_SECS: RangeInclusive<u64> = 1..=600;
/// [`ExecutorConfig::confirm_timeout_secs`]: an hour, far past a blockhash's life.
pub const EXEC_CONFIRM_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3_600;

/// Bounds of the executor's backoffs: a day between replays, and a send retried within
/// one attempt at most 10 times, waiting at most 30 s between tries.
pub const MAX_REPLAY_DELAY_SECS: u64 = 86_400;
pub const MAX_SEND_ATTEMPTS: u32 = 10;
pub const MAX_SEND_RETRY_DELAY: Duration = Duration::from_secs(30);

impl BuilderConfig {
    /// Checks every `[daemon.builder]` value, naming the first bad one by its full key.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        within(
            "daemon.builder.lease_ttl",
            self.lease_ttl.as_secs(),
            NONCE_LEASE_TTL_SECS,
        )?;
        let compute = &self.compute;
        within(
            "daemon.builder.compute.fee_percentile",
            compute.fee_percentile,
            0..=100,
        )?;
        if compute.min_unit_limit > MAX_COMPUTE_UNIT_LIMIT {
            return Err(InvalidSetting::new(
                "daemon.builder.compute.min_unit_limit",
                compute.min_unit_limit,
                format!(
                    "expected at most {MAX_COMPUTE_UNIT_LIMIT}, the most a transaction may ask for"
                ),
            ));
        }
        Ok(())
    }
}

impl LeaseConfig {
    /// Checks every `[daemon.leases]` value, naming the first bad one by its full key.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        within("daemon.leases.lease_slots", self.lease_slots, LEASE_SLOTS)?;
        if self.renew_below_slots >= self.lease_slots {
            return Err(InvalidSetting::new(
                "daemon.leases.renew_below_slots",
                self.renew_below_slots,
                format!(
                    "expected less than daemon.leases.lease_slots ({}), or every pass renews",
                    self.lease_slots
                ),
            ));
        }
        if self.renew_margin_slots > self.renew_below_slots {
            return Err(InvalidSetting::new(
                "daemon.leases.renew_margin_slots",
                self.renew_margin_slots,
                format!(
                    "expected at most daemon.leases.renew_below_slots ({}): a lease is \
                     renewed between the two",
                    self.renew_below_slots
                ),
            ));
        }
        within(
            "daemon.leases.confirm_timeout_secs",
            self.confirm_timeout_secs,
            LEASE_CONFIRM_TIMEOUT_SECS,
        )
    }
}

impl ExecutorConfig {
    /// Checks every `[daemon.executor]` value, naming the first bad one by its full key.
    /// Any `max_retries` is meaningful: 0 dead-letters after the first failed attempt.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        within(
            "daemon.executor.confirm_timeout_secs",
            self.confirm_timeout_secs,
            EXEC_CONFIRM_TIMEOUT_SECS,
        )?;
        at_least_1("daemon.executor.replay_batch", self.replay_batch as u64)?;
        if !(1..=MAX_REPLAY_DELAY_SECS).contains(&self.unprofitable_recheck_secs) {
            return Err(InvalidSetting::new(
                "daemon.executor.unprofitable_recheck_secs",
                self.unprofitable_recheck_secs,
                format!("expected 1 to {MAX_REPLAY_DELAY_SECS} seconds (a day)"),
            ));
        }
        if self.owner_priority_floor > self.owner_priority_ceiling {
            return Err(InvalidSetting::new(
                "daemon.executor.owner_priority_floor",
                self.owner_priority_floor.as_str(),
                format!(
                    "expected at most daemon.executor.owner_priority_ceiling ({})",
                    self.owner_priority_ceiling.as_str()
                ),
            ));
        }
        if !(1..=MAX_REPLAY_DELAY_SECS).contains(&self.replay_max_delay_secs) {
            return Err(InvalidSetting::new(
                "daemon.executor.replay_max_delay_secs",
                self.replay_max_delay_secs,
                format!("expected 1 to {MAX_REPLAY_DELAY_SECS} seconds (a day)"),
            ));
        }
        self.validate_send_retry()
    }

    /// `[daemon.executor.send_retry]`: a usable backoff, short enough for a worker to
    /// hold while it waits.
    fn validate_send_retry(&self) -> Result<(), InvalidSetting> {
        let send_retry = &self.send_retry;
        send_retry.validate().map_err(|e| {
            let (field, value) = match &e {
                RetryConfigError::NoAttempts => (
                    "daemon.executor.send_retry.max_attempts",
                    send_retry.max_attempts.to_string(),
                ),
                RetryConfigError::Multiplier(m) => {
                    ("daemon.executor.send_retry.multiplier", m.to_string())
                }
                RetryConfigError::Jitter(j) => ("daemon.executor.send_retry.jitter", j.to_string()),
                RetryConfigError::InitialAboveMax { initial, .. } => (
                    "daemon.executor.send_retry.initial_delay_ms",
                    initial.as_millis().to_string(),
                ),
            };
            InvalidSetting::new(field, value, e.to_string())
        })?;
        if send_retry.max_attempts > MAX_SEND_ATTEMPTS {
            return Err(InvalidSetting::new(
                "daemon.executor.send_retry.max_attempts",
                send_retry.max_attempts,
                format!("expected 1 to {MAX_SEND_ATTEMPTS}; the replay queue takes over after"),
            ));
        }
        if send_retry.max_delay > MAX_SEND_RETRY_DELAY {
            return Err(InvalidSetting::new(
                "daemon.executor.send_retry.max_delay_ms",
                send_retry.max_delay.as_millis(),
                format!(
                    "expected at most {} ms: a send waits for this while it holds a worker",
                    MAX_SEND_RETRY_DELAY.as_millis()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::setting::{assert_bounded, refusal, Spoil};

    fn builder_refuses(spoil: Spoil<BuilderConfig>) -> InvalidSetting {
        refusal(spoil, BuilderConfig::validate_settings)
    }

    fn leases_refuse(spoil: Spoil<LeaseConfig>) -> InvalidSetting {
        refusal(spoil, LeaseConfig::validate_settings)
    }

    fn executor_refuses(spoil: Spoil<ExecutorConfig>) -> InvalidSetting {
        refusal(spoil, ExecutorConfig::validate_settings)
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(BuilderConfig::default().validate_settings(), Ok(()));
        assert_eq!(LeaseConfig::default().validate_settings(), Ok(()));
        assert_eq!(ExecutorConfig::default().validate_settings(), Ok(()));
    }

    #[test]
    fn nested_settings_are_refused_by_their_full_path() {
        let builder: [(&str, Spoil<BuilderConfig>); 3] = [
            ("daemon.builder.lease_ttl", |c| c.lease_ttl = Duration::ZERO),
            ("daemon.builder.compute.fee_percentile", |c| {
                c.compute.fee_percentile = 101
            }),
            ("daemon.builder.compute.min_unit_limit", |c| {
                c.compute.min_unit_limit = MAX_COMPUTE_UNIT_LIMIT + 1
            }),
        ];
        for (field, spoil) in builder {
            assert_eq!(builder_refuses(spoil).field, field);
        }
        let leases: [(&str, Spoil<LeaseConfig>); 4] = [
            ("daemon.leases.lease_slots", |c| {
                c.lease_slots = 0;
                c.renew_below_slots = 0;
            }),
            ("daemon.leases.renew_below_slots", |c| {
                c.renew_below_slots = c.lease_slots
            }),
            ("daemon.leases.renew_margin_slots", |c| {
                c.renew_margin_slots = c.renew_below_slots + 1
            }),
            ("daemon.leases.confirm_timeout_secs", |c| {
                c.confirm_timeout_secs = 0
            }),
        ];
        for (field, spoil) in leases {
            assert_eq!(leases_refuse(spoil).field, field);
        }
        let executor: [(&str, Spoil<ExecutorConfig>); 4] = [
            ("daemon.executor.confirm_timeout_secs", |c| {
                c.confirm_timeout_secs = 0
            }),
            ("daemon.executor.replay_batch", |c| c.replay_batch = 0),
            ("daemon.executor.unprofitable_recheck_secs", |c| {
                c.unprofitable_recheck_secs = 0
            }),
            ("daemon.executor.unprofitable_recheck_secs", |c| {
                c.unprofitable_recheck_secs = u64::MAX
            }),
        ];
        for (field, spoil) in executor {
            assert_eq!(executor_refuses(spoil).field, field);
        }
        let no_retries = ExecutorConfig {
            max_retries: 0,
            ..ExecutorConfig::default()
        };
        assert_eq!(no_retries.validate_settings(), Ok(()));
        let subsidising = ExecutorConfig {
            min_margin_lamports: -1_000_000,
            ..ExecutorConfig::default()
        };
        assert_eq!(
            subsidising.validate_settings(),
            Ok(()),
            "any margin is meaningful"
        );
    }

    #[test]
    fn backoff_settings_out_of_range_are_refused_each_by_name() {
        let cases: [(&str, Spoil<ExecutorConfig>); 5] = [
            ("daemon.executor.replay_max_delay_secs", |c| {
                c.replay_max_delay_secs = 0
            }),
            ("daemon.executor.replay_max_delay_secs", |c| {
                c.replay_max_delay_secs = u64::MAX
            }),
            ("daemon.executor.send_retry.max_attempts", |c| {
                c.send_retry.max_attempts = 0
            }),
            ("daemon.executor.send_retry.max_attempts", |c| {
                c.send_retry.max_attempts = 1_000
            }),
            ("daemon.executor.send_retry.max_delay_ms", |c| {
                c.send_retry.max_delay = Duration::from_secs(3_600)
            }),
        ];
        for (field, spoil) in cases {
            assert_eq!(executor_refuses(spoil).field, field);
        }
    }

    #[test]
    fn every_period_has_an_upper_bound_naming_the_key_and_range() {
        assert_bounded(
            "daemon.builder.lease_ttl",
            NONCE_LEASE_TTL_SECS,
            |c: &mut BuilderConfig, v| c.lease_ttl = Duration::from_secs(v),
            BuilderConfig::validate_settings,
        );
        assert_bounded(
            "daemon.leases.lease_slots",
            LEASE_SLOTS,
            |c: &mut LeaseConfig, v| c.lease_slots = v,
            LeaseConfig::validate_settings,
        );
        assert_bounded(
            "daemon.leases.confirm_timeout_secs",
            LEASE_CONFIRM_TIMEOUT_SECS,
            |c: &mut LeaseConfig, v| c.confirm_timeout_secs = v,
            LeaseConfig::validate_settings,
        );
        assert_bounded(
            "daemon.executor.confirm_timeout_secs",
            EXEC_CONFIRM_TIMEOUT_SECS,
            |c: &mut ExecutorConfig, v| c.confirm_timeout_secs = v,
            ExecutorConfig::validate_settings,
        );
    }
}
