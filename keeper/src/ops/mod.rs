//! Ops: what an operator sees and is told.
//!
//! Owns [`health`] checks and the [`http`] endpoints (`/health`, `/ready`, `/metrics`,
//! and the operator's [`dashboard`]; the answers both give in [`answer`]),
//! the Prometheus [`metrics`], the operating mode ([`degradation`]), outage logging
//! that does not flood ([`outage_log`]) and dead-letter webhooks ([`notify`]).
//!
//! Must not: change what the keeper executes, except through the operating mode the
//! daemon asks [`degradation`] for.

pub mod answer;
pub mod dashboard;
pub mod degradation;
pub mod explain;
pub mod health;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod outage_log;
pub mod runway;
