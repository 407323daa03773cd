//! Tidying up after this keeper's leases: handing back a lease it has no use for before
//! it lapses into a forfeit, and withdrawing the lamports of a nonce account it is still
//! the authority of after the thread moved on (forfeit, deletion).
//!
//! Owns: deciding which leases and old nonces a pass acts on, and [`due_within_lease`].
//! Must not: act on a thread without holding its lock and reading it afresh.

use solana_sdk::clock::{Clock, DEFAULT_MS_PER_SLOT};
use solana_sdk::pubkey::Pubkey;
use solana_system_interface::instruction as system_instruction;
use thread::state::{Due, Lease, Thread};

use super::{decode_owned, nonce_of, LeaseManager, LeaseManagerError};
use crate::execution::builder::parse_nonce;

/// Why [`LeaseManager::tidy`] handed a lease back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandBack {
    /// The lease expired (or the owner revoked it) with the authority still ours:
    /// released now, the bond comes back instead of paying a forfeit.
    Lapsed,
    /// The thread is not due again before the lease expires (paused, done, or due
    /// later): holding on would only end in a forfeit.
    NotDueWithinLease,
}

impl HandBack {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lapsed => "lapsed",
            Self::NotDueWithinLease => "not_due_within_lease",
        }
    }
}

/// What one [`LeaseManager::tidy`] pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tidied {
    /// Threads whose lease was handed back, and why.
    pub handed_back: Vec<(Pubkey, HandBack)>,
    /// Old nonce accounts emptied into this keeper: (nonce, lamports).
    pub withdrawn: Vec<(Pubkey, u64)>,
    /// Threads a step failed for (logged; tried again on the next pass).
    pub failed: usize,
}

impl LeaseManager {
    /// One pass over `threads` (the ones the index shows leased to this keeper, and
    /// [`LeaseManager::remembered_threads`]):
    ///
    /// - a lease of ours that expired or was revoked while the authority is still ours
    ///   (or already back home) is released: the bond comes back, no forfeit;
    /// - a live lease of ours on a thread not due again before the lease expires is
    ///   handed back (it is claimed anew when the thread comes due);
    /// - a nonce account this keeper is still the authority of, but which its thread no
    ///   longer uses (forfeited, deleted), is emptied into this keeper
    ///   (`WithdrawNonceAccount`): nobody else can ever recover those lamports.
    ///
    /// One batched read finds the threads with something to do; each of those is then
    /// locked and read afresh before anything is sent. A step that fails is logged and
    /// counted; the next pass tries again.
    pub async fn tidy(&self, threads: &[Pubkey]) -> Result<Tidied, LeaseManagerError> {
        let mut tidied = Tidied::default();
        if threads.is_empty() {
            return Ok(tidied);
        }
        let clock = self.chain.clock().await?;
        let mut states = Vec::with_capacity(threads.len());
        for chunk in threads.chunks(crate::tracking::scheduler::MAX_ACCOUNTS_PER_FETCH) {
            let accounts = self.chain.get_multiple_accounts(chunk).await?;
            states.extend(
                chunk
                    .iter()
                    .copied()
                    .zip(accounts.into_iter().map(decode_owned)),
            );
        }
        for (thread, state) in &states {
            let hand_back = state
                .as_ref()
                .is_some_and(|s| self.hand_back_reason(s, &clock).is_some());
            if !hand_back && self.abandoned_nonces(thread, state.as_ref()).is_empty() {
                continue;
            }
            if let Err(e) = self.tidy_thread(thread, &mut tidied).await {
                tidied.failed += 1;
                tracing::warn!(%thread, kind = e.kind(), error = %e, "could not read a thread to tidy its lease; trying again later");
            }
        }
        Ok(tidied)
    }

    /// [`LeaseManager::tidy`] for one thread, locked and read afresh.
    async fn tidy_thread(
        &self,
        thread: &Pubkey,
        tidied: &mut Tidied,
    ) -> Result<(), LeaseManagerError> {
        let _held = self.locks.lock(thread).await;
        let (state, clock) = self.read_afresh(thread).await?;
        if let Some(state) = &state {
            match self.hand_back_if_unneeded(thread, state, &clock).await {
                Ok(Some(why)) => tidied.handed_back.push((*thread, why)),
                Ok(None) => {}
                Err(e) => {
                    tidied.failed += 1;
                    tracing::warn!(%thread, kind = e.kind(), error = %e, "could not hand an unneeded lease back; trying again later");
                }
            }
        }
        for nonce in self.abandoned_nonces(thread, state.as_ref()) {
            match self.withdraw_abandoned(&nonce).await {
                Ok(Some(lamports)) => {
                    tracing::info!(%thread, %nonce, lamports, "withdrew an old nonce account this keeper was still the authority of");
                    tidied.withdrawn.push((nonce, lamports));
                }
                Ok(None) => {}
                Err(e) => {
                    tidied.failed += 1;
                    tracing::warn!(%thread, %nonce, kind = e.kind(), error = %e, "could not withdraw an old nonce account; trying again later");
                }
            }
        }
        Ok(())
    }

    /// Nonce accounts this keeper remembers holding for `thread` that `state` no longer
    /// uses (all of them when the thread is gone).
    fn abandoned_nonces(&self, thread: &Pubkey, state: Option<&Thread>) -> Vec<Pubkey> {
        let current = state.and_then(|s| s.nonce_account().ok());
        self.held()
            .iter()
            .filter(|(nonce, t)| *t == thread && Some(**nonce) != current)
            .map(|(nonce, _)| *nonce)
            .collect()
    }

    /// Why a lease of ours on `state` should be handed back at `clock`: it lapsed, or
    /// the thread is not due again before it expires.
    fn hand_back_reason(&self, state: &Thread, clock: &Clock) -> Option<HandBack> {
        let lease = state.lease.filter(|l| l.holder == self.me())?;
        if !lease.is_live(clock.slot) {
            Some(HandBack::Lapsed)
        } else if !due_within_lease(state, &lease, clock) {
            Some(HandBack::NotDueWithinLease)
        } else {
            None
        }
    }

    /// Releases our lease on `thread` when it lapsed with the authority ours, or when the
    /// thread is not due again before it expires. `state` is read under the lock.
    async fn hand_back_if_unneeded(
        &self,
        thread: &Pubkey,
        state: &Thread,
        clock: &Clock,
    ) -> Result<Option<HandBack>, LeaseManagerError> {
        let Some(why) = self.hand_back_reason(state, clock) else {
            return Ok(None);
        };
        let nonce = nonce_of(thread, state)?;
        let authority = self.nonce_authority(&nonce).await?;
        if authority != Some(self.me()) && authority != Some(*thread) {
            // Not ours to hand back (nor home): nothing this keeper can sign.
            return Ok(None);
        }
        let bond = state.lease.map_or(0, |l| l.bond);
        self.release_locked(thread, state).await?;
        tracing::info!(%thread, reason = why.as_str(), bond, "handed a lease back");
        Ok(Some(why))
    }

    /// Empties `nonce` into this keeper if this keeper is still its authority; forgets it
    /// when it is not (or is gone). Returns the lamports withdrawn.
    async fn withdraw_abandoned(&self, nonce: &Pubkey) -> Result<Option<u64>, LeaseManagerError> {
        let account = self.chain.get_account(nonce).await?;
        let ours = account.as_ref().is_some_and(|a| {
            a.owner == solana_sdk_ids::system_program::ID
                && parse_nonce(&a.data).is_some_and(|(authority, _)| authority == self.me())
        });
        let (Some(account), true) = (account, ours) else {
            self.held().remove(nonce);
            return Ok(None);
        };
        self.pool.remove(nonce);
        let ix = system_instruction::withdraw_nonce_account(
            nonce,
            &self.me(),
            &self.me(),
            account.lamports,
        );
        self.send(&[ix], &[]).await?;
        self.held().remove(nonce);
        Ok(Some(account.lamports))
    }
}

/// Whether `state` may come due while `lease` still lasts. A due time in unix seconds is
/// set against the lease's remaining slots at the nominal slot time (400 ms); a thread
/// that can fire at any moment (now, on an account change or condition) counts as due; a paused
/// thread, or one that is done (`Never`), does not. An epoch trigger counts as due: the
/// clock alone does not say where the epoch ends.
pub fn due_within_lease(state: &Thread, lease: &Lease, clock: &Clock) -> bool {
    if state.paused {
        return false;
    }
    match state.next_due {
        Due::Immediately | Due::OnChange { .. } | Due::OnCondition { .. } | Due::AtEpoch { .. } => {
            true
        }
        Due::Never => false,
        Due::AtSlot { slot } => slot < lease.expires_slot,
        Due::At { unix_ts } => {
            let slots_left = lease.expires_slot.saturating_sub(clock.slot);
            let secs_left = slots_left.saturating_mul(DEFAULT_MS_PER_SLOT) / 1_000;
            let secs_left = i64::try_from(secs_left).unwrap_or(i64::MAX);
            unix_ts < clock.unix_timestamp.saturating_add(secs_left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::thread::ThreadFixture;

    const SLOT: u64 = 1_000;
    const NOW: i64 = 1_700_000_000;

    fn clock() -> Clock {
        Clock {
            slot: SLOT,
            unix_timestamp: NOW,
            ..Clock::default()
        }
    }

    /// A lease of 1 500 slots left: 600 s at the nominal 400 ms a slot.
    fn lease() -> Lease {
        Lease {
            holder: Pubkey::new_unique(),
            claimed_slot: SLOT,
            expires_slot: SLOT + 1_500,
            bond: 1_000_000,
            revoked_slot: None,
        }
    }

    fn within(due: Due, paused: bool) -> bool {
        let thread = ThreadFixture::new()
            .durable()
            .due(due)
            .paused(paused)
            .thread;
        due_within_lease(&thread, &lease(), &clock())
    }

    #[test]
    fn a_due_time_before_expiry_needs_the_lease_and_one_after_does_not() {
        assert!(within(Due::At { unix_ts: NOW + 599 }, false));
        assert!(!within(Due::At { unix_ts: NOW + 600 }, false));
        assert!(!within(
            Due::At {
                unix_ts: NOW + 3_600
            },
            false
        ));
        assert!(within(Due::AtSlot { slot: SLOT + 1_499 }, false));
        assert!(!within(Due::AtSlot { slot: SLOT + 1_500 }, false));
    }

    #[test]
    fn a_thread_that_may_fire_any_moment_needs_the_lease() {
        assert!(within(Due::Immediately, false));
        assert!(within(Due::OnChange { last_hash: [7; 32] }, false));
        assert!(within(Due::AtEpoch { epoch: 9 }, false));
    }

    #[test]
    fn a_paused_or_finished_thread_does_not() {
        assert!(!within(Due::Never, false));
        assert!(!within(Due::Immediately, true));
        assert!(!within(Due::AtSlot { slot: SLOT + 1 }, true));
    }
}
