//! Prometheus metrics of the keeper. One registry, rendered in the text format by the
//! health server. Owns metric definitions and their labels; must not decide anything.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use solana_sdk::pubkey::Pubkey;

use crate::nonce_pool::{LeaseObserver, ReleaseKind};

/// Every metric the keeper exports.
pub struct Metrics {
    registry: Registry,
    /// How long builds held a nonce, by how the lease ended.
    pub lease_age_seconds: HistogramVec,
    /// Transaction builds, by result (`ok` or the error kind).
    pub builds_total: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let lease_age_seconds = HistogramVec::new(
            HistogramOpts::new(
                "keeper_nonce_lease_age_seconds",
                "Time a build held a nonce lease",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["how"],
        )
        .expect("static metric definition");
        let builds_total = IntCounterVec::new(
            Opts::new("keeper_builds_total", "Transaction builds by result"),
            &["result"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(lease_age_seconds.clone()))
            .expect("unique metric name");
        registry
            .register(Box::new(builds_total.clone()))
            .expect("unique metric name");
        Arc::new(Self {
            registry,
            lease_age_seconds,
            builds_total,
        })
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
    use crate::nonce_pool::NoncePool;

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
}
