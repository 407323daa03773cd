//! Prometheus metrics of the keeper. One registry, rendered in the text format by the
//! health server (`/metrics`). Owns metric definitions and their labels; must not decide
//! anything: each subsystem updates the metrics of what it owns, as each field's docs
//! say.
//!
//! Every labelled metric whose label values are known up front (durability, priority,
//! failure kind) has all its series created at zero by [`Metrics::new`], so that rates
//! and alert expressions see a series before the first event.
//!
//! Two gauges are not fields here, because the subsystems that own the
//! states register them on [`Metrics::registry`] themselves (a registry refuses a name
//! registered twice, so defining them here too would make that wiring fail):
//! - `keeper_operating_mode` (0 full, 1 degraded, 2 maintenance):
//!   [`DegradationMonitor::new`](crate::ops::degradation::DegradationMonitor::new) with
//!   `Some(metrics.registry())`;
//! - `keeper_rpc_breaker_state{endpoint}` (0 closed, 1 half-open, 2 open):
//!   [`FailoverChain::new`](crate::chain::failover::FailoverChain::new) with
//!   `Some(metrics.registry())`.

use std::sync::Arc;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use solana_sdk::pubkey::Pubkey;

use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::nonce_pool::{LeaseObserver, ReleaseKind};

/// Label values of `keeper_threads{durability}`.
pub const DURABILITY_LABELS: [&str; 2] = ["durable", "non_durable"];

/// Label values of `keeper_executions_failed_total{kind}` created up front: the
/// [`ChainError`](crate::chain::ChainError) kinds of a failed submission, `execution` for
/// a transaction that landed with an error, `expired` for one whose blockhash expired
/// before it landed, `store` for one never sent because the store could not record it.
/// Other kinds may be added by the submitter; they appear when first used.
pub const FAILURE_KINDS: [&str; 6] = [
    "unavailable",
    "rpc",
    "rejected",
    "execution",
    "expired",
    "store",
];

/// Latency buckets, in seconds, of the execution and replay histograms: from a fast
/// confirmation (~0.4 s) to the longest replay delay and beyond.
const LATENCY_BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// Every metric the keeper exports. Cheap to update from any task (atomics); share it as
/// `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    /// How long builds held a nonce, by how the lease ended. Observed by the nonce pool
    /// (through [`LeaseObserver`]) when a lease ends.
    pub lease_age_seconds: HistogramVec,
    /// Transaction builds, by result (`ok` or the error kind). Incremented by the builder
    /// after each build.
    pub builds_total: IntCounterVec,

    // Threads.
    /// `keeper_threads{durability}`: threads in the discovery index, by durability
    /// (`durable`, `non_durable`). Set by discovery after each scan or update.
    pub threads: IntGaugeVec,
    /// `keeper_thread_runway_executions{thread}`: executions a thread's balance still
    /// pays for, only for threads below `daemon.low_runway_executions` (so the series
    /// are as many as the threads running low). Set by discovery's runway watch.
    pub thread_runway: IntGaugeVec,

    // Executions.
    /// `keeper_executions_submitted_total{priority}`: executions submitted for the first
    /// time, by [`ExecutionPriority`] (one per due execution: resends and replays are not
    /// counted here but in `replay_attempts_total`). Incremented by the submitter.
    pub executions_submitted_total: IntCounterVec,
    /// `keeper_executions_confirmed_total`: executions confirmed successful on chain,
    /// whether on the first submission or after replays. Incremented by the submitter's
    /// confirmation tracking. With `executions_submitted_total` it gives the success
    /// rate.
    pub executions_confirmed_total: IntCounter,
    /// `keeper_executions_failed_total{kind}`: failed submissions and executions, by kind
    /// (see [`FAILURE_KINDS`]). Incremented by the submitter on each failure, including
    /// failures it will replay.
    pub executions_failed_total: IntCounterVec,

    // Replay and dead letters.
    /// `keeper_replay_attempts_total`: replays of a failed durable execution. Incremented
    /// by the replay consumer before each resubmission.
    pub replay_attempts_total: IntCounter,
    /// `keeper_send_retries_total`: sends tried again within one attempt because the
    /// endpoint did not answer (the send backoff). Incremented by the submitter.
    pub send_retries_total: IntCounter,
    /// `keeper_notifications_sent_total`: dead-letter notices a webhook accepted.
    pub notifications_sent_total: IntCounter,
    /// `keeper_notifications_failed_total`: dead-letter notices a webhook never
    /// accepted (every try failed) or that the full queue dropped.
    pub notifications_failed_total: IntCounter,
    /// `keeper_replay_successes_total`: replays that were confirmed. Incremented by the
    /// replay consumer; attempts minus successes are the replay failures.
    pub replay_successes_total: IntCounter,
    /// `keeper_dead_lettered_total`: executions moved to the dead-letter queue after
    /// their last replay failed. Incremented by the replay consumer.
    pub dead_lettered_total: IntCounter,
    /// `keeper_unprofitable_total`: due times declined because executing them would not
    /// pay this keeper (`daemon.executor.min_margin_lamports`); each is priced again
    /// after `unprofitable_recheck_secs`, and counted again if still declined.
    pub unprofitable_total: IntCounter,

    // Nonces.
    /// `keeper_nonce_advances_total`: nonces advanced by a landed durable execution.
    /// Incremented by the submitter when such a transaction is confirmed.
    pub nonce_advances_total: IntCounter,
    /// `keeper_nonce_failures_total`: nonce errors (nonce already advanced, account
    /// unreadable or invalid at build time). Incremented by the builder and submitter.
    pub nonce_failures_total: IntCounter,
    /// `keeper_active_nonces`: nonce accounts this keeper holds a lease on, as the thread
    /// index has the leases from the chain. Set by the daemon's confirmation loop, with
    /// the nonces /ready watches.
    pub active_nonces: IntGauge,
    /// `keeper_invalid_nonces`: watched nonce accounts found invalid (missing, wrong
    /// owner, uninitialized, wrong authority, under rent-exempt). Set by the health
    /// check `NonceAccountsCheck` each time it completes.
    pub invalid_nonces: IntGauge,

    // Queues.
    /// `keeper_replay_queue_depth`: entries waiting in the replay queue. Set by the replay
    /// queue on every enqueue and dequeue.
    pub replay_queue_depth: IntGauge,
    /// `keeper_dlq_size`: entries in the dead-letter queue. Set by the dead-letter queue
    /// on every insert and removal.
    pub dlq_size: IntGauge,

    // A fleet's queue (`[daemon.fleet]`; 0 without one). Set every second by the
    // daemon's spool drain.
    /// `keeper_fleet_work_pending`: executions in the fleet's work stream, waiting or in
    /// a submitter's hands.
    pub fleet_work_pending: IntGauge,
    /// `keeper_fleet_dead_letters`: entries in the fleet's dead-letter stream.
    pub fleet_dead_letters: IntGauge,
    /// `keeper_fleet_spooled`: due executions this keeper holds in its spool while NATS
    /// does not answer.
    pub fleet_spooled: IntGauge,
    /// `keeper_fleet_handovers_total{outcome}`: due executions this keeper, leading,
    /// handed to the fleet, by what became of them (`published`, `duplicate`,
    /// `in_flight`: the stream had it already; `dead_lettered`, `spooled`, `failed`).
    /// Counted by the worker pool.
    pub fleet_handovers_total: IntCounterVec,

    // Latencies.
    /// `keeper_confirmation_latency_seconds`: from an execution's first submission to its
    /// confirmation. Observed by the submitter.
    pub confirmation_latency_seconds: Histogram,
    /// `keeper_due_to_submit_seconds`: from the moment a thread became due (chain time)
    /// to its first submission: how late the scheduler found it by the chain's clock,
    /// plus the time from being issued to the send's answer. Observed by the worker pool.
    pub due_to_submit_seconds: Histogram,
    /// `keeper_replay_latency_seconds`: from an execution's first failure to its
    /// confirmed replay. Observed by the replay consumer.
    pub replay_latency_seconds: Histogram,
}

/// Registers `metric` and hands it back, for the definitions in [`Metrics::new`].
fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric name");
    metric
}

/// The outcomes of `keeper_fleet_handovers_total`.
pub const HANDOVER_OUTCOMES: [&str; 6] = [
    "published",
    "duplicate",
    "in_flight",
    "dead_lettered",
    "spooled",
    "failed",
];

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("static metric definition"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), &[label]).expect("static metric definition"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(
        registry,
        IntGauge::new(name, help).expect("static metric definition"),
    )
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntGaugeVec {
    registered(
        registry,
        IntGaugeVec::new(Opts::new(name, help), &[label]).expect("static metric definition"),
    )
}

fn latency(registry: &Registry, name: &str, help: &str) -> Histogram {
    registered(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
            .expect("static metric definition"),
    )
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let lease_age_seconds = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "keeper_nonce_lease_age_seconds",
                    "Time a build held a nonce lease",
                )
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0,
                ]),
                &["how"],
            )
            .expect("static metric definition"),
        );
        let builds_total = counter_vec(
            &registry,
            "keeper_builds_total",
            "Transaction builds by result",
            "result",
        );
        let r = &registry;
        let metrics = Self {
            lease_age_seconds,
            builds_total,
            threads: gauge_vec(
                r,
                "keeper_threads",
                "Threads in the discovery index by durability",
                "durability",
            ),
            thread_runway: gauge_vec(
                r,
                "keeper_thread_runway_executions",
                "Executions the balance of a thread running low still pays for",
                "thread",
            ),
            executions_submitted_total: counter_vec(
                r,
                "keeper_executions_submitted_total",
                "Executions submitted for the first time, by priority",
                "priority",
            ),
            executions_confirmed_total: counter(
                r,
                "keeper_executions_confirmed_total",
                "Executions confirmed successful on chain",
            ),
            executions_failed_total: counter_vec(
                r,
                "keeper_executions_failed_total",
                "Failed submissions and executions, by kind",
                "kind",
            ),
            replay_attempts_total: counter(
                r,
                "keeper_replay_attempts_total",
                "Replays of failed durable executions",
            ),
            send_retries_total: counter(
                r,
                "keeper_send_retries_total",
                "Sends tried again within one attempt after the endpoint did not answer",
            ),
            notifications_sent_total: counter(
                r,
                "keeper_notifications_sent_total",
                "Dead-letter notifications a webhook accepted",
            ),
            notifications_failed_total: counter(
                r,
                "keeper_notifications_failed_total",
                "Dead-letter notifications that could not be delivered",
            ),
            replay_successes_total: counter(
                r,
                "keeper_replay_successes_total",
                "Replays that were confirmed",
            ),
            dead_lettered_total: counter(
                r,
                "keeper_dead_lettered_total",
                "Executions moved to the dead-letter queue",
            ),
            unprofitable_total: counter(
                r,
                "keeper_unprofitable_total",
                "Due times declined because they would not pay this keeper",
            ),
            nonce_advances_total: counter(
                r,
                "keeper_nonce_advances_total",
                "Nonces advanced by landed durable executions",
            ),
            nonce_failures_total: counter(
                r,
                "keeper_nonce_failures_total",
                "Nonce errors at build or submission",
            ),
            active_nonces: gauge(
                r,
                "keeper_active_nonces",
                "Nonce accounts this keeper holds a lease on",
            ),
            invalid_nonces: gauge(
                r,
                "keeper_invalid_nonces",
                "Watched nonce accounts found invalid by the last health check",
            ),
            replay_queue_depth: gauge(
                r,
                "keeper_replay_queue_depth",
                "Entries waiting in the replay queue",
            ),
            dlq_size: gauge(r, "keeper_dlq_size", "Entries in the dead-letter queue"),
            fleet_work_pending: gauge(
                r,
                "keeper_fleet_work_pending",
                "Executions in the fleet's work stream, waiting or being worked on",
            ),
            fleet_dead_letters: gauge(
                r,
                "keeper_fleet_dead_letters",
                "Entries in the fleet's dead-letter stream",
            ),
            fleet_spooled: gauge(
                r,
                "keeper_fleet_spooled",
                "Due executions spooled by this keeper while NATS does not answer",
            ),
            fleet_handovers_total: counter_vec(
                r,
                "keeper_fleet_handovers_total",
                "Due executions handed to the fleet's work stream, by outcome",
                "outcome",
            ),
            confirmation_latency_seconds: latency(
                r,
                "keeper_confirmation_latency_seconds",
                "Time from first submission to confirmation",
            ),
            due_to_submit_seconds: latency(
                r,
                "keeper_due_to_submit_seconds",
                "Time from a thread becoming due to its first submission",
            ),
            replay_latency_seconds: latency(
                r,
                "keeper_replay_latency_seconds",
                "Time from an execution's first failure to its confirmed replay",
            ),
            registry,
        };
        for durability in DURABILITY_LABELS {
            metrics.threads.with_label_values(&[durability]);
        }
        for priority in ExecutionPriority::ALL {
            metrics
                .executions_submitted_total
                .with_label_values(&[priority.as_str()]);
        }
        for kind in FAILURE_KINDS {
            metrics.executions_failed_total.with_label_values(&[kind]);
        }
        for outcome in HANDOVER_OUTCOMES {
            metrics.fleet_handovers_total.with_label_values(&[outcome]);
        }
        Arc::new(metrics)
    }

    /// The registry, for subsystems that add their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// All metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding metrics failed: {e}\n"))
    }

    /// Records one first submission of an execution.
    pub fn execution_submitted(&self, priority: ExecutionPriority) {
        self.executions_submitted_total
            .with_label_values(&[priority.as_str()])
            .inc();
    }

    /// Sets `keeper_threads` from the discovery index's counts.
    pub fn set_threads(&self, durable: usize, non_durable: usize) {
        self.threads
            .with_label_values(&["durable"])
            .set(i64::try_from(durable).unwrap_or(i64::MAX));
        self.threads
            .with_label_values(&["non_durable"])
            .set(i64::try_from(non_durable).unwrap_or(i64::MAX));
    }
}

impl LeaseObserver for Metrics {
    fn lease_released(&self, _nonce: &Pubkey, age: Duration, how: ReleaseKind) {
        self.lease_age_seconds
            .with_label_values(&[how.as_str()])
            .observe(age.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::breaker::BreakerConfig;
    use crate::chain::failover::FailoverChain;
    use crate::chain::rpc::RpcChain;
    use crate::chain::Chain;
    use crate::execution::nonce_pool::NoncePool;
    use crate::ops::degradation::{DegradationConfig, DegradationMonitor};
    use solana_commitment_config::CommitmentConfig;

    /// Every metric name `Metrics` defines, as its family appears in the text format.
    const FAMILIES: [&str; 28] = [
        "keeper_nonce_lease_age_seconds",
        "keeper_builds_total",
        "keeper_threads",
        "keeper_executions_submitted_total",
        "keeper_executions_confirmed_total",
        "keeper_executions_failed_total",
        "keeper_replay_attempts_total",
        "keeper_send_retries_total",
        "keeper_notifications_sent_total",
        "keeper_notifications_failed_total",
        "keeper_replay_successes_total",
        "keeper_dead_lettered_total",
        "keeper_unprofitable_total",
        "keeper_nonce_advances_total",
        "keeper_nonce_failures_total",
        "keeper_active_nonces",
        "keeper_invalid_nonces",
        "keeper_replay_queue_depth",
        "keeper_dlq_size",
        "keeper_fleet_work_pending",
        "keeper_fleet_dead_letters",
        "keeper_fleet_spooled",
        "keeper_fleet_handovers_total",
        "keeper_rpc_breaker_state",
        "keeper_operating_mode",
        "keeper_confirmation_latency_seconds",
        "keeper_due_to_submit_seconds",
        "keeper_replay_latency_seconds",
    ];

    #[tokio::test(start_paused = true)]
    async fn lease_age_is_recorded_by_how_the_lease_ended() {
        let metrics = Metrics::new();
        let pool = NoncePool::new(Duration::from_secs(30)).with_observer(metrics.clone());
        let nonce = Pubkey::new_unique();
        pool.insert(nonce, Pubkey::new_unique());

        let lease = pool.try_acquire(&nonce).unwrap();
        tokio::time::advance(Duration::from_millis(250)).await;
        lease.release().unwrap();

        let explicit = metrics.lease_age_seconds.with_label_values(&["explicit"]);
        assert_eq!(explicit.get_sample_count(), 1);
        assert!((explicit.get_sample_sum() - 0.25).abs() < 1e-9);
        assert!(metrics
            .render()
            .contains("keeper_nonce_lease_age_seconds_count{how=\"explicit\"} 1"));
    }

    #[tokio::test]
    async fn every_metric_renders_with_the_degradation_and_failover_gauges() {
        let metrics = Metrics::new();
        // The owners of the mode and breaker gauges register them on the same registry.
        let _monitor =
            DegradationMonitor::new(DegradationConfig::default(), Some(metrics.registry()))
                .expect("keeper_operating_mode is not registered twice");
        let endpoint: Arc<dyn Chain> = Arc::new(RpcChain::new(
            "http://127.0.0.1:1",
            CommitmentConfig::confirmed(),
            Duration::from_secs(1),
        ));
        let _failover = FailoverChain::new(
            vec![endpoint],
            BreakerConfig::default(),
            Some(metrics.registry()),
        )
        .expect("keeper_rpc_breaker_state is not registered twice");
        // The two families whose label values only exist at run time.
        metrics.lease_age_seconds.with_label_values(&["explicit"]);
        metrics.builds_total.with_label_values(&["ok"]);

        let text = metrics.render();
        for family in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing from:\n{text}"
            );
        }
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(types, FAMILIES.len(), "unexpected families in:\n{text}");
        assert!(text.contains("keeper_operating_mode 0"));
        assert!(text.contains("keeper_rpc_breaker_state{endpoint=\"http://127.0.0.1:1\"} 0"));
    }

    #[test]
    fn series_with_known_labels_render_at_zero_from_the_start() {
        let text = Metrics::new().render();
        for line in [
            "keeper_threads{durability=\"durable\"} 0",
            "keeper_threads{durability=\"non_durable\"} 0",
            "keeper_executions_submitted_total{priority=\"low\"} 0",
            "keeper_executions_submitted_total{priority=\"medium\"} 0",
            "keeper_executions_submitted_total{priority=\"high\"} 0",
            "keeper_executions_submitted_total{priority=\"critical\"} 0",
            "keeper_executions_failed_total{kind=\"unavailable\"} 0",
            "keeper_executions_failed_total{kind=\"rpc\"} 0",
            "keeper_executions_failed_total{kind=\"rejected\"} 0",
            "keeper_executions_failed_total{kind=\"execution\"} 0",
            "keeper_executions_failed_total{kind=\"expired\"} 0",
            "keeper_executions_confirmed_total 0",
            "keeper_replay_attempts_total 0",
            "keeper_replay_successes_total 0",
            "keeper_dead_lettered_total 0",
            "keeper_unprofitable_total 0",
            "keeper_nonce_advances_total 0",
            "keeper_nonce_failures_total 0",
            "keeper_active_nonces 0",
            "keeper_invalid_nonces 0",
            "keeper_replay_queue_depth 0",
            "keeper_dlq_size 0",
            "keeper_confirmation_latency_seconds_count 0",
            "keeper_due_to_submit_seconds_count 0",
            "keeper_replay_latency_seconds_count 0",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn helpers_update_the_labelled_series() {
        let metrics = Metrics::new();
        metrics.set_threads(3, 4);
        metrics.execution_submitted(ExecutionPriority::High);
        metrics.confirmation_latency_seconds.observe(0.8);

        let text = metrics.render();
        assert!(text.contains("keeper_threads{durability=\"durable\"} 3"));
        assert!(text.contains("keeper_threads{durability=\"non_durable\"} 4"));
        assert!(text.contains("keeper_executions_submitted_total{priority=\"high\"} 1"));
        assert!(text.contains("keeper_confirmation_latency_seconds_bucket{le=\"1\"} 1"));
        assert!(text.contains("keeper_confirmation_latency_seconds_bucket{le=\"0.5\"} 0"));
    }
}
