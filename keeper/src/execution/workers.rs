//! The worker pool: due threads from the scheduler, executed a bounded number at once.
//!
//! Owns how many executions run at once (the configured workers, scaled by the operating
//! mode), which due threads are admitted (only while this keeper leads, only the
//! priorities the mode admits), and what each outcome tells the degradation monitor and
//! the scheduler; in a fleet (`[daemon.fleet]`), handing due threads to the fleet's work
//! stream instead of executing them here. Must not: judge, build or send an execution
//! (the executor does), pick the operating mode (the monitor does) or decide when a
//! thread is due (the scheduler does); a thread not admitted goes back to the
//! scheduler, never into a queue here.

use std::sync::Arc;

use solana_sdk::pubkey::Pubkey;
use thread::state::{Durability, ThreadPriority};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::executor::{ExecOutcome, Executor, SkipReason};
use crate::fleet::{Handed, Published, Publisher, WorkItem};
use crate::leadership::Leadership;
use crate::ops::degradation::{DegradationMonitor, OperatingMode};
use crate::tracking::discovery::{read_index, SharedIndex};
use crate::tracking::scheduler::DueThread;
use crate::tracking::view::LeaseHolder;

/// What the worker pool reads of a due thread in the index, in one read: its
/// durability, its owner's priority and its lease. A thread the index does not hold
/// counts as not durable (the executor reads the chain before it does anything).
#[derive(Default)]
struct Indexed {
    durable: bool,
    owner_priority: Option<ThreadPriority>,
    lease: Option<LeaseHolder>,
}

impl Indexed {
    fn of(index: &SharedIndex, thread: &Pubkey) -> Self {
        read_index(index)
            .get(thread)
            .map_or_else(Self::default, |t| Self {
                durable: matches!(t.state.durability, Durability::Durable { .. }),
                owner_priority: t.state.priority,
                lease: t.state.lease,
            })
    }
}

/// Executions run at once in `mode`: the mode's share of `workers`, at least one
/// (Maintenance admits nothing anyway).
fn concurrency(mode: OperatingMode, workers: usize) -> usize {
    (workers * usize::from(mode.throughput_percent()) / 100).max(1)
}

/// Takes due threads from the scheduler and executes up to `workers` at once, as the
/// operating mode allows: Degraded runs at most its share of the workers at once and
/// only the priorities it admits, Maintenance nothing. A thread not admitted is handed
/// back (its guard dropped): the scheduler issues it again after its cool-down. Ends
/// when the scheduler closes the channel (it stops on shutdown) and the last worker is
/// done.
pub async fn run_workers(
    executor: Arc<Executor>,
    degradation: Arc<DegradationMonitor>,
    leadership: Leadership,
    index: SharedIndex,
    mut work: mpsc::Receiver<DueThread>,
    workers: usize,
    fleet: Option<Publisher>,
) {
    let mut running = JoinSet::new();
    while let Some(due) = work.recv().await {
        let mode = loop {
            while running.try_join_next().is_some() {}
            let mode = degradation.mode();
            if running.len() < concurrency(mode, workers) {
                break mode;
            }
            running.join_next().await;
        };
        if !leadership.is_leader() {
            // Another keeper of the fleet executes; this one stays warm. Handed back,
            // the thread is issued again later, in case this keeper leads by then.
            tracing::trace!(thread = %due.thread, "not leading; not executed");
            continue;
        }
        let indexed = Indexed::of(&index, &due.thread);
        let priority = executor.effective_priority(indexed.durable, indexed.owner_priority);
        if !mode.admits(priority) {
            tracing::debug!(
                thread = %due.thread,
                mode = mode.as_str(),
                priority = priority.as_str(),
                "not admitted in this operating mode; issued again later"
            );
            continue;
        }
        if let Some(publisher) = &fleet {
            let executor = executor.clone();
            running.spawn(hand_over(
                publisher.clone(),
                due,
                priority,
                indexed,
                executor,
            ));
            continue;
        }
        let executor = executor.clone();
        let degradation = degradation.clone();
        running.spawn(async move {
            let outcome = executor.execute(due.thread, due.exec_count).await;
            match outcome {
                ExecOutcome::Submitted { .. } => {
                    let due_to_submit = due.late_secs + due.issued_at.elapsed().as_secs_f64();
                    executor
                        .metrics()
                        .due_to_submit_seconds
                        .observe(due_to_submit);
                    degradation.record(true);
                    due.in_flight.executed();
                }
                ExecOutcome::Deferred { .. } => {
                    degradation.record(false);
                    due.in_flight.executed();
                }
                ExecOutcome::Skipped(SkipReason::AlreadyExecuted | SkipReason::InFlight) => {
                    due.in_flight.executed()
                }
                ExecOutcome::Skipped(_) => {}
                ExecOutcome::Failed(reason) => {
                    degradation.record(false);
                    tracing::warn!(thread = %due.thread, reason, "execution attempt failed");
                }
                // The thread's own problem, not the keeper's health: not recorded, or a
                // few broken threads would throttle everybody else's.
                ExecOutcome::Refused {
                    dead_letter: Some(_),
                    ..
                } => due.in_flight.executed(),
                ExecOutcome::Refused { .. } => {}
                ExecOutcome::Busy(reason) => {
                    tracing::debug!(thread = %due.thread, reason, "busy; offered again later")
                }
            }
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// In a fleet: the due thread goes to the fleet's work stream (or the spool) instead of
/// this keeper's executor: a durable thread whose lease is live to the subject of its
/// holder (the only keeper that can sign it), any other to the subject all share.
///
/// Stored there (or found in flight there, whoever published it: a new leader reads the
/// fleet's in-flight set from the stream), a non-durable thread is spent for the
/// scheduler until its state changes. A durable one is offered again after the
/// cool-down and found in flight each time: should its holder die with the execution on
/// its route, the offer after its lease lapsed publishes it for everyone. A duplicate
/// goes back to the scheduler too.
async fn hand_over(
    publisher: Publisher,
    due: DueThread,
    priority: ExecutionPriority,
    indexed: Indexed,
    // For its metrics: a hand-over executes nothing here.
    executor: Arc<Executor>,
) {
    let durable = indexed.durable;
    let item = WorkItem {
        thread: due.thread,
        exec_count: due.exec_count,
        submitter: indexed
            .lease
            .filter(|l| l.is_live(due.slot))
            .map(|l| l.holder),
        priority,
    };
    let handed = publisher.hand_over(&item).await;
    let outcome = handed.as_ref().map_or("failed", Handed::as_str);
    executor
        .metrics()
        .fleet_handovers_total
        .with_label_values(&[outcome])
        .inc();
    match handed {
        // Dead-lettered: held like a dead letter of the store, until its state changes.
        Ok(Handed::DeadLettered) => due.in_flight.executed(),
        Ok(Handed::Published(Published::New(_)) | Handed::Spooled | Handed::InFlight)
            if !durable =>
        {
            due.in_flight.executed()
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(thread = %due.thread, kind = e.kind(), error = %e, "could not hand a due execution to the fleet; offered again later");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_runs_its_share_of_the_workers_and_never_none() {
        let degraded = OperatingMode::Degraded {
            throughput_percent: 50,
            essential_only: true,
        };
        assert_eq!(concurrency(OperatingMode::Full, 16), 16);
        assert_eq!(concurrency(degraded, 16), 8);
        assert_eq!(concurrency(degraded, 1), 1);
        assert_eq!(concurrency(OperatingMode::Maintenance, 16), 1);
    }
}
