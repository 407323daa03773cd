//! The dashboard's JSON: what each `/api/...` path answers, built from what the daemon
//! already keeps (the thread index, the store, the health registry, the metrics).
//!
//! Owns: the shape of each answer. Must not: write, sign, or read a thread the index
//! does not have (except the thread page, which is `keeper explain`'s own read).

use serde_json::{json, Value};
use solana_sdk::clock::Clock;
use solana_sdk::pubkey::Pubkey;
use thread::state::{Due, Durability};

use crate::store::{DeadLetter, Execution};
use crate::tracking::index::ThreadIndex;
use crate::tracking::view::ThreadView;

/// A thread due within this many seconds (or 150 slots) is "due soon".
pub const DUE_SOON_SECS: i64 = 60;
const DUE_SOON_SLOTS: u64 = 150;

/// Where a tracked thread stands, in the words of the dashboard's filters.
pub fn standing(view: &ThreadView, clock: &Clock) -> &'static str {
    if view.paused {
        return "paused";
    }
    match view.next_due {
        Due::Never => "done",
        Due::Immediately => "due",
        Due::At { unix_ts } if unix_ts <= clock.unix_timestamp => "due",
        Due::At { unix_ts } if unix_ts <= clock.unix_timestamp + DUE_SOON_SECS => "due_soon",
        Due::AtSlot { slot } if slot <= clock.slot => "due",
        Due::AtSlot { slot } if slot <= clock.slot + DUE_SOON_SLOTS => "due_soon",
        Due::AtEpoch { epoch } if epoch <= clock.epoch => "due",
        Due::OnChange { .. } | Due::OnCondition { .. } => "watching",
        _ => "waiting",
    }
}

/// When a thread is next due, as the page prints it.
fn next_due(due: &Due, clock: &Clock) -> Value {
    match *due {
        Due::Immediately => json!({ "kind": "now" }),
        Due::At { unix_ts } => json!({
            "kind": "time",
            "unix_ts": unix_ts,
            "in_secs": unix_ts - clock.unix_timestamp,
        }),
        Due::AtSlot { slot } => json!({ "kind": "slot", "slot": slot }),
        Due::AtEpoch { epoch } => json!({ "kind": "epoch", "epoch": epoch }),
        Due::OnChange { .. } => json!({ "kind": "account_change" }),
        Due::OnCondition { armed } => json!({ "kind": "condition", "armed": armed }),
        Due::Never => json!({ "kind": "never" }),
    }
}

/// One row of the threads table.
pub fn thread_row(address: &Pubkey, view: &ThreadView, clock: &Clock, me: &Pubkey) -> Value {
    let lease = view.lease.map(|l| l.holder);
    json!({
        "address": address.to_string(),
        "standing": standing(view, clock),
        "next_due": next_due(&view.next_due, clock),
        "exec_count": view.exec_count,
        "durable": matches!(view.durability, Durability::Durable { .. }),
        "lease_holder": lease.map(|h| h.to_string()),
        "leased_by_me": lease == Some(*me),
        "paused": view.paused,
    })
}

/// Threads whose address starts with `query` (every thread when empty), at most `limit`
/// of them, in address order; with how many matched.
pub fn threads(
    index: &ThreadIndex,
    query: &str,
    limit: usize,
    clock: &Clock,
    me: &Pubkey,
) -> Value {
    let mut matched: Vec<(String, &Pubkey, &ThreadView)> = index
        .iter()
        .map(|(key, entry)| (key.to_string(), key, &entry.state))
        .filter(|(address, ..)| address.starts_with(query))
        .collect();
    matched.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<Value> = matched
        .iter()
        .take(limit)
        .map(|(_, key, view)| thread_row(key, view, clock, me))
        .collect();
    json!({ "matched": matched.len(), "threads": rows })
}

/// Tracked threads counted by standing, durability and lease.
pub fn thread_counts(index: &ThreadIndex, clock: &Clock, me: &Pubkey) -> Value {
    let mut counts = serde_json::Map::new();
    for key in [
        "total",
        "due",
        "due_soon",
        "waiting",
        "watching",
        "paused",
        "done",
        "durable",
        "leased",
        "leased_by_me",
    ] {
        counts.insert(key.into(), json!(0));
    }
    let mut bump = |key: &str| {
        if let Some(Value::Number(n)) = counts.get_mut(key) {
            *n = (n.as_u64().unwrap_or(0) + 1).into();
        }
    };
    for (_, entry) in index.iter() {
        let view = &entry.state;
        bump("total");
        bump(standing(view, clock));
        if matches!(view.durability, Durability::Durable { .. }) {
            bump("durable");
        }
        if let Some(lease) = view.lease {
            bump("leased");
            if lease.holder == *me {
                bump("leased_by_me");
            }
        }
    }
    Value::Object(counts)
}

/// One execution row: its times from persisted to sent to settled, and what it paid.
pub fn execution_row(row: &Execution) -> Value {
    let fee = row
        .decode_transaction()
        .ok()
        .map(|tx| crate::execution::builder::fee_of(&tx.message));
    let settled = matches!(
        row.state,
        crate::store::ExecState::Confirmed
            | crate::store::ExecState::Superseded
            | crate::store::ExecState::Dead
    );
    json!({
        "id": row.id,
        "thread": row.thread.to_string(),
        "run": row.exec_count_at_build + 1,
        "signature": row.signature.to_string(),
        "state": row.state.as_str(),
        "retries": row.retry_count,
        "due_at": row.due_at,
        "persisted_at": row.created_at,
        "sent_at": row.last_sent_at,
        "settled_at": settled.then_some(row.updated_at),
        "fee_lamports": fee,
        "error": row.last_error,
    })
}

/// One dead letter, with what the page needs to act on it.
pub fn dead_letter_row(letter: &DeadLetter) -> Value {
    json!({
        "id": letter.id,
        "execution_id": letter.execution_id,
        "thread": letter.thread.to_string(),
        "run": letter.exec_count_at_build + 1,
        "signature": letter.signature.to_string(),
        "reason": letter.reason,
        "attempts": letter.attempts,
        "dead_at": letter.dead_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::thread::ThreadFixture;

    fn clock() -> Clock {
        Clock {
            slot: 1_000,
            epoch: 3,
            unix_timestamp: 10_000,
            ..Clock::default()
        }
    }

    fn standing_of(fixture: ThreadFixture) -> &'static str {
        standing(&ThreadView::of(&fixture.thread), &clock())
    }

    #[test]
    fn each_thread_stands_where_its_next_due_time_puts_it() {
        let due = |due: Due| standing_of(ThreadFixture::new().due(due));
        assert_eq!(due(Due::Immediately), "due");
        assert_eq!(due(Due::At { unix_ts: 9_999 }), "due");
        assert_eq!(due(Due::At { unix_ts: 10_030 }), "due_soon");
        assert_eq!(due(Due::At { unix_ts: 20_000 }), "waiting");
        assert_eq!(due(Due::AtSlot { slot: 1_000 }), "due");
        assert_eq!(due(Due::AtSlot { slot: 1_100 }), "due_soon");
        assert_eq!(due(Due::AtSlot { slot: 9_000 }), "waiting");
        assert_eq!(due(Due::AtEpoch { epoch: 3 }), "due");
        assert_eq!(due(Due::AtEpoch { epoch: 4 }), "waiting");
        assert_eq!(due(Due::OnChange { last_hash: [0; 32] }), "watching");
        assert_eq!(due(Due::Never), "done");
        assert_eq!(
            standing_of(ThreadFixture::new().due(Due::Immediately).paused(true)),
            "paused"
        );
    }
}
