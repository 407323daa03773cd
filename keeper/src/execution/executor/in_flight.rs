//! What the executor has under way: executions sent and not yet resolved, and due times
//! whose first execution is being persisted and sent.
//!
//! Owns: both sets, their locks, and each sent execution's build output (with its nonce
//! guard) until the execution resolves. Must not: talk to the chain or the store, or
//! hand nonces back (confirm.rs does, once it has taken an execution out).

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;

use crate::execution::builder::TxBuildOutput;

/// A sent execution waiting for its status; holds the nonce guard until it resolves.
pub(super) struct InFlight {
    pub id: i64,
    pub thread: Pubkey,
    pub exec_count: u64,
    pub sent_at: tokio::time::Instant,
    /// `None` for a stored transaction resent as it was: it was built, and its nonce
    /// guard released, by an earlier attempt.
    pub output: Option<TxBuildOutput>,
}

/// A due time: a thread and its `exec_count`.
type DueTime = (Pubkey, u64);

/// Both sets behind one lock: an execution passes from `sending` to `sent` (tracked
/// before its guard drops), and a replay asking whether it is under way must see one
/// moment of that passage. With a lock each, a check could read `sent` just before the
/// execution entered it and `sending` just after it left, and replay an execution in
/// flight.
#[derive(Default)]
struct Sets {
    sent: HashMap<Signature, InFlight>,
    /// Due times `execute` is persisting and sending. A persisted execution is due for
    /// replay at once, so without this the replay loop could send it a second time
    /// (rebuilt, for a non-durable thread) while its first send is still under way.
    sending: HashSet<DueTime>,
}

#[derive(Default)]
pub(super) struct UnderWay {
    sets: Arc<Mutex<Sets>>,
}

impl UnderWay {
    /// Tracks `flight`, sent as `signature`, until it is taken out.
    pub fn track(&self, signature: Signature, flight: InFlight) {
        self.sets.lock().sent.insert(signature, flight);
    }

    /// Takes the execution sent as `signature` out, if still tracked.
    pub fn take(&self, signature: &Signature) -> Option<InFlight> {
        self.sets.lock().sent.remove(signature)
    }

    /// Takes the execution sent as `signature` out if it was sent `timeout` or longer ago.
    pub fn take_if_older_than(&self, signature: &Signature, timeout: Duration) -> Option<InFlight> {
        let mut sets = self.sets.lock();
        let expired = sets
            .sent
            .get(signature)
            .is_some_and(|flight| flight.sent_at.elapsed() >= timeout);
        if expired {
            sets.sent.remove(signature)
        } else {
            None
        }
    }

    /// Every sent execution's signature and thread.
    pub fn signatures(&self) -> Vec<(Signature, Pubkey)> {
        self.sets
            .lock()
            .sent
            .iter()
            .map(|(signature, flight)| (*signature, flight.thread))
            .collect()
    }

    /// Whether the execution `id` is sent and unresolved, or its due time is being
    /// persisted and sent: either way a replay must leave it alone.
    pub fn holds(&self, id: i64, due_time: DueTime) -> bool {
        let sets = self.sets.lock();
        sets.sending.contains(&due_time) || sets.sent.values().any(|flight| flight.id == id)
    }

    pub fn sent_len(&self) -> usize {
        self.sets.lock().sent.len()
    }

    pub fn sent_threads(&self) -> Vec<Pubkey> {
        self.sets
            .lock()
            .sent
            .values()
            .map(|flight| flight.thread)
            .collect()
    }

    /// Marks `due_time` as being persisted and sent until the guard is dropped.
    pub fn mark_sending(&self, due_time: DueTime) -> Sending {
        self.sets.lock().sending.insert(due_time);
        Sending {
            sets: self.sets.clone(),
            due_time,
        }
    }
}

/// Marks a due time as being persisted and sent by `execute` until dropped.
pub(super) struct Sending {
    sets: Arc<Mutex<Sets>>,
    due_time: DueTime,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.sets.lock().sending.remove(&self.due_time);
    }
}
