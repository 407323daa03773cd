//! The thread program inside a real Agave bank: every instruction, its failure paths,
//! triggers against the bank's clock, lamport accounting and attacks on exec_thread.

#![allow(deprecated)]

mod append;
mod client;
mod common;
mod conditions;
mod create;
mod durable;
mod durable_attacks;
mod exec_security;
mod golden;
mod golden_layout;
mod golden_responses;
mod lifecycle;
mod lookup_tables;
mod prefunded_nonce;
mod priority;
mod responses;
mod triggers;
