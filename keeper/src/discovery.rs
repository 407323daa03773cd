//! [`Discovery`]: finds the thread program's accounts and keeps the shared
//! [`ThreadIndex`] in step with the chain, telling the scheduler which threads changed.
//!
//! Owns: the full scan (`getProgramAccounts` of the program, filtered by the `Thread`
//! discriminator) at start and on a reconcile interval; applying each scan to the index
//! (upserts at the scan's slot, removal of threads a complete scan no longer shows, with
//! [`ThreadIndex::remove`]'s "not newer" rule); one [`ThreadChanged`] per thread that was
//! inserted, changed or removed; logging invalid accounts (once per address, then at
//! debug); the `keeper_threads` gauge.
//!
//! Must not: decide when a thread is due (the scheduler's job), hold the index lock
//! across an await (the lock is a `std::sync::RwLock`, taken only to apply a scan that
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
//! Not done yet: the websocket `programSubscribe` path (changes between reconciles). Until
//! then a thread's new state reaches the scheduler at the next reconcile, unless the
//! executor refreshes the index itself after an execution.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anchor_lang::Discriminator;
use solana_sdk::pubkey::Pubkey;
use thread::state::Thread;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::chain::{Chain, ChainError, KeyedAccount};
use crate::index::{ThreadIndex, Upsert};
use crate::metrics::Metrics;

/// The index discovery writes and the scheduler and builder read.
pub type SharedIndex = Arc<RwLock<ThreadIndex>>;

/// A new shared index, empty.
pub fn shared_index() -> SharedIndex {
    Arc::new(RwLock::new(ThreadIndex::new()))
}

/// Read access that survives a panicked writer (the index is never left half-updated:
/// each upsert or removal is one map operation).
pub fn read_index(index: &SharedIndex) -> std::sync::RwLockReadGuard<'_, ThreadIndex> {
    index
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_index(index: &SharedIndex) -> std::sync::RwLockWriteGuard<'_, ThreadIndex> {
    index
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// Keeps the index in step with the chain (see the module docs).
pub struct Discovery {
    chain: Arc<dyn Chain>,
    index: SharedIndex,
    changes: mpsc::Sender<ThreadChanged>,
    reconcile_every: Duration,
    metrics: Option<Arc<Metrics>>,
    /// Slot of the newest complete scan so far.
    last_scan_slot: Option<u64>,
    /// Invalid accounts already logged at warn, with the reason logged.
    reported_invalid: HashMap<Pubkey, String>,
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
        }
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

    fn log_invalid(&mut self, report: &ScanReport) {
        let still: HashSet<Pubkey> = report.invalid.iter().map(|(k, _)| *k).collect();
        self.reported_invalid.retain(|key, _| still.contains(key));
        for (key, reason) in &report.invalid {
            if self.reported_invalid.get(key) == Some(reason) {
                tracing::debug!(account = %key, %reason, "invalid thread account (again)");
            } else {
                tracing::warn!(account = %key, %reason, "invalid thread account, skipped");
                self.reported_invalid.insert(*key, reason.clone());
            }
        }
    }

    /// Scans at once, then every reconcile interval, until `shutdown` resolves or the
    /// scheduler's end of the change channel is dropped. A scan in progress when
    /// `shutdown` resolves is abandoned (it only reads). Failed scans are logged and
    /// retried at the next interval.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        let mut ticks = tokio::time::interval_at(Instant::now(), self.reconcile_every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
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
        }
        tracing::debug!("discovery stopped");
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
    use crate::index::tests::ThreadFixture;

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
