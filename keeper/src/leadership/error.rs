//! [`LeadershipError`]: why leadership could not be set up, by the part that refused.
//!
//! Owns the error only. Must not: validate or start anything (that is [`super::config`]
//! and [`super::start`]).

use super::access::AccessFileError;
use super::config::LeadershipConfigError;
use super::state::LEADER_METRIC;
use super::store::ElectionStoreError;

/// Why leadership could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LeadershipError {
    #[error(transparent)]
    Config(#[from] LeadershipConfigError),
    #[error(transparent)]
    Access(#[from] AccessFileError),
    #[error(transparent)]
    Store(#[from] ElectionStoreError),
    #[error("registering {LEADER_METRIC}: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl LeadershipError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(e) => e.kind(),
            Self::Access(e) => e.key,
            Self::Store(e) => e.kind(),
            Self::Metrics(_) => "metrics",
        }
    }
}
