//! The keeper's integration tests, one module a file, in one test binary: the in-process
//! bank and the real `keeper` binary are linked once instead of once per file. Run one
//! file's tests with `cargo test -p keeper --test integration <file>::`.
//!
//! The modules share the fixtures in `common` (bank, store, daemon) and `home` (a fake
//! HOME for runs of the binary). They share one process too: a test that needs
//! process-wide state (the global log capture) must find its own lines in it.

mod common;
mod home;

mod backoff;
mod builder_bank;
mod chain_bank;
mod cli;
mod conditions;
mod daemon_cli;
mod daemon_degradation;
mod daemon_exactly_once;
mod daemon_faults;
mod dashboard_http;
mod discovery_scheduler_bank;
mod dlq_cli;
mod explain_bank;
mod failover_bank;
mod fleet_etcd;
mod fleet_nats;
mod fleet_nats_daemons;
mod health_http;
mod hostile_rpc;
mod leadership_etcd;
mod leases_bank;
mod lookup_tables;
mod notify;
mod profitability;
mod replay_admission;
mod shutdown;
mod sigkill;
mod startup_cli;
mod thread_priority;
mod thread_responses;
