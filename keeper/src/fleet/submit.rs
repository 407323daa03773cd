//! A keeper's submitters: deliveries from the fleet's work stream, executed through this
//! keeper's executor, and each settled by what became of it.
//!
//! The executor does what it does for a keeper alone (judges the chain, persists before
//! sending, sends, and its confirmation and replay loops follow the row). A delivery is
//! held, its `ack_wait` extended, while this keeper's row for the due time is in flight,
//! and settled when the row is: acknowledged once confirmed or superseded (the chain
//! shows it ran, or that there is nothing to run), dead-lettered in the fleet's stream
//! with the row's reason when the row ran out of retries. A keeper killed while holding
//! one lets it go back to the stream after `ack_wait`, to a keeper that finds the chain
//! as it is: `exec_count` has moved if the execution landed, so nothing runs twice.
//!
//! Owns: [`settle_of`] (an outcome to what happens to the delivery) and the loop. Must
//! not: build or send (the executor does), or publish new work (the leader does).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use solana_sdk::pubkey::Pubkey;

use super::delivery::{Delivery, Submitter};
use super::queue::QueueError;
use crate::execution::executor::{ExecOutcome, Executor, SkipReason};
use crate::store::{ExecState, Store};

/// Deliveries worked on at once by one keeper: executing, or held while their rows are
/// in flight.
pub const IN_HAND: usize = 128;
/// How often held rows are looked at, and the pull's wait while some are held.
const SETTLE_EVERY: Duration = Duration::from_millis(50);
/// A contended build is offered again this soon.
const BUSY_DELAY: Duration = Duration::from_secs(1);

/// What happens to a delivery after the executor had it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Nothing (more) to run: acknowledged, gone.
    Done,
    /// This keeper's row for the due time is in flight: held until it settles.
    Hold,
    /// Not run, for now: delivered again after `delay`.
    Retry { delay: Duration, reason: String },
    /// Only this keeper can sign it (it holds the thread's lease): to its route.
    Reroute(Pubkey),
    /// Given up, with the reason: into the fleet's dead-letter stream.
    DeadLetter(String),
}

/// What `outcome` means for a delivery, which, if it is to come again, comes after
/// `replay_delay` (the priority's, doubled for each delivery already made, as a keeper
/// alone backs off its replays).
pub fn settle_of(outcome: &ExecOutcome, replay_delay: Duration) -> Settle {
    let later = |reason: &str| Settle::Retry {
        delay: replay_delay,
        reason: reason.to_string(),
    };
    match outcome {
        ExecOutcome::Submitted { .. } | ExecOutcome::Deferred { .. } => Settle::Hold,
        ExecOutcome::Skipped(SkipReason::InFlight) => Settle::Hold,
        // Only the lease holder can sign it: on to the holder's route, now.
        ExecOutcome::Skipped(SkipReason::LeasedByOther(holder)) => Settle::Reroute(*holder),
        ExecOutcome::Skipped(SkipReason::NotDue) => later("not due yet"),
        // Another keeper of the fleet may ask a smaller margin, or the price may fall.
        ExecOutcome::Skipped(SkipReason::Unprofitable) => later("unprofitable for this keeper"),
        ExecOutcome::Skipped(
            SkipReason::AlreadyExecuted | SkipReason::Gone | SkipReason::Paused,
        ) => Settle::Done,
        ExecOutcome::Failed(reason) => later(reason),
        ExecOutcome::Busy(reason) => Settle::Retry {
            delay: BUSY_DELAY,
            reason: reason.clone(),
        },
        ExecOutcome::Refused {
            reason,
            dead_letter: Some(_),
        } => Settle::DeadLetter(reason.clone()),
        ExecOutcome::Refused {
            reason,
            dead_letter: None,
        } => later(reason),
    }
}

/// The wait before `delivery` comes again: the executor's replay backoff for its
/// priority, counting the deliveries made before this one.
fn replay_delay(executor: &Executor, delivery: &Delivery) -> Duration {
    let made = u32::try_from(delivery.attempt.saturating_sub(1)).unwrap_or(u32::MAX);
    let secs = executor.replay_delay_secs(delivery.item.priority, made);
    Duration::from_secs(u64::try_from(secs).unwrap_or(1))
}

/// What a held row's state means for its delivery; `None`: still in flight.
fn settle_of_row(state: ExecState, last_error: Option<&str>) -> Option<Settle> {
    match state {
        ExecState::Confirmed | ExecState::Superseded => Some(Settle::Done),
        ExecState::Dead => Some(Settle::DeadLetter(
            last_error.unwrap_or("out of retries").to_string(),
        )),
        ExecState::Pending | ExecState::Sent => None,
    }
}

/// Pulls and executes deliveries for keeper `me` until `stop`; `poll` is how long a
/// pull waits for work while nothing is held (held rows are looked at every
/// [`SETTLE_EVERY`]).
pub async fn run_submitter(
    submitter: Submitter,
    executor: Arc<Executor>,
    store: Store,
    poll: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut held: Vec<Delivery> = Vec::new();
    loop {
        let room = IN_HAND.saturating_sub(held.len());
        // The whole `poll` for new work only when nothing is held: held rows settle
        // within SETTLE_EVERY, so their room is taken again soon.
        let wait = if held.is_empty() { poll } else { SETTLE_EVERY };
        let pulled = tokio::select! {
            biased;
            _ = &mut stop => return,
            pulled = submitter.next(room.max(1), wait), if room > 0 => pulled,
            _ = tokio::time::sleep(SETTLE_EVERY), if room == 0 => Ok(Vec::new()),
        };
        match pulled {
            Ok(deliveries) => {
                // A pull's deliveries run at once (at most IN_HAND), as the worker pool
                // runs due threads: one slow chain answer does not hold the rest.
                let outcomes = join_all(
                    deliveries
                        .iter()
                        .map(|d| executor.execute(d.item.thread, d.item.exec_count)),
                )
                .await;
                for (delivery, outcome) in deliveries.into_iter().zip(outcomes) {
                    let settle = settle_of(&outcome, replay_delay(&executor, &delivery));
                    if settle == Settle::Hold {
                        held.push(delivery);
                    } else if let Err(e) = apply(delivery, settle).await {
                        tracing::warn!(kind = e.kind(), error = %e, "could not settle a fleet delivery; it comes back after ack_wait");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(kind = e.kind(), error = %e, "could not pull from the fleet queue; trying again");
                tokio::time::sleep(poll).await;
            }
        }
        held = settle_held(held, &store).await;
    }
}

/// Settles each held delivery whose row has settled; keeps (and keeps alive) the rest.
async fn settle_held(held: Vec<Delivery>, store: &Store) -> Vec<Delivery> {
    let mut still = Vec::with_capacity(held.len());
    for mut delivery in held {
        let row = store.find(&delivery.item.thread, delivery.item.exec_count);
        let settle = match &row {
            Ok(Some(row)) => settle_of_row(row.state, row.last_error.as_deref()),
            // No row: the executor never persisted it (it would have said so); ask again.
            Ok(None) => Some(Settle::Retry {
                delay: BUSY_DELAY,
                reason: "no row for the due time".into(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the store for a held delivery");
                None
            }
        };
        match settle {
            Some(settle) => {
                if let Err(e) = apply(delivery, settle).await {
                    tracing::warn!(kind = e.kind(), error = %e, "could not settle a fleet delivery; it comes back after ack_wait");
                }
            }
            None => {
                if let Err(e) = delivery.keep_alive_when_due().await {
                    tracing::debug!(kind = e.kind(), error = %e, "could not extend a held delivery");
                }
                still.push(delivery);
            }
        }
    }
    still
}

async fn apply(delivery: Delivery, settle: Settle) -> Result<(), QueueError> {
    match settle {
        Settle::Done => delivery.done().await,
        Settle::Retry { delay, reason } => delivery.retry_in(delay, &reason).await,
        Settle::DeadLetter(reason) => delivery.dead_letter(&reason).await,
        Settle::Reroute(holder) => delivery.reroute(holder).await,
        Settle::Hold => unreachable!("held deliveries are kept by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::builder::priority::ExecutionPriority;
    use solana_sdk::signature::Signature;

    #[test]
    fn each_outcome_settles_its_delivery() {
        let medium = ExecutionPriority::Medium.replay_delay();
        let settle = |outcome: ExecOutcome| settle_of(&outcome, medium);
        assert_eq!(
            settle(ExecOutcome::Submitted {
                id: 1,
                signature: Signature::default()
            }),
            Settle::Hold
        );
        assert_eq!(
            settle(ExecOutcome::Deferred {
                id: 1,
                reason: "rpc".into()
            }),
            Settle::Hold
        );
        for done in [
            SkipReason::AlreadyExecuted,
            SkipReason::Gone,
            SkipReason::Paused,
        ] {
            assert_eq!(settle(ExecOutcome::Skipped(done)), Settle::Done);
        }
        let holder = Pubkey::new_unique();
        assert_eq!(
            settle(ExecOutcome::Skipped(SkipReason::LeasedByOther(holder))),
            Settle::Reroute(holder)
        );
        assert_eq!(
            settle(ExecOutcome::Failed("rpc down".into())),
            Settle::Retry {
                delay: Duration::from_secs(30),
                reason: "rpc down".into()
            },
            "the seed's Medium replay delay"
        );
        assert_eq!(
            settle_of(&ExecOutcome::Failed("x".into()), Duration::from_secs(20)),
            Settle::Retry {
                delay: Duration::from_secs(20),
                reason: "x".into()
            },
            "the delay it is given"
        );
        assert_eq!(
            settle(ExecOutcome::Refused {
                reason: "custom program error: 0x1785".into(),
                dead_letter: Some(3)
            }),
            Settle::DeadLetter("custom program error: 0x1785".into())
        );
        assert!(matches!(
            settle(ExecOutcome::Busy("nonce taken".into())),
            Settle::Retry { delay, .. } if delay == BUSY_DELAY
        ));
    }

    #[test]
    fn a_held_row_settles_when_its_state_is_final() {
        assert_eq!(
            settle_of_row(ExecState::Confirmed, None),
            Some(Settle::Done)
        );
        assert_eq!(
            settle_of_row(ExecState::Superseded, None),
            Some(Settle::Done)
        );
        assert_eq!(
            settle_of_row(ExecState::Dead, Some("blockhash expired")),
            Some(Settle::DeadLetter("blockhash expired".into()))
        );
        assert_eq!(settle_of_row(ExecState::Sent, None), None);
        assert_eq!(settle_of_row(ExecState::Pending, None), None);
    }
}
