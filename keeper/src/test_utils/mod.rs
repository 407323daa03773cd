//! Harness code shared by the keeper's unit tests, integration tests, benchmarks and the
//! load example. Compiled only for tests or with the `test_utils` feature, so it never
//! reaches an operator's binary. The fault injector lives with the chains it wraps
//! (`chain::faulty`), under the same rule.

#[cfg(feature = "bank")]
pub mod bank;
pub mod logs;
pub mod loopback;
#[cfg(feature = "bank")]
pub mod probed_bank;
pub mod thread;
pub mod tx;
