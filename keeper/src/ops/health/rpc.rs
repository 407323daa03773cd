//! [`RpcCheck`]: the chain endpoint answers `latest_blockhash` within a timeout.
//! Must not: retry (a slow answer is the finding) or send anything.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::check::{HealthCheck, HealthStatus};
use crate::chain::Chain;

/// The chain endpoint answers `latest_blockhash` within a timeout. Critical.
pub struct RpcCheck {
    chain: Arc<dyn Chain>,
    name: String,
    timeout: Duration,
}

impl RpcCheck {
    /// Named `rpc:<endpoint>`; fails when the call errs or takes longer than `timeout`.
    pub fn new(chain: Arc<dyn Chain>, timeout: Duration) -> Self {
        let name = format!("rpc:{}", chain.endpoint());
        Self {
            chain,
            name,
            timeout,
        }
    }
}

#[async_trait]
impl HealthCheck for RpcCheck {
    fn name(&self) -> &str {
        &self.name
    }

    /// Healthy with `latency_seconds`, or unhealthy naming the error or the timeout.
    async fn check(&self) -> HealthStatus {
        let started = Instant::now();
        match tokio::time::timeout(self.timeout, self.chain.latest_blockhash()).await {
            Ok(Ok(blockhash)) => {
                let latency = started.elapsed();
                HealthStatus::healthy(format!(
                    "latest blockhash {blockhash} in {} ms",
                    latency.as_millis()
                ))
                .with_metric("latency_seconds", latency.as_secs_f64())
            }
            Ok(Err(error)) => HealthStatus::unhealthy(format!("latest_blockhash failed: {error}"))
                .with_metric("latency_seconds", started.elapsed().as_secs_f64()),
            Err(_) => HealthStatus::unhealthy(format!(
                "latest_blockhash timed out after {} ms",
                self.timeout.as_millis()
            ))
            .with_metric("latency_seconds", started.elapsed().as_secs_f64()),
        }
    }
}
