//! Retry with exponential backoff: how long to wait before trying a failed operation
//! again (growing, so a struggling endpoint is not hammered; jittered, so keepers that
//! failed together do not retry together), and the loop that does the trying.
//!
//! Owns the backoff policy ([`RetryStrategy`]: first delay, growth, cap, jitter, attempt
//! budget) and [`RetryStrategy::execute`]. Must not: decide which errors are worth
//! retrying (the caller passes that in, e.g. [`ChainError::is_retryable`]), pick an
//! endpoint (that is [`crate::chain::failover`]), or draw randomness from anywhere but the RNG
//! it is handed, so that a seeded RNG gives the same delays every run. Waits with
//! `tokio::time`, so tests pause the clock.
//!
//! [`ChainError::is_retryable`]: crate::chain::ChainError::is_retryable

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The backoff policy.
///
/// In configuration files durations are whole **milliseconds**, under keys ending in
/// `_ms`; missing keys take their [`Default`]:
///
/// ```toml
/// initial_delay_ms = 500
/// max_delay_ms = 30000
/// multiplier = 2.0
/// max_attempts = 5
/// jitter = 0.1
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryStrategy {
    /// Wait after the first failed attempt.
    #[serde(rename = "initial_delay_ms", with = "millis")]
    pub initial_delay: Duration,
    /// Cap on the exponential delay (before jitter).
    #[serde(rename = "max_delay_ms", with = "millis")]
    pub max_delay: Duration,
    /// Growth of the delay from one retry to the next; at least 1.
    pub multiplier: f64,
    /// Attempts in all, the first one included; at least 1.
    pub max_attempts: u32,
    /// Each delay is scaled by a uniform factor in `[1 - jitter, 1 + jitter]`, so that
    /// keepers that failed together do not retry together; in `[0, 1]`.
    pub jitter: f64,
}

impl Default for RetryStrategy {
    /// 500 ms doubling up to 30 s, five attempts, ±10 % jitter.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            max_attempts: 5,
            jitter: 0.1,
        }
    }
}

/// A [`RetryStrategy`] that cannot be used as configured; each names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum RetryConfigError {
    #[error("retry.max_attempts must be at least 1")]
    #[strum(serialize = "max_attempts")]
    NoAttempts,
    #[error("retry.multiplier must be a finite number of at least 1, got {0}")]
    Multiplier(f64),
    #[error("retry.jitter must be between 0 and 1, got {0}")]
    Jitter(f64),
    #[error("retry.initial_delay_ms ({initial:?}) must not exceed retry.max_delay_ms ({max:?})")]
    #[strum(serialize = "initial_delay")]
    InitialAboveMax { initial: Duration, max: Duration },
}

impl RetryConfigError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

impl RetryStrategy {
    /// Checks the policy once, at start. [`Self::delay_for`] and [`Self::execute`] also
    /// cope with an unchecked one (a multiplier below 1 counts as 1, jitter is clamped to
    /// `[0, 1]`, zero attempts as one), but a bad value is better reported than obeyed.
    pub fn validate(&self) -> Result<(), RetryConfigError> {
        if self.max_attempts == 0 {
            return Err(RetryConfigError::NoAttempts);
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(RetryConfigError::Multiplier(self.multiplier));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(RetryConfigError::Jitter(self.jitter));
        }
        if self.initial_delay > self.max_delay {
            return Err(RetryConfigError::InitialAboveMax {
                initial: self.initial_delay,
                max: self.max_delay,
            });
        }
        Ok(())
    }

    /// The wait after failed attempt number `attempt`, counted from 0: attempt 0 waits
    /// about `initial_delay`, attempt `n` about `initial_delay * multiplier^n`, capped at
    /// `max_delay`. Jitter is applied after the cap, so a delay lies in
    /// `[capped * (1 - jitter), capped * (1 + jitter)]`: never negative, never above
    /// `max_delay * (1 + jitter)`. Draws exactly one number from `rng`.
    pub fn delay_for(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let draw: f64 = rng.random_range(-1.0..=1.0);
        let max = self.max_delay.as_secs_f64();
        // `f64::max` ignores NaN, so a NaN multiplier counts as 1 too.
        let growth = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(attempt).unwrap_or(i32::MAX));
        let exponential = self.initial_delay.as_secs_f64() * growth;
        // 0 s times an infinite growth is NaN: still no wait.
        let capped = if exponential.is_nan() {
            0.0
        } else {
            exponential.min(max)
        };
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let jittered = (capped * (1.0 + jitter * draw)).clamp(0.0, max * (1.0 + jitter));
        Duration::try_from_secs_f64(jittered).unwrap_or(Duration::MAX)
    }

    /// Runs `op` until it succeeds, fails with an error `retryable` refuses (returned at
    /// once), or `max_attempts` attempts have failed (the last error is returned).
    /// Between attempts it sleeps [`Self::delay_for`] with `tokio::time`.
    pub async fn execute<T, E, F, Fut>(
        &self,
        rng: &mut impl Rng,
        mut op: F,
        retryable: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let attempts = self.max_attempts.max(1);
        let mut failed = 0u32;
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            failed += 1;
            if !retryable(&error) {
                tracing::debug!(attempt = failed, "not retryable, giving up");
                return Err(error);
            }
            if failed >= attempts {
                tracing::debug!(attempts = failed, "retry budget spent, giving up");
                return Err(error);
            }
            let delay = self.delay_for(failed - 1, rng);
            tracing::debug!(attempt = failed, ?delay, "attempt failed, retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// A seed for the backoffs' jitter that differs between keepers and runs: keepers that
/// failed together must not retry in step.
pub fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// The wait before replay number `retries_made + 1` of a failed execution: the
/// priority's base delay (`base`: 60/30/10/5 s from Low to Critical) doubled for each
/// replay already made, so an execution that keeps failing costs less and less, capped
/// at `max` (never below `base`), with ±10 % jitter drawn from `rng`.
pub fn replay_delay(
    base: Duration,
    retries_made: u32,
    max: Duration,
    rng: &mut impl Rng,
) -> Duration {
    RetryStrategy {
        initial_delay: base,
        max_delay: max.max(base),
        multiplier: 2.0,
        max_attempts: u32::MAX,
        jitter: 0.1,
    }
    .delay_for(retries_made, rng)
}

/// `serde` of a [`Duration`] as whole milliseconds (a `u64`), for the `_ms` keys of the
/// reliability configs ([`RetryStrategy`], [`crate::chain::breaker::BreakerConfig`],
/// [`crate::ops::degradation::DegradationConfig`]). Sub-millisecond parts are dropped.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tokio::time::Instant;

    use super::*;
    use crate::chain::ChainError;

    #[test]
    fn replay_delays_double_per_replay_from_the_priority_base_up_to_the_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(300);
        let delays: Vec<f64> = (0..9)
            .map(|n| replay_delay(base, n, max, &mut rng).as_secs_f64())
            .collect();
        let expected = [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0];
        for (n, (got, want)) in delays.iter().zip(expected).enumerate() {
            assert!(
                (want * 0.9..=want * 1.1).contains(got),
                "replay {n}: {got} s, expected {want} s ± 10 %: {delays:?}"
            );
        }
        // Jitter draws differ: keepers that failed together do not replay together.
        let other: Vec<f64> = (0..9)
            .map(|n| {
                replay_delay(base, n, max, &mut StdRng::seed_from_u64(8 + n as u64)).as_secs_f64()
            })
            .collect();
        assert_ne!(delays, other);
        // The same seed gives the same sequence.
        let mut again = StdRng::seed_from_u64(7);
        let repeat: Vec<f64> = (0..9)
            .map(|n| replay_delay(base, n, max, &mut again).as_secs_f64())
            .collect();
        assert_eq!(delays, repeat);
    }

    #[test]
    fn a_cap_below_the_base_keeps_the_base() {
        let mut rng = StdRng::seed_from_u64(1);
        let delay = replay_delay(
            Duration::from_secs(60),
            3,
            Duration::from_secs(10),
            &mut rng,
        );
        assert!(delay >= Duration::from_secs(54), "{delay:?}");
    }

    fn no_jitter() -> RetryStrategy {
        RetryStrategy {
            jitter: 0.0,
            ..RetryStrategy::default()
        }
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    /// The instants at which `op` was called, relative to `start`.
    fn offsets(start: Instant, calls: &[Instant]) -> Vec<Duration> {
        calls.iter().map(|at| *at - start).collect()
    }

    #[test]
    fn defaults_follow_the_seed() {
        let s = RetryStrategy::default();
        assert_eq!(s.initial_delay, Duration::from_millis(500));
        assert_eq!(s.max_delay, Duration::from_secs(30));
        assert_eq!(s.multiplier, 2.0);
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.jitter, 0.1);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn config_reads_milliseconds_and_defaults_missing_keys() {
        let s: RetryStrategy =
            serde_json::from_str(r#"{"initial_delay_ms": 250, "max_attempts": 3}"#).unwrap();
        assert_eq!(s.initial_delay, Duration::from_millis(250));
        assert_eq!(s.max_attempts, 3);
        assert_eq!(s.max_delay, Duration::from_secs(30));
        let json = serde_json::to_value(RetryStrategy::default()).unwrap();
        assert_eq!(json["initial_delay_ms"], 500);
        assert_eq!(json["max_delay_ms"], 30_000);
        let back: RetryStrategy = serde_json::from_value(json).unwrap();
        assert_eq!(back, RetryStrategy::default());
        assert!(serde_json::from_str::<RetryStrategy>(r#"{"initial_delay": 1}"#).is_err());
    }

    #[test]
    fn validate_names_the_bad_field() {
        let bad = |f: fn(&mut RetryStrategy)| {
            let mut s = RetryStrategy::default();
            f(&mut s);
            s.validate().unwrap_err()
        };
        assert_eq!(bad(|s| s.max_attempts = 0).kind(), "max_attempts");
        assert_eq!(bad(|s| s.multiplier = 0.5).kind(), "multiplier");
        assert_eq!(bad(|s| s.multiplier = f64::NAN).kind(), "multiplier");
        assert_eq!(bad(|s| s.jitter = -0.1).kind(), "jitter");
        assert_eq!(bad(|s| s.jitter = 1.5).kind(), "jitter");
        let err = bad(|s| s.initial_delay = Duration::from_secs(60));
        assert_eq!(err.kind(), "initial_delay");
        assert!(err.to_string().contains("retry.max_delay_ms"), "{err}");
    }

    #[test]
    fn delays_grow_exponentially_and_cap_at_max_delay() {
        let s = no_jitter();
        let mut rng = rng();
        let delays: Vec<u128> = (0..10)
            .map(|attempt| s.delay_for(attempt, &mut rng).as_millis())
            .collect();
        assert_eq!(
            delays,
            vec![500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]
        );
        // Absurd attempt numbers stay at the cap rather than overflowing.
        assert_eq!(s.delay_for(u32::MAX, &mut rng), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_bounds_over_many_seeded_draws() {
        let s = RetryStrategy::default();
        let mut rng = rng();
        for attempt in 0..10u32 {
            let capped = (0.5 * 2f64.powi(attempt as i32)).min(30.0);
            let (mut low, mut high) = (f64::MAX, 0.0f64);
            for _ in 0..2_000 {
                let d = s.delay_for(attempt, &mut rng).as_secs_f64();
                assert!(
                    d >= capped * 0.9 - 1e-9,
                    "attempt {attempt}: {d} < {capped}-10%"
                );
                assert!(
                    d <= capped * 1.1 + 1e-9,
                    "attempt {attempt}: {d} > {capped}+10%"
                );
                assert!(d <= 30.0 * 1.1 + 1e-9, "above max_delay * (1 + jitter)");
                low = low.min(d);
                high = high.max(d);
            }
            // The draws spread over the band rather than sitting on one value.
            assert!(low < capped * 0.92, "attempt {attempt}: lowest {low}");
            assert!(high > capped * 1.08, "attempt {attempt}: highest {high}");
        }
    }

    #[test]
    fn full_jitter_never_goes_negative_or_past_the_bound() {
        let s = RetryStrategy {
            jitter: 1.0,
            ..RetryStrategy::default()
        };
        let mut rng = rng();
        for attempt in 0..12 {
            for _ in 0..500 {
                let d = s.delay_for(attempt, &mut rng);
                assert!(d <= Duration::from_secs(60));
            }
        }
        // An unvalidated jitter above 1 is clamped to 1.
        let wild = RetryStrategy {
            jitter: 5.0,
            ..RetryStrategy::default()
        };
        for _ in 0..500 {
            assert!(wild.delay_for(20, &mut rng) <= Duration::from_secs(60));
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let s = RetryStrategy::default();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .map(|a| s.delay_for(a, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_with_the_last_error() {
        let s = no_jitter();
        let start = Instant::now();
        let mut calls = Vec::new();
        let result: Result<(), u32> = s
            .execute(
                &mut rng(),
                || {
                    calls.push(Instant::now());
                    let n = calls.len() as u32;
                    async move { Err(n) }
                },
                |_| true,
            )
            .await;
        assert_eq!(result, Err(5), "the fifth attempt's error");
        assert_eq!(
            offsets(start, &calls),
            [0, 500, 1_500, 3_500, 7_500].map(Duration::from_millis),
            "waits of 0.5, 1, 2 and 4 s between the five attempts"
        );
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(7_500),
            "no wait after the last"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_error_returns_at_once() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let result: Result<(), ChainError> = RetryStrategy::default()
            .execute(
                &mut rng(),
                || {
                    calls.set(calls.get() + 1);
                    async { Err(ChainError::Rpc("invalid params".into())) }
                },
                ChainError::is_retryable,
            )
            .await;
        assert_eq!(result, Err(ChainError::Rpc("invalid params".into())));
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_n_failures() {
        let s = no_jitter();
        let start = Instant::now();
        let calls = Cell::new(0u32);
        let result = s
            .execute(
                &mut rng(),
                || {
                    calls.set(calls.get() + 1);
                    let n = calls.get();
                    async move {
                        if n <= 3 {
                            Err(ChainError::Unavailable(format!("attempt {n}")))
                        } else {
                            Ok(n)
                        }
                    }
                },
                ChainError::is_retryable,
            )
            .await;
        assert_eq!(result, Ok(4));
        assert_eq!(calls.get(), 4);
        assert_eq!(start.elapsed(), Duration::from_millis(500 + 1_000 + 2_000));
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_then_fatal_stops_at_the_fatal_one() {
        let calls = Cell::new(0u32);
        let result: Result<(), ChainError> = RetryStrategy::default()
            .execute(
                &mut rng(),
                || {
                    calls.set(calls.get() + 1);
                    let n = calls.get();
                    async move {
                        Err(if n < 2 {
                            ChainError::Unavailable("timeout".into())
                        } else {
                            ChainError::Rpc("bad request".into())
                        })
                    }
                },
                ChainError::is_retryable,
            )
            .await;
        assert_eq!(result.unwrap_err().kind(), "rpc");
        assert_eq!(calls.get(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_waits_follow_the_seeded_delays() {
        let s = RetryStrategy::default();
        let expected: Vec<Duration> = {
            let mut rng = rng();
            let mut at = Duration::ZERO;
            let mut offsets = vec![at];
            for attempt in 0..4 {
                at += s.delay_for(attempt, &mut rng);
                offsets.push(at);
            }
            offsets
        };
        let start = Instant::now();
        let mut calls = Vec::new();
        let _: Result<(), ()> = s
            .execute(
                &mut rng(),
                || {
                    calls.push(Instant::now());
                    async { Err(()) }
                },
                |_| true,
            )
            .await;
        // Timers fire on whole milliseconds: each sleep may end up to 1 ms late.
        let got = offsets(start, &calls);
        assert_eq!(got.len(), expected.len());
        for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
            assert!(*got >= *want, "{got:?} before {want:?}");
            assert!(
                *got - *want <= Duration::from_millis(i as u64),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn zero_max_attempts_still_tries_once() {
        let s = RetryStrategy {
            max_attempts: 0,
            ..RetryStrategy::default()
        };
        let calls = Cell::new(0);
        let result: Result<(), ()> = s
            .execute(
                &mut rng(),
                || {
                    calls.set(calls.get() + 1);
                    async { Err(()) }
                },
                |_| true,
            )
            .await;
        assert_eq!(result, Err(()));
        assert_eq!(calls.get(), 1);
    }
}
