//! [`OutageLog`]: how loudly to report a loop's repeated failures, so an outage reads as
//! a few lines an operator can follow instead of one warning per tick: the first failure
//! (and a change of kind) at warn, the repeats at debug with a warn reminder every
//! `remind_every`, and the recovery at info with how long it lasted.
//!
//! Owns only that decision; the caller writes the line (so the target and fields stay
//! the caller's). Time is `tokio::time`.

use std::time::Duration;

use tokio::time::Instant;

/// What the caller should log for the outcome it just reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAs {
    /// Nothing: all is well and was.
    Quiet,
    /// A new failure, or a new kind of failure: warn.
    Warn,
    /// The same failure again: debug.
    Debug,
    /// The same failure for a long while: warn again, with how long and how often.
    Reminder { failures: u64, since: Duration },
    /// Working again after `failures` failures over `lasted`: info.
    Recovered { failures: u64, lasted: Duration },
}

/// The state of one loop's failures.
#[derive(Debug)]
pub struct OutageLog {
    remind_every: Duration,
    outage: Option<Outage>,
}

#[derive(Debug)]
struct Outage {
    kind: &'static str,
    started: Instant,
    last_warned: Instant,
    failures: u64,
}

impl OutageLog {
    pub fn new(remind_every: Duration) -> Self {
        Self {
            remind_every,
            outage: None,
        }
    }

    /// A failure of `kind` (a stable label such as `ChainError::kind`).
    pub fn failed(&mut self, kind: &'static str) -> LogAs {
        let now = Instant::now();
        match &mut self.outage {
            Some(outage) if outage.kind == kind => {
                outage.failures += 1;
                if now.duration_since(outage.last_warned) >= self.remind_every {
                    outage.last_warned = now;
                    LogAs::Reminder {
                        failures: outage.failures,
                        since: now.duration_since(outage.started),
                    }
                } else {
                    LogAs::Debug
                }
            }
            Some(outage) => {
                outage.kind = kind;
                outage.failures += 1;
                outage.last_warned = now;
                LogAs::Warn
            }
            None => {
                self.outage = Some(Outage {
                    kind,
                    started: now,
                    last_warned: now,
                    failures: 1,
                });
                LogAs::Warn
            }
        }
    }

    /// A success.
    pub fn succeeded(&mut self) -> LogAs {
        match self.outage.take() {
            Some(outage) => LogAs::Recovered {
                failures: outage.failures,
                lasted: outage.started.elapsed(),
            },
            None => LogAs::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn outage_log_warns_once_reminds_and_reports_the_recovery() {
        let mut log = OutageLog::new(Duration::from_secs(60));
        assert_eq!(log.succeeded(), LogAs::Quiet);
        assert_eq!(log.failed("unavailable"), LogAs::Warn);
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(1)).await;
            assert_eq!(log.failed("unavailable"), LogAs::Debug);
        }
        // Another kind is news.
        assert_eq!(log.failed("rpc"), LogAs::Warn);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            log.failed("rpc"),
            LogAs::Reminder {
                failures: 8,
                since: Duration::from_secs(65)
            }
        );
        assert_eq!(log.failed("rpc"), LogAs::Debug);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            log.succeeded(),
            LogAs::Recovered {
                failures: 9,
                lasted: Duration::from_secs(70)
            }
        );
        assert_eq!(log.succeeded(), LogAs::Quiet);
        assert_eq!(log.failed("rpc"), LogAs::Warn, "a new outage");
    }
}
