//! Execution: from "this thread is due" to a confirmed execution.
//!
//! Owns running due threads a bounded number at once as the operating mode allows
//! ([`workers`]), judging a due thread by its on-chain state, building and signing the
//! transaction ([`builder`], with exclusive nonce use from [`nonce_pool`] and authority
//! leases from [`leases`], one operation per thread at a time ([`thread_locks`]), kept tidy and handed back by [`lease_upkeep`]), persisting
//! before sending, sending with backoff ([`retry`]), confirming, replaying and
//! dead-lettering ([`executor`]; refused builds counted in [`build_failures`]); the
//! wing's settings check themselves in [`settings`].
//!
//! Must not: find threads or decide when they are due (tracking does), or serve
//! operators (ops does).

pub mod build_failures;
pub mod builder;
pub mod executor;
pub mod lease_upkeep;
pub mod leases;
pub mod nonce_pool;
pub mod profitability;
pub mod retry;
pub mod settings;
pub mod thread_locks;
pub mod workers;
