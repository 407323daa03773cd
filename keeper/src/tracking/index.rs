//! [`ThreadIndex`]: the keeper's in-memory view of the thread program's accounts, one
//! [`ThreadView`] per address with the slot the view was taken at.
//!
//! Owns: decoding thread accounts (discriminator, layout version), the rule that an
//! older view never replaces a newer one ([`ThreadIndex::upsert`], [`ThreadIndex::remove`],
//! with short-lived tombstones so a late view of a closed thread cannot resurrect it), and
//! counts for metrics. Garbage data is reported as [`Upsert::Invalid`] and leaves the
//! index as it was, so one bad account never stops the daemon.
//!
//! Must not: talk to the chain, decide when a thread is due, or notify anyone. Discovery
//! feeds it and tells the scheduler what changed; the scheduler reads it.
//!
//! Memory: each entry keeps a [`ThreadView`], the fields the keeper reads, not the
//! decoded [`Thread`] (see [`crate::tracking::view`] for what it leaves out; the executor reads
//! the whole thread from the chain before building). [`IndexedThread::approx_bytes`]
//! measures one entry (test `typical_thread_stays_under_one_kib`; allocator headers not
//! counted); the load harness measures the daemon as a whole (README, Benchmarks).

use std::collections::HashMap;
use std::mem::size_of;

use anchor_lang::AccountDeserialize;
use solana_sdk::pubkey::Pubkey;
use thread::state::{Durability, Thread};

use crate::tracking::view::ThreadView;

/// One thread as last seen on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedThread {
    /// What the keeper keeps of the decoded account.
    pub state: ThreadView,
    /// Slot of the view `state` comes from.
    pub slot: u64,
}

impl IndexedThread {
    /// Bytes this entry occupies. The view holds nothing on the heap, so this is the
    /// struct itself; allocator bookkeeping is not counted.
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>()
    }
}

/// What [`ThreadIndex::upsert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    /// The thread was not indexed before.
    Inserted,
    /// The entry was replaced by a view at the same or a newer slot with different
    /// contents.
    Updated,
    /// The view is at the same or a newer slot but decodes to the same [`ThreadView`]
    /// (fields the keeper does not keep, such as the fee or the instructions, may have
    /// changed): only the entry's slot moved. Nothing for the scheduler to do.
    Unchanged,
    /// The view is older than the entry (or than the thread's closing): ignored.
    Stale,
    /// The data is not a thread this keeper understands; the index is untouched.
    Invalid(String),
}

impl Upsert {
    /// Whether the scheduler should look at the thread again.
    pub fn is_change(&self) -> bool {
        matches!(self, Upsert::Inserted | Upsert::Updated)
    }
}

/// Indexed threads by durability, for `keeper_threads{durability}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurabilityCounts {
    pub durable: usize,
    pub non_durable: usize,
}

/// Thread address -> last view of the thread (see the module docs).
#[derive(Debug, Default)]
pub struct ThreadIndex {
    threads: HashMap<Pubkey, IndexedThread>,
    /// Threads removed at a slot: a view older than that is stale, not a resurrection.
    /// Pruned by [`ThreadIndex::prune_tombstones`].
    tombstones: HashMap<Pubkey, u64>,
    /// Entries whose view is durable, kept up to date by every insert, update and
    /// removal: discovery sets the threads gauge after each pushed change, and counting
    /// the whole map there would cost O(threads) per change under the write lock.
    durable: usize,
}

fn is_durable(thread: &IndexedThread) -> bool {
    matches!(thread.state.durability, Durability::Durable { .. })
}

impl ThreadIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the account `data` of `key` as seen at `slot`. A view older than the
    /// entry is [`Upsert::Stale`]; one at the same slot overwrites it. Data that is not a
    /// thread of the current layout is [`Upsert::Invalid`] and changes nothing.
    pub fn upsert(&mut self, key: Pubkey, slot: u64, data: &[u8]) -> Upsert {
        if let Some(existing) = self.threads.get(&key) {
            if slot < existing.slot {
                return Upsert::Stale;
            }
        } else if self
            .tombstones
            .get(&key)
            .is_some_and(|&closed| slot < closed)
        {
            return Upsert::Stale;
        }
        // Only the view is kept: the decoded thread (with its id and instructions on the
        // heap) is dropped here. See `crate::tracking::view` for why.
        let state = match decode(data) {
            Ok(thread) => ThreadView::of(&thread),
            Err(reason) => return Upsert::Invalid(reason),
        };
        self.tombstones.remove(&key);
        match self.threads.get_mut(&key) {
            Some(existing) => {
                let same = existing.state == state;
                existing.slot = slot;
                if same {
                    Upsert::Unchanged
                } else {
                    let was_durable = is_durable(existing);
                    existing.state = state;
                    match (was_durable, is_durable(existing)) {
                        (false, true) => self.durable += 1,
                        (true, false) => self.durable -= 1,
                        _ => {}
                    }
                    Upsert::Updated
                }
            }
            None => {
                let entry = IndexedThread { state, slot };
                if is_durable(&entry) {
                    self.durable += 1;
                }
                self.threads.insert(key, entry);
                Upsert::Inserted
            }
        }
    }

    /// Records that `key` was closed (or found missing by a complete scan) at `slot`.
    /// Removes the entry unless it is newer than `slot`; returns whether it did.
    pub fn remove(&mut self, key: &Pubkey, slot: u64) -> bool {
        let removable = self.threads.get(key).is_some_and(|e| e.slot <= slot);
        if removable && self.threads.remove(key).as_ref().is_some_and(is_durable) {
            self.durable -= 1;
        }
        if !self.threads.contains_key(key) {
            let closed = self.tombstones.entry(*key).or_insert(slot);
            *closed = (*closed).max(slot);
        }
        removable
    }

    /// Forgets tombstones of threads closed before `slot`: views older than that are no
    /// longer expected (discovery passes the slot of its previous complete scan).
    pub fn prune_tombstones(&mut self, slot: u64) {
        self.tombstones.retain(|_, closed| *closed >= slot);
    }

    /// Tombstones held, for tests and metrics.
    pub fn tombstones(&self) -> usize {
        self.tombstones.len()
    }

    pub fn get(&self, key: &Pubkey) -> Option<&IndexedThread> {
        self.threads.get(key)
    }

    pub fn contains(&self, key: &Pubkey) -> bool {
        self.threads.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Pubkey, &IndexedThread)> {
        self.threads.iter()
    }

    /// The threads whose lease `holder` holds, as the index last saw them.
    pub fn leased_by<'a>(
        &'a self,
        holder: &'a Pubkey,
    ) -> impl Iterator<Item = (&'a Pubkey, &'a IndexedThread)> + 'a {
        self.iter()
            .filter(move |(_, t)| t.state.lease.is_some_and(|l| l.holder == *holder))
    }

    /// Addresses of the threads whose lease `holder` holds, as the index last saw them.
    pub fn threads_leased_by(&self, holder: &Pubkey) -> Vec<Pubkey> {
        self.leased_by(holder).map(|(key, _)| *key).collect()
    }

    /// The nonce accounts of the threads whose lease `holder` holds: the ones `holder`
    /// should be the authority of.
    pub fn nonces_leased_by(&self, holder: &Pubkey) -> Vec<Pubkey> {
        self.leased_by(holder)
            .filter_map(|(_, t)| t.state.nonce_account().ok())
            .collect()
    }

    /// Every indexed address, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &Pubkey> {
        self.threads.keys()
    }

    /// O(1): the durable count is kept as entries change.
    pub fn counts_by_durability(&self) -> DurabilityCounts {
        DurabilityCounts {
            durable: self.durable,
            non_durable: self.threads.len() - self.durable,
        }
    }

    /// Approximate bytes held: entries (see [`IndexedThread::approx_bytes`]), keys, the
    /// map's control bytes and empty buckets, and tombstones.
    pub fn approx_bytes(&self) -> usize {
        let spare = buckets(self.threads.capacity()).saturating_sub(self.threads.len());
        let entries: usize = self
            .threads
            .values()
            .map(|e| size_of::<Pubkey>() + 1 + e.approx_bytes())
            .sum();
        let tombstones = buckets(self.tombstones.capacity()) * (size_of::<(Pubkey, u64)>() + 1);
        size_of::<Self>()
            + entries
            + spare * (size_of::<(Pubkey, IndexedThread)>() + 1)
            + tombstones
    }
}

/// Buckets a `HashMap` of this `capacity()` allocates: the standard map keeps an eighth
/// of them empty (below 8 buckets, one), so 10,000 entries occupy 16,384 buckets.
fn buckets(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..8 => capacity + 1,
        _ => capacity / 7 * 8,
    }
}

/// Decodes a thread account: discriminator, then the current layout.
pub fn decode(data: &[u8]) -> Result<Thread, String> {
    let state = Thread::try_deserialize(&mut &data[..]).map_err(|e| e.to_string())?;
    if state.version != Thread::VERSION {
        return Err(format!(
            "unsupported thread layout version {} (this keeper reads {})",
            state.version,
            Thread::VERSION
        ));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use anchor_lang::Discriminator;
    use thread::state::{Due, Lease, Trigger};

    use super::*;
    use crate::test_utils::thread::ThreadFixture;

    #[test]
    fn index_inserts_then_updates_then_reports_unchanged() {
        let mut index = ThreadIndex::new();
        let key = Pubkey::new_unique();
        let fixture = ThreadFixture::new();

        assert_eq!(index.upsert(key, 10, &fixture.data()), Upsert::Inserted);
        assert_eq!(index.len(), 1);
        assert_eq!(index.get(&key).unwrap().slot, 10);

        let executed = fixture.clone().exec_count(1).due(Due::Never);
        assert_eq!(index.upsert(key, 11, &executed.data()), Upsert::Updated);
        let entry = index.get(&key).unwrap();
        assert_eq!((entry.slot, entry.state.exec_count), (11, 1));
        assert_eq!(entry.state.next_due, Due::Never);

        assert_eq!(index.upsert(key, 12, &executed.data()), Upsert::Unchanged);
        assert_eq!(index.get(&key).unwrap().slot, 12, "the view's slot moves");
        assert!(!Upsert::Unchanged.is_change());
        assert!(Upsert::Updated.is_change() && Upsert::Inserted.is_change());
    }

    /// The index keeps a [`ThreadView`]: a new state that differs only in fields the
    /// keeper does not keep moves the entry's slot and is no change for the scheduler;
    /// a difference in any field it keeps is a change.
    #[test]
    fn index_reports_a_change_only_when_the_view_changes() {
        let holder = Pubkey::new_unique();
        let mut base = ThreadFixture::new().durable();
        base.thread.lease = Some(Lease {
            holder,
            claimed_slot: 10,
            expires_slot: 100,
            bond: 5,
            revoked_slot: None,
        });
        let changed = |edit: fn(&mut Thread)| {
            let mut fixture = base.clone();
            edit(&mut fixture.thread);
            fixture
        };
        /// What changed, and how.
        type Edit = (&'static str, fn(&mut Thread));
        let not_kept: [Edit; 4] = [
            ("fee", |t| t.fee_per_exec += 1),
            ("instructions", |t| t.instructions.clear()),
            ("lease bond", |t| t.lease.as_mut().unwrap().bond += 1),
            ("last execution", |t| t.last_exec_at += 1),
        ];
        let kept: [Edit; 9] = [
            ("next_due", |t| t.next_due = Due::Never),
            ("exec_count", |t| t.exec_count += 1),
            ("paused", |t| t.paused = true),
            ("durability", |t| {
                t.lease = None;
                t.durability = Durability::NonDurable;
            }),
            ("lease holder", |t| {
                t.lease.as_mut().unwrap().holder = Pubkey::new_unique()
            }),
            // A fleet routes a durable thread's work to its holder while the lease lasts.
            ("lease expiry", |t| {
                t.lease.as_mut().unwrap().expires_slot += 500
            }),
            ("lease revoked", |t| {
                t.lease.as_mut().unwrap().revoked_slot = Some(50)
            }),
            ("rate limit reached", |t| t.execs_in_window = 1),
            ("watched range", |t| {
                t.trigger = Trigger::Account {
                    address: Pubkey::new_unique(),
                    offset: 0,
                    size: 8,
                }
            }),
        ];
        for (cases, expected) in [
            (&not_kept[..], Upsert::Unchanged),
            (&kept[..], Upsert::Updated),
        ] {
            for (what, edit) in cases {
                let mut index = ThreadIndex::new();
                let key = Pubkey::new_unique();
                assert_eq!(index.upsert(key, 1, &base.data()), Upsert::Inserted);
                assert_eq!(
                    index.upsert(key, 2, &changed(*edit).data()),
                    expected,
                    "{what}"
                );
                assert_eq!(index.get(&key).unwrap().slot, 2, "{what}");
            }
        }
    }

    #[test]
    fn index_never_overwrites_a_newer_view_with_an_older_one() {
        let mut index = ThreadIndex::new();
        let key = Pubkey::new_unique();
        let old = ThreadFixture::new();
        let new = old.clone().exec_count(7);

        assert_eq!(index.upsert(key, 20, &new.data()), Upsert::Inserted);
        assert_eq!(index.upsert(key, 19, &old.data()), Upsert::Stale);
        let entry = index.get(&key).unwrap();
        assert_eq!((entry.slot, entry.state.exec_count), (20, 7));

        // The same slot overwrites (a later read of the same slot wins).
        assert_eq!(index.upsert(key, 20, &old.data()), Upsert::Updated);
        assert_eq!(index.get(&key).unwrap().state.exec_count, 0);
    }

    #[test]
    fn index_reports_garbage_as_invalid_and_keeps_the_entry() {
        let mut index = ThreadIndex::new();
        let key = Pubkey::new_unique();
        let good = ThreadFixture::new().exec_count(3);
        index.upsert(key, 5, &good.data());

        let mut junk = Thread::DISCRIMINATOR.to_vec();
        junk.extend_from_slice(&[0xff; 7]);
        for data in [
            junk,
            vec![],
            vec![1, 2, 3],
            b"not a thread discriminator, long enough".to_vec(),
        ] {
            let outcome = index.upsert(key, 6, &data);
            assert!(matches!(outcome, Upsert::Invalid(_)), "{outcome:?}");
        }
        let entry = index.get(&key).unwrap();
        assert_eq!((entry.slot, entry.state.exec_count), (5, 3), "untouched");

        let other = Pubkey::new_unique();
        assert!(matches!(
            index.upsert(other, 6, &[0; 64]),
            Upsert::Invalid(_)
        ));
        assert!(!index.contains(&other), "nothing inserted for garbage");
    }

    #[test]
    fn index_rejects_an_unknown_layout_version() {
        let mut index = ThreadIndex::new();
        let mut fixture = ThreadFixture::new();
        fixture.thread.version = Thread::VERSION + 1;
        match index.upsert(Pubkey::new_unique(), 1, &fixture.data()) {
            Upsert::Invalid(reason) => assert!(reason.contains("version"), "{reason}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert!(index.is_empty());
    }

    #[test]
    fn index_removes_only_when_the_entry_is_not_newer() {
        let mut index = ThreadIndex::new();
        let key = Pubkey::new_unique();
        index.upsert(key, 30, &ThreadFixture::new().data());

        assert!(!index.remove(&key, 29), "closed before the view we hold");
        assert!(index.contains(&key));
        assert!(index.remove(&key, 30));
        assert!(!index.contains(&key));
        assert!(!index.remove(&key, 31), "already gone");
    }

    #[test]
    fn index_does_not_resurrect_a_closed_thread_from_an_older_view() {
        let mut index = ThreadIndex::new();
        let key = Pubkey::new_unique();
        let data = ThreadFixture::new().data();
        index.upsert(key, 40, &data);
        assert!(index.remove(&key, 45));

        assert_eq!(index.upsert(key, 44, &data), Upsert::Stale);
        assert!(!index.contains(&key));
        // Recreated later at the same address: a newer view wins.
        assert_eq!(index.upsert(key, 46, &data), Upsert::Inserted);
        assert_eq!(index.tombstones(), 0);

        index.remove(&key, 50);
        index.prune_tombstones(50);
        assert_eq!(index.tombstones(), 1, "kept until older than the cut");
        index.prune_tombstones(51);
        assert_eq!(index.tombstones(), 0);
    }

    #[test]
    fn index_counts_threads_by_durability_and_iterates() {
        let mut index = ThreadIndex::new();
        let keys: Vec<Pubkey> = (0..5).map(|_| Pubkey::new_unique()).collect();
        for (i, key) in keys.iter().enumerate() {
            let fixture = if i < 2 {
                ThreadFixture::new().durable()
            } else {
                ThreadFixture::new()
            };
            index.upsert(*key, 1, &fixture.data());
        }
        assert_eq!(
            index.counts_by_durability(),
            DurabilityCounts {
                durable: 2,
                non_durable: 3
            }
        );
        let mut seen: Vec<Pubkey> = index.iter().map(|(k, _)| *k).collect();
        seen.sort();
        let mut expected = keys.clone();
        expected.sort();
        assert_eq!(seen, expected);
        assert_eq!(index.keys().count(), 5);
    }

    #[test]
    fn index_selects_the_threads_and_nonces_leased_by_a_holder() {
        let mut index = ThreadIndex::new();
        let (me, other) = (Pubkey::new_unique(), Pubkey::new_unique());
        let mine = ThreadFixture::new().durable().leased_to(me);
        let (ours, theirs, plain) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        index.upsert(ours, 1, &mine.data());
        index.upsert(
            theirs,
            1,
            &ThreadFixture::new().durable().leased_to(other).data(),
        );
        index.upsert(plain, 1, &ThreadFixture::new().data());
        assert_eq!(index.threads_leased_by(&me), vec![ours]);
        assert_eq!(
            index.nonces_leased_by(&me),
            vec![mine.thread.nonce_account().unwrap()]
        );
        assert_eq!(index.threads_leased_by(&Pubkey::new_unique()), vec![]);
    }

    /// The kept count agrees with a count of the entries through inserts, durability
    /// changes both ways, stale and unchanged views, and removals (refused and done).
    #[test]
    fn index_durability_counts_follow_every_change() {
        fn check(index: &ThreadIndex, durable: usize, non_durable: usize, step: &str) {
            let expected = DurabilityCounts {
                durable,
                non_durable,
            };
            assert_eq!(index.counts_by_durability(), expected, "{step}");
            let counted = index.iter().filter(|(_, t)| is_durable(t)).count();
            assert_eq!(
                (counted, index.len() - counted),
                (durable, non_durable),
                "{step}"
            );
        }
        let mut index = ThreadIndex::new();
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let durable = ThreadFixture::new().durable().data();
        let plain = ThreadFixture::new().data();

        index.upsert(a, 1, &durable);
        check(&index, 1, 0, "insert durable");
        index.upsert(b, 1, &plain);
        check(&index, 1, 1, "insert non-durable");
        index.upsert(a, 2, &plain);
        check(&index, 0, 2, "made non-durable");
        index.upsert(a, 1, &durable);
        check(&index, 0, 2, "a stale view changes nothing");
        index.upsert(b, 3, &durable);
        check(&index, 1, 1, "made durable");
        index.upsert(b, 4, &durable);
        check(&index, 1, 1, "unchanged");
        index.remove(&b, 2);
        check(&index, 1, 1, "a removal older than the entry is refused");
        index.remove(&b, 9);
        check(&index, 0, 1, "removed");
    }

    /// Measures one typical tracked thread (one instruction of 2 accounts and 12 bytes,
    /// a 12-byte id) and 10,000 of them in the index, map overhead included. The daemon
    /// as a whole has 1 KiB per thread (the load harness); the index takes under half.
    #[test]
    fn typical_thread_stays_under_one_kib() {
        let fixture = ThreadFixture::new();
        let entry = IndexedThread {
            state: ThreadView::of(&decode(&fixture.data()).unwrap()),
            slot: 1,
        };
        let one = entry.approx_bytes();
        println!(
            "size_of::<Thread>() = {}, size_of::<IndexedThread>() = {one} bytes",
            size_of::<Thread>(),
        );
        assert!(one < 256, "{one} bytes per thread");

        let mut index = ThreadIndex::new();
        let data = fixture.data();
        for _ in 0..10_000 {
            index.upsert(Pubkey::new_unique(), 1, &data);
        }
        let per_thread = index.approx_bytes() / index.len();
        println!(
            "10,000 threads: {} bytes in all, {per_thread} bytes per thread",
            index.approx_bytes()
        );
        assert!(per_thread < 512, "{per_thread} bytes per thread in the map");
    }
}
