//! Execution: from "this thread is due" to a confirmed execution.
//!
//! Owns judging a due thread by its on-chain state, building and signing the transaction
//! ([`builder`], with exclusive nonce use from [`nonce_pool`] and authority leases from
//! [`leases`]), persisting before sending, sending with backoff ([`retry`]), confirming,
//! replaying and dead-lettering ([`executor`]; refused builds counted in
//! [`build_failures`]).
//!
//! Must not: find threads or decide when they are due (tracking does), or serve
//! operators (ops does).

pub mod build_failures;
pub mod builder;
pub mod executor;
pub mod leases;
pub mod nonce_pool;
pub mod retry;
pub mod settings;
