//! Health of the keeper, for supervisors and load balancers: the [`HealthCheck`]s, the
//! [`HealthRegistry`] that runs them, and the answers of the health server's `/health`
//! (liveness) and `/ready` (readiness) endpoints (served by [`crate::ops::http`]).
//!
//! Owns: running the checks (concurrently, each bounded by a timeout), remembering their
//! last results, judging readiness (every *critical* check healthy), and the
//! `keeper_invalid_nonces` gauge. The checks:
//! - [`RpcCheck`]: the chain answers `latest_blockhash` within a timeout;
//! - [`NonceAccountsCheck`]: every nonce account this keeper relies on exists, belongs
//!   to the system program, is an initialized nonce whose authority is the expected one,
//!   and holds at least the rent-exempt minimum for its 80 bytes;
//! - [`HeartbeatCheck`]: a loop (the scheduler) completed a round recently: a scheduler
//!   stuck in a tick executes nothing, so the keeper is not ready, RPC or not.
//!
//! Must not: change what the keeper does. The operating mode is reported here (read from
//! the [`DegradationMonitor`] given to [`HealthRegistry::with_degradation`], which owns
//! it and its gauge) but does not affect readiness: a keeper in maintenance is still
//! ready when its dependencies are, and the mode has its own alert.
//!
//! Liveness never fails on a dependency: `/health` answers 200 with the last results as
//! long as the process can answer at all, so an RPC outage makes the keeper *unready*,
//! never restarted.
//!
//! Files: this one (statuses, the registry, readiness), `rpc.rs`, `nonces.rs` and
//! `heartbeat.rs` (one check each).

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::leadership::Leadership;
use crate::ops::degradation::DegradationMonitor;
use crate::ops::metrics::Metrics;
use crate::periodic::Every;

/// Size of a nonce account's data, whose rent-exempt minimum a nonce account must hold.
pub use thread::client::NONCE_ACCOUNT_LEN;

mod check;
mod heartbeat;
mod nonces;
mod rpc;

pub use check::{HealthCheck, HealthStatus};
pub use heartbeat::{Heartbeat, HeartbeatCheck};
pub use nonces::{validate_nonce_account, NonceAccountsCheck, NonceProblem, WatchedNonces};
pub use rpc::RpcCheck;

/// The last result of one check, as the JSON bodies show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    pub critical: bool,
    #[serde(flatten)]
    pub status: HealthStatus,
    /// When the check finished, in milliseconds since the Unix epoch.
    pub checked_at_unix_ms: u64,
    /// How long it ran.
    pub duration_ms: u64,
}

/// The last results of every check, by name, and the operating mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// `full`, `degraded` or `maintenance` ([`HealthRegistry::mode`]).
    pub mode: &'static str,
    pub checks: BTreeMap<String, CheckResult>,
}

impl Report {
    /// Every critical check has a result and it is healthy.
    pub fn ready(&self) -> bool {
        self.failing().is_empty()
    }

    /// The critical checks that failed, by name.
    pub fn failing(&self) -> Vec<(&str, &CheckResult)> {
        self.checks
            .iter()
            .filter(|(_, result)| result.critical && !result.status.healthy)
            .map(|(name, result)| (name.as_str(), result))
            .collect()
    }
}

/// The checks of one keeper and their last results.
pub struct HealthRegistry {
    metrics: Arc<Metrics>,
    degradation: Option<Arc<DegradationMonitor>>,
    leadership: Option<Leadership>,
    checks: Vec<Arc<dyn HealthCheck>>,
    check_timeout: Duration,
    max_result_age: Duration,
    last: RwLock<Option<(Instant, BTreeMap<String, CheckResult>)>>,
}

impl HealthRegistry {
    /// No checks yet; each check is cut off after 10 s; `/ready` runs the checks on every
    /// request (see [`HealthRegistry::with_max_result_age`]).
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            degradation: None,
            leadership: None,
            checks: Vec::new(),
            check_timeout: Duration::from_secs(10),
            max_result_age: Duration::ZERO,
            last: RwLock::new(None),
        }
    }

    /// Adds a check.
    ///
    /// # Panics
    /// When a check of the same name is already registered: names key the results.
    pub fn with_check(mut self, check: impl HealthCheck + 'static) -> Self {
        assert!(
            self.checks.iter().all(|c| c.name() != check.name()),
            "duplicate health check name {:?}",
            check.name()
        );
        self.checks.push(Arc::new(check));
        self
    }

    /// A check still running after `timeout` counts as failed.
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// [`HealthRegistry::readiness`] reuses results younger than `age` instead of running
    /// the checks again, so that bursts of probes cost one round of RPC calls.
    pub fn with_max_result_age(mut self, age: Duration) -> Self {
        self.max_result_age = age;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Reports the operating mode `monitor` decides.
    pub fn with_degradation(mut self, monitor: Arc<DegradationMonitor>) -> Self {
        self.degradation = Some(monitor);
        self
    }

    /// Reports whether this keeper leads its fleet.
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// This keeper's part in its fleet (`leader`, `follower`, `unavailable`, ...; see
    /// [`crate::leadership::LeaderState`]); `leader` when it is alone.
    pub fn leadership(&self) -> &'static str {
        self.leadership
            .as_ref()
            .map_or("leader", |leadership| leadership.state().as_str())
    }

    /// The operating mode: `full`, `degraded` or `maintenance`; `full` without a
    /// degradation monitor.
    pub fn mode(&self) -> &'static str {
        self.degradation
            .as_ref()
            .map_or("full", |monitor| monitor.mode().as_str())
    }

    /// Runs every check concurrently, each bounded by the check timeout, remembers and
    /// returns the results. A check that panics or times out is reported unhealthy.
    pub async fn run_checks(&self) -> Report {
        let running: Vec<_> = self
            .checks
            .iter()
            .map(|check| {
                let check = check.clone();
                let timeout = self.check_timeout;
                tokio::spawn(async move {
                    let started = Instant::now();
                    let status = tokio::time::timeout(timeout, check.check())
                        .await
                        .unwrap_or_else(|_| {
                            HealthStatus::unhealthy(format!(
                                "check timed out after {} ms",
                                timeout.as_millis()
                            ))
                        });
                    (status, started.elapsed())
                })
            })
            .collect();
        let mut results = BTreeMap::new();
        for (check, task) in self.checks.iter().zip(running) {
            let (status, took) = task.await.unwrap_or_else(|e| {
                (
                    HealthStatus::unhealthy(format!("check panicked: {e}")),
                    Duration::ZERO,
                )
            });
            results.insert(
                check.name().to_owned(),
                CheckResult {
                    critical: check.critical(),
                    status,
                    checked_at_unix_ms: unix_ms(),
                    duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                },
            );
        }
        self.remember(&results);
        Report {
            mode: self.mode(),
            checks: results,
        }
    }

    /// The last results, without running anything (empty before the first run).
    pub fn last_report(&self) -> Report {
        let checks = self
            .last
            .read()
            .as_ref()
            .map(|(_, results)| results.clone())
            .unwrap_or_default();
        Report {
            mode: self.mode(),
            checks,
        }
    }

    /// The `/health` body: `status` is always `alive`; the last results and the mode are
    /// for information. Runs nothing, so it answers even when every dependency is down.
    pub fn liveness(&self) -> Value {
        let report = self.last_report();
        json!({
            "status": "alive",
            "mode": report.mode,
            "leadership": self.leadership(),
            "checks": report.checks,
        })
    }

    /// Whether the keeper is ready, and the `/ready` body: `ready`, `mode`, `failing`
    /// (the critical checks that failed, with their messages) and every result. Runs the
    /// checks unless the last results are younger than the maximum result age.
    pub async fn readiness(&self) -> (bool, Value) {
        self.readiness_within(self.max_result_age).await
    }

    /// [`HealthRegistry::readiness`], reusing the last results while younger than
    /// `age` (zero: never): for readers that poll (the dashboard, every open page every
    /// two seconds) and need not cost an RPC call each time.
    pub async fn readiness_within(&self, age: Duration) -> (bool, Value) {
        let report = match self.fresh_results(age) {
            Some(checks) => Report {
                mode: self.mode(),
                checks,
            },
            None => self.run_checks().await,
        };
        let ready = report.ready();
        let failing: Vec<Value> = report
            .failing()
            .into_iter()
            .map(|(name, result)| json!({ "name": name, "message": result.status.message }))
            .collect();
        let body = json!({
            "ready": ready,
            "mode": report.mode,
            "leadership": self.leadership(),
            "failing": failing,
            "checks": report.checks,
        });
        (ready, body)
    }

    /// Runs the checks every `interval` until `shutdown` completes, so that `/health`
    /// and `keeper_invalid_nonces` stay current without probes.
    pub async fn run(&self, interval: Duration, shutdown: impl Future<Output = ()>) {
        let mut every = Every::new(interval, shutdown);
        while every.tick().await {
            self.run_checks().await;
        }
    }

    fn fresh_results(&self, age: Duration) -> Option<BTreeMap<String, CheckResult>> {
        if age.is_zero() {
            return None;
        }
        let last = self.last.read();
        let (at, results) = last.as_ref()?;
        (at.elapsed() < age).then(|| results.clone())
    }

    /// Stores `results`, logging each check whose health changed.
    fn remember(&self, results: &BTreeMap<String, CheckResult>) {
        let mut last = self.last.write();
        for (name, result) in results {
            let was_healthy = last
                .as_ref()
                .and_then(|(_, previous)| previous.get(name))
                .map(|previous| previous.status.healthy);
            let healthy = result.status.healthy;
            if was_healthy != Some(healthy) {
                if healthy {
                    tracing::info!(check = %name, message = %result.status.message, "health check healthy");
                } else {
                    tracing::warn!(
                        check = %name,
                        critical = result.critical,
                        message = %result.status.message,
                        "health check failing"
                    );
                }
            }
        }
        *last = Some((Instant::now(), results.clone()));
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::ops::degradation::DegradationConfig;
    use async_trait::async_trait;
    use solana_nonce::state::{Data, DurableNonce, State as NonceState};
    use solana_nonce::versions::Versions;
    use solana_sdk::account::Account;
    use solana_sdk::hash::Hash;
    use solana_sdk::pubkey::Pubkey;
    use solana_sdk::rent::Rent;

    struct Fixed {
        name: &'static str,
        critical: bool,
        healthy: bool,
    }

    #[async_trait]
    impl HealthCheck for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn critical(&self) -> bool {
            self.critical
        }
        async fn check(&self) -> HealthStatus {
            if self.healthy {
                HealthStatus::healthy("fine")
            } else {
                HealthStatus::unhealthy("broken")
            }
        }
    }

    /// Counts how often it is run.
    struct Counted(Arc<std::sync::atomic::AtomicUsize>);

    #[async_trait]
    impl HealthCheck for Counted {
        fn name(&self) -> &str {
            "counted"
        }
        async fn check(&self) -> HealthStatus {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            HealthStatus::healthy("fine")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_accepts_older_results_reuses_them_and_ready_still_runs_the_checks() {
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let registry = HealthRegistry::new(Metrics::new()).with_check(Counted(runs.clone()));
        let count = || runs.load(std::sync::atomic::Ordering::SeqCst);
        let within = Duration::from_secs(5);
        assert!(registry.readiness_within(within).await.0);
        assert!(registry.readiness_within(within).await.0);
        assert_eq!(count(), 1, "the second reuses the first's results");
        tokio::time::advance(within).await;
        registry.readiness_within(within).await;
        assert_eq!(count(), 2, "too old: run again");
        registry.readiness().await;
        assert_eq!(count(), 3, "/ready runs them on every request");
    }

    struct Hangs;

    #[async_trait]
    impl HealthCheck for Hangs {
        fn name(&self) -> &str {
            "hangs"
        }
        async fn check(&self) -> HealthStatus {
            std::future::pending().await
        }
    }

    fn nonce_account(authority: &Pubkey, lamports: u64) -> Account {
        let state = NonceState::Initialized(Data::new(
            *authority,
            DurableNonce::from_blockhash(&Hash::new_unique()),
            5_000,
        ));
        Account {
            lamports,
            data: bincode::serialize(&Versions::new(state)).unwrap(),
            owner: solana_sdk_ids::system_program::ID,
            executable: false,
            rent_epoch: 0,
        }
    }

    #[test]
    fn nonce_validation_names_each_problem() {
        let authority = Pubkey::new_unique();
        let minimum = Rent::default().minimum_balance(NONCE_ACCOUNT_LEN);
        let good = nonce_account(&authority, minimum);
        assert_eq!(
            validate_nonce_account(Some(&good), &authority, minimum),
            Ok(())
        );

        assert_eq!(
            validate_nonce_account(None, &authority, minimum),
            Err(NonceProblem::Missing)
        );
        let mut foreign = good.clone();
        foreign.owner = thread::ID;
        assert_eq!(
            validate_nonce_account(Some(&foreign), &authority, minimum),
            Err(NonceProblem::WrongOwner { owner: thread::ID })
        );
        let mut short = good.clone();
        short.data.truncate(10);
        assert_eq!(
            validate_nonce_account(Some(&short), &authority, minimum),
            Err(NonceProblem::NotNonce { len: 10 })
        );
        let mut blank = good.clone();
        blank.data = vec![0; NONCE_ACCOUNT_LEN];
        assert_eq!(
            validate_nonce_account(Some(&blank), &authority, minimum),
            Err(NonceProblem::Uninitialized)
        );
        let other = Pubkey::new_unique();
        assert_eq!(
            validate_nonce_account(Some(&good), &other, minimum),
            Err(NonceProblem::WrongAuthority {
                expected: other,
                actual: authority
            })
        );
        let poor = nonce_account(&authority, minimum - 1);
        assert_eq!(
            validate_nonce_account(Some(&poor), &authority, minimum),
            Err(NonceProblem::BelowRentExempt {
                lamports: minimum - 1,
                minimum
            })
        );
    }

    #[test]
    fn watched_nonces_are_shared_between_clones() {
        let watched = WatchedNonces::new();
        let handle = watched.clone();
        let (a, b, auth) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        handle.insert(a, auth);
        handle.insert(b, auth);
        assert_eq!(watched.len(), 2);
        assert_eq!(handle.remove(&a), Some(auth));
        assert_eq!(watched.snapshot(), vec![(b, auth)]);
        watched.replace([]);
        assert!(handle.is_empty());
    }

    /// Runs a real scheduler against `chain` with `heartbeat`, for `for_how_long` of
    /// (paused) time, and returns `/ready`'s answer with only the heartbeat check.
    async fn ready_after_scheduler_on(
        chain: Arc<dyn Chain>,
        for_how_long: Duration,
    ) -> (bool, Value) {
        use crate::tracking::scheduler::{Scheduler, SchedulerConfig};
        let heartbeat = Heartbeat::new();
        let registry = HealthRegistry::new(Metrics::new()).with_check(HeartbeatCheck::new(
            "scheduler",
            heartbeat.clone(),
            Duration::from_secs(15),
        ));
        let (_changes_tx, changes) = tokio::sync::mpsc::channel(8);
        let (work, _work_rx) = tokio::sync::mpsc::channel(8);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let scheduler = tokio::spawn(
            Scheduler::new(SchedulerConfig::default())
                .with_heartbeat(heartbeat)
                .run(
                    chain,
                    crate::tracking::discovery::shared_index(),
                    changes,
                    work,
                    Duration::from_millis(100),
                    async move {
                        let _ = stopped.await;
                    },
                ),
        );
        tokio::time::sleep(for_how_long).await;
        let answer = registry.readiness().await;
        let _ = stop.send(());
        let _ = scheduler.await;
        answer
    }

    #[tokio::test(start_paused = true)]
    async fn ready_fails_naming_the_scheduler_when_it_stops_ticking() {
        use crate::chain::faulty::{Fault, FaultyChain, Op};
        use crate::tracking::discovery::tests::StubChain;

        // A ticking scheduler keeps /ready green, chain errors or not.
        let (ready, body) =
            ready_after_scheduler_on(Arc::new(StubChain::new()), Duration::from_secs(60)).await;
        assert!(ready, "{body}");

        // A scheduler stuck in a tick (the clock call never returns) turns it red.
        let stuck = FaultyChain::new(StubChain::new(), 7);
        stuck.script(
            Op::Clock,
            [Some(Fault::Timeout(Duration::from_secs(86_400)))],
        );
        let (ready, body) =
            ready_after_scheduler_on(Arc::new(stuck), Duration::from_secs(60)).await;
        assert!(!ready, "{body}");
        assert_eq!(body["failing"][0]["name"], json!("scheduler"));
        let message = body["failing"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("scheduler has not completed a round for 60")
                && message.ends_with("ms (stale after 15000 ms): stalled"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn readiness_needs_every_critical_check_and_ignores_the_others() {
        let registry = HealthRegistry::new(Metrics::new())
            .with_check(Fixed {
                name: "critical_ok",
                critical: true,
                healthy: true,
            })
            .with_check(Fixed {
                name: "optional_broken",
                critical: false,
                healthy: false,
            });
        let (ready, body) = registry.readiness().await;
        assert!(ready, "{body}");
        assert_eq!(body["failing"], json!([]));
        assert_eq!(body["checks"]["optional_broken"]["healthy"], json!(false));

        let registry = HealthRegistry::new(Metrics::new()).with_check(Fixed {
            name: "critical_broken",
            critical: true,
            healthy: false,
        });
        let (ready, body) = registry.readiness().await;
        assert!(!ready);
        assert_eq!(
            body["failing"],
            json!([{ "name": "critical_broken", "message": "broken" }])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_check_fails_after_the_check_timeout() {
        let registry = HealthRegistry::new(Metrics::new())
            .with_check(Hangs)
            .with_check_timeout(Duration::from_secs(2));
        let report = registry.run_checks().await;
        let result = &report.checks["hangs"];
        assert!(!result.status.healthy);
        assert_eq!(result.status.message, "check timed out after 2000 ms");
        assert!(!report.ready());
    }

    #[tokio::test]
    async fn liveness_reports_the_last_results_and_mode_without_running_checks() {
        let registry = HealthRegistry::new(Metrics::new()).with_check(Fixed {
            name: "broken",
            critical: true,
            healthy: false,
        });
        assert_eq!(registry.liveness()["checks"], json!({}));
        registry.run_checks().await;
        let body = registry.liveness();
        assert_eq!(body["status"], json!("alive"));
        assert_eq!(body["mode"], json!("full"));
        assert_eq!(body["checks"]["broken"]["message"], json!("broken"));
    }

    #[test]
    #[should_panic(expected = "duplicate health check name")]
    fn check_names_must_be_unique() {
        let check = || Fixed {
            name: "same",
            critical: true,
            healthy: true,
        };
        let _ = HealthRegistry::new(Metrics::new())
            .with_check(check())
            .with_check(check());
    }

    #[tokio::test(start_paused = true)]
    async fn the_mode_comes_from_the_degradation_monitor_and_not_readiness() {
        let config = DegradationConfig {
            min_samples: 1,
            ..DegradationConfig::default()
        };
        let monitor = Arc::new(DegradationMonitor::new(config, None).unwrap());
        let registry = HealthRegistry::new(Metrics::new())
            .with_degradation(monitor.clone())
            .with_check(Fixed {
                name: "fine",
                critical: true,
                healthy: true,
            });
        assert_eq!(registry.mode(), "full");

        monitor.record(false);
        let (ready, body) = registry.readiness().await;
        assert!(ready);
        assert_eq!(body["mode"], json!("maintenance"));
        assert_eq!(registry.liveness()["mode"], json!("maintenance"));
    }
}
