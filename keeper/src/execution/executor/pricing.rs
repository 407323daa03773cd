//! The profitability guard in a first attempt: a built execution that would not pay this
//! keeper is not sent, its nonce goes back unspent, the decline is counted and noted for
//! `keeper explain`, and the due time is held back until it is priced again.
//!
//! Owns: the hold ([`Declines`]) and applying the verdict of
//! `execution/profitability.rs`. Must not: build or send (prepare.rs, send.rs), or
//! price a replay (a replayed execution was accepted when first built).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use solana_sdk::pubkey::Pubkey;
use thread::state::Thread;

use super::prepare::Handback;
use super::{ExecOutcome, Executor, SkipReason};
use crate::execution::builder::{fee_of, TxBuildOutput};
use crate::execution::profitability::{judge, LeaseShare};

/// What the price of a thread's execution needs of the thread.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pricing {
    fee_per_exec: u64,
    lease_share: LeaseShare,
}

/// Due times declined as unprofitable, by thread: the due time and when it was declined.
#[derive(Default)]
pub(super) struct Declines {
    held: Mutex<HashMap<Pubkey, (u64, Instant)>>,
}

impl Declines {
    /// Whether `thread`'s due time `exec_count` was declined less than `recheck` ago. The
    /// entry stays after that, so a later pricing that accepts the thread knows to clear
    /// its note.
    pub(super) fn holds(&self, thread: &Pubkey, exec_count: u64, recheck: Duration) -> bool {
        self.held
            .lock()
            .get(thread)
            .is_some_and(|&(declined, at)| declined == exec_count && at.elapsed() < recheck)
    }

    fn decline(&self, thread: Pubkey, exec_count: u64) {
        self.held
            .lock()
            .insert(thread, (exec_count, Instant::now()));
    }

    /// Forgets `thread`; whether it had been declined.
    fn forget(&self, thread: &Pubkey) -> bool {
        self.held.lock().remove(thread).is_some()
    }
}

impl Executor {
    /// Whether `thread`'s due time `exec_count` is held back as unprofitable.
    pub(super) fn held_as_unprofitable(&self, thread: &Pubkey, exec_count: u64) -> bool {
        let recheck = Duration::from_secs(self.config.unprofitable_recheck_secs);
        self.declines.holds(thread, exec_count, recheck)
    }

    /// What `state` pays per execution and the part of its lease transactions each
    /// bears under this keeper's leases: all the price needs of the thread, taken before
    /// the build consumes it.
    pub(super) fn pricing_of(&self, state: &Thread) -> Pricing {
        let leases = self.leases.config().cadence(state.max_lease_slots);
        Pricing {
            fee_per_exec: state.fee_per_exec,
            lease_share: LeaseShare::of(state, leases),
        }
    }

    /// `Err` with the outcome when executing the due time `exec_count` of `thread`
    /// (priced by `pricing`) through `output` would not pay this keeper: then nothing is
    /// sent and the nonce goes back unspent. `Ok` hands `output` back to be sent.
    pub(super) fn priced(
        &self,
        thread: Pubkey,
        exec_count: u64,
        pricing: Pricing,
        output: TxBuildOutput,
    ) -> Result<TxBuildOutput, ExecOutcome> {
        let cost = pricing.lease_share.cost(fee_of(&output.tx.message));
        let Err(declined) = judge(pricing.fee_per_exec, cost, self.config.min_margin_lamports)
        else {
            // Only a thread this keeper declined has a note to clear: no store write on
            // the way of every execution. A note an earlier run left names a due time
            // that is past once this one runs, and explain reads it as such.
            if self.declines.forget(&thread) {
                if let Err(e) = self.store.clear_unprofitable(&thread) {
                    tracing::warn!(%thread, error = %e, "could not clear a thread's unprofitable note");
                }
            }
            return Ok(output);
        };
        self.hand_back_nonce(output, Handback::Unsent);
        self.declines.decline(thread, exec_count);
        self.metrics.unprofitable_total.inc();
        let reason = declined.to_string();
        if let Err(e) = self.store.note_unprofitable(&thread, exec_count, &reason) {
            tracing::warn!(%thread, error = %e, "could not note an unprofitable due time");
        }
        tracing::info!(%thread, exec_count, reason, "not executed: it would not pay this keeper");
        Err(ExecOutcome::Skipped(SkipReason::Unprofitable))
    }
}
