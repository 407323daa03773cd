//! [`HealthCheck`], the trait every check implements, and [`HealthStatus`], what one
//! check found. Apart from the registry so that the checks depend on it and not on the
//! registry that runs them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

/// What one check found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthStatus {
    pub healthy: bool,
    /// One line for operators: what is wrong, or what was verified.
    pub message: String,
    /// Figures the check measured (`latency_seconds`, `invalid`, ...), by name.
    pub metrics: BTreeMap<String, f64>,
}

impl HealthStatus {
    pub fn healthy(message: impl Into<String>) -> Self {
        Self {
            healthy: true,
            message: message.into(),
            metrics: BTreeMap::new(),
        }
    }

    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self {
            healthy: false,
            message: message.into(),
            metrics: BTreeMap::new(),
        }
    }

    pub fn with_metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_owned(), value);
        self
    }
}

/// One health check: a name, whether readiness depends on it, and how to run it.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// A stable name, unique within a registry: the key of the check in the JSON bodies.
    fn name(&self) -> &str;

    /// Whether the keeper is unready while this check fails: yes, unless a check says
    /// it only informs.
    fn critical(&self) -> bool {
        true
    }

    /// Runs the check. Should bound its own time; the registry also cuts it off after
    /// its check timeout.
    async fn check(&self) -> HealthStatus;
}
