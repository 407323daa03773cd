//! In-process exclusivity for the durable nonces the keeper may advance.
//!
//! Owns: which registered nonce account is currently being used by a transaction
//! build, for how long, and the nonce value last read from chain. One nonce value must
//! never be handed to two builds at once: the second transaction would fail with an
//! advanced nonce, or worse, race the first one. A build takes a [`NonceLease`] with
//! [`NoncePool::try_acquire`] (atomic: there is deliberately no "is it free?" check to
//! race against), keeps it until its transaction is broadcast, and gives it back by
//! [`NonceLease::release`] or simply by dropping it (RAII, so every error path returns
//! the nonce). A lease held longer than its TTL is reclaimed by
//! [`NoncePool::reclaim_expired`] (or the task from [`NoncePool::spawn_reclaimer`]);
//! the stale holder's later release or drop is then a no-op, guarded by a generation
//! number, so it can never free a later holder's lease.
//!
//! Must not: talk to the chain (callers read nonce accounts and report values with
//! [`NoncePool::set_value`] / [`NoncePool::invalidate`]), hold on-chain leases of nonce
//! authority (that is the keeper's lease bookkeeping elsewhere), or record metrics itself
//! (it reports each release, with the lease's age, to an optional [`LeaseObserver`]).

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::Duration;

use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use tokio::time::{Instant, MissedTickBehavior};

/// The lease TTL the keeper's configuration defaults to.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// How a lease came to an end, as reported to a [`LeaseObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseKind {
    /// [`NonceLease::release`] was called by the holder.
    Explicit,
    /// The lease was dropped while still the holder (used or not).
    Dropped,
    /// [`NoncePool::reclaim_expired`] took it back after its TTL.
    Reclaimed,
}

impl ReleaseKind {
    /// Stable label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Explicit => "explicit",
            ReleaseKind::Dropped => "dropped",
            ReleaseKind::Reclaimed => "reclaimed",
        }
    }
}

/// Told about every lease that ends while it still holds its nonce (a metrics module
/// records the lease-age histogram from it). Leases invalidated by
/// [`NoncePool::remove`] and stale leases whose release is a no-op are not reported.
///
/// Called without the pool's lock held, so it may call back into the pool; called from
/// `Drop`, so it must not block. A panic in it is caught and logged.
pub trait LeaseObserver: Send + Sync {
    fn lease_released(&self, nonce: &Pubkey, age: Duration, how: ReleaseKind);
}

/// Why an explicit [`NonceLease::release`] did not return the nonce.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LeaseError {
    /// The lease outlived its TTL and was reclaimed; the nonce had already gone back to
    /// the pool (and may now be held by someone else).
    #[error("nonce lease expired and was reclaimed")]
    Expired,
    /// The nonce was removed from the pool ([`NoncePool::remove`]) while leased.
    #[error("nonce was removed from the pool while leased")]
    Removed,
}

impl LeaseError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            LeaseError::Expired => "expired",
            LeaseError::Removed => "removed",
        }
    }
}

/// The pool of nonce accounts the keeper may use. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct NoncePool {
    inner: Arc<Inner>,
}

struct Inner {
    default_ttl: Duration,
    state: Mutex<State>,
}

struct State {
    slots: HashMap<Pubkey, Slot>,
    /// Source of registration and lease ids; never reused, so a stale lease cannot match
    /// a later holder or a re-registered nonce.
    next_generation: u64,
    observer: Option<Arc<dyn LeaseObserver>>,
}

struct Slot {
    /// Generation at which this nonce was (last) registered; a lease from an earlier
    /// registration is [`LeaseError::Removed`].
    registration: u64,
    authority: Pubkey,
    value: Option<Hash>,
    holder: Option<Holder>,
}

#[derive(Clone, Copy)]
struct Holder {
    generation: u64,
    acquired_at: Instant,
    ttl: Duration,
}

impl State {
    fn next_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }
}

/// `age >= ttl`: a lease is good for `[acquired_at, acquired_at + ttl)`.
fn is_past_ttl(acquired_at: Instant, ttl: Duration, now: Instant) -> bool {
    now.saturating_duration_since(acquired_at) >= ttl
}

impl Inner {
    /// The state, even if a thread panicked while holding the lock: every mutation is a
    /// single field assignment, so the map is never left half-updated.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

fn notify(
    observer: Option<Arc<dyn LeaseObserver>>,
    nonce: &Pubkey,
    age: Duration,
    how: ReleaseKind,
) {
    if let Some(observer) = observer {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            observer.lease_released(nonce, age, how)
        }));
        if outcome.is_err() {
            tracing::error!(nonce = %nonce, how = how.as_str(), "lease observer panicked");
        }
    }
}

impl NoncePool {
    /// An empty pool whose leases last `default_ttl` unless acquired with another TTL.
    pub fn new(default_ttl: Duration) -> Self {
        NoncePool {
            inner: Arc::new(Inner {
                default_ttl,
                state: Mutex::new(State {
                    slots: HashMap::new(),
                    next_generation: 0,
                    observer: None,
                }),
            }),
        }
    }

    /// Reports every release to `obs` (replacing any earlier observer; clones of this
    /// pool share it).
    pub fn with_observer(self, obs: Arc<dyn LeaseObserver>) -> Self {
        self.inner.lock().observer = Some(obs);
        self
    }

    /// The TTL of leases taken with [`NoncePool::try_acquire`].
    pub fn default_ttl(&self) -> Duration {
        self.inner.default_ttl
    }

    /// Registers (or updates the authority of) a nonce account the keeper may use; its
    /// value is unknown until [`NoncePool::set_value`]. Updating keeps the cached value
    /// and any current lease.
    pub fn insert(&self, nonce: Pubkey, authority: Pubkey) {
        let mut state = self.inner.lock();
        if let Some(slot) = state.slots.get_mut(&nonce) {
            slot.authority = authority;
            return;
        }
        let registration = state.next_generation();
        state.slots.insert(
            nonce,
            Slot {
                registration,
                authority,
                value: None,
                holder: None,
            },
        );
    }

    /// Forgets a nonce (lease given up); a live [`NonceLease`] on it becomes invalid
    /// (`is_valid()` false) and its drop is a no-op. Returns whether it was registered.
    pub fn remove(&self, nonce: &Pubkey) -> bool {
        let removed = self.inner.lock().slots.remove(nonce);
        if let Some(Slot {
            holder: Some(_), ..
        }) = removed
        {
            tracing::debug!(nonce = %nonce, "nonce removed from the pool while leased");
        }
        removed.is_some()
    }

    /// Caches the nonce value read from chain (ignored for an unregistered nonce).
    pub fn set_value(&self, nonce: &Pubkey, value: Hash) {
        if let Some(slot) = self.inner.lock().slots.get_mut(nonce) {
            slot.value = Some(value);
        }
    }

    /// Clears the cached value (after the nonce advanced).
    pub fn invalidate(&self, nonce: &Pubkey) {
        if let Some(slot) = self.inner.lock().slots.get_mut(nonce) {
            slot.value = None;
        }
    }

    /// Says `nonce` may have advanced where no lease of this pool saw it: a stored
    /// transaction on it was resent, or the chain refused a simulation anchored on the
    /// cached value. The next build on it reads the value from the chain.
    pub fn may_have_advanced(&self, nonce: &Pubkey) {
        self.invalidate(nonce);
    }

    /// Hands back the nonce of an execution that was sent, or may have been: landed,
    /// failed on chain, unanswered or timed out, its transaction may have advanced the
    /// nonce, so the cached value goes too and the next build reads it from the chain.
    /// `Err` when the lease had already ended (reclaimed after its TTL, or the nonce left
    /// the pool): nothing was freed then, and the nonce may be another build's by now.
    pub fn hand_back_after_send(&self, lease: NonceLease) -> Result<(), LeaseError> {
        debug_assert!(
            Arc::ptr_eq(&lease.pool, &self.inner),
            "a lease of another pool"
        );
        self.invalidate(&lease.nonce());
        lease.release()
    }

    /// The cached nonce value, if registered and known.
    pub fn cached_value(&self, nonce: &Pubkey) -> Option<Hash> {
        self.inner
            .lock()
            .slots
            .get(nonce)
            .and_then(|slot| slot.value)
    }

    /// Whether `nonce` is registered.
    pub fn contains(&self, nonce: &Pubkey) -> bool {
        self.inner.lock().slots.contains_key(nonce)
    }

    /// Atomically takes `nonce` if registered and free, for the default TTL; `None`
    /// otherwise. No separate availability check exists on purpose: it would be stale
    /// by the time it was acted on. A lease past its TTL still holds its nonce until it
    /// is reclaimed.
    pub fn try_acquire(&self, nonce: &Pubkey) -> Option<NonceLease> {
        self.try_acquire_with_ttl(nonce, self.inner.default_ttl)
    }

    /// [`NoncePool::try_acquire`] with a TTL for this lease.
    pub fn try_acquire_with_ttl(&self, nonce: &Pubkey, ttl: Duration) -> Option<NonceLease> {
        let mut state = self.inner.lock();
        self.take(&mut state, nonce, ttl)
    }

    /// Takes any free registered nonce for the default TTL (no fairness guarantee).
    pub fn try_acquire_any(&self) -> Option<NonceLease> {
        let mut state = self.inner.lock();
        let nonce = state
            .slots
            .iter()
            .find(|(_, slot)| slot.holder.is_none())
            .map(|(nonce, _)| *nonce)?;
        self.take(&mut state, &nonce, self.inner.default_ttl)
    }

    /// The one place a nonce becomes held: under the lock, only if registered and free.
    fn take(&self, state: &mut State, nonce: &Pubkey, ttl: Duration) -> Option<NonceLease> {
        let generation = state.next_generation + 1;
        let slot = state.slots.get_mut(nonce)?;
        if slot.holder.is_some() {
            return None;
        }
        let acquired_at = Instant::now();
        slot.holder = Some(Holder {
            generation,
            acquired_at,
            ttl,
        });
        let lease = NonceLease {
            pool: Arc::clone(&self.inner),
            nonce: *nonce,
            authority: slot.authority,
            registration: slot.registration,
            generation,
            acquired_at,
            ttl,
            used: false,
            finished: false,
        };
        state.next_generation = generation;
        Some(lease)
    }

    /// Frees leases whose age has reached their TTL (their holders' later release or
    /// drop is then a no-op) and returns how many. Uses `tokio::time::Instant`, so it
    /// follows paused test time.
    pub fn reclaim_expired(&self) -> usize {
        let now = Instant::now();
        let (reclaimed, observer) = {
            let mut state = self.inner.lock();
            let mut reclaimed = Vec::new();
            for (nonce, slot) in state.slots.iter_mut() {
                if let Some(holder) = slot.holder {
                    if is_past_ttl(holder.acquired_at, holder.ttl, now) {
                        slot.holder = None;
                        reclaimed.push((*nonce, holder));
                    }
                }
            }
            (reclaimed, state.observer.clone())
        };
        for (nonce, holder) in &reclaimed {
            let age = now.saturating_duration_since(holder.acquired_at);
            tracing::warn!(
                nonce = %nonce,
                age_ms = age.as_millis() as u64,
                ttl_ms = holder.ttl.as_millis() as u64,
                "reclaimed expired nonce lease"
            );
            notify(observer.clone(), nonce, age, ReleaseKind::Reclaimed);
        }
        reclaimed.len()
    }

    /// Spawns a task calling [`NoncePool::reclaim_expired`] every `every` (at least
    /// 1 ms) until `shutdown` completes or the pool is dropped. Must be called within a
    /// tokio runtime.
    pub fn spawn_reclaimer(
        &self,
        every: Duration,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let pool: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = every.max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = ticks.tick() => {
                        let Some(inner) = pool.upgrade() else { break };
                        NoncePool { inner }.reclaim_expired();
                    }
                }
            }
            tracing::debug!("nonce lease reclaimer stopped");
        })
    }

    /// How many nonces are registered.
    pub fn len(&self) -> usize {
        self.inner.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().slots.is_empty()
    }

    /// How many registered nonces are not leased (expired but unreclaimed leases count
    /// as held). For metrics and tests only: acting on it would race; use
    /// [`NoncePool::try_acquire`].
    pub fn available(&self) -> usize {
        self.inner
            .lock()
            .slots
            .values()
            .filter(|slot| slot.holder.is_none())
            .count()
    }
}

impl fmt::Debug for NoncePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        let leased = state.slots.values().filter(|s| s.holder.is_some()).count();
        f.debug_struct("NoncePool")
            .field("default_ttl", &self.inner.default_ttl)
            .field("len", &state.slots.len())
            .field("leased", &leased)
            .finish()
    }
}

/// Exclusive use of one nonce for one transaction build, until released, dropped,
/// reclaimed after its TTL, or invalidated by [`NoncePool::remove`].
///
/// Dropping it returns the nonce (so error paths need no cleanup) and warns unless the
/// lease was [released](NonceLease::release) or [marked used](NonceLease::mark_used).
#[must_use = "a nonce lease returns its nonce to the pool when dropped"]
pub struct NonceLease {
    pool: Arc<Inner>,
    nonce: Pubkey,
    authority: Pubkey,
    registration: u64,
    generation: u64,
    acquired_at: Instant,
    ttl: Duration,
    used: bool,
    /// Set once the release has been attempted, so `Drop` does nothing more.
    finished: bool,
}

impl NonceLease {
    /// The nonce account.
    pub fn nonce(&self) -> Pubkey {
        self.nonce
    }

    /// The nonce authority: the current one while the lease is valid (an
    /// [`NoncePool::insert`] may have updated it), else the one at acquisition.
    pub fn authority(&self) -> Pubkey {
        let state = self.pool.lock();
        match state.slots.get(&self.nonce) {
            Some(slot) if self.holds(slot) => slot.authority,
            _ => self.authority,
        }
    }

    /// The pool's current cached value of this nonce; `None` if unknown, invalidated,
    /// or this lease is no longer valid (a stale holder must not build with it).
    pub fn cached_value(&self) -> Option<Hash> {
        let state = self.pool.lock();
        state
            .slots
            .get(&self.nonce)
            .filter(|slot| self.holds(slot))
            .and_then(|slot| slot.value)
    }

    pub fn acquired_at(&self) -> Instant {
        self.acquired_at
    }

    /// Time since acquisition (tokio time, so paused test time applies).
    pub fn age(&self) -> Duration {
        Instant::now().saturating_duration_since(self.acquired_at)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether the lease's age has reached its TTL (whether or not it was reclaimed yet).
    pub fn is_expired(&self) -> bool {
        is_past_ttl(self.acquired_at, self.ttl, Instant::now())
    }

    /// Still the current holder (not reclaimed or removed).
    pub fn is_valid(&self) -> bool {
        let state = self.pool.lock();
        state
            .slots
            .get(&self.nonce)
            .is_some_and(|slot| self.holds(slot))
    }

    /// Marks the lease as used (e.g. its transaction was broadcast) so that dropping it
    /// does not warn; it is still released on drop.
    pub fn mark_used(&mut self) {
        self.used = true;
    }

    /// Whether [`NonceLease::mark_used`] was called.
    pub fn is_used(&self) -> bool {
        self.used
    }

    /// Explicit release. `Err(Expired)` if it had been reclaimed, `Err(Removed)` if the
    /// nonce left the pool: the resource was already returned either way. Never
    /// double-frees.
    pub fn release(mut self) -> Result<(), LeaseError> {
        self.finished = true;
        self.finish(ReleaseKind::Explicit).map(|_| ())
    }

    fn holds(&self, slot: &Slot) -> bool {
        slot.registration == self.registration
            && slot.holder.is_some_and(|h| h.generation == self.generation)
    }

    /// Frees the nonce if this lease still holds it and reports the release; returns the
    /// lease's age. Never panics (a poisoned lock is tolerated, observer panics caught).
    fn finish(&self, how: ReleaseKind) -> Result<Duration, LeaseError> {
        let now = Instant::now();
        let observer = {
            let mut state = self.pool.lock();
            let slot = match state.slots.get_mut(&self.nonce) {
                Some(slot) if slot.registration == self.registration => slot,
                _ => return Err(LeaseError::Removed),
            };
            match slot.holder {
                Some(holder) if holder.generation == self.generation => slot.holder = None,
                _ => return Err(LeaseError::Expired),
            }
            state.observer.clone()
        };
        let age = now.saturating_duration_since(self.acquired_at);
        notify(observer, &self.nonce, age, how);
        Ok(age)
    }
}

impl Drop for NonceLease {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        match self.finish(ReleaseKind::Dropped) {
            Ok(age) if !self.used => tracing::warn!(
                nonce = %self.nonce,
                age_ms = age.as_millis() as u64,
                "nonce lease dropped without release() or mark_used()"
            ),
            Ok(_) => {}
            Err(err) => tracing::debug!(
                nonce = %self.nonce,
                reason = err.kind(),
                "stale nonce lease dropped; nothing to release"
            ),
        }
    }
}

impl fmt::Debug for NonceLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceLease")
            .field("nonce", &self.nonce)
            .field("generation", &self.generation)
            .field("acquired_at", &self.acquired_at)
            .field("ttl", &self.ttl)
            .field("used", &self.used)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts releases by kind and keeps every reported `(nonce, age, kind)`.
    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<(Pubkey, Duration, ReleaseKind)>>,
    }

    impl Recorder {
        fn events(&self) -> Vec<(Pubkey, Duration, ReleaseKind)> {
            self.events.lock().clone()
        }

        fn count(&self, kind: ReleaseKind) -> usize {
            self.events().iter().filter(|e| e.2 == kind).count()
        }
    }

    impl LeaseObserver for Recorder {
        fn lease_released(&self, nonce: &Pubkey, age: Duration, how: ReleaseKind) {
            self.events.lock().push((*nonce, age, how));
        }
    }

    /// A pool of `n` registered nonces, with a recording observer.
    fn pool_with(n: usize, ttl: Duration) -> (NoncePool, Vec<Pubkey>, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let pool = NoncePool::new(ttl).with_observer(recorder.clone());
        let nonces: Vec<Pubkey> = (0..n).map(|_| Pubkey::new_unique()).collect();
        for nonce in &nonces {
            pool.insert(*nonce, Pubkey::new_unique());
        }
        (pool, nonces, recorder)
    }

    /// WARN-and-above log lines written while `f` runs on this thread.
    fn captured_warnings<R>(f: impl FnOnce() -> R) -> (R, String) {
        crate::test_utils::logs::CapturedLogs::during(tracing::Level::WARN, f)
    }

    const UNUSED_WARNING: &str = "dropped without release() or mark_used()";

    #[test]
    fn pool_and_lease_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<NoncePool>();
        assert_send_sync::<NonceLease>();
    }

    #[test]
    fn acquire_unknown_nonce_returns_none() {
        let (pool, _, _) = pool_with(2, DEFAULT_LEASE_TTL);
        assert!(pool.try_acquire(&Pubkey::new_unique()).is_none());
        assert_eq!(pool.available(), 2);
        assert!(NoncePool::new(DEFAULT_LEASE_TTL)
            .try_acquire_any()
            .is_none());
    }

    #[test]
    fn held_nonce_cannot_be_acquired_until_released() {
        let (pool, nonces, recorder) = pool_with(1, DEFAULT_LEASE_TTL);
        let lease = pool.try_acquire(&nonces[0]).expect("free nonce");
        assert_eq!(lease.nonce(), nonces[0]);
        assert!(lease.is_valid());
        assert!(pool.try_acquire(&nonces[0]).is_none());
        assert!(pool.try_acquire_any().is_none());
        assert_eq!(pool.available(), 0);

        assert_eq!(lease.release(), Ok(()));
        assert_eq!(pool.available(), 1);
        assert_eq!(recorder.count(ReleaseKind::Explicit), 1);
        assert!(pool.try_acquire(&nonces[0]).is_some());
    }

    #[test]
    fn acquire_any_hands_out_each_nonce_once_then_none() {
        let (pool, nonces, _) = pool_with(4, DEFAULT_LEASE_TTL);
        let mut leases: Vec<NonceLease> = (0..4).map(|_| pool.try_acquire_any().unwrap()).collect();
        let mut taken: Vec<Pubkey> = leases.iter().map(NonceLease::nonce).collect();
        taken.sort();
        let mut expected = nonces.clone();
        expected.sort();
        assert_eq!(taken, expected);
        assert!(pool.try_acquire_any().is_none());
        for lease in &mut leases {
            lease.mark_used();
        }
        drop(leases);
        assert_eq!(pool.available(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn lease_expires_after_default_ttl_and_is_reclaimed() {
        let (pool, nonces, recorder) = pool_with(1, DEFAULT_LEASE_TTL);
        assert_eq!(pool.default_ttl(), Duration::from_secs(30));
        let stale = pool.try_acquire(&nonces[0]).unwrap();
        assert_eq!(stale.ttl(), Duration::from_secs(30));

        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(!stale.is_expired());
        assert_eq!(pool.reclaim_expired(), 0);
        assert!(stale.is_valid());

        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(stale.is_expired());
        assert!(
            stale.is_valid(),
            "expired but not reclaimed yet still holds"
        );
        assert!(pool.try_acquire(&nonces[0]).is_none());

        assert_eq!(pool.reclaim_expired(), 1);
        assert!(!stale.is_valid());
        assert_eq!(pool.available(), 1);
        assert_eq!(
            recorder.events(),
            vec![(nonces[0], Duration::from_secs(31), ReleaseKind::Reclaimed)]
        );

        let mut fresh = pool
            .try_acquire(&nonces[0])
            .expect("reclaimed nonce is free");
        assert!(fresh.is_valid());
        assert_eq!(stale.release(), Err(LeaseError::Expired));
        assert!(
            fresh.is_valid(),
            "stale release must not free the new holder"
        );
        assert_eq!(pool.available(), 0);
        fresh.mark_used();
        drop(fresh);
        assert_eq!(pool.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_lease_drop_does_not_free_new_holder() {
        let (pool, nonces, recorder) = pool_with(1, Duration::from_secs(5));
        let stale = pool.try_acquire(&nonces[0]).unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(stale.is_expired());
        assert_eq!(pool.reclaim_expired(), 1);

        let fresh = pool.try_acquire(&nonces[0]).unwrap();
        assert!(stale.cached_value().is_none());
        drop(stale);
        assert!(fresh.is_valid());
        assert_eq!(pool.available(), 0);
        assert!(pool.try_acquire(&nonces[0]).is_none());
        assert_eq!(recorder.count(ReleaseKind::Dropped), 0);
        assert_eq!(fresh.release(), Ok(()));
        assert_eq!(pool.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn custom_ttl_applies_to_one_lease() {
        let (pool, nonces, _) = pool_with(2, DEFAULT_LEASE_TTL);
        let short = pool
            .try_acquire_with_ttl(&nonces[0], Duration::from_secs(1))
            .unwrap();
        let long = pool.try_acquire(&nonces[1]).unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(short.is_expired());
        assert!(!long.is_expired());
        assert_eq!(pool.reclaim_expired(), 1);
        assert!(!short.is_valid());
        assert!(long.is_valid());
        assert_eq!(long.release(), Ok(()));
        assert_eq!(short.release(), Err(LeaseError::Expired));
    }

    #[tokio::test(start_paused = true)]
    async fn reclaimer_task_reclaims_in_paused_time_and_stops_on_shutdown() {
        let (pool, nonces, recorder) = pool_with(2, Duration::from_secs(5));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let reclaimer = pool.spawn_reclaimer(Duration::from_secs(1), async move {
            let _ = stopped.await;
        });

        let lease = pool.try_acquire(&nonces[0]).unwrap();
        tokio::time::sleep(Duration::from_millis(4_500)).await;
        assert!(lease.is_valid());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!lease.is_valid(), "reclaimer should have freed the lease");
        assert_eq!(pool.available(), 2);
        assert_eq!(recorder.count(ReleaseKind::Reclaimed), 1);

        stop.send(()).unwrap();
        reclaimer.await.expect("reclaimer exits cleanly");

        // No longer running: an expired lease now stays held.
        let held = pool.try_acquire(&nonces[1]).unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(held.is_expired());
        assert!(held.is_valid());
        assert_eq!(recorder.count(ReleaseKind::Reclaimed), 1);
        assert_eq!(held.release(), Ok(()));
        drop(lease);
    }

    #[tokio::test(start_paused = true)]
    async fn reclaimer_task_stops_when_pool_is_dropped() {
        let pool = NoncePool::new(DEFAULT_LEASE_TTL);
        let reclaimer = pool.spawn_reclaimer(Duration::from_secs(1), std::future::pending());
        drop(pool);
        tokio::time::timeout(Duration::from_secs(10), reclaimer)
            .await
            .expect("reclaimer notices the pool is gone")
            .unwrap();
    }

    #[test]
    fn remove_invalidates_live_lease_and_its_drop_is_a_no_op() {
        let (pool, nonces, recorder) = pool_with(2, DEFAULT_LEASE_TTL);
        let (removed, text) = captured_warnings(|| {
            let removed = pool.try_acquire(&nonces[0]).unwrap();
            assert!(pool.remove(&nonces[0]));
            assert!(!pool.remove(&nonces[0]));
            assert!(!removed.is_valid());
            assert_eq!(pool.len(), 1);
            assert!(pool.try_acquire(&nonces[0]).is_none());

            // Re-registering gives a new slot the old lease cannot touch.
            pool.insert(nonces[0], Pubkey::new_unique());
            let fresh = pool.try_acquire(&nonces[0]).unwrap();
            let dropped = pool.try_acquire(&nonces[1]).unwrap();
            drop(dropped);
            let removed_again = pool.try_acquire(&nonces[1]).unwrap();
            pool.remove(&nonces[1]);
            drop(removed_again);
            assert!(fresh.is_valid());
            assert_eq!(fresh.release(), Ok(()));
            removed
        });
        assert_eq!(removed.release(), Err(LeaseError::Removed));
        assert_eq!(text.matches(UNUSED_WARNING).count(), 1, "{text}");
        assert_eq!(recorder.count(ReleaseKind::Dropped), 1);
        assert_eq!(recorder.count(ReleaseKind::Explicit), 1);
        assert_eq!(pool.available(), 1);
    }

    #[test]
    fn values_are_cached_invalidated_and_seen_by_the_lease() {
        let (pool, nonces, _) = pool_with(1, DEFAULT_LEASE_TTL);
        let value = Hash::new_from_array([7; 32]);
        assert_eq!(pool.cached_value(&nonces[0]), None);
        pool.set_value(&nonces[0], value);
        assert_eq!(pool.cached_value(&nonces[0]), Some(value));

        let mut lease = pool.try_acquire(&nonces[0]).unwrap();
        assert_eq!(lease.cached_value(), Some(value));
        pool.invalidate(&nonces[0]);
        assert_eq!(lease.cached_value(), None);
        assert_eq!(pool.cached_value(&nonces[0]), None);
        let next = Hash::new_from_array([8; 32]);
        pool.set_value(&nonces[0], next);
        assert_eq!(lease.cached_value(), Some(next));
        lease.mark_used();

        let unknown = Pubkey::new_unique();
        pool.set_value(&unknown, value);
        assert_eq!(pool.cached_value(&unknown), None);
        assert!(!pool.contains(&unknown));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sent_executions_nonce_comes_back_without_its_cached_value() {
        let (pool, nonces, recorder) = pool_with(1, Duration::from_secs(5));
        let value = Hash::new_from_array([7; 32]);
        pool.set_value(&nonces[0], value);
        let mut lease = pool.try_acquire(&nonces[0]).unwrap();
        lease.mark_used();
        assert_eq!(pool.hand_back_after_send(lease), Ok(()));
        assert_eq!(pool.available(), 1);
        assert_eq!(
            pool.cached_value(&nonces[0]),
            None,
            "the send may have moved it"
        );
        assert_eq!(recorder.count(ReleaseKind::Explicit), 1);

        // Reclaimed while its transaction was out: handing it back frees nothing of the
        // next holder's, and still drops the value the old transaction may have moved.
        let stale = pool.try_acquire(&nonces[0]).unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(pool.reclaim_expired(), 1);
        let next = pool.try_acquire(&nonces[0]).unwrap();
        pool.set_value(&nonces[0], value);
        assert_eq!(pool.hand_back_after_send(stale), Err(LeaseError::Expired));
        assert!(next.is_valid());
        assert_eq!(pool.available(), 0);
        assert_eq!(next.cached_value(), None);
        assert_eq!(next.release(), Ok(()));
    }

    #[test]
    fn a_nonce_that_may_have_advanced_is_read_afresh() {
        let (pool, nonces, _) = pool_with(1, DEFAULT_LEASE_TTL);
        pool.set_value(&nonces[0], Hash::new_from_array([7; 32]));
        pool.may_have_advanced(&nonces[0]);
        assert_eq!(pool.cached_value(&nonces[0]), None);
        let lease = pool.try_acquire(&nonces[0]).unwrap();
        assert_eq!(lease.cached_value(), None);
        assert_eq!(lease.release(), Ok(()));
    }

    #[test]
    fn insert_updates_authority_without_freeing_the_holder() {
        let pool = NoncePool::new(DEFAULT_LEASE_TTL);
        let (nonce, first, second) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        pool.insert(nonce, first);
        pool.set_value(&nonce, Hash::new_from_array([1; 32]));
        let lease = pool.try_acquire(&nonce).unwrap();
        assert_eq!(lease.authority(), first);
        pool.insert(nonce, second);
        assert_eq!(pool.len(), 1);
        assert!(lease.is_valid());
        assert_eq!(lease.authority(), second);
        assert!(lease.cached_value().is_some(), "re-insert keeps the value");
        assert!(pool.try_acquire(&nonce).is_none());
        assert_eq!(lease.release(), Ok(()));
        assert!(!pool.is_empty());
    }

    #[derive(Debug, PartialEq)]
    struct BuildFailed;

    fn sign_step(_lease: &NonceLease) -> Result<(), BuildFailed> {
        Err(BuildFailed)
    }

    /// A build that takes a lease and fails half way; `?` drops the lease.
    fn failing_build(pool: &NoncePool) -> Result<Vec<u8>, BuildFailed> {
        let lease = pool.try_acquire_any().ok_or(BuildFailed)?;
        sign_step(&lease)?;
        Ok(lease.nonce().to_bytes().to_vec())
    }

    #[test]
    fn build_error_releases_the_lease_by_drop() {
        let (pool, _, recorder) = pool_with(1, DEFAULT_LEASE_TTL);
        for _ in 0..3 {
            assert_eq!(failing_build(&pool), Err(BuildFailed));
            assert_eq!(pool.available(), 1);
        }
        assert_eq!(recorder.count(ReleaseKind::Dropped), 3);
    }

    #[test]
    fn drop_warns_only_when_unused() {
        let (pool, nonces, recorder) = pool_with(1, DEFAULT_LEASE_TTL);
        let ((), unused) = captured_warnings(|| drop(pool.try_acquire(&nonces[0]).unwrap()));
        assert_eq!(unused.matches(UNUSED_WARNING).count(), 1, "{unused}");
        assert!(unused.contains(&nonces[0].to_string()), "{unused}");

        let ((), used) = captured_warnings(|| {
            let mut lease = pool.try_acquire(&nonces[0]).unwrap();
            lease.mark_used();
            assert!(lease.is_used());
        });
        assert_eq!(used, "");

        let ((), released) =
            captured_warnings(|| pool.try_acquire(&nonces[0]).unwrap().release().unwrap());
        assert_eq!(released, "");

        assert_eq!(recorder.count(ReleaseKind::Dropped), 2);
        assert_eq!(recorder.count(ReleaseKind::Explicit), 1);
        assert_eq!(pool.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn observer_gets_exact_age_and_kind() {
        let (pool, nonces, recorder) = pool_with(3, Duration::from_secs(10));
        let explicit = pool.try_acquire(&nonces[0]).unwrap();
        let mut dropped = pool.try_acquire(&nonces[1]).unwrap();
        let reclaimed = pool.try_acquire(&nonces[2]).unwrap();

        tokio::time::advance(Duration::from_millis(1_250)).await;
        assert_eq!(explicit.age(), Duration::from_millis(1_250));
        explicit.release().unwrap();
        tokio::time::advance(Duration::from_millis(750)).await;
        dropped.mark_used();
        drop(dropped);
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(pool.reclaim_expired(), 1);
        drop(reclaimed);

        assert_eq!(
            recorder.events(),
            vec![
                (
                    nonces[0],
                    Duration::from_millis(1_250),
                    ReleaseKind::Explicit
                ),
                (nonces[1], Duration::from_secs(2), ReleaseKind::Dropped),
                (nonces[2], Duration::from_secs(10), ReleaseKind::Reclaimed),
            ]
        );
    }

    #[test]
    fn drop_tolerates_a_panic_under_the_lock_and_a_panicking_observer() {
        struct Panics;
        impl LeaseObserver for Panics {
            fn lease_released(&self, _: &Pubkey, _: Duration, _: ReleaseKind) {
                panic!("observer bug");
            }
        }
        let pool = NoncePool::new(DEFAULT_LEASE_TTL).with_observer(Arc::new(Panics));
        let nonce = Pubkey::new_unique();
        pool.insert(nonce, Pubkey::new_unique());
        let lease = pool.try_acquire(&nonce).unwrap();

        let inner = Arc::clone(&pool.inner);
        let poisoned = std::thread::spawn(move || {
            let _guard = inner.state.lock();
            panic!("panic while holding the pool's lock");
        })
        .join();
        assert!(poisoned.is_err());
        assert!(!pool.inner.state.is_locked(), "the panic released the lock");

        drop(lease);
        assert_eq!(pool.available(), 1);
        let again = pool.try_acquire(&nonce).unwrap();
        assert_eq!(again.release(), Ok(()));
    }

    /// Index of each nonce, for the per-nonce live-holder counters.
    fn index_of(nonces: &[Pubkey]) -> Arc<HashMap<Pubkey, usize>> {
        Arc::new(nonces.iter().enumerate().map(|(i, n)| (*n, i)).collect())
    }

    /// One build: take a nonce (any, or a specific one), count it as live (never more
    /// than one holder), yield while "building", then end the lease one of four ways.
    async fn contended_build(
        seed: u64,
        pool: NoncePool,
        nonces: Arc<Vec<Pubkey>>,
        index: Arc<HashMap<Pubkey, usize>>,
        live: Arc<Vec<AtomicUsize>>,
        acquired: Arc<AtomicUsize>,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        for _ in 0..3 {
            let lease = if rng.random_bool(0.5) {
                pool.try_acquire_any()
            } else {
                pool.try_acquire(&nonces[rng.random_range(0..nonces.len())])
            };
            let Some(mut lease) = lease else {
                tokio::task::yield_now().await;
                continue;
            };
            acquired.fetch_add(1, Ordering::Relaxed);
            let slot = &live[index[&lease.nonce()]];
            let before = slot.fetch_add(1, Ordering::SeqCst);
            assert_eq!(before, 0, "nonce {} handed out twice", lease.nonce());
            for _ in 0..rng.random_range(0..3) {
                tokio::task::yield_now().await;
            }
            assert!(lease.is_valid());
            // The holder stops counting itself before the nonce can go to anyone else.
            slot.fetch_sub(1, Ordering::SeqCst);
            match rng.random_range(0..4) {
                0 => drop(lease),
                1 => assert_eq!(finish_build(lease), Err(BuildFailed)),
                2 => lease.release().expect("no TTL expiry in this test"),
                _ => lease.mark_used(),
            }
        }
    }

    /// The rest of a build, which fails while owning the lease.
    fn finish_build(lease: NonceLease) -> Result<(), BuildFailed> {
        sign_step(&lease)?;
        drop(lease);
        Ok(())
    }

    async fn run_contention(base_seed: u64, tasks: u64) -> usize {
        let (pool, nonces, recorder) = pool_with(4, DEFAULT_LEASE_TTL);
        let nonces = Arc::new(nonces);
        let index = index_of(&nonces);
        let live: Arc<Vec<AtomicUsize>> = Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
        let acquired = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                tokio::spawn(contended_build(
                    base_seed.wrapping_add(i),
                    pool.clone(),
                    nonces.clone(),
                    index.clone(),
                    live.clone(),
                    acquired.clone(),
                ))
            })
            .collect();
        for handle in handles {
            handle.await.expect("no task saw a double allocation");
        }
        assert_eq!(pool.available(), pool.len(), "a lease leaked");
        assert!(live.iter().all(|l| l.load(Ordering::SeqCst) == 0));
        let acquired = acquired.load(Ordering::SeqCst);
        assert_eq!(
            recorder.events().len(),
            acquired,
            "every lease reported once"
        );
        assert_eq!(recorder.count(ReleaseKind::Reclaimed), 0);
        acquired
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_acquisition_never_double_allocates_multi_thread() {
        let acquired = run_contention(0x5eed, 10_000).await;
        assert!(acquired > 0);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn concurrent_acquisition_never_double_allocates_current_thread() {
        let acquired = run_contention(42, 10_000).await;
        assert!(acquired > 4, "contention should still let builds through");
    }

    /// Seeded random sequences of acquire / release / drop / mark_used / expiry /
    /// reclaim / remove+insert, checked after every step against the invariant that a
    /// nonce has at most one valid lease and that free + validly held == registered.
    #[tokio::test(start_paused = true)]
    async fn seeded_operation_sequences_keep_the_pool_consistent() {
        for seed in 0..50u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let (pool, nonces, recorder) = pool_with(4, Duration::from_secs(30));
            let mut leases: Vec<NonceLease> = Vec::new();
            for step in 0..300 {
                match rng.random_range(0..10) {
                    0..=2 => leases.extend(pool.try_acquire_any()),
                    3 => {
                        let nonce = nonces[rng.random_range(0..nonces.len())];
                        let ttl = Duration::from_secs(rng.random_range(1..40));
                        leases.extend(pool.try_acquire_with_ttl(&nonce, ttl));
                    }
                    4 if !leases.is_empty() => {
                        let lease = leases.swap_remove(rng.random_range(0..leases.len()));
                        let valid = lease.is_valid();
                        assert_eq!(lease.release().is_ok(), valid, "seed {seed} step {step}");
                    }
                    5 if !leases.is_empty() => {
                        let mut lease = leases.swap_remove(rng.random_range(0..leases.len()));
                        if rng.random_bool(0.5) {
                            lease.mark_used();
                        }
                    }
                    6 => {
                        let secs = rng.random_range(0..20);
                        tokio::time::advance(Duration::from_secs(secs)).await;
                    }
                    7 => {
                        let expired_valid = leases
                            .iter()
                            .filter(|l| l.is_valid() && l.is_expired())
                            .count();
                        assert_eq!(
                            pool.reclaim_expired(),
                            expired_valid,
                            "seed {seed} step {step}"
                        );
                    }
                    8 if rng.random_bool(0.2) => {
                        let nonce = nonces[rng.random_range(0..nonces.len())];
                        assert!(pool.remove(&nonce));
                        pool.insert(nonce, Pubkey::new_unique());
                    }
                    _ => {}
                }
                let mut valid_per_nonce: HashMap<Pubkey, usize> = HashMap::new();
                for lease in leases.iter().filter(|l| l.is_valid()) {
                    *valid_per_nonce.entry(lease.nonce()).or_default() += 1;
                }
                assert!(
                    valid_per_nonce.values().all(|&n| n == 1),
                    "seed {seed} step {step}"
                );
                let held: usize = valid_per_nonce.values().sum();
                assert_eq!(
                    pool.available() + held,
                    pool.len(),
                    "seed {seed} step {step}"
                );
            }
            let released_before = recorder.events().len();
            let still_valid = leases.iter().filter(|l| l.is_valid()).count();
            leases.clear();
            assert_eq!(recorder.events().len(), released_before + still_valid);
            assert_eq!(pool.available(), pool.len(), "seed {seed}: a lease leaked");
        }
    }
}
