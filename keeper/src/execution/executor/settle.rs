//! Recording what became of an execution that did not simply land: the replay backoff
//! and the next attempt (or the dead-letter queue), putting a row off when the chain's
//! answer is older than it, and superseding a row the chain contradicts or shows run.
//!
//! Owns: those store writes, the replay delay, and the logs, metrics, events and notices
//! that go with them, a dead letter's alert included. Must not: read the chain, build or
//! send (its callers judged the row and hand it the verdict).

use solana_sdk::pubkey::Pubkey;

use super::judge::Verdict;
use super::{ExecEvent, Executor};
use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::retry::replay_delay;
use crate::store::{Execution, RetryDecision};

impl Executor {
    /// The wait before the next replay of an execution that has been replayed
    /// `retries_made` times (see [`crate::execution::retry::replay_delay`]), in whole
    /// seconds, at least one.
    pub fn replay_delay_secs(&self, priority: ExecutionPriority, retries_made: u32) -> i64 {
        let mut rng = self.rng.lock();
        let delay = replay_delay(
            priority.replay_delay(),
            retries_made,
            std::time::Duration::from_secs(self.config.replay_max_delay_secs),
            &mut *rng,
        );
        i64::try_from(delay.as_secs_f64().round() as u64)
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Schedules the next attempt after the replay backoff, or dead-letters.
    pub(super) fn retry_later(&self, id: i64, priority: ExecutionPriority, reason: &str) {
        // One read serves both the backoff (replays made so far) and a dead letter's
        // alert (thread and due time); scheduling changes neither.
        let row = match self.store.get(id) {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(id, error = %e, "could not read an execution to back off from its replays; using the first delay");
                None
            }
        };
        let retries_made = row.as_ref().map_or(0, |row| row.retry_count);
        let delay = self.replay_delay_secs(priority, retries_made);
        let at = self.store.now().saturating_add(delay);
        match self.store.schedule_retry(id, at, reason) {
            Ok(RetryDecision::DeadLettered) => match row {
                Some(row) => self.dead_lettered(id, row.thread, row.exec_count_at_build, reason),
                None => tracing::error!(id, reason, "execution moved to the dead-letter queue"),
            },
            Ok(RetryDecision::Scheduled { retry_count }) => {
                tracing::warn!(
                    id,
                    retry_count,
                    delay_secs = delay,
                    reason,
                    "execution will be replayed"
                );
            }
            // The row stays unfinished and due, so the replay loop takes it again: the
            // attempt is only not counted.
            Err(e) => tracing::error!(id, reason, error = %e, "could not schedule a replay"),
        }
    }

    /// Looks at `row` again after its priority's base delay without counting an attempt:
    /// the chain's answer was older than the row's, so nothing was tried, and a node's
    /// lag must never dead-letter a due time.
    pub(super) fn put_off(&self, row: &Execution, reason: &str) {
        let delay = self.replay_delay_secs(row.priority, 0);
        let at = self.store.now().saturating_add(delay);
        tracing::info!(id = row.id, thread = %row.thread, exec_count = row.exec_count_at_build, reason, "the chain's answer is older than the execution's; looking again later");
        if let Err(e) = self.store.postpone(row.id, at, reason) {
            tracing::error!(id = row.id, error = %e, "could not put off an execution");
        }
    }

    /// Marks `row` superseded with `reason`, judged on a read at `slot`, and says so:
    /// at warn when the due time did not run (`unexpected`: the thread gone, re-created
    /// or leased by another keeper), at info when the chain shows it ran.
    pub(super) fn supersede(&self, row: &Execution, reason: &str, slot: u64, unexpected: bool) {
        let (thread, exec_count) = (row.thread, row.exec_count_at_build);
        if let Err(e) = self.store.mark_superseded_at(row.id, reason, slot) {
            // Still unfinished: the next replay judges it again.
            tracing::error!(id = row.id, %thread, exec_count, error = %e, "could not record a superseded execution");
            return;
        }
        if unexpected {
            tracing::warn!(id = row.id, %thread, exec_count, slot, reason, "execution superseded");
        } else {
            tracing::info!(id = row.id, %thread, exec_count, slot, reason, "execution superseded");
        }
        self.emit(ExecEvent::Superseded {
            thread,
            exec_count,
            reason: reason.to_owned(),
            ran: !unexpected,
        });
    }

    /// Acts on a read that contradicts `row` (see [`Verdict`]).
    pub(super) fn settle_contradicted(&self, row: &Execution, verdict: Verdict, slot: u64) {
        match verdict {
            Verdict::Gone(reason) => self.supersede(row, &reason, slot, true),
            Verdict::Stale(reason) => self.put_off(row, &reason),
            Verdict::Unproven(reason) => self.retry_later(row.id, row.priority, &reason),
            Verdict::Current | Verdict::Ran => {}
        }
    }

    /// The alert of a dead letter: log line, metrics, event, notice.
    pub(super) fn dead_lettered(&self, id: i64, thread: Pubkey, exec_count: u64, reason: &str) {
        self.metrics.dead_lettered_total.inc();
        match self.store.dlq_len() {
            Ok(dlq) => self
                .metrics
                .dlq_size
                .set(i64::try_from(dlq).unwrap_or(i64::MAX)),
            Err(e) => {
                tracing::warn!(error = %e, "could not count the dead-letter queue; keeper_dlq_size is behind")
            }
        }
        tracing::error!(id, %thread, exec_count, reason, "execution moved to the dead-letter queue");
        if let Some(notifier) = &self.notifier {
            match self.store.dead_letter_of_execution(id) {
                Ok(Some(entry)) => notifier.dead_letter(&entry),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(id, error = %e, "could not read the dead letter to announce it")
                }
            }
        }
        self.emit(ExecEvent::DeadLettered {
            thread,
            exec_count,
            reason: reason.to_string(),
        });
    }
}
