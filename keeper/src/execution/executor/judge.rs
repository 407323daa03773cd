//! Judging a persisted execution by the chain: the chain decides, never a row.
//!
//! Owns: [`ThreadRead`] (a thread as read, with the slot of the read), [`judge`] (what a
//! read says of an unfinished row's due time) and [`owner_of_due_time`] (whether a row
//! owns a due time the chain shows unexecuted). Pure functions of a row and a read, so
//! every verdict is tested here without a chain. Must not: read the chain or the store,
//! or act on a verdict (settle.rs and the executor's callers of these do).
//!
//! A row records the read it rests on (its [`ThreadContext`](crate::store::ThreadContext):
//! the slot and the thread's `created_at`). An answer that contradicts it (the thread
//! absent, re-created, or back at an earlier `exec_count`) is believed only from a read
//! at that slot or later.

use thread::state::Thread;

use crate::store::{ExecState, Execution};

/// A thread as the chain showed it, with the slot of the read.
#[derive(Debug)]
pub(super) struct ThreadRead {
    pub slot: u64,
    /// `None`: not found (or not a thread of the program).
    pub state: Option<Thread>,
}

/// What a read of the thread says about an unfinished row's due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Still the thread's next due time: the row may be sent.
    Current,
    /// The thread's `exec_count` moved past it: it ran.
    Ran,
    /// The thread is gone, or re-created at its address, as read at or after the row's
    /// context slot: the row's due time will never run.
    Gone(String),
    /// The read contradicts the row but is older than the read the row rests on (a
    /// node behind): it proves nothing yet.
    Stale(String),
    /// The read contradicts the row, which records no context to judge its age by (a
    /// row of an older keeper): an attempt that counts, so a thread truly gone ends in
    /// the dead-letter queue, loudly, rather than silently.
    Unproven(String),
}

/// Judges `row` against `read` (see [`Verdict`]).
pub(super) fn judge(row: &Execution, read: &ThreadRead) -> Verdict {
    let due = row.exec_count_at_build;
    let contradiction = match &read.state {
        None => format!("thread not found at slot {}", read.slot),
        Some(state) => {
            let recreated = row
                .context
                .is_some_and(|c| c.created_at != state.created_at)
                || state.exec_count < due;
            if !recreated {
                return if state.exec_count > due {
                    Verdict::Ran
                } else {
                    Verdict::Current
                };
            }
            format!(
                "thread re-created: exec_count {} created_at {} at slot {}",
                state.exec_count, state.created_at, read.slot
            )
        }
    };
    match row.context {
        None => Verdict::Unproven(format!(
            "{contradiction}; the execution records no slot to judge the answer by"
        )),
        Some(context) if read.slot < context.slot => Verdict::Stale(format!(
            "{contradiction}, before slot {} the execution rests on",
            context.slot
        )),
        Some(context) => Verdict::Gone(format!(
            "{contradiction} (the execution rests on slot {})",
            context.slot
        )),
    }
}

/// Whether a row for a due time owns it, against the chain's `state` read at
/// `read_slot` showing the due time unexecuted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RowOwns {
    /// In flight or replaying, or dead-lettered for this thread: the row decides.
    Yes,
    /// The row saw its transaction land at a slot later than this read: the read is
    /// stale.
    AlreadyRan,
    /// The chain has since contradicted the row: the due time needs a new execution.
    No(String),
}

pub(super) fn owner_of_due_time(row: &Execution, read_slot: u64, state: &Thread) -> RowOwns {
    let stale = row.context.is_some_and(|c| read_slot < c.slot);
    let other_incarnation = row
        .context
        .is_some_and(|c| c.created_at != state.created_at);
    match row.state {
        ExecState::Pending | ExecState::Sent => {
            if other_incarnation && !stale {
                RowOwns::No(format!(
                    "the thread was re-created (created_at {}); the execution was for an \
                     earlier one",
                    state.created_at
                ))
            } else {
                RowOwns::Yes
            }
        }
        ExecState::Dead if other_incarnation && !stale => RowOwns::No(format!(
            "the thread was re-created (created_at {}); the dead letter was for an earlier one",
            state.created_at
        )),
        ExecState::Dead => RowOwns::Yes,
        // A confirmation names the slot the transaction landed at: a read behind it is
        // a lagging node, not the due time back.
        ExecState::Confirmed if stale && !other_incarnation => RowOwns::AlreadyRan,
        // A supersede rests on a judgment of the chain's answers, which may have come
        // from a node of another cluster or a lagging one: the chain showing the due time
        // unexecuted wins. A wrong reopen costs at most a transaction the program
        // refuses (it runs each due time once); a wrong skip would lose the due time.
        ExecState::Confirmed | ExecState::Superseded => RowOwns::No(format!(
            "the row is {} but the chain shows exec_count {} unexecuted at slot {read_slot}",
            row.state, state.exec_count
        )),
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::pubkey::Pubkey;
    use solana_sdk::signature::Signature;

    use super::*;
    use crate::store::{ExecutionPriority, ThreadContext};
    use crate::test_utils::thread::ThreadFixture;

    const CREATED: i64 = 1_700_000_000;

    /// A row for exec_count 3 in `state`, built on a read at slot 100 of the thread
    /// created at [`CREATED`] (`context: false`: a row of an older keeper).
    fn row(state: ExecState, context: bool) -> Execution {
        Execution {
            id: 1,
            thread: Pubkey::new_unique(),
            exec_count_at_build: 3,
            nonce_account: None,
            nonce_value: None,
            signature: Signature::default(),
            transaction: Vec::new(),
            priority: ExecutionPriority::Medium,
            state,
            retry_count: 0,
            max_retries: 3,
            created_at: 0,
            updated_at: 0,
            next_attempt_at: 0,
            last_sent_at: None,
            last_error: None,
            context: context.then_some(ThreadContext {
                slot: 100,
                created_at: CREATED,
            }),
            due_at: None,
        }
    }

    fn thread(exec_count: u64, created_at: i64) -> Thread {
        let mut thread = ThreadFixture::new().exec_count(exec_count).thread;
        thread.created_at = created_at;
        thread
    }

    fn read(slot: u64, state: Option<Thread>) -> ThreadRead {
        ThreadRead { slot, state }
    }

    #[test]
    fn not_found_is_believed_only_at_or_after_the_rows_slot() {
        let pending = row(ExecState::Pending, true);
        assert!(matches!(
            judge(&pending, &read(99, None)),
            Verdict::Stale(reason) if reason == "thread not found at slot 99, before slot 100 the execution rests on"
        ));
        assert!(matches!(
            judge(&pending, &read(100, None)),
            Verdict::Gone(reason) if reason.starts_with("thread not found at slot 100")
        ));
        // A row of an older keeper has no slot: the answer counts as a failed attempt.
        assert!(matches!(
            judge(&row(ExecState::Sent, false), &read(500, None)),
            Verdict::Unproven(_)
        ));
    }

    #[test]
    fn the_threads_exec_count_decides_what_ran() {
        let pending = row(ExecState::Pending, true);
        assert_eq!(
            judge(&pending, &read(50, Some(thread(3, CREATED)))),
            Verdict::Current
        );
        assert_eq!(
            judge(&pending, &read(50, Some(thread(4, CREATED)))),
            Verdict::Ran
        );
    }

    #[test]
    fn a_re_created_thread_is_believed_only_from_a_read_at_or_after_the_rows_slot() {
        let pending = row(ExecState::Pending, true);
        for state in [thread(3, CREATED + 1), thread(0, CREATED)] {
            assert!(matches!(
                judge(&pending, &read(120, Some(state.clone()))),
                Verdict::Gone(reason) if reason.starts_with("thread re-created")
            ));
            assert!(matches!(
                judge(&pending, &read(80, Some(state))),
                Verdict::Stale(_)
            ));
        }
    }

    #[test]
    fn a_superseded_row_never_owns_a_due_time_the_chain_shows_unexecuted() {
        let state = thread(3, CREATED);
        for slot in [50, 100, 150] {
            assert!(matches!(
                owner_of_due_time(&row(ExecState::Superseded, true), slot, &state),
                RowOwns::No(_)
            ));
        }
        assert!(matches!(
            owner_of_due_time(&row(ExecState::Superseded, false), 1, &state),
            RowOwns::No(_)
        ));
    }

    #[test]
    fn a_confirmed_row_owns_its_due_time_against_a_read_from_before_it_landed() {
        let confirmed = row(ExecState::Confirmed, true);
        let state = thread(3, CREATED);
        assert_eq!(
            owner_of_due_time(&confirmed, 99, &state),
            RowOwns::AlreadyRan
        );
        // At or after the landing slot the chain shows the count back at 3: the thread
        // was deleted and created again within the same second.
        assert!(matches!(
            owner_of_due_time(&confirmed, 100, &state),
            RowOwns::No(_)
        ));
        // Another incarnation, whatever the slot.
        assert!(matches!(
            owner_of_due_time(&confirmed, 99, &thread(3, CREATED + 5)),
            RowOwns::No(_)
        ));
    }

    #[test]
    fn rows_in_flight_and_dead_letters_own_their_due_time_unless_the_thread_was_re_created() {
        let state = thread(3, CREATED);
        for owned in [ExecState::Pending, ExecState::Sent, ExecState::Dead] {
            assert_eq!(
                owner_of_due_time(&row(owned, true), 150, &state),
                RowOwns::Yes
            );
            assert_eq!(
                owner_of_due_time(&row(owned, false), 150, &state),
                RowOwns::Yes
            );
            let recreated = thread(3, CREATED + 60);
            assert!(matches!(
                owner_of_due_time(&row(owned, true), 150, &recreated),
                RowOwns::No(reason) if reason.contains("re-created")
            ));
            assert_eq!(
                owner_of_due_time(&row(owned, true), 50, &recreated),
                RowOwns::Yes,
                "a read older than the row proves nothing"
            );
        }
    }
}
