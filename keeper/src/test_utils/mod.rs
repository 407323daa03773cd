//! Harness code shared by the keeper's unit tests, integration tests, benchmarks and the
//! load examples, real servers started on loopback included ([`etcd`], [`nats`], with
//! [`servers`] and a test CA in [`tls`]). Compiled only for tests or with the
//! `test_utils` feature, so it never reaches an operator's binary. The fault injector
//! lives with the chains it wraps (`chain::faulty`), under the same rule.

#[cfg(feature = "bank")]
pub mod bank;
pub mod etcd;
pub mod logs;
pub mod lookup_table;
pub mod loopback;
pub mod nats;
#[cfg(feature = "bank")]
pub mod probed_bank;
pub mod recorder;
pub mod servers;
pub mod thread;
pub mod tls;
pub mod tx;
