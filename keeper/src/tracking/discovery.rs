//! [`Discovery`]: finds the thread program's accounts and keeps the shared
//! [`ThreadIndex`] in step with the chain, telling the scheduler which threads changed.
//!
//! Owns: the full scan (`getProgramAccounts` of the program, filtered by the `Thread`
//! discriminator) at start and on a reconcile interval; the push stream in between
//! (`programSubscribe`, [`Chain::subscribe_program`]) and its notices, each applied like
//! a one-account view at its slot; applying each scan to the index
//! (upserts at the scan's slot, removal of threads a complete scan no longer shows, with
//! [`ThreadIndex::remove`]'s "not newer" rule); one [`ThreadChanged`] per thread that was
//! inserted, changed or removed; logging invalid accounts (once per address, then at
//! debug); the `keeper_threads` gauge.
//!
//! Must not: decide when a thread is due (the scheduler's job), hold the index lock
//! across an await (the lock is a synchronous `parking_lot::RwLock`, taken only to apply a scan that
//! is already in memory), or stop on a bad account or a failed scan (it logs, keeps the
//! index as it was and tries again at the next interval).
//!
//! Design: the index is shared as `Arc<RwLock<ThreadIndex>>` ([`SharedIndex`]) so the
//! scheduler and the builder read the latest state in place; changes travel as
//! addresses only ([`ThreadChanged`]) over a bounded tokio mpsc, and the scheduler reads
//! the state from the index when it handles one, so a burst of changes to one thread
//! costs one re-key with the newest state. A full scheduler channel slows discovery down
//! (backpressure) but never blocks index updates, which are applied before any send.
//!
//! The push stream is an accelerator, never the only source: a node may drop notices,
//! does not announce closed accounts, and a stream can be down for a while. So the
//! reconcile interval stays, a re-established stream triggers a scan at once (what
//! happened while it was down is unknown), and a chain that cannot push at all leaves
//! discovery on scans alone. Subscribing comes before the first scan, so no change falls
//! between the two.

use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::Discriminator;
use solana_sdk::pubkey::Pubkey;
use thread::state::Thread;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::chain::transport::excerpt;
use crate::chain::{Chain, ChainError, KeyedAccount, ProgramNotice, ProgramNotices};
use crate::ops::metrics::Metrics;
use crate::ops::runway::RunwayWatch;
use crate::tracking::index::{ThreadIndex, Upsert};

/// The index discovery writes and the scheduler and builder read.
pub type SharedIndex = Arc<RwLock<ThreadIndex>>;

/// A new shared index, empty.
pub fn shared_index() -> SharedIndex {
    Arc::new(RwLock::new(ThreadIndex::new()))
}

/// Read access that survives a panicked writer (the index is never left half-updated:
/// each upsert or removal is one map operation).
pub fn read_index(index: &SharedIndex) -> parking_lot::RwLockReadGuard<'_, ThreadIndex> {
    index.read()
}

fn write_index(index: &SharedIndex) -> parking_lot::RwLockWriteGuard<'_, ThreadIndex> {
    index.write()
}

/// The thread at this address was inserted, changed or removed: read the index again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThreadChanged(pub Pubkey);

/// What one scan found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Slot of the view.
    pub slot: u64,
    /// Accounts the scan returned.
    pub seen: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Accounts older than what the index holds (a lagging endpoint).
    pub stale: usize,
    /// Indexed threads the scan no longer showed, removed.
    pub removed: usize,
    /// Accounts that are not threads this keeper reads, with the reason.
    pub invalid: Vec<(Pubkey, String)>,
}

/// Applies a complete scan taken at `slot` to `index`: upserts every account, then
/// removes every indexed thread the scan did not show (unless its entry is newer than
/// `slot`). Returns the report and the addresses that changed, in scan order then
/// removals. Tombstones older than `prune_before` are dropped.
pub fn apply_scan(
    index: &mut ThreadIndex,
    slot: u64,
    accounts: &[KeyedAccount],
    prune_before: Option<u64>,
) -> (ScanReport, Vec<Pubkey>) {
    let mut report = ScanReport {
        slot,
        seen: accounts.len(),
        ..ScanReport::default()
    };
    let mut changed = Vec::new();
    let mut present = HashSet::with_capacity(accounts.len());
    for keyed in accounts {
        present.insert(keyed.pubkey);
        let outcome = if keyed.account.owner != thread::ID {
            Upsert::Invalid(format!(
                "owned by {}, not the thread program",
                keyed.account.owner
            ))
        } else {
            index.upsert(keyed.pubkey, slot, &keyed.account.data)
        };
        if outcome.is_change() {
            changed.push(keyed.pubkey);
        }
        match outcome {
            Upsert::Inserted => report.inserted += 1,
            Upsert::Updated => report.updated += 1,
            Upsert::Unchanged => report.unchanged += 1,
            Upsert::Stale => report.stale += 1,
            Upsert::Invalid(reason) => report.invalid.push((keyed.pubkey, reason)),
        }
    }
    let gone: Vec<Pubkey> = index
        .keys()
        .filter(|key| !present.contains(key))
        .copied()
        .collect();
    for key in gone {
        if index.remove(&key, slot) {
            report.removed += 1;
            changed.push(key);
        }
    }
    if let Some(before) = prune_before {
        index.prune_tombstones(before);
    }
    (report, changed)
}

/// Re-reads `threads` into `index` at the chain's current slot and tells the scheduler
/// about each, so that it sees what an execution changed (a new `next_due`) without
/// waiting for the next scan: an account the program no longer owns is removed, the rest
/// upserted, with the index's "never older" rule either way. A chain that does not
/// answer leaves the index as it was; the next scan catches up.
pub async fn refresh(
    chain: &dyn Chain,
    index: &SharedIndex,
    changes: &mpsc::Sender<ThreadChanged>,
    threads: &[Pubkey],
) {
    let Ok(clock) = chain.clock().await else {
        return;
    };
    let Ok(accounts) = chain.get_multiple_accounts(threads).await else {
        return;
    };
    {
        let mut index = write_index(index);
        for (key, account) in threads.iter().zip(accounts) {
            match account {
                Some(account) if account.owner == thread::ID => {
                    index.upsert(*key, clock.slot, &account.data);
                }
                _ => {
                    index.remove(key, clock.slot);
                }
            }
        }
    }
    for key in threads {
        let _ = changes.send(ThreadChanged(*key)).await;
    }
}

/// Keeps the index in step with the chain (see the module docs).
/// Most invalid accounts [`Discovery`] remembers having reported.
const MAX_REPORTED_INVALID: usize = 10_000;

pub struct Discovery {
    chain: Arc<dyn Chain>,
    index: SharedIndex,
    changes: mpsc::Sender<ThreadChanged>,
    reconcile_every: Duration,
    metrics: Option<Arc<Metrics>>,
    /// Slot of the newest complete scan so far.
    last_scan_slot: Option<u64>,
    /// Invalid accounts already logged at warn, with the reason logged (at most
    /// [`MAX_REPORTED_INVALID`]).
    reported_invalid: HashMap<Pubkey, String>,
    push: Push,
    /// Threads running low on balance, kept from the accounts every scan and notice
    /// already carries.
    runway: Option<RunwayWatch>,
}

/// Where the push stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Push {
    /// Not tried yet.
    Unknown,
    Up,
    /// Could not be opened `failures` times in a row (0: it ended after working); tried
    /// again after `skip` more scans. The gap doubles with each failure (up to 31 scans
    /// skipped) so that an endpoint without a websocket, or one that hangs until the
    /// timeout, does not cost an attempt per scan.
    Down {
        failures: u32,
        skip: u32,
    },
    /// The chain cannot push: scans alone.
    Unsupported,
}

impl Discovery {
    /// Scans through `chain` into `index`, notifying `changes`, every `reconcile_every`
    /// once [`Discovery::run`] starts.
    pub fn new(
        chain: Arc<dyn Chain>,
        index: SharedIndex,
        changes: mpsc::Sender<ThreadChanged>,
        reconcile_every: Duration,
    ) -> Self {
        Self {
            chain,
            index,
            changes,
            reconcile_every: reconcile_every.max(Duration::from_millis(1)),
            metrics: None,
            last_scan_slot: None,
            reported_invalid: HashMap::new(),
            push: Push::Unknown,
            runway: None,
        }
    }

    /// Keeps `keeper_thread_runway_executions` for threads running low, from every scan
    /// and notice.
    pub fn with_runway(mut self, watch: RunwayWatch) -> Self {
        self.runway = Some(watch);
        self
    }

    /// Sets `keeper_threads{durability}` after every scan.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn index(&self) -> &SharedIndex {
        &self.index
    }

    /// One full scan: fetch, apply to the index, then notify each change. An error means
    /// the chain did not answer; the index is as it was. A closed change channel (the
    /// scheduler is gone) is not an error here: the index is still updated.
    pub async fn scan(&mut self) -> Result<ScanReport, ChainError> {
        let (slot, accounts) = self
            .chain
            .get_program_accounts(&thread::ID, Thread::DISCRIMINATOR)
            .await?;
        let (report, changed) = {
            let mut index = write_index(&self.index);
            let applied = apply_scan(&mut index, slot, &accounts, self.last_scan_slot);
            if let Some(metrics) = &self.metrics {
                let counts = index.counts_by_durability();
                metrics.set_threads(counts.durable, counts.non_durable);
            }
            applied
        };
        self.last_scan_slot = Some(self.last_scan_slot.map_or(slot, |last| last.max(slot)));
        if let Some(watch) = &mut self.runway {
            watch.observe_all(&accounts);
        }
        self.log_invalid(&report);
        tracing::debug!(
            slot,
            seen = report.seen,
            inserted = report.inserted,
            updated = report.updated,
            removed = report.removed,
            stale = report.stale,
            invalid = report.invalid.len(),
            "discovery scan applied"
        );
        for key in changed {
            if self.changes.send(ThreadChanged(key)).await.is_err() {
                break;
            }
        }
        Ok(report)
    }

    /// Logs a scan's accounts that are not threads this keeper understands: one line at
    /// warn per scan that finds new ones (how many, and the first), each at debug. A
    /// node can answer with any number of such accounts, so the number of warn lines
    /// must not follow theirs.
    fn log_invalid(&mut self, report: &ScanReport) {
        let still: HashSet<Pubkey> = report.invalid.iter().map(|(k, _)| *k).collect();
        self.reported_invalid.retain(|key, _| still.contains(key));
        let mut new = report
            .invalid
            .iter()
            .filter(|(key, reason)| self.note_invalid(*key, reason));
        let Some((first, first_reason)) = new.next() else {
            return;
        };
        let more = new.count();
        tracing::warn!(
            new = more + 1,
            invalid = report.invalid.len(),
            account = %first,
            reason = %excerpt(first_reason),
            "invalid thread account, skipped (the first of `new` program accounts this keeper does not understand; each at debug)"
        );
    }

    /// Remembers that `key` is invalid for `reason`; true when that is news. Logged at
    /// debug either way.
    fn note_invalid(&mut self, key: Pubkey, reason: &str) -> bool {
        let reason = excerpt(reason);
        tracing::debug!(account = %key, %reason, "invalid thread account, skipped");
        if self.reported_invalid.get(&key) == Some(&reason) {
            return false;
        }
        // Past the bound (a node answering with endless junk) nothing more is kept: the
        // scan's one warn line still counts them.
        if self.reported_invalid.len() < MAX_REPORTED_INVALID {
            self.reported_invalid.insert(key, reason);
        }
        true
    }

    /// A pushed account that is not a thread: warned once per address and reason.
    fn warn_invalid(&mut self, key: Pubkey, reason: String) {
        if self.note_invalid(key, &reason) {
            tracing::warn!(account = %key, reason = %excerpt(&reason), "invalid thread account, skipped");
        }
    }

    /// Applies one pushed account at `slot`: an account that is no longer a thread
    /// (closed, reassigned, emptied) is removed, the rest upserted, with the index's
    /// "never older" rule either way. Returns the address when the scheduler should look.
    fn apply_notice(&mut self, slot: u64, keyed: &KeyedAccount) -> Option<Pubkey> {
        let account = &keyed.account;
        if let Some(watch) = &mut self.runway {
            watch.observe(&keyed.pubkey, account);
        }
        let gone = account.lamports == 0
            || account.owner != thread::ID
            || !account.data.starts_with(Thread::DISCRIMINATOR);
        let changed = {
            let mut index = write_index(&self.index);
            let changed = if gone {
                index.remove(&keyed.pubkey, slot)
            } else {
                match index.upsert(keyed.pubkey, slot, &account.data) {
                    Upsert::Invalid(reason) => {
                        drop(index);
                        self.warn_invalid(keyed.pubkey, reason);
                        return None;
                    }
                    outcome => outcome.is_change(),
                }
            };
            if changed {
                if let Some(metrics) = &self.metrics {
                    let counts = index.counts_by_durability();
                    metrics.set_threads(counts.durable, counts.non_durable);
                }
            }
            changed
        };
        tracing::trace!(account = %keyed.pubkey, slot, gone, changed, "program notice");
        changed.then_some(keyed.pubkey)
    }

    /// Opens the push stream, or says why discovery runs on scans alone (at info the
    /// first time, then at debug). A chain that cannot push is not asked again.
    async fn subscribe(&mut self) -> Option<ProgramNotices> {
        if self.push == Push::Unsupported {
            return None;
        }
        match self
            .chain
            .subscribe_program(&thread::ID, Thread::DISCRIMINATOR)
            .await
        {
            Ok(notices) => {
                if self.push != Push::Up {
                    tracing::info!("program subscription open: thread changes arrive as pushed");
                }
                self.push = Push::Up;
                Some(notices)
            }
            Err(error) => {
                if self.push == Push::Unknown {
                    tracing::info!(
                        %error,
                        reconcile = ?self.reconcile_every,
                        "no program subscription; changes are found by the reconcile scans"
                    );
                } else {
                    tracing::debug!(%error, "program subscription still unavailable");
                }
                self.push = if error.is_retryable() {
                    let failures = match self.push {
                        Push::Down { failures, .. } => failures.saturating_add(1),
                        _ => 1,
                    };
                    let skip = (1u32 << failures.saturating_sub(1).min(5)) - 1;
                    Push::Down { failures, skip }
                } else {
                    Push::Unsupported
                };
                None
            }
        }
    }

    /// Subscribes, scans at once, then applies pushed changes as they come and scans
    /// again every reconcile interval (and whenever the stream is re-established), until
    /// `shutdown` resolves or the scheduler's end of the change channel is dropped. A
    /// scan in progress when `shutdown` resolves is abandoned (it only reads). Failed
    /// scans are logged and retried at the next interval; a stream that could not be
    /// opened or ended is tried again after the next scan.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut notices = tokio::select! {
            biased;
            _ = &mut shutdown => return,
            notices = self.subscribe() => notices,
        };
        // The first `Connected` is covered by the scan at start.
        let mut connected_once = false;
        let mut ticks = tokio::time::interval_at(Instant::now(), self.reconcile_every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                notice = next_notice(&mut notices) => {
                    match notice {
                        Some(ProgramNotice::Account { slot, keyed }) => {
                            if let Some(key) = self.apply_notice(slot, &keyed) {
                                if self.changes.send(ThreadChanged(key)).await.is_err() {
                                    tracing::info!("scheduler gone, discovery stops");
                                    break;
                                }
                            }
                            continue;
                        }
                        Some(ProgramNotice::Connected) if !connected_once => {
                            connected_once = true;
                            continue;
                        }
                        Some(ProgramNotice::Connected) => {
                            tracing::info!("program subscription re-established, catching up with a scan");
                            ticks.reset();
                        }
                        None => {
                            tracing::warn!("program subscription ended; relying on the reconcile scans until it is back");
                            notices = None;
                            connected_once = false;
                            self.push = Push::Down { failures: 0, skip: 0 };
                            continue;
                        }
                    }
                }
                _ = ticks.tick() => {}
            }
            if self.changes.is_closed() {
                tracing::info!("scheduler gone, discovery stops");
                break;
            }
            let scanned = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                scanned = self.scan() => scanned,
            };
            if let Err(error) = scanned {
                tracing::warn!(kind = error.kind(), %error, "discovery scan failed, retrying at the next reconcile");
            }
            if let Push::Down { failures, skip } = self.push {
                if skip > 0 {
                    self.push = Push::Down {
                        failures,
                        skip: skip - 1,
                    };
                    continue;
                }
            }
            if notices.is_none() {
                notices = tokio::select! {
                    biased;
                    _ = &mut shutdown => break,
                    notices = self.subscribe() => notices,
                };
            }
        }
        tracing::debug!("discovery stopped");
    }
}

/// The next pushed notice; never, without a stream; `None` once the stream has ended.
async fn next_notice(notices: &mut Option<ProgramNotices>) -> Option<ProgramNotice> {
    match notices {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use solana_sdk::account::Account;
    use solana_sdk::clock::Clock;
    use solana_sdk::hash::Hash;
    use solana_sdk::signature::Signature;
    use solana_sdk::transaction::VersionedTransaction;
    use tokio::sync::oneshot;

    use super::*;
    use crate::chain::faulty::{Fault, FaultyChain, Op};
    use crate::chain::{Simulation, TxStatus};
    use crate::test_utils::thread::ThreadFixture;

    /// A chain of accounts in memory with a settable clock and slot: what discovery and
    /// the scheduler read, nothing else (the other methods fail).
    /// Clones share the state, so a test keeps a handle to change what the chain shows.
    #[derive(Clone, Default)]
    pub(crate) struct StubChain {
        state: Arc<Mutex<StubState>>,
    }

    #[derive(Default)]
    struct StubState {
        clock: Clock,
        accounts: BTreeMap<Pubkey, Account>,
    }

    impl StubChain {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn set_clock(&self, clock: Clock) {
            self.state.lock().unwrap().clock = clock;
        }

        pub(crate) fn set_slot(&self, slot: u64) {
            self.state.lock().unwrap().clock.slot = slot;
        }

        pub(crate) fn set_account(&self, key: Pubkey, account: Account) {
            self.state.lock().unwrap().accounts.insert(key, account);
        }

        pub(crate) fn set_thread(&self, key: Pubkey, data: Vec<u8>) {
            self.set_account(
                key,
                Account {
                    lamports: 1_000_000,
                    data,
                    owner: thread::ID,
                    executable: false,
                    rent_epoch: 0,
                },
            );
        }

        pub(crate) fn close(&self, key: &Pubkey) {
            self.state.lock().unwrap().accounts.remove(key);
        }
    }

    fn stub_error() -> ChainError {
        ChainError::Rpc("not part of the stub".into())
    }

    #[async_trait]
    impl Chain for StubChain {
        fn endpoint(&self) -> &str {
            "stub"
        }

        async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
            Ok(self.state.lock().unwrap().accounts.get(key).cloned())
        }

        async fn get_multiple_accounts(
            &self,
            keys: &[Pubkey],
        ) -> Result<Vec<Option<Account>>, ChainError> {
            let state = self.state.lock().unwrap();
            Ok(keys
                .iter()
                .map(|k| state.accounts.get(k).cloned())
                .collect())
        }

        async fn get_program_accounts(
            &self,
            program: &Pubkey,
            prefix: &[u8],
        ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
            let state = self.state.lock().unwrap();
            let found = state
                .accounts
                .iter()
                .filter(|(_, a)| a.owner == *program && a.data.starts_with(prefix))
                .map(|(pubkey, account)| KeyedAccount {
                    pubkey: *pubkey,
                    account: account.clone(),
                })
                .collect();
            Ok((state.clock.slot, found))
        }

        async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
            Err(stub_error())
        }

        async fn clock(&self) -> Result<Clock, ChainError> {
            Ok(self.state.lock().unwrap().clock.clone())
        }

        async fn simulate(&self, _tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
            Err(stub_error())
        }

        async fn send(&self, _tx: &VersionedTransaction) -> Result<Signature, ChainError> {
            Err(stub_error())
        }

        async fn signature_statuses(
            &self,
            _signatures: &[Signature],
        ) -> Result<Vec<Option<TxStatus>>, ChainError> {
            Err(stub_error())
        }

        async fn recent_prioritization_fees(
            &self,
            _accounts: &[Pubkey],
        ) -> Result<Vec<u64>, ChainError> {
            Ok(Vec::new())
        }
    }

    fn keyed(key: Pubkey, data: Vec<u8>) -> KeyedAccount {
        KeyedAccount {
            pubkey: key,
            account: Account {
                lamports: 1,
                data,
                owner: thread::ID,
                executable: false,
                rent_epoch: 0,
            },
        }
    }

    fn drain(rx: &mut mpsc::Receiver<ThreadChanged>) -> Vec<Pubkey> {
        let mut keys = Vec::new();
        while let Ok(ThreadChanged(key)) = rx.try_recv() {
            keys.push(key);
        }
        keys
    }

    #[test]
    fn discovery_apply_scan_inserts_updates_and_removes_what_a_newer_scan_lost() {
        let mut index = ThreadIndex::new();
        let (a, b, c) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let thread = ThreadFixture::new();
        let scan = [
            keyed(a, thread.data()),
            keyed(b, thread.data()),
            keyed(c, thread.data()),
        ];
        let (report, changed) = apply_scan(&mut index, 10, &scan, None);
        assert_eq!((report.inserted, report.seen), (3, 3));
        assert_eq!(changed, vec![a, b, c]);

        // b executed, c closed.
        let scan = [
            keyed(a, thread.data()),
            keyed(b, thread.clone().exec_count(1).data()),
        ];
        let (report, changed) = apply_scan(&mut index, 11, &scan, Some(10));
        assert_eq!(
            (report.unchanged, report.updated, report.removed),
            (1, 1, 1)
        );
        assert_eq!(changed, vec![b, c]);
        assert!(!index.contains(&c));
        assert_eq!(index.len(), 2);
    }

    #[tokio::test]
    async fn refresh_rereads_the_threads_at_the_current_slot_and_tells_the_scheduler() {
        let chain = StubChain::new();
        let index = shared_index();
        let (executed, closed, untouched) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let thread = ThreadFixture::new();
        for key in [executed, closed, untouched] {
            index.write().upsert(key, 5, &thread.data());
        }
        chain.set_slot(10);
        chain.set_thread(executed, thread.clone().exec_count(1).data());
        chain.set_thread(untouched, thread.clone().exec_count(7).data());
        let (changes_tx, mut changes) = mpsc::channel(8);

        refresh(&chain, &index, &changes_tx, &[executed, closed]).await;

        let read = read_index(&index);
        assert_eq!(read.get(&executed).unwrap().slot, 10);
        assert_eq!(read.get(&executed).unwrap().state.exec_count, 1);
        assert!(!read.contains(&closed), "closed on chain: removed");
        assert_eq!(read.get(&untouched).unwrap().slot, 5, "not asked for");
        assert_eq!(drain(&mut changes), vec![executed, closed]);
    }

    #[test]
    fn discovery_apply_scan_keeps_entries_newer_than_a_lagging_scan() {
        let mut index = ThreadIndex::new();
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let thread = ThreadFixture::new();
        index.upsert(a, 20, &thread.clone().exec_count(5).data());
        index.upsert(b, 20, &thread.data());

        // An endpoint 5 slots behind: it shows the old a and has not seen b yet.
        let (report, changed) = apply_scan(&mut index, 15, &[keyed(a, thread.data())], None);
        assert_eq!((report.stale, report.removed), (1, 0));
        assert!(changed.is_empty());
        assert_eq!(index.get(&a).unwrap().state.exec_count, 5);
        assert!(index.contains(&b));
    }

    #[test]
    fn discovery_apply_scan_reports_garbage_and_indexes_the_rest() {
        let mut index = ThreadIndex::new();
        let (good, bad, foreign) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let mut junk = Thread::DISCRIMINATOR.to_vec();
        junk.extend_from_slice(b"junk");
        let mut not_ours = keyed(foreign, ThreadFixture::new().data());
        not_ours.account.owner = Pubkey::new_unique();
        let scan = [
            keyed(bad, junk),
            keyed(good, ThreadFixture::new().data()),
            not_ours,
        ];

        let (report, changed) = apply_scan(&mut index, 3, &scan, None);
        assert_eq!(report.inserted, 1);
        assert_eq!(report.invalid.len(), 2);
        assert_eq!(report.invalid[0].0, bad);
        assert!(report.invalid[1].1.contains("not the thread program"));
        assert_eq!(changed, vec![good]);
        assert_eq!(index.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_run_scans_at_start_and_on_every_reconcile_until_shutdown() {
        let stub = StubChain::new();
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        stub.set_slot(5);
        stub.set_thread(a, ThreadFixture::new().data());
        let chain = Arc::new(FaultyChain::new(stub.clone(), 1));
        chain.script(Op::GetProgramAccounts, [None, Some(Fault::Drop)]);
        let index = shared_index();
        let (tx, mut rx) = mpsc::channel(16);
        let discovery = Discovery::new(chain.clone(), index.clone(), tx, Duration::from_secs(30));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(discovery.run(async move {
            let _ = stopped.await;
        }));

        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            chain.forwarded(Op::GetProgramAccounts),
            1,
            "a scan at start"
        );
        assert_eq!(drain(&mut rx), vec![a]);

        // The next reconcile fails (dropped); the index stays; the one after finds b.
        stub.set_slot(6);
        stub.set_thread(b, ThreadFixture::new().data());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(chain.calls(), 2);
        assert!(drain(&mut rx).is_empty());
        assert_eq!(read_index(&index).len(), 1);

        stub.close(&a);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(chain.calls(), 3);
        let mut changed = drain(&mut rx);
        changed.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(changed, expected, "b inserted, a removed");
        assert!(read_index(&index).contains(&b) && !read_index(&index).contains(&a));

        stop.send(()).unwrap();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(chain.calls(), 3, "no scan after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_run_stops_when_the_scheduler_is_gone() {
        let stub = StubChain::new();
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let discovery = Discovery::new(Arc::new(stub), shared_index(), tx, Duration::from_secs(1));
        tokio::time::timeout(
            Duration::from_secs(5),
            discovery.run(std::future::pending()),
        )
        .await
        .expect("run returns by itself");
    }

    /// A [`StubChain`] that can push: the test holds the sending end of each stream
    /// discovery opens.
    #[derive(Clone)]
    struct PushingStub {
        stub: StubChain,
        state: Arc<PushState>,
    }

    struct PushState {
        streams: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<ProgramNotice>>>,
        /// `subscribe_program` answers `Unavailable` while this is set.
        refuse: std::sync::atomic::AtomicBool,
        /// `subscribe_program` answers as a chain without a websocket does.
        cannot_push: std::sync::atomic::AtomicBool,
        subscribed: std::sync::atomic::AtomicUsize,
    }

    impl PushingStub {
        fn new(stub: StubChain) -> Self {
            Self {
                stub,
                state: Arc::new(PushState {
                    streams: Mutex::new(Vec::new()),
                    refuse: false.into(),
                    cannot_push: false.into(),
                    subscribed: 0.into(),
                }),
            }
        }

        fn push(&self, notice: ProgramNotice) {
            let streams = self.state.streams.lock().unwrap();
            streams.last().expect("subscribed").send(notice).unwrap();
        }

        fn end_stream(&self) {
            self.state.streams.lock().unwrap().clear();
        }

        fn subscriptions(&self) -> usize {
            self.state
                .subscribed
                .load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Chain for PushingStub {
        fn endpoint(&self) -> &str {
            "pushing-stub"
        }
        async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
            self.stub.get_account(key).await
        }
        async fn get_multiple_accounts(
            &self,
            keys: &[Pubkey],
        ) -> Result<Vec<Option<Account>>, ChainError> {
            self.stub.get_multiple_accounts(keys).await
        }
        async fn get_program_accounts(
            &self,
            program: &Pubkey,
            prefix: &[u8],
        ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
            self.stub.get_program_accounts(program, prefix).await
        }
        async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
            self.stub.latest_blockhash().await
        }
        async fn clock(&self) -> Result<Clock, ChainError> {
            self.stub.clock().await
        }
        async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
            self.stub.simulate(tx).await
        }
        async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
            self.stub.send(tx).await
        }
        async fn signature_statuses(
            &self,
            signatures: &[Signature],
        ) -> Result<Vec<Option<TxStatus>>, ChainError> {
            self.stub.signature_statuses(signatures).await
        }
        async fn recent_prioritization_fees(
            &self,
            accounts: &[Pubkey],
        ) -> Result<Vec<u64>, ChainError> {
            self.stub.recent_prioritization_fees(accounts).await
        }
        async fn subscribe_program(
            &self,
            _program: &Pubkey,
            _prefix: &[u8],
        ) -> Result<ProgramNotices, ChainError> {
            self.state
                .subscribed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self
                .state
                .cannot_push
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                return Err(ChainError::Rpc("no websocket endpoint configured".into()));
            }
            if self.state.refuse.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ChainError::Unavailable("websocket down".into()));
            }
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tx.send(ProgramNotice::Connected).unwrap();
            self.state.streams.lock().unwrap().push(tx);
            Ok(rx)
        }
    }

    fn notice(slot: u64, key: Pubkey, data: Vec<u8>) -> ProgramNotice {
        ProgramNotice::Account {
            slot,
            keyed: keyed(key, data),
        }
    }

    /// Runs discovery over `chain` with a reconcile interval of an hour, so everything
    /// a test sees between scans came through the push stream.
    fn spawn_discovery(
        chain: Arc<dyn Chain>,
    ) -> (
        SharedIndex,
        mpsc::Receiver<ThreadChanged>,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let index = shared_index();
        let (tx, rx) = mpsc::channel(64);
        let discovery = Discovery::new(chain, index.clone(), tx, Duration::from_secs(3_600));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(discovery.run(async move {
            let _ = stopped.await;
        }));
        (index, rx, stop, task)
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_applies_pushed_changes_between_scans_newest_first() {
        let stub = StubChain::new();
        stub.set_slot(10);
        let pushing = PushingStub::new(stub.clone());
        let chain = Arc::new(FaultyChain::new(pushing.clone(), 1));
        let (index, mut rx, stop, task) = spawn_discovery(chain.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            chain.forwarded(Op::GetProgramAccounts),
            1,
            "a scan at start"
        );
        assert_eq!(pushing.subscriptions(), 1);

        // A thread created after the scan arrives through the stream.
        let key = Pubkey::new_unique();
        let thread = ThreadFixture::new();
        pushing.push(notice(12, key, thread.data()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(drain(&mut rx), vec![key]);
        assert!(read_index(&index).contains(&key));

        // A newer state wins; an older one pushed late does not overwrite it.
        pushing.push(notice(14, key, thread.clone().exec_count(2).data()));
        pushing.push(notice(13, key, thread.clone().exec_count(1).data()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(drain(&mut rx), vec![key]);
        assert_eq!(read_index(&index).get(&key).unwrap().state.exec_count, 2);

        // Garbage is skipped; the thread closing (reassigned, emptied) removes it.
        let mut junk = Thread::DISCRIMINATOR.to_vec();
        junk.extend_from_slice(b"junk");
        pushing.push(notice(15, Pubkey::new_unique(), junk));
        pushing.push(ProgramNotice::Account {
            slot: 16,
            keyed: KeyedAccount {
                pubkey: key,
                account: Account::default(),
            },
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(drain(&mut rx), vec![key]);
        assert!(read_index(&index).is_empty());
        assert_eq!(chain.forwarded(Op::GetProgramAccounts), 1, "no scan needed");

        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_catches_up_with_a_scan_when_the_stream_comes_back() {
        let stub = StubChain::new();
        let pushing = PushingStub::new(stub.clone());
        let chain = Arc::new(FaultyChain::new(pushing.clone(), 1));
        let (index, mut rx, stop, task) = spawn_discovery(chain.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(chain.forwarded(Op::GetProgramAccounts), 1);

        // The node dropped the stream and re-established it: what happened while it was
        // down is only in a fresh scan, taken at once rather than at the next reconcile.
        let missed = Pubkey::new_unique();
        stub.set_slot(20);
        stub.set_thread(missed, ThreadFixture::new().data());
        pushing.push(ProgramNotice::Connected);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(chain.forwarded(Op::GetProgramAccounts), 2);
        assert_eq!(drain(&mut rx), vec![missed]);
        assert!(read_index(&index).contains(&missed));

        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_resubscribes_after_the_next_scan_when_the_stream_ends() {
        let stub = StubChain::new();
        let pushing = PushingStub::new(stub.clone());
        pushing
            .state
            .refuse
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let chain = Arc::new(FaultyChain::new(pushing.clone(), 1));
        let (index, mut rx, stop, task) = spawn_discovery(chain.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            pushing.subscriptions(),
            2,
            "at start, then after the first scan"
        );

        // Failed twice in a row: the next reconcile is skipped, the one after asks again,
        // and once up the stream is used.
        pushing
            .state
            .refuse
            .store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert_eq!(pushing.subscriptions(), 2, "backing off");
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert_eq!(pushing.subscriptions(), 3);
        let key = Pubkey::new_unique();
        pushing.push(notice(5, key, ThreadFixture::new().data()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(drain(&mut rx), vec![key]);

        // The stream ends: discovery carries on with scans and subscribes again after the
        // next one.
        pushing.end_stream();
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert_eq!(pushing.subscriptions(), 4);
        assert_eq!(chain.forwarded(Op::GetProgramAccounts), 4);
        assert!(read_index(&index).contains(&key));

        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_asks_a_refusing_endpoint_less_and_less_often() {
        let pushing = PushingStub::new(StubChain::new());
        pushing
            .state
            .refuse
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let chain = Arc::new(FaultyChain::new(pushing.clone(), 1));
        let (_index, _rx, stop, task) = spawn_discovery(chain.clone());
        // Scans at 0 h, 1 h, ... 7 h: asked at start, then after the 1st, 3rd and 7th.
        tokio::time::sleep(Duration::from_secs(7 * 3_600 + 1)).await;
        assert_eq!(chain.forwarded(Op::GetProgramAccounts), 8);
        assert_eq!(pushing.subscriptions(), 4);
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_does_not_ask_a_chain_that_cannot_push_again() {
        let pushing = PushingStub::new(StubChain::new());
        pushing
            .state
            .cannot_push
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let chain = Arc::new(FaultyChain::new(pushing.clone(), 1));
        let (_index, _rx, stop, task) = spawn_discovery(chain.clone());
        tokio::time::sleep(Duration::from_secs(3 * 3_600 + 1)).await;
        assert_eq!(chain.forwarded(Op::GetProgramAccounts), 4, "scans alone");
        assert_eq!(pushing.subscriptions(), 1);
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn discovery_scan_sets_the_threads_gauge() {
        let stub = StubChain::new();
        stub.set_thread(Pubkey::new_unique(), ThreadFixture::new().durable().data());
        stub.set_thread(Pubkey::new_unique(), ThreadFixture::new().data());
        stub.set_thread(Pubkey::new_unique(), ThreadFixture::new().data());
        let metrics = Metrics::new();
        let (tx, _rx) = mpsc::channel(8);
        let mut discovery =
            Discovery::new(Arc::new(stub), shared_index(), tx, Duration::from_secs(1))
                .with_metrics(metrics.clone());
        discovery.scan().await.unwrap();
        let text = metrics.render();
        assert!(
            text.contains("keeper_threads{durability=\"durable\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("keeper_threads{durability=\"non_durable\"} 2"),
            "{text}"
        );
    }
}
