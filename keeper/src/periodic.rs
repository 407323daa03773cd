//! [`Every`]: the cadence of the keeper's periodic loops, "do this every N ms until
//! shutdown", written once.
//!
//! Owns the ticking (the first tick at once; a pass that overruns its period delays the
//! next tick rather than bunching the missed ones) and the stop (once the shutdown future
//! completes, no tick comes again, and a stop and a tick due together go to the stop).
//! Must not: decide what a pass does or whether it may be cut short; a loop races only
//! what it hands to [`Every::unless_stopped`].
//!
//! ```
//! # async fn example(stop: impl std::future::Future<Output = ()>) {
//! use keeper::periodic::Every;
//! let mut every = Every::new(std::time::Duration::from_millis(400), stop);
//! while every.tick().await {
//!     // one pass; it runs to its end even if the stop comes meanwhile
//! }
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

/// Ticks every period until a shutdown future completes (see the module docs).
pub struct Every<S> {
    ticks: Interval,
    stop: Pin<Box<S>>,
    stopped: bool,
}

impl<S: Future<Output = ()>> Every<S> {
    /// Ticks every `period` (at least 1 ms: a zero period would spin) until `stop`
    /// completes.
    pub fn new(period: Duration, stop: S) -> Self {
        let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            ticks,
            stop: Box::pin(stop),
            stopped: false,
        }
    }

    /// Waits for the next tick: `true` when it is time for a pass, `false` once the stop
    /// has come (and from then on).
    pub async fn tick(&mut self) -> bool {
        unless(&mut self.stop, &mut self.stopped, self.ticks.tick())
            .await
            .is_some()
    }

    /// Runs `work` unless the stop comes first: its output, or `None` when the stop cut
    /// it short (or had come already). For a pass that shutdown may abandon.
    pub async fn unless_stopped<T>(&mut self, work: impl Future<Output = T>) -> Option<T> {
        unless(&mut self.stop, &mut self.stopped, work).await
    }
}

/// `work`'s output, unless `stop` completes first (a tie goes to the stop) or completed
/// before: then `None`, and `stopped` remembers it, so that `stop` is never polled again
/// after it completed.
async fn unless<S: Future<Output = ()>, T>(
    stop: &mut Pin<Box<S>>,
    stopped: &mut bool,
    work: impl Future<Output = T>,
) -> Option<T> {
    if *stopped {
        return None;
    }
    tokio::select! {
        biased;
        _ = stop => {
            *stopped = true;
            None
        }
        output = work => Some(output),
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_at_once_then_every_period_until_the_stop() {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let mut every = Every::new(Duration::from_millis(100), async move {
            let _ = stop_rx.await;
        });
        let start = Instant::now();
        assert!(every.tick().await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(every.tick().await);
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        stop_tx.send(()).unwrap();
        assert!(!every.tick().await);
        assert!(!every.tick().await, "never ticks again once stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrunning_pass_delays_the_next_tick_instead_of_bunching_them() {
        let mut every = Every::new(Duration::from_millis(100), std::future::pending());
        every.tick().await;
        tokio::time::sleep(Duration::from_millis(350)).await;
        let late = Instant::now();
        assert!(every.tick().await, "the missed tick, once");
        assert!(every.tick().await);
        assert_eq!(late.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_period_still_waits_a_millisecond() {
        let mut every = Every::new(Duration::ZERO, std::future::pending());
        every.tick().await;
        let start = Instant::now();
        every.tick().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_stop_cuts_short_only_what_is_handed_to_unless_stopped() {
        let mut every = Every::new(
            Duration::from_millis(100),
            tokio::time::sleep(Duration::from_millis(50)),
        );
        assert_eq!(every.unless_stopped(async { 7 }).await, Some(7));
        let start = Instant::now();
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(every.unless_stopped(slow).await, None);
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        assert_eq!(every.unless_stopped(async { 7 }).await, None);
        assert!(!every.tick().await);
    }
}
