//! [`DaemonConfig`]: the `[daemon]` table of the keeper's TOML file, what `keeper run`
//! runs with, and its one check at start.
//!
//! Owns the daemon's own settings (workers, the periods of its loops, the shutdown's
//! time budget) with their bounds, and the order in which the nested tables are checked.
//! Must not: check a nested table's values itself; each (`[daemon.builder]`,
//! `[daemon.rpc]`, ...) validates itself in its own module and names its own keys.

use std::net::SocketAddr;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::chain::rpc::RpcConfig;
use crate::config::setting::{within, InvalidSetting};
use crate::execution::builder::BuilderConfig;
use crate::execution::executor::ExecutorConfig;
use crate::execution::leases::LeaseConfig;
use crate::fleet::FleetConfig;
use crate::leadership::LeadershipConfig;
use crate::ops::dashboard::DashboardConfig;
use crate::ops::degradation::DegradationConfig;
use crate::ops::notify::NotifyConfig;

/// The most executions [`DaemonConfig::workers`] may allow at once: each holds an
/// RPC round trip and, for a durable thread, a nonce.
pub const MAX_WORKERS: usize = 4_096;

/// The allowed range of each of the daemon's periods, milliseconds. The upper bounds are
/// far above any sensible setting and far below the values that would stall the daemon
/// while it looks alive (a `tick_ms` of `u64::MAX` never ticks); the README's `[daemon]`
/// table quotes them.
pub const TICK_MS: RangeInclusive<u64> = 1..=60_000;
pub const RECONCILE_MS: RangeInclusive<u64> = 1..=3_600_000;
pub const CONFIRM_MS: RangeInclusive<u64> = 1..=60_000;
pub const REPLAY_MS: RangeInclusive<u64> = 1..=600_000;
/// Not waiting for in-flight executions at shutdown is a choice, not a mistake.
pub const DRAIN_MS: RangeInclusive<u64> = 0..=120_000;

/// The longest [`DaemonConfig::shutdown_ms`]: a supervisor kills a keeper that takes
/// longer anyway (systemd's default stop timeout is 90 s).
pub const MAX_SHUTDOWN_MS: u64 = 300_000;

/// The least of [`DaemonConfig::shutdown_ms`] left after the drain for handing leases
/// back and leaving the fleet.
pub const MIN_HAND_BACK_MS: u64 = 2_000;

/// Daemon settings (the `[daemon]` part of the keeper's TOML file). Missing keys take
/// their [`Default`]; [`DaemonConfig::validate`] says whether the daemon can run with
/// them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Executions worked on at once.
    pub workers: usize,
    /// Scheduler tick, milliseconds.
    pub tick_ms: u64,
    /// Full getProgramAccounts reconcile, milliseconds.
    pub reconcile_ms: u64,
    /// Batched confirmation poll, milliseconds.
    pub confirm_ms: u64,
    /// Replay queue poll, milliseconds.
    pub replay_ms: u64,
    /// How long shutdown waits for in-flight executions to confirm, milliseconds; what
    /// is still unconfirmed then stays persisted for the next start.
    pub drain_ms: u64,
    /// The whole shutdown, milliseconds: the drain, then handing leases back (all at
    /// once, in what is left), then leaving the fleet. What is not done by then is left:
    /// unconfirmed executions stay persisted, leases not handed back expire. Default
    /// 25 s, inside Kubernetes' 30 s grace and systemd's 90 s stop timeout.
    pub shutdown_ms: u64,
    /// Where /health, /ready and /metrics are served; none when absent.
    pub health_addr: Option<SocketAddr>,
    /// A thread whose balance pays for fewer executions than this gets a
    /// `keeper_thread_runway_executions{thread}` series (0: none do).
    pub low_runway_executions: u64,
    /// `[daemon.builder]`: nonce hold time, priority fees and compute budget.
    pub builder: BuilderConfig,
    /// `[daemon.leases]`: how nonce-authority leases are claimed and renewed.
    pub leases: LeaseConfig,
    /// `[daemon.executor]`: retries, priorities, confirmation timeout, replay batch.
    pub executor: ExecutorConfig,
    /// `[daemon.degradation]`: error-rate thresholds of the operating modes.
    pub degradation: DegradationConfig,
    /// A fleet: only the keeper holding the etcd key executes (none by default: this
    /// keeper is alone and always does).
    pub leadership: LeadershipConfig,
    /// `[daemon.rpc]`: request timeout and answer size caps of every RPC endpoint.
    pub rpc: RpcConfig,
    /// `[daemon.notify]`: webhooks told of every dead letter.
    pub notify: NotifyConfig,
    /// `[daemon.dashboard]`: the web page on the health address, and its actions.
    pub dashboard: DashboardConfig,
    /// `[daemon.fleet]`: the fleet's work queue on NATS JetStream (none by default).
    pub fleet: FleetConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            tick_ms: 100,
            reconcile_ms: 10_000,
            confirm_ms: 400,
            replay_ms: 1_000,
            drain_ms: 10_000,
            shutdown_ms: 25_000,
            health_addr: None,
            low_runway_executions: 100,
            builder: BuilderConfig::default(),
            leases: LeaseConfig::default(),
            executor: ExecutorConfig::default(),
            degradation: DegradationConfig::default(),
            leadership: LeadershipConfig::default(),
            rpc: RpcConfig::default(),
            notify: NotifyConfig::default(),
            dashboard: DashboardConfig::default(),
            fleet: FleetConfig::default(),
        }
    }
}

impl DaemonConfig {
    /// Checks every setting once, at start, naming the first bad one. The loops would
    /// cope with some of these (a zero period is raised to 1 ms), but a value that
    /// cannot mean what the operator wrote is better reported than obeyed.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.validate_own()?;
        self.builder.validate_settings()?;
        self.leases.validate_settings()?;
        self.executor.validate_settings()?;
        self.degradation.validate_settings()?;
        self.notify.validate_settings()?;
        self.rpc.validate_settings()?;
        self.fleet.validate_settings()?;
        self.leadership.validate_settings()
    }

    /// The settings directly under `[daemon]`.
    fn validate_own(&self) -> Result<(), InvalidSetting> {
        within("daemon.workers", self.workers, 1..=MAX_WORKERS)?;
        within("daemon.tick_ms", self.tick_ms, TICK_MS)?;
        within("daemon.reconcile_ms", self.reconcile_ms, RECONCILE_MS)?;
        within("daemon.confirm_ms", self.confirm_ms, CONFIRM_MS)?;
        within("daemon.replay_ms", self.replay_ms, REPLAY_MS)?;
        within("daemon.drain_ms", self.drain_ms, DRAIN_MS)?;
        within(
            "daemon.shutdown_ms",
            self.shutdown_ms,
            MIN_HAND_BACK_MS..=MAX_SHUTDOWN_MS,
        )?;
        let drain_at_most = self.shutdown_ms - MIN_HAND_BACK_MS;
        if self.drain_ms > drain_at_most {
            return Err(InvalidSetting::new(
                "daemon.drain_ms",
                self.drain_ms,
                format!(
                    "expected at most daemon.shutdown_ms - {MIN_HAND_BACK_MS} ({drain_at_most}): \
                     leases are handed back in what the drain leaves of the shutdown; raise \
                     daemon.shutdown_ms or lower daemon.drain_ms"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::setting::{assert_bounded, refusal, Spoil};

    fn field_of(spoil: Spoil<DaemonConfig>) -> &'static str {
        refusal(spoil, DaemonConfig::validate).field
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(DaemonConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_workers_is_refused_naming_the_key_and_value() {
        let err = refusal(|c: &mut DaemonConfig| c.workers = 0, DaemonConfig::validate);
        assert_eq!(err.to_string(), "daemon.workers = 0: expected 1 to 4096");
        assert_eq!(field_of(|c| c.workers = MAX_WORKERS + 1), "daemon.workers");
    }

    #[test]
    fn zero_periods_are_refused_each_by_name() {
        let cases: [(&str, Spoil<DaemonConfig>); 4] = [
            ("daemon.tick_ms", |c| c.tick_ms = 0),
            ("daemon.reconcile_ms", |c| c.reconcile_ms = 0),
            ("daemon.confirm_ms", |c| c.confirm_ms = 0),
            ("daemon.replay_ms", |c| c.replay_ms = 0),
        ];
        for (field, spoil) in cases {
            assert_eq!(field_of(spoil), field);
        }
        // Not waiting for in-flight executions at shutdown is a choice, not a mistake.
        let config = DaemonConfig {
            drain_ms: 0,
            ..DaemonConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn shutdown_is_bounded_and_leaves_room_to_hand_leases_back() {
        let with = |drain_ms, shutdown_ms| DaemonConfig {
            drain_ms,
            shutdown_ms,
            ..DaemonConfig::default()
        };
        let default = DaemonConfig::default();
        assert!(
            default.shutdown_ms < 30_000,
            "inside Kubernetes' 30 s grace"
        );
        assert!(default.drain_ms + MIN_HAND_BACK_MS <= default.shutdown_ms);
        let err = with(0, MAX_SHUTDOWN_MS + 1).validate().unwrap_err();
        assert_eq!(err.field, "daemon.shutdown_ms");
        assert_eq!(
            err.reason,
            format!("expected {MIN_HAND_BACK_MS} to {MAX_SHUTDOWN_MS}")
        );
        let err = with(0, MIN_HAND_BACK_MS - 1).validate().unwrap_err();
        assert_eq!(err.field, "daemon.shutdown_ms");
        // A drain that would eat the time to hand leases back is refused by its name.
        let err = with(9_000, 10_000).validate().unwrap_err();
        assert_eq!(err.field, "daemon.drain_ms");
        assert!(err.reason.contains("daemon.shutdown_ms"), "{err}");
        assert_eq!(with(8_000, 10_000).validate(), Ok(()));
        assert_eq!(with(0, MIN_HAND_BACK_MS).validate(), Ok(()));
    }

    #[test]
    fn every_period_has_an_upper_bound_naming_the_key_and_range() {
        /// A period's key, its range, and how to set it.
        type Period = (
            &'static str,
            RangeInclusive<u64>,
            fn(&mut DaemonConfig, u64),
        );
        let periods: [Period; 5] = [
            ("daemon.tick_ms", TICK_MS, |c, v| c.tick_ms = v),
            ("daemon.reconcile_ms", RECONCILE_MS, |c, v| {
                c.reconcile_ms = v
            }),
            ("daemon.confirm_ms", CONFIRM_MS, |c, v| c.confirm_ms = v),
            ("daemon.replay_ms", REPLAY_MS, |c, v| c.replay_ms = v),
            ("daemon.drain_ms", DRAIN_MS, |c, v| {
                // The drain must also leave the shutdown room to hand leases back.
                c.drain_ms = v;
                c.shutdown_ms = MAX_SHUTDOWN_MS;
            }),
        ];
        for (field, range, set) in periods {
            assert_bounded(field, range, set, DaemonConfig::validate);
        }
        let err = refusal(
            |c: &mut DaemonConfig| c.tick_ms = u64::MAX,
            DaemonConfig::validate,
        );
        assert_eq!(
            err.to_string(),
            format!("daemon.tick_ms = {}: expected 1 to 60000", u64::MAX)
        );
    }

    /// Each nested table checks itself (its own tests cover every key); this pins that
    /// the daemon asks every one of them, and that their full keys reach the operator.
    #[test]
    fn every_nested_table_is_checked_and_names_its_full_key() {
        let cases: [(&str, Spoil<DaemonConfig>); 7] = [
            ("daemon.builder.lease_ttl", |c| {
                c.builder.lease_ttl = Duration::ZERO
            }),
            ("daemon.leases.lease_slots", |c| {
                c.leases.lease_slots = u64::MAX
            }),
            ("daemon.executor.replay_batch", |c| {
                c.executor.replay_batch = 0
            }),
            ("daemon.degradation.min_samples", |c| {
                c.degradation.min_samples = 0
            }),
            ("daemon.notify.timeout_ms", |c| c.notify.timeout_ms = 0),
            ("daemon.rpc.timeout_ms", |c| c.rpc.timeout_ms = u64::MAX),
            ("daemon.leadership.lease_ttl_secs", |c| {
                c.leadership.lease_ttl_secs = 0
            }),
        ];
        for (field, spoil) in cases {
            assert_eq!(field_of(spoil), field);
        }
    }
}
