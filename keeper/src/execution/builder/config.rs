//! What an operator and a caller choose about builds: [`BuilderConfig`] (validated with
//! the rest of the keeper's configuration, read from its `[daemon.builder]` table) and
//! the per-build [`TxConfig`].
//!
//! Owns: the settings and their serialized form. Must not: build anything, or read
//! the chain.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::compute::ComputeConfig;
use super::priority::{ExecutionPriority, PriorityPolicy};

/// Which message format to compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageVersion {
    #[default]
    Legacy,
    /// Version 0: needed once address lookup tables shrink large executions.
    V0,
}

/// Whether the compute-sizing simulation keeps the nonce advance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulationMode {
    /// Thread executions keep it (the thread program refuses a durable execution whose
    /// instruction 0 is not the advance, so without it the simulation would measure a
    /// failure); other durable builds skip it, so a simulation can never depend on the
    /// nonce's state.
    #[default]
    Auto,
    KeepNonceAdvance,
    SkipNonceAdvance,
}

/// Builder settings, validated with the rest of the keeper's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuilderConfig {
    /// How long a build may hold a nonce before it is reclaimed.
    #[serde(with = "secs")]
    pub lease_ttl: Duration,
    pub priority: PriorityPolicy,
    pub compute: ComputeConfig,
    pub message_version: MessageVersion,
    pub simulation: SimulationMode,
    /// Decode and check the instruction order of every build. Always on in debug builds
    /// and tests; off by default in release, where the order is fixed by construction.
    pub sanity_checks: bool,
}

impl Default for BuilderConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            priority: PriorityPolicy::default(),
            compute: ComputeConfig::default(),
            message_version: MessageVersion::Legacy,
            simulation: SimulationMode::Auto,
            sanity_checks: false,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Per-build choices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxConfig {
    /// `None`: the policy's default.
    pub priority: Option<ExecutionPriority>,
    /// A fixed unit limit; `None` sizes it by simulation.
    pub compute_unit_limit: Option<u32>,
    /// A fixed unit price; `None` takes it from recent prioritization fees.
    pub compute_unit_price: Option<u64>,
}
