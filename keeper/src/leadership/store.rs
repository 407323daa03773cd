//! What the elector needs of a shared key-value store with leases (etcd in production,
//! a fake in unit tests): the [`ElectionStore`] trait, its answers ([`Granted`],
//! [`Holder`], [`Claim`]) and [`ElectionStoreError`], the one way any of its calls fails.
//!
//! Owns the vocabulary between the elector and a store, so that neither has to import
//! the other. Must not: talk to a store or decide leadership (that is [`super::etcd`]
//! and [`super::elector`]).

use std::time::Duration;

use async_trait::async_trait;

/// A lease as granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub id: i64,
    pub ttl_secs: i64,
}

/// Who holds the key: the id written under it and the lease it is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub lease: i64,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was absent and is now ours.
    Won,
    /// The key exists.
    Held(Holder),
}

/// What the elector needs of etcd: leases with a TTL, and a key claimed under one.
#[async_trait]
pub trait ElectionStore: Send + Sync {
    /// A new lease of `ttl_secs` (the store may grant a longer one).
    async fn grant(&self, ttl_secs: i64) -> Result<Granted, ElectionStoreError>;
    /// Renews `lease`: its TTL, or `None` when it no longer exists.
    async fn keep_alive(&self, lease: i64) -> Result<Option<i64>, ElectionStoreError>;
    /// Revokes `lease` (and deletes its keys); a lease already gone is not an error.
    async fn revoke(&self, lease: i64) -> Result<(), ElectionStoreError>;
    /// Puts `key = id` under `lease` if `key` does not exist, atomically.
    async fn claim(&self, key: &str, id: &str, lease: i64) -> Result<Claim, ElectionStoreError>;
    /// Who holds `key`, if anyone.
    async fn holder(&self, key: &str) -> Result<Option<Holder>, ElectionStoreError>;
    /// Returns once `key` may no longer be held by `held_by` (deleted, its lease gone,
    /// or taken under another lease), or after `at_most` either way: what a follower
    /// waits on instead of reading the key over and over.
    async fn wait_while_held(
        &self,
        key: &str,
        held_by: &Holder,
        at_most: Duration,
    ) -> Result<(), ElectionStoreError>;
}

/// gRPC status codes that etcd puts in its error bodies, as far as they matter here.
const GRPC_NOT_FOUND: i64 = 5;
const GRPC_UNAVAILABLE: i64 = 14;

/// Why a call to the election store (etcd) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ElectionStoreError {
    /// The endpoint cannot be used as an etcd URL.
    #[error("bad etcd endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    /// Nothing answered: connection refused, reset, DNS, ...
    #[error("etcd at {endpoint} is unreachable: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// No answer within the request timeout.
    #[error("etcd at {endpoint} did not answer within {after_ms} ms")]
    Timeout { endpoint: String, after_ms: u64 },
    /// etcd (or whatever listens there) answered with an error.
    #[error("etcd at {endpoint} answered HTTP {status}{}: {message}", code_suffix(*.code))]
    Api {
        endpoint: String,
        status: u16,
        /// The gRPC status code of etcd's error body, if it had one.
        code: Option<i64>,
        message: String,
    },
    /// An answer that is not what the gateway sends.
    #[error("unexpected answer from etcd at {endpoint}: {reason}")]
    Malformed { endpoint: String, reason: String },
    /// The HTTP client could not be built.
    #[error("building the etcd HTTP client: {0}")]
    Client(String),
}

fn code_suffix(code: Option<i64>) -> String {
    code.map(|c| format!(" (gRPC code {c})"))
        .unwrap_or_default()
}

impl ElectionStoreError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        self.into()
    }

    /// Whether another endpoint of the cluster may answer where this one did not.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Api { code, .. } => *code == Some(GRPC_UNAVAILABLE),
            _ => false,
        }
    }

    /// Whether the store answered that the lease or key asked about does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::Api {
                code: Some(GRPC_NOT_FOUND),
                ..
            }
        )
    }
}
