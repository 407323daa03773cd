//! The store's behaviour: idempotent persist, retries and dead-lettering, replay order,
//! crash safety on a real file, concurrency, migrations, corrupt rows and the DLQ.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    thread,
};

use solana_sdk::{
    hash::Hash,
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
    transaction::{Transaction, VersionedTransaction},
};

use super::{
    test_support::{new_execution, store, NewExecutionExt, T0},
    *,
};
use crate::store::ExecutionPriority;

fn sig(byte: u8) -> Signature {
    Signature::from([byte; 64])
}

/// Fails the test with the error's message if `r` is an error.
fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{} ({})", e, e.kind()))
}

/// Runs raw SQL on the store's connection: how the tests damage a file.
fn raw(store: &Store, sql: &str) {
    store.lock().execute_batch(sql).unwrap();
}

/// Persists an execution and uses up its retries so it lands in the DLQ with `reason`.
/// Returns (execution id, dead-letter id).
fn dead_lettered(store: &Store, new: NewExecution, reason: &str) -> (i64, i64) {
    let id = ok(store.persist(new));
    while let RetryDecision::Scheduled { .. } = ok(store.schedule_retry(id, T0 + 5, reason)) {}
    let dl = ok(store.dlq_list(usize::MAX))
        .into_iter()
        .find(|d| d.execution_id == id)
        .expect("entry in the DLQ");
    (id, dl.id)
}

// Persist.

#[test]
fn persist_records_a_pending_execution_due_now() {
    let store = store();
    let new = new_execution();
    let id = ok(store.persist(new.clone()));
    let e = ok(store.get(id)).unwrap();
    assert_eq!(
        e,
        Execution {
            id,
            thread: new.thread,
            exec_count_at_build: 0,
            nonce_account: new.nonce_account,
            nonce_value: new.nonce_value,
            signature: new.signature,
            transaction: new.transaction,
            priority: ExecutionPriority::Medium,
            state: ExecState::Pending,
            retry_count: 0,
            max_retries: 3,
            created_at: T0,
            updated_at: T0,
            next_attempt_at: T0,
            last_sent_at: None,
            last_error: None,
            context: None,
            due_at: None,
        }
    );
}

#[test]
fn persist_is_idempotent_per_thread_and_exec_count() {
    let store = store();
    let thread = Pubkey::new_unique();
    let first = new_execution().with_thread(thread, 7);
    let id = ok(store.persist(first.clone()));
    ok(store.mark_sent(id, T0));

    // The same due time rebuilt (after a restart, say) with another signature.
    let mut again = first.clone();
    again.signature = sig(9);
    again.transaction = vec![9, 9];
    assert_eq!(ok(store.persist(again)), id);
    let stored = ok(store.get(id)).unwrap();
    assert_eq!(stored.signature, first.signature, "never replaced");
    assert_eq!(stored.state, ExecState::Sent, "state untouched");
    assert_eq!(ok(store.counts()).total(), 1);

    // Another due time of the same thread, and the same count of another thread.
    let next = ok(store.persist(new_execution().with_thread(thread, 8)));
    let other = ok(store.persist(new_execution().with_thread(Pubkey::new_unique(), 7)));
    assert!(next != id && other != id && next != other);
    assert_eq!(ok(store.counts()).total(), 3);
    assert_eq!(ok(store.find(&thread, 7)).map(|e| e.id), Some(id));
    assert_eq!(ok(store.find(&thread, 9)), None);
}

#[test]
fn persist_rejects_a_nonce_account_without_its_value() {
    let store = store();
    let mut new = new_execution();
    new.nonce_value = None;
    let err = store.persist(new).unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    assert_eq!(
        err.to_string(),
        "invalid nonce_value: set exactly when nonce_account is"
    );
    assert_eq!(ok(store.counts()).total(), 0);
}

#[test]
fn persist_rejects_an_exec_count_sqlite_cannot_hold() {
    let store = store();
    let new = new_execution().with_thread(Pubkey::new_unique(), u64::MAX);
    assert_eq!(store.persist(new).unwrap_err().kind(), "invalid_input");
}

#[test]
fn new_execution_from_a_signed_transaction_round_trips() {
    let payer = Keypair::new();
    let tx = Transaction::new_signed_with_payer(
        &[],
        Some(&payer.pubkey()),
        &[&payer],
        Hash::new_unique(),
    );
    let tx = VersionedTransaction::from(tx);
    let nonce = (Pubkey::new_unique(), Hash::new_unique());
    let new = ok(NewExecution::from_transaction(
        Pubkey::new_unique(),
        3,
        &tx,
        Some(nonce),
        ExecutionPriority::High,
        5,
    ));
    assert_eq!(new.signature, tx.signatures[0]);
    let store = store();
    let e = ok(store.get(ok(store.persist(new)))).unwrap();
    assert_eq!(ok(e.decode_transaction()), tx);
    assert_eq!(e.nonce_account, Some(nonce.0));
    assert_eq!(e.nonce_value, Some(nonce.1));
}

// State changes.

#[test]
fn mark_sent_schedules_the_next_look_after_the_priority_delay() {
    let store = store();
    for priority in ExecutionPriority::ALL {
        let id = ok(store.persist(new_execution().with_priority(priority)));
        ok(store.mark_sent(id, T0 + 100));
        let e = ok(store.get(id)).unwrap();
        assert_eq!(e.state, ExecState::Sent);
        assert_eq!(e.last_sent_at, Some(T0 + 100));
        let delay = priority.replay_delay().as_secs() as i64;
        assert_eq!(e.next_attempt_at, T0 + 100 + delay, "{priority:?}");
    }
}

#[test]
fn confirmed_is_final_and_superseded_only_yields_to_a_confirmation() {
    let store = store();
    let a = ok(store.persist(new_execution()));
    ok(store.mark_sent(a, T0));
    ok(store.mark_confirmed(a));
    ok(store.mark_confirmed(a)); // a repeat is a no-op
    let err = store.mark_sent(a, T0 + 1).unwrap_err();
    assert_eq!(err.kind(), "invalid_transition");
    assert_eq!(
        err.to_string(),
        format!("execution {a} is confirmed; it cannot become sent")
    );
    assert_eq!(
        store.schedule_retry(a, T0, "x").unwrap_err().kind(),
        "invalid_transition"
    );
    assert_eq!(
        store.mark_superseded(a, "x").unwrap_err().kind(),
        "invalid_transition"
    );

    // Pending straight to superseded: the recovery found the due time already ran.
    let b = ok(store.persist(new_execution()));
    ok(store.mark_superseded(b, "thread exec_count is 5, built at 0"));
    let e = ok(store.get(b)).unwrap();
    assert_eq!(e.state, ExecState::Superseded);
    assert_eq!(
        e.last_error.as_deref(),
        Some("thread exec_count is 5, built at 0")
    );
    assert!(ok(store.unfinished()).is_empty());
    // A superseded execution is never sent or retried again...
    assert_eq!(
        store.mark_sent(b, T0).unwrap_err().kind(),
        "invalid_transition"
    );
    assert_eq!(
        store.schedule_retry(b, T0, "x").unwrap_err().kind(),
        "invalid_transition"
    );
    // ...but a late status naming its own transaction proves it is the one that ran.
    ok(store.mark_confirmed(b));
    let e = ok(store.get(b)).unwrap();
    assert_eq!(
        (e.state, e.last_error),
        (ExecState::Confirmed, None),
        "the reason it was superseded for is refuted, not kept"
    );
    assert_eq!(
        store.mark_superseded(b, "x").unwrap_err().kind(),
        "invalid_transition"
    );
}

#[test]
fn the_due_time_is_kept_with_the_row_and_a_reopen_takes_the_new_one() {
    let store = store();
    let first = new_execution().with_due_at(Some(T0 - 5));
    let id = ok(store.persist(first.clone()));
    assert_eq!(ok(store.get(id)).unwrap().due_at, Some(T0 - 5));
    ok(store.mark_confirmed(id));
    let again = first.with_due_at(Some(T0 + 60));
    ok(store.reopen(id, &again, "the chain shows it unexecuted"));
    assert_eq!(ok(store.get(id)).unwrap().due_at, Some(T0 + 60));
    let untimed = ok(store.persist(NewExecution {
        exec_count_at_build: 9,
        signature: sig(9),
        ..new_execution()
    }));
    assert_eq!(ok(store.get(untimed)).unwrap().due_at, None);
}

#[test]
fn unknown_execution_ids_are_not_found() {
    let store = store();
    assert_eq!(ok(store.get(99)), None);
    for err in [
        store.mark_sent(99, T0).unwrap_err(),
        store.mark_confirmed(99).unwrap_err(),
        store.mark_superseded(99, "x").unwrap_err(),
        store.schedule_retry(99, T0, "x").unwrap_err(),
        store.replace_transaction(99, &new_execution()).unwrap_err(),
    ] {
        assert_eq!(err.kind(), "not_found");
        assert_eq!(err.to_string(), "no execution with id 99");
    }
}

#[test]
fn replace_transaction_swaps_the_transaction_and_its_read_and_makes_it_pending() {
    let store = store();
    let first = new_execution();
    let id = ok(store.persist(first.clone()));
    ok(store.mark_sent(id, T0));
    let before = ok(store.get(id)).unwrap();
    let read = ThreadContext {
        slot: 42,
        created_at: T0 - 60,
    };
    let mut rebuilt = first.clone().with_context(read);
    rebuilt.transaction = vec![4, 5, 6];
    rebuilt.signature = sig(4);
    rebuilt.nonce_account = Some(Pubkey::new_unique());
    rebuilt.nonce_value = Some(Hash::new_unique());
    rebuilt.priority = ExecutionPriority::Critical;
    ok(store.replace_transaction(id, &rebuilt));
    let e = ok(store.get(id)).unwrap();
    assert_eq!(e.transaction, [4, 5, 6]);
    assert_eq!(e.signature, sig(4));
    assert_eq!(
        (e.nonce_account, e.nonce_value),
        (rebuilt.nonce_account, rebuilt.nonce_value)
    );
    assert_eq!(e.context, Some(read));
    assert_eq!(e.state, ExecState::Pending);
    assert_eq!(e.next_attempt_at, before.next_attempt_at);
    assert_eq!(e.priority, before.priority, "the recorded priority is kept");

    let mut unanchored = rebuilt.clone();
    (unanchored.nonce_account, unanchored.nonce_value) = (None, None);
    let err = store.replace_transaction(id, &unanchored).unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid nonce_account: execution {id} has a nonce account; the rebuilt one must \
             too"
        )
    );
    let other = rebuilt.clone().with_thread(first.thread, 1);
    let err = store.replace_transaction(id, &other).unwrap_err();
    assert!(err.to_string().contains("exec_count_at_build"), "{err}");
    assert_eq!(ok(store.get(id)).unwrap().signature, sig(4), "unchanged");
}

// Retries and the DLQ.

#[test]
fn schedule_retry_counts_up_then_dead_letters_with_the_reason() {
    let store = store();
    let id = ok(store.persist(new_execution().with_max_retries(2)));
    ok(store.mark_sent(id, T0));
    assert_eq!(
        ok(store.schedule_retry(id, T0 + 30, "blockhash not found")),
        RetryDecision::Scheduled { retry_count: 1 }
    );
    let e = ok(store.get(id)).unwrap();
    assert_eq!(
        (e.state, e.retry_count, e.next_attempt_at),
        (ExecState::Pending, 1, T0 + 30)
    );
    assert_eq!(e.last_error.as_deref(), Some("blockhash not found"));
    assert_eq!(
        ok(store.schedule_retry(id, T0 + 60, "rpc timeout")),
        RetryDecision::Scheduled { retry_count: 2 }
    );
    assert_eq!(ok(store.dlq_len()), 0);
    assert_eq!(
        ok(store.schedule_retry(id, T0 + 90, "custom program error: 0x1771")),
        RetryDecision::DeadLettered
    );

    let e = ok(store.get(id)).unwrap();
    assert_eq!((e.state, e.retry_count), (ExecState::Dead, 2));
    assert_eq!(
        e.last_error.as_deref(),
        Some("custom program error: 0x1771")
    );
    let list = ok(store.dlq_list(10));
    assert_eq!(list.len(), 1);
    let dl = &list[0];
    assert_eq!(dl.execution_id, id);
    assert_eq!(dl.reason, "custom program error: 0x1771");
    assert_eq!(dl.attempts, 3, "the first attempt and two retries");
    assert_eq!(dl.dead_at, T0);
    assert_eq!(dl.priority, ExecutionPriority::Medium);
    assert!(ok(store.due_for_replay(i64::MAX, 10)).is_empty());
    assert!(ok(store.unfinished()).is_empty());
    assert_eq!(ok(store.counts()).dead, 1);
    // Dead is out of the replay loop's reach.
    assert_eq!(
        store.schedule_retry(id, T0, "again").unwrap_err().kind(),
        "invalid_transition"
    );
}

#[test]
fn an_unbuilt_due_time_goes_straight_to_the_dlq_and_a_retry_replays_it() {
    let store = store();
    let thread = Pubkey::new_unique();
    let unbuilt = UnbuiltExecution {
        thread,
        exec_count: 4,
        priority: ExecutionPriority::High,
        max_retries: 2,
        attempts: 3,
    };
    let reason = "build: simulation failed: custom program error: 0x1771";
    let id = ok(store.dead_letter_unbuilt(&unbuilt, reason)).expect("a new row");

    let e = ok(store.get(id)).unwrap();
    assert_eq!((e.state, e.exec_count_at_build), (ExecState::Dead, 4));
    assert!(e.transaction.is_empty() && e.nonce_account.is_none());
    assert_eq!(e.last_error.as_deref(), Some(reason));
    let list = ok(store.dlq_list(10));
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].execution_id,
            list[0].attempts,
            list[0].reason.as_str()
        ),
        (id, 3, reason)
    );
    // The due time is owned now: the scheduler's next offer finds it.
    assert_eq!(ok(store.find(&thread, 4)).map(|e| e.id), Some(id));
    assert_eq!(ok(store.dead_letter_unbuilt(&unbuilt, "again")), None);
    assert_eq!(ok(store.dlq_len()), 1);
    assert!(ok(store.due_for_replay(i64::MAX, 10)).is_empty());

    // Retried by the operator: back in replay, to be built afresh.
    let retried = ok(store.dlq_retry(list[0].id));
    assert_eq!(
        (retried.state, retried.retry_count),
        (ExecState::Pending, 0)
    );
    assert_eq!(ok(store.due_for_replay(T0, 10))[0].id, id);
}

#[test]
fn an_unbuilt_due_time_that_already_has_a_row_is_left_alone() {
    let store = store();
    let new = new_execution();
    let (thread, exec_count) = (new.thread, new.exec_count_at_build);
    let id = ok(store.persist(new));
    let unbuilt = UnbuiltExecution {
        thread,
        exec_count,
        priority: ExecutionPriority::Medium,
        max_retries: 3,
        attempts: 4,
    };
    assert_eq!(
        ok(store.dead_letter_unbuilt(&unbuilt, "build failed")),
        None
    );
    assert_eq!(ok(store.get(id)).unwrap().state, ExecState::Pending);
    assert_eq!(ok(store.dlq_len()), 0);
}

#[test]
fn zero_max_retries_dead_letters_on_the_first_failure() {
    let store = store();
    let id = ok(store.persist(new_execution().with_max_retries(0)));
    assert_eq!(
        ok(store.schedule_retry(id, T0, "boom")),
        RetryDecision::DeadLettered
    );
    assert_eq!(ok(store.dlq_list(1))[0].attempts, 1);
}

#[test]
fn dead_lettering_is_atomic() {
    let store = store();
    let id = ok(store.persist(new_execution().with_max_retries(0)));
    ok(store.mark_sent(id, T0));
    // A stray entry for this execution makes the DLQ insert fail (UNIQUE execution_id)
    // after the state update ran in the same transaction.
    raw(
        &store,
        &format!(
            "INSERT INTO dead_letters (execution_id, reason, attempts, dead_at) \
             VALUES ({id}, 'stray', 0, 0)"
        ),
    );
    let err = store.schedule_retry(id, T0, "boom").unwrap_err();
    assert_eq!(err.kind(), "sqlite");
    let e = ok(store.get(id)).unwrap();
    assert_eq!(e.state, ExecState::Sent, "the state change was rolled back");
    assert_eq!(e.last_error, None);
    assert_eq!(ok(store.dlq_len()), 1, "only the stray entry");
}

#[test]
fn dlq_show_returns_the_entry_with_its_execution() {
    let store = store();
    let new = new_execution().with_priority(ExecutionPriority::Critical);
    let (execution_id, dl) = dead_lettered(&store, new.clone(), "nonce advanced");
    let detail = ok(store.dlq_show(dl)).unwrap();
    assert_eq!(detail.entry.id, dl);
    assert_eq!(detail.entry.thread, new.thread);
    assert_eq!(detail.entry.signature, new.signature);
    assert_eq!(detail.entry.priority, ExecutionPriority::Critical);
    assert_eq!(detail.entry.reason, "nonce advanced");
    assert_eq!(detail.entry.attempts, 4);
    assert_eq!(detail.execution.id, execution_id);
    assert_eq!(detail.execution.state, ExecState::Dead);
    assert_eq!(detail.execution.transaction, new.transaction);
    assert_eq!(ok(store.dlq_show(dl + 100)), None);
}

#[test]
fn dlq_list_is_newest_first_and_limited() {
    let store = store();
    let ids: Vec<i64> = (0..3)
        .map(|i| dead_lettered(&store, new_execution(), &format!("reason {i}")).1)
        .collect();
    let listed: Vec<i64> = ok(store.dlq_list(10)).iter().map(|d| d.id).collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]]);
    assert_eq!(ok(store.dlq_list(2)).len(), 2);
    assert_eq!(ok(store.dlq_len()), 3);
}

#[test]
fn dlq_retry_puts_the_execution_back_into_replay() {
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let store = Store::open_in_memory()
        .unwrap()
        .with_clock(move || c.load(Ordering::SeqCst));
    let (execution_id, dl) = dead_lettered(&store, new_execution(), "rpc down");
    clock.store(T0 + 3600, Ordering::SeqCst);

    let e = ok(store.dlq_retry(dl));
    assert_eq!(e.id, execution_id);
    assert_eq!(e.state, ExecState::Pending);
    assert_eq!(e.retry_count, 0);
    assert_eq!(e.next_attempt_at, T0 + 3600);
    assert_eq!(ok(store.dlq_len()), 0);
    assert_eq!(ok(store.dlq_show(dl)), None);
    let due: Vec<i64> = ok(store.due_for_replay(T0 + 3600, 10))
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(due, [execution_id]);
    // It has its full retries again.
    assert_eq!(
        ok(store.schedule_retry(execution_id, T0, "x")),
        RetryDecision::Scheduled { retry_count: 1 }
    );

    let err = store.dlq_retry(dl).unwrap_err();
    assert_eq!(err.kind(), "not_found");
    assert_eq!(err.to_string(), format!("no dead letter with id {dl}"));
}

#[test]
fn dlq_purge_forgets_the_entry_and_its_due_time() {
    let store = store();
    let new = new_execution();
    let (execution_id, dl) = dead_lettered(&store, new.clone(), "x");
    let (other_execution, _) = dead_lettered(&store, new_execution(), "y");
    ok(store.dlq_purge(dl));
    assert_eq!(ok(store.dlq_len()), 1);
    assert_eq!(ok(store.get(execution_id)), None);
    assert!(ok(store.get(other_execution)).is_some());
    // The scheduler may build that due time again as a new execution.
    let again = ok(store.persist(new));
    assert_ne!(again, execution_id);

    let err = store.dlq_purge(dl).unwrap_err();
    assert_eq!(err.kind(), "not_found");
    assert_eq!(err.to_string(), format!("no dead letter with id {dl}"));
}

#[test]
fn dlq_purge_all_empties_the_queue_and_leaves_live_executions() {
    let store = store();
    for _ in 0..3 {
        dead_lettered(&store, new_execution(), "x");
    }
    let live = ok(store.persist(new_execution()));
    assert_eq!(ok(store.dlq_purge_all()), 3);
    assert_eq!(ok(store.dlq_len()), 0);
    assert_eq!(ok(store.dlq_purge_all()), 0);
    let counts = ok(store.counts());
    assert_eq!((counts.dead, counts.pending, counts.total()), (0, 1, 1));
    assert!(ok(store.get(live)).is_some());
}

// Replay queries.

#[test]
fn due_for_replay_orders_by_priority_then_time() {
    let store = store();
    let mut ids = std::collections::HashMap::new();
    for (name, priority, due) in [
        ("low-early", ExecutionPriority::Low, T0 - 50),
        ("critical-late", ExecutionPriority::Critical, T0 - 1),
        ("high", ExecutionPriority::High, T0 - 10),
        ("critical-early", ExecutionPriority::Critical, T0 - 20),
        ("medium", ExecutionPriority::Medium, T0 - 30),
        ("critical-future", ExecutionPriority::Critical, T0 + 1),
    ] {
        let id = ok(store.persist(new_execution().with_priority(priority)));
        ok(store.schedule_retry(id, due, "x"));
        ids.insert(id, name);
    }
    // A confirmed execution is never due.
    let done = ok(store.persist(new_execution().with_priority(ExecutionPriority::Critical)));
    ok(store.mark_confirmed(done));

    let names = |list: Vec<Execution>| -> Vec<&str> { list.iter().map(|e| ids[&e.id]).collect() };
    assert_eq!(
        names(ok(store.due_for_replay(T0, 10))),
        [
            "critical-early",
            "critical-late",
            "high",
            "medium",
            "low-early"
        ]
    );
    assert_eq!(
        names(ok(store.due_for_replay(T0, 2))),
        ["critical-early", "critical-late"]
    );
    assert_eq!(names(ok(store.due_for_replay(T0 - 40, 10))), ["low-early"]);
}

#[test]
fn sent_executions_come_due_when_unconfirmed_after_their_delay() {
    let store = store();
    let id = ok(store.persist(new_execution().with_priority(ExecutionPriority::High)));
    ok(store.mark_sent(id, T0));
    assert!(ok(store.due_for_replay(T0 + 9, 10)).is_empty());
    let due = ok(store.due_for_replay(T0 + 10, 10));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].state, ExecState::Sent);
}

#[test]
fn prune_finished_removes_only_old_final_rows() {
    let store = store();
    let confirmed = ok(store.persist(new_execution()));
    ok(store.mark_confirmed(confirmed));
    let superseded = ok(store.persist(new_execution()));
    ok(store.mark_superseded(superseded, "ran"));
    let pending = ok(store.persist(new_execution()));
    assert_eq!(ok(store.prune_finished(T0)), 0, "not older than T0");
    assert_eq!(ok(store.prune_finished(T0 + 1)), 2);
    assert_eq!(ok(store.get(confirmed)), None);
    assert!(ok(store.get(pending)).is_some());
}

// Crash safety, concurrency and migrations on a real file.

#[test]
fn a_crash_before_marking_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keeper.sqlite");
    let thread = Pubkey::new_unique();
    let (a, b) = {
        let store = ok(Store::open(&path)).with_clock(|| T0);
        // Crash between persist and send...
        let a = ok(store.persist(new_execution().with_thread(thread, 1)));
        // ...and between send and confirm.
        let b = ok(store.persist(new_execution().with_thread(thread, 2)));
        ok(store.mark_sent(b, T0));
        (a, b)
        // Dropped without another word: no shutdown hook runs in a crash either.
    };
    let store = ok(Store::open(&path));
    let unfinished = ok(store.unfinished());
    let states: Vec<(i64, ExecState)> = unfinished.iter().map(|e| (e.id, e.state)).collect();
    assert_eq!(states, [(a, ExecState::Pending), (b, ExecState::Sent)]);
    // The restarted keeper rebuilding the same due times gets the same rows back.
    assert_eq!(ok(store.persist(new_execution().with_thread(thread, 1))), a);
    assert_eq!(ok(store.persist(new_execution().with_thread(thread, 2))), b);
    assert_eq!(ok(store.counts()).total(), 2);
}

#[test]
fn the_file_is_in_wal_mode_with_durable_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = ok(Store::open(dir.path().join("k.sqlite")));
    let conn = store.lock();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
}

#[test]
fn concurrent_handles_do_not_lose_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keeper.sqlite");
    let shared = ok(Store::open(&path));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            // Half share one connection through clones; half open their own, so
            // SQLite's own locking (and the busy timeout) is exercised too.
            let store = if t % 2 == 0 {
                shared.clone()
            } else {
                ok(Store::open(&path))
            };
            thread::spawn(move || {
                let thread_key = Pubkey::new_unique();
                for i in 0..40u64 {
                    let id = ok(store.persist(new_execution().with_thread(thread_key, i)));
                    ok(store.mark_sent(id, T0));
                    if i % 2 == 0 {
                        ok(store.mark_confirmed(id));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let counts = ok(shared.counts());
    assert_eq!((counts.sent, counts.confirmed), (120, 120));
}

#[test]
fn racing_persists_of_one_due_time_make_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keeper.sqlite");
    ok(Store::open(&path));
    let new = new_execution();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let store = ok(Store::open(&path));
            let new = new.clone();
            thread::spawn(move || ok(store.persist(new)))
        })
        .collect();
    let ids: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    assert_eq!(ok(ok(Store::open(&path)).counts()).total(), 1);
}

#[test]
fn reopening_runs_no_migration_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keeper.sqlite");
    let id = {
        let store = ok(Store::open(&path));
        assert_eq!(ok(store.schema_version()), SCHEMA_VERSION);
        ok(store.persist(new_execution()))
    };
    for _ in 0..2 {
        let store = ok(Store::open(&path));
        assert_eq!(ok(store.schema_version()), SCHEMA_VERSION);
        assert!(ok(store.get(id)).is_some());
        assert_eq!(
            schema::migrate(&mut store.lock()).unwrap(),
            0,
            "nothing left to run"
        );
    }
}

#[test]
fn a_store_from_a_newer_keeper_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keeper.sqlite");
    {
        let store = ok(Store::open(&path));
        raw(
            &store,
            &format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1),
        );
    }
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.kind(), "schema_too_new");
}

#[test]
fn open_existing_refuses_a_missing_file_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.sqlite");
    let err = Store::open_existing(&path).unwrap_err();
    assert_eq!(err.kind(), "missing_store");
    assert_eq!(
        err.to_string(),
        format!("no keeper store at {}", path.display())
    );
    assert!(!path.exists());
    ok(Store::open(&path));
    ok(Store::open_existing(&path));
}

#[test]
fn a_file_that_is_not_a_database_is_an_open_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keeper.sqlite");
    std::fs::write(
        &path,
        b"this is not sqlite, just some text that is long enough",
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.kind(), "open");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open keeper store {}: ", path.display())),
        "{err}"
    );
}

// Corrupt rows.

#[test]
fn a_corrupt_key_is_a_typed_error_naming_the_row() {
    let store = store();
    let id = ok(store.persist(new_execution()));
    raw(
        &store,
        &format!("UPDATE executions SET thread = 'not-a-key' WHERE id = {id}"),
    );
    let err = store.get(id).unwrap_err();
    assert_eq!(err.kind(), "corrupt");
    assert!(
        err.to_string().starts_with(&format!(
            "corrupt executions row {id}: column thread: \"not-a-key\" does not parse"
        )),
        "{err}"
    );
    assert_eq!(store.unfinished().unwrap_err().kind(), "corrupt");
    assert_eq!(store.mark_sent(id, T0).unwrap_err().kind(), "corrupt");
}

#[test]
fn an_unknown_state_or_priority_is_a_typed_error_naming_the_row() {
    let store = store();
    let a = ok(store.persist(new_execution()));
    let b = ok(store.persist(new_execution()));
    raw(
        &store,
        &format!(
            "PRAGMA ignore_check_constraints = ON; \
             UPDATE executions SET state = 'exploded' WHERE id = {a}; \
             UPDATE executions SET priority = 'urgent' WHERE id = {b}; \
             PRAGMA ignore_check_constraints = OFF;"
        ),
    );
    let err = store.get(a).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("corrupt executions row {a}: column state: unknown state \"exploded\"")
    );
    let err = store.counts().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("corrupt executions row {a}: column state: unknown state \"exploded\"")
    );
    let err = store.get(b).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("corrupt executions row {b}: column priority: unknown priority \"urgent\"")
    );
}

#[test]
fn corrupt_transaction_bytes_are_a_typed_error_naming_the_row() {
    let store = store();
    let id = ok(store.persist(new_execution()));
    let e = ok(store.get(id)).unwrap();
    let err = e.decode_transaction().unwrap_err();
    assert_eq!(err.kind(), "corrupt");
    assert!(
        err.to_string()
            .starts_with(&format!("corrupt executions row {id}: column tx: ")),
        "{err}"
    );
}

#[test]
fn a_corrupt_dead_letter_row_names_itself() {
    let store = store();
    let (_, dl) = dead_lettered(&store, new_execution(), "x");
    raw(
        &store,
        &format!(
            "PRAGMA ignore_check_constraints = ON; \
             UPDATE dead_letters SET attempts = -3 WHERE id = {dl}; \
             PRAGMA ignore_check_constraints = OFF;"
        ),
    );
    let err = store.dlq_list(10).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("corrupt dead_letters row {dl}: column attempts: -3 is out of range")
    );
}

#[test]
fn the_handle_is_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Store>();
}

/// The `application_id` stamped in the database file at `path`.
fn application_id(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_store_carries_the_keeper_application_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    drop(ok(Store::open(&path)));
    assert_eq!(application_id(&path), schema::APPLICATION_ID);
}

#[test]
fn a_version_1_store_written_before_the_application_id_is_still_the_keepers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let store = ok(Store::open(&path));
        store
            .lock()
            .pragma_update(None, "application_id", 0)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    // A reader accepts it and writes nothing.
    let read_only = ok(Store::open_read_only(&path));
    assert_eq!(ok(read_only.dlq_len()), 0);
    drop(read_only);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // The daemon's open stamps it.
    drop(ok(Store::open(&path)));
    assert_eq!(application_id(&path), schema::APPLICATION_ID);
}

#[test]
fn every_open_refuses_a_foreign_database_and_leaves_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE executions (x INTEGER); CREATE TABLE t (y TEXT);")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    type Open = fn(&std::path::Path) -> Result<Store, StoreError>;
    let opens: [Open; 4] = [
        |p| Store::open(p),
        |p| Store::open_exclusive(p),
        |p| Store::open_existing(p),
        |p| Store::open_read_only(p),
    ];
    for open in opens {
        let err = open(&path).unwrap_err();
        assert_eq!(err.kind(), "not_keeper_store", "{err}");
        assert!(
            err.to_string()
                .contains("tables the keeper did not create: executions, t"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[test]
fn the_daemon_accepts_an_empty_file_but_a_reader_refuses_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sqlite");
    std::fs::write(&path, b"").unwrap();
    for err in [
        Store::open_read_only(&path).unwrap_err(),
        Store::open_existing(&path).unwrap_err(),
    ] {
        assert_eq!(err.kind(), "not_keeper_store", "{err}");
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let store = ok(Store::open(&path));
    assert_eq!(ok(store.schema_version()), SCHEMA_VERSION);
}

#[test]
fn a_second_exclusive_open_is_refused_naming_the_holder_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    let first = ok(Store::open_exclusive(&path));
    let clone = first.clone();
    drop(first);
    let err = Store::open_exclusive(&path).unwrap_err();
    match &err {
        StoreError::Locked {
            path: p,
            lock,
            holder,
        } => {
            assert_eq!(p, &path);
            assert_eq!(lock, &StoreLock::path_for(&path));
            assert_eq!(*holder, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert_eq!(err.kind(), "locked");
    // Readers and the CLI's writers are not daemons: they still open it.
    assert_eq!(ok(ok(Store::open_read_only(&path)).dlq_len()), 0);
    drop(clone);
    drop(ok(Store::open_exclusive(&path)));
}

#[test]
fn a_read_only_file_or_directory_is_refused_before_the_lock_or_the_file_is_touched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    drop(ok(Store::open(&path)));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = Store::open_exclusive(&path).unwrap_err();
    assert_eq!(err.kind(), "read_only", "{err}");
    assert!(
        !StoreLock::path_for(&path).exists(),
        "the lock file was created"
    );

    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let err = Store::open_exclusive(ro.join("k.sqlite")).unwrap_err();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        err.to_string()
            .contains(&format!("its directory {} is read-only", ro.display())),
        "{err}"
    );
}

#[test]
fn a_reader_sees_what_a_killed_daemon_left_in_the_wal_without_writing_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sqlite");
    let store = ok(Store::open(&live)).with_clock(|| T0);
    let id = ok(store.persist(new_execution().with_max_retries(0)));
    ok(store.mark_sent(id, T0));
    assert_eq!(
        ok(store.schedule_retry(id, T0, "blockhash expired")),
        RetryDecision::DeadLettered
    );
    // What a SIGKILL leaves: the store and its unmerged WAL, no shared-memory index.
    let crashed = dir.path().join("crashed.sqlite");
    std::fs::copy(&live, &crashed).unwrap();
    std::fs::copy(
        dir.path().join("live.sqlite-wal"),
        dir.path().join("crashed.sqlite-wal"),
    )
    .unwrap();
    drop(store);
    let before = std::fs::read(&crashed).unwrap();

    let reader = ok(Store::open_read_only(&crashed));
    assert_eq!(ok(reader.dlq_len()), 1);
    drop(reader);

    assert_eq!(std::fs::read(&crashed).unwrap(), before);
}

#[test]
fn an_unprofitable_decline_is_kept_per_thread_replaced_by_the_latest_and_cleared() {
    let store = ok(Store::open_in_memory());
    let (thread, other) = (Pubkey::new_unique(), Pubkey::new_unique());
    assert_eq!(ok(store.unprofitable(&thread)), None);
    ok(store.note_unprofitable(&thread, 3, "costs 5000, pays 1000"));
    ok(store.note_unprofitable(&thread, 4, "costs 5000, pays 2000"));
    let declined = ok(store.unprofitable(&thread)).expect("noted");
    assert_eq!(
        (declined.exec_count, declined.reason.as_str()),
        (4, "costs 5000, pays 2000")
    );
    assert_eq!(
        ok(store.unprofitable(&other)),
        None,
        "one thread's note is its own"
    );
    ok(store.clear_unprofitable(&thread));
    assert_eq!(ok(store.unprofitable(&thread)), None);
}
