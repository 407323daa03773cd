//! Executions: persist before send, the state changes of the replay loop, and the
//! queries of the replay loop and the start-up recovery.

use rusqlite::{params, Transaction};
use solana_sdk::{pubkey::Pubkey, signature::Signature};

use super::{
    sql_limit, to_sql_int,
    types::{execution_from_row, EXECUTION_COLUMNS, PRIORITY_RANK},
    ExecState, Execution, NewExecution, RetryDecision, Store, StoreCounts, StoreError,
    ThreadContext, UnbuiltExecution,
};

impl Store {
    /// Records a signed execution before it is sent, as Pending and due now, and
    /// returns its id.
    ///
    /// Idempotent per due time: if `(thread, exec_count_at_build)` already has a row,
    /// whatever its state, that row's id is returned and nothing is written (the
    /// stored transaction may already be in flight, so it is never replaced here).
    /// Callers that need to know check [`Store::get`]'s state before sending.
    pub fn persist(&self, new: NewExecution) -> Result<i64, StoreError> {
        require_nonce_value(&new)?;
        let exec_count = to_sql_int("exec_count_at_build", new.exec_count_at_build)?;
        let now = self.now();
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO executions (thread, exec_count_at_build, nonce_account, \
                     nonce_value, signature, tx, priority, state, retry_count, max_retries, \
                     created_at, updated_at, next_attempt_at, context_slot, thread_created_at, \
                     due_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?9, ?9, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (thread, exec_count_at_build) DO NOTHING",
                params![
                    new.thread.to_string(),
                    exec_count,
                    new.nonce_account.map(|k| k.to_string()),
                    new.nonce_value.map(|h| h.to_string()),
                    new.signature.to_string(),
                    new.transaction,
                    new.priority.as_str(),
                    new.max_retries,
                    now,
                    context_slot(new.context)?,
                    new.context.map(|c| c.created_at),
                    new.due_at,
                ],
            )?;
            if inserted == 1 {
                return Ok(tx.last_insert_rowid());
            }
            Ok(tx.query_row(
                "SELECT id FROM executions WHERE thread = ?1 AND exec_count_at_build = ?2",
                params![new.thread.to_string(), exec_count],
                |row| row.get(0),
            )?)
        })
    }

    /// Puts a due time that never got a transaction straight into the dead-letter
    /// queue with `reason`, so an operator sees it, and the keeper stops building it
    /// until the operator retries (which replays it: an execution without a stored
    /// transaction is built afresh) or purges it. The row has no transaction (empty
    /// bytes, the default signature) and no nonce.
    ///
    /// Returns the dead letter's execution id, or `None` when the due time already has a
    /// row (nothing is written: that row owns the due time).
    pub fn dead_letter_unbuilt(
        &self,
        unbuilt: &UnbuiltExecution,
        reason: &str,
    ) -> Result<Option<i64>, StoreError> {
        let exec_count = to_sql_int("exec_count", unbuilt.exec_count)?;
        let now = self.now();
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO executions (thread, exec_count_at_build, signature, tx, priority, \
                     state, retry_count, max_retries, created_at, updated_at, next_attempt_at, \
                     last_error) \
                 VALUES (?1, ?2, ?3, x'', ?4, 'dead', 0, ?5, ?6, ?6, ?6, ?7) \
                 ON CONFLICT (thread, exec_count_at_build) DO NOTHING",
                params![
                    unbuilt.thread.to_string(),
                    exec_count,
                    Signature::default().to_string(),
                    unbuilt.priority.as_str(),
                    unbuilt.max_retries,
                    now,
                    reason,
                ],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO dead_letters (execution_id, reason, attempts, dead_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, reason, unbuilt.attempts, now],
            )?;
            Ok(Some(id))
        })
    }

    /// Records a send at `at` (unix seconds): the state becomes Sent and the replay
    /// loop looks at it again after the priority's replay delay if it is not
    /// confirmed by then. Allowed from Pending and Sent (a re-send).
    pub fn mark_sent(&self, id: i64, at: i64) -> Result<(), StoreError> {
        let now = self.now();
        self.write(|tx| {
            let execution = load(tx, id)?;
            require(&execution, UNFINISHED, ExecState::Sent)?;
            let delay =
                i64::try_from(execution.priority.replay_delay().as_secs()).unwrap_or(i64::MAX);
            tx.execute(
                "UPDATE executions SET state = 'sent', last_sent_at = ?2, \
                     next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, at, at.saturating_add(delay), now],
            )?;
            Ok(())
        })
    }

    /// Records that the execution landed. Allowed from Pending (sent just before a
    /// crash, found confirmed at recovery) and Sent; a second call is a no-op. Also
    /// from Superseded: a replay may judge the due time done by another transaction
    /// while this one's status is still on its way, and the status is the better proof
    /// (it names this very transaction).
    pub fn mark_confirmed(&self, id: i64) -> Result<(), StoreError> {
        self.finish(id, ExecState::Confirmed, None, None)
    }

    /// [`Store::mark_confirmed`], with the slot the transaction landed at as the row's
    /// context slot: a later read of the thread from before it proves nothing against
    /// the confirmation.
    pub fn mark_confirmed_at(&self, id: i64, slot: u64) -> Result<(), StoreError> {
        let slot = to_sql_int("context_slot", slot)?;
        self.finish(id, ExecState::Confirmed, None, Some(slot))
    }

    /// Records that the thread's on-chain state shows this due time already ran, so
    /// this execution must not be sent again. `reason` is kept in `last_error`.
    /// Allowed from Pending and Sent; a second call is a no-op.
    pub fn mark_superseded(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        self.finish(id, ExecState::Superseded, Some(reason), None)
    }

    /// [`Store::mark_superseded`], with the slot of the read that judged it as the
    /// row's context slot (kept if the row's is later).
    pub fn mark_superseded_at(&self, id: i64, reason: &str, slot: u64) -> Result<(), StoreError> {
        let slot = to_sql_int("context_slot", slot)?;
        self.finish(id, ExecState::Superseded, Some(reason), Some(slot))
    }

    fn finish(
        &self,
        id: i64,
        to: ExecState,
        reason: Option<&str>,
        context_slot: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.write(|tx| {
            let execution = load(tx, id)?;
            if execution.state == to {
                return Ok(());
            }
            let proven_ours =
                to == ExecState::Confirmed && execution.state == ExecState::Superseded;
            if !proven_ours {
                require(&execution, UNFINISHED, to)?;
            }
            // A confirmation proving a superseded execution ours refutes the reason it
            // was superseded for, so that reason is not left beside the new state.
            let last_error = match reason {
                Some(reason) => Some(reason.to_owned()),
                None if proven_ours => None,
                None => execution.last_error,
            };
            tx.execute(
                "UPDATE executions SET state = ?2, updated_at = ?3, last_error = ?4, \
                     context_slot = max(coalesce(?5, context_slot), coalesce(context_slot, ?5)) \
                 WHERE id = ?1",
                params![id, to.as_str(), now, last_error, context_slot],
            )?;
            Ok(())
        })
    }

    /// Swaps in a rebuilt transaction (after the nonce advanced under the old one, or a
    /// non-durable blockhash expired) with its nonce and the chain read it rests on, in
    /// one write: a rebuilt transaction is never recorded on the old read. The state
    /// becomes Pending, since the new transaction has not been sent; the priority, the
    /// retries and `next_attempt_at` are kept. `new` must name the row's due time, and
    /// have a nonce exactly when the row has. Allowed from Pending and Sent.
    pub fn replace_transaction(&self, id: i64, new: &NewExecution) -> Result<(), StoreError> {
        require_nonce_value(new)?;
        let now = self.now();
        self.write(|tx| {
            let execution = load(tx, id)?;
            require(&execution, UNFINISHED, ExecState::Pending)?;
            require_due_time(&execution, new)?;
            let has_nonce = execution.nonce_account.is_some();
            if has_nonce != new.nonce_account.is_some() {
                return Err(StoreError::Invalid {
                    field: "nonce_account",
                    reason: format!(
                        "execution {id} {} a nonce account; the rebuilt one must {}",
                        if has_nonce { "has" } else { "has no" },
                        if has_nonce { "too" } else { "not either" },
                    ),
                });
            }
            tx.execute(
                "UPDATE executions SET tx = ?2, signature = ?3, nonce_account = ?4, \
                     nonce_value = ?5, state = 'pending', updated_at = ?6, \
                     context_slot = coalesce(?7, context_slot), \
                     thread_created_at = coalesce(?8, thread_created_at) \
                 WHERE id = ?1",
                params![
                    id,
                    new.transaction,
                    new.signature.to_string(),
                    new.nonce_account.map(|k| k.to_string()),
                    new.nonce_value.map(|h| h.to_string()),
                    now,
                    context_slot(new.context)?,
                    new.context.map(|c| c.created_at),
                ],
            )?;
            Ok(())
        })
    }

    /// Records a failed attempt. With retries left (`retry_count < max_retries`) the
    /// count goes up by one and the execution is Pending again, due at
    /// `next_attempt_at`. Without, in the same transaction, it becomes Dead and enters
    /// the dead-letter queue with `error` as the reason and `retry_count + 1` attempts;
    /// the caller alerts. Allowed from Pending and Sent.
    ///
    /// So `max_retries = 3` means four attempts: the first and three retries (a retry
    /// count, as operators read "retries").
    pub fn schedule_retry(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<RetryDecision, StoreError> {
        let now = self.now();
        self.write(|tx| {
            let execution = load(tx, id)?;
            if execution.retry_count < execution.max_retries {
                require(&execution, UNFINISHED, ExecState::Pending)?;
                let retry_count = execution.retry_count + 1;
                tx.execute(
                    "UPDATE executions SET state = 'pending', retry_count = ?2, \
                         next_attempt_at = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1",
                    params![id, retry_count, next_attempt_at, error, now],
                )?;
                return Ok(RetryDecision::Scheduled { retry_count });
            }
            require(&execution, UNFINISHED, ExecState::Dead)?;
            tx.execute(
                "UPDATE executions SET state = 'dead', last_error = ?2, updated_at = ?3 \
                 WHERE id = ?1",
                params![id, error, now],
            )?;
            tx.execute(
                "INSERT INTO dead_letters (execution_id, reason, attempts, dead_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, error, i64::from(execution.retry_count) + 1, now],
            )?;
            Ok(RetryDecision::DeadLettered)
        })
    }

    /// Puts off the next look at an unfinished execution until `at` without counting an
    /// attempt: the chain's answer was older than the row (a lagging node), so nothing
    /// was tried. The state is kept; `reason` goes to `last_error`. Allowed from Pending
    /// and Sent.
    pub fn postpone(&self, id: i64, at: i64, reason: &str) -> Result<(), StoreError> {
        let now = self.now();
        self.write(|tx| {
            let execution = load(tx, id)?;
            require(&execution, UNFINISHED, execution.state)?;
            tx.execute(
                "UPDATE executions SET next_attempt_at = ?2, last_error = ?3, updated_at = ?4 \
                 WHERE id = ?1",
                params![id, at, reason, now],
            )?;
            Ok(())
        })
    }

    /// Gives a finished row's due time a new execution: the chain shows the due time
    /// still to run (a superseded row judged on a read the chain has since contradicted,
    /// or a row of a thread since deleted and re-created at the same address, whose
    /// `exec_count` started again). The row takes `new`'s transaction, nonce, priority,
    /// retries and context, and is Pending and due now with its count of retries at
    /// zero; a dead letter it had leaves the queue. `reason` goes to `last_error`.
    /// Allowed from Confirmed, Superseded and Dead; `new` must name the row's due time.
    pub fn reopen(&self, id: i64, new: &NewExecution, reason: &str) -> Result<(), StoreError> {
        require_nonce_value(new)?;
        let now = self.now();
        self.write(|tx| {
            let execution = load(tx, id)?;
            require(&execution, FINISHED, ExecState::Pending)?;
            require_due_time(&execution, new)?;
            tx.execute(
                "UPDATE executions SET nonce_account = ?2, nonce_value = ?3, signature = ?4, \
                     tx = ?5, priority = ?6, state = 'pending', retry_count = 0, \
                     max_retries = ?7, updated_at = ?8, next_attempt_at = ?8, \
                     last_sent_at = NULL, last_error = ?9, context_slot = ?10, \
                     thread_created_at = ?11, due_at = ?12 \
                 WHERE id = ?1",
                params![
                    id,
                    new.nonce_account.map(|k| k.to_string()),
                    new.nonce_value.map(|h| h.to_string()),
                    new.signature.to_string(),
                    new.transaction,
                    new.priority.as_str(),
                    new.max_retries,
                    now,
                    reason,
                    context_slot(new.context)?,
                    new.context.map(|c| c.created_at),
                    new.due_at,
                ],
            )?;
            tx.execute("DELETE FROM dead_letters WHERE execution_id = ?1", [id])?;
            Ok(())
        })
    }

    /// Pending and Sent executions due at `now`, at most `limit`: highest priority
    /// first, then the longest overdue, then the oldest.
    pub fn due_for_replay(&self, now: i64, limit: usize) -> Result<Vec<Execution>, StoreError> {
        let limit = sql_limit(limit);
        self.executions_where(
            &format!(
                "WHERE e.state IN ('pending', 'sent') AND e.next_attempt_at <= ?1 \
                     ORDER BY {PRIORITY_RANK} DESC, e.next_attempt_at, e.id LIMIT ?2"
            ),
            params![now, limit],
        )
    }

    /// Every Pending and Sent execution, oldest first: what a keeper starting up
    /// must settle against the chain before building anything new.
    pub fn unfinished(&self) -> Result<Vec<Execution>, StoreError> {
        self.executions_where("WHERE e.state IN ('pending', 'sent') ORDER BY e.id", [])
    }

    /// One execution by id.
    pub fn get(&self, id: i64) -> Result<Option<Execution>, StoreError> {
        self.read(|tx| get_execution(tx, id))
    }

    /// The execution for a due time, if one was persisted: lets the scheduler skip
    /// building a transaction that [`Store::persist`] would discard.
    pub fn find(
        &self,
        thread: &Pubkey,
        exec_count_at_build: u64,
    ) -> Result<Option<Execution>, StoreError> {
        let exec_count = to_sql_int("exec_count_at_build", exec_count_at_build)?;
        let mut found = self.executions_where(
            "WHERE e.thread = ?1 AND e.exec_count_at_build = ?2",
            params![thread.to_string(), exec_count],
        )?;
        Ok(found.pop())
    }

    /// How many executions are in each state.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT state, count(*) FROM executions GROUP BY state")?;
            let mut rows = stmt.query([])?;
            let mut counts = StoreCounts::default();
            while let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                let n = u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0);
                let slot = match state.parse::<ExecState>() {
                    Ok(ExecState::Pending) => &mut counts.pending,
                    Ok(ExecState::Sent) => &mut counts.sent,
                    Ok(ExecState::Confirmed) => &mut counts.confirmed,
                    Ok(ExecState::Superseded) => &mut counts.superseded,
                    Ok(ExecState::Dead) => &mut counts.dead,
                    Err(reason) => {
                        // Name one offending row so the operator can find it.
                        let id: i64 = tx.query_row(
                            "SELECT id FROM executions WHERE state = ?1 LIMIT 1",
                            [&state],
                            |row| row.get(0),
                        )?;
                        return Err(StoreError::Corrupt {
                            table: "executions",
                            id,
                            column: "state",
                            reason,
                        });
                    }
                };
                *slot = n;
            }
            Ok(counts)
        })
    }

    /// Deletes Confirmed and Superseded executions last changed before `before`
    /// (unix seconds) and returns how many. Their due times are behind the thread's
    /// on-chain `exec_count`, so the rows have no further use.
    pub fn prune_finished(&self, before: i64) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM executions WHERE state IN ('confirmed', 'superseded') \
                 AND updated_at < ?1",
                [before],
            )?)
        })
    }
}

/// An execution, or [`StoreError::NotFound`].
fn load(tx: &Transaction<'_>, id: i64) -> Result<Execution, StoreError> {
    get_execution(tx, id)?.ok_or(StoreError::NotFound {
        what: "execution",
        id,
    })
}

/// The states the replay loop's changes start from.
const UNFINISHED: &[ExecState] = &[ExecState::Pending, ExecState::Sent];

/// The states [`Store::reopen`] starts from.
const FINISHED: &[ExecState] = &[ExecState::Confirmed, ExecState::Superseded, ExecState::Dead];

/// A context's slot as SQLite stores it.
fn context_slot(context: Option<ThreadContext>) -> Result<Option<i64>, StoreError> {
    context
        .map(|c| to_sql_int("context_slot", c.slot))
        .transpose()
}

/// Fails with [`StoreError::InvalidTransition`] unless the execution's state is in
/// `allowed`.
fn require(execution: &Execution, allowed: &[ExecState], to: ExecState) -> Result<(), StoreError> {
    if allowed.contains(&execution.state) {
        Ok(())
    } else {
        Err(StoreError::InvalidTransition {
            id: execution.id,
            from: execution.state,
            to,
        })
    }
}

/// Fails with [`StoreError::Invalid`] unless `new` has a nonce value exactly when it has
/// a nonce account.
fn require_nonce_value(new: &NewExecution) -> Result<(), StoreError> {
    if new.nonce_account.is_some() == new.nonce_value.is_some() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "nonce_value",
            reason: "set exactly when nonce_account is".into(),
        })
    }
}

/// Fails with [`StoreError::Invalid`] unless `new` is for `execution`'s due time.
fn require_due_time(execution: &Execution, new: &NewExecution) -> Result<(), StoreError> {
    if (execution.thread, execution.exec_count_at_build) == (new.thread, new.exec_count_at_build) {
        return Ok(());
    }
    Err(StoreError::Invalid {
        field: "exec_count_at_build",
        reason: format!(
            "execution {} is for {} at {}, not {} at {}",
            execution.id,
            execution.thread,
            execution.exec_count_at_build,
            new.thread,
            new.exec_count_at_build
        ),
    })
}

pub(super) fn get_execution(
    tx: &Transaction<'_>,
    id: i64,
) -> Result<Option<Execution>, StoreError> {
    let sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions e WHERE e.id = ?1");
    let mut stmt = tx.prepare(&sql)?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(execution_from_row).transpose()
}

impl Store {
    /// The execution rows `clause` (what follows `FROM executions e`) selects, in its order.
    pub(super) fn executions_where(
        &self,
        clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Execution>, StoreError> {
        let sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions e {clause}");
        self.read(|tx| {
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt.query(params)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(execution_from_row(row)?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::{hash::Hash, pubkey::Pubkey, signature::Signature};

    use super::super::test_support::{new_execution, store, NewExecutionExt, T0};
    use super::*;

    fn context(slot: u64) -> ThreadContext {
        ThreadContext {
            slot,
            created_at: 1_650_000_000,
        }
    }

    #[test]
    fn the_chain_context_is_kept_with_the_row() {
        let store = store();
        let id = store
            .persist(new_execution().with_context(context(40)))
            .unwrap();
        assert_eq!(store.get(id).unwrap().unwrap().context, Some(context(40)));
        let old = store.persist(new_execution()).unwrap();
        assert_eq!(store.get(old).unwrap().unwrap().context, None);
    }

    #[test]
    fn a_confirmation_moves_the_context_slot_to_where_it_landed_never_back() {
        let store = store();
        let id = store
            .persist(new_execution().with_context(context(40)))
            .unwrap();
        store.mark_confirmed_at(id, 55).unwrap();
        let row = store.get(id).unwrap().unwrap();
        assert_eq!(
            (row.state, row.context),
            (ExecState::Confirmed, Some(context(55)))
        );

        let id = store
            .persist(
                new_execution()
                    .with_thread(Pubkey::new_unique(), 3)
                    .with_context(context(40)),
            )
            .unwrap();
        store.mark_superseded_at(id, "gone", 12).unwrap();
        let row = store.get(id).unwrap().unwrap();
        assert_eq!(row.context, Some(context(40)), "an older read does not win");
        assert_eq!(row.last_error.as_deref(), Some("gone"));
    }

    #[test]
    fn postpone_moves_the_next_look_without_counting_an_attempt() {
        let store = store();
        let id = store.persist(new_execution()).unwrap();
        store.mark_sent(id, T0).unwrap();
        store.postpone(id, T0 + 30, "node behind").unwrap();
        let row = store.get(id).unwrap().unwrap();
        assert_eq!(
            (row.state, row.retry_count, row.next_attempt_at),
            (ExecState::Sent, 0, T0 + 30)
        );
        assert_eq!(row.last_error.as_deref(), Some("node behind"));
        store.mark_confirmed(id).unwrap();
        let err = store.postpone(id, T0 + 60, "late").unwrap_err();
        assert_eq!(err.kind(), "invalid_transition");
    }

    #[test]
    fn reopen_gives_a_finished_due_time_a_new_pending_execution() {
        let store = store();
        let first = new_execution().with_context(context(10));
        let id = store.persist(first.clone()).unwrap();
        store
            .mark_superseded_at(id, "thread no longer exists", 20)
            .unwrap();

        let mut again = first.clone().with_context(context(30));
        again.signature = Signature::from([9u8; 64]);
        again.transaction = vec![4, 5];
        again.nonce_value = Some(Hash::new_unique());
        store.reopen(id, &again, "reopened: back").unwrap();
        let row = store.get(id).unwrap().unwrap();
        assert_eq!(row.state, ExecState::Pending);
        assert_eq!(row.signature, again.signature);
        assert_eq!(row.transaction, again.transaction);
        assert_eq!(row.nonce_value, again.nonce_value);
        assert_eq!(row.context, Some(context(30)));
        assert_eq!((row.retry_count, row.next_attempt_at), (0, T0));
        assert_eq!(row.last_sent_at, None);
        assert_eq!(store.due_for_replay(T0, 10).unwrap().len(), 1);
    }

    #[test]
    fn reopening_a_dead_letter_takes_it_out_of_the_queue() {
        let store = store();
        let new = new_execution().with_max_retries(0);
        let id = store.persist(new.clone()).unwrap();
        assert_eq!(
            store.schedule_retry(id, T0, "failed").unwrap(),
            RetryDecision::DeadLettered
        );
        assert_eq!(store.dlq_len().unwrap(), 1);
        store.reopen(id, &new, "reopened").unwrap();
        assert_eq!(store.dlq_len().unwrap(), 0);
        assert_eq!(store.get(id).unwrap().unwrap().state, ExecState::Pending);
    }

    #[test]
    fn reopen_refuses_an_unfinished_row_and_another_due_time() {
        let store = store();
        let new = new_execution();
        let id = store.persist(new.clone()).unwrap();
        let err = store.reopen(id, &new, "no").unwrap_err();
        assert_eq!(err.kind(), "invalid_transition");

        store.mark_superseded(id, "ran").unwrap();
        let other = new.clone().with_thread(new.thread, 1);
        let err = store.reopen(id, &other, "no").unwrap_err();
        assert_eq!(err.kind(), "invalid_input");
        assert!(err.to_string().contains("exec_count_at_build"), "{err}");
        assert_eq!(store.get(id).unwrap().unwrap().state, ExecState::Superseded);
    }
}
