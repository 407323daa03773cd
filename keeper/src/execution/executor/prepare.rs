//! The one path from a thread due now to a signed execution and the row it is persisted
//! as, shared by a due time's first attempt (execute.rs) and a rebuild on replay
//! (replay.rs).
//!
//! Owns: the priority asked of the builder, the lease a durable thread needs (claimed,
//! renewed or cleared, and the thread read again when clearing gave it a new nonce), the
//! build (telling the pool when the chain says a cached nonce value is stale), the row
//! ([`NewExecution`]), and handing a build's nonce back to the pool when it is done. Must
//! not: read or write the store, or send: how the row is recorded and what a failure
//! means is where the two callers differ, so they decide.

use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::TransactionError;
use thread::state::{Due, Durability, Thread, ThreadPriority};

use super::{Executor, SkipReason};
use crate::chain::ChainError;
use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::builder::{BuildError, ThreadExecution, TxBuildOutput, TxConfig};
use crate::execution::leases::{LeaseManagerError, LeaseStatus};
use crate::store::{NewExecution, StoreError, ThreadContext};

/// What differs between the attempts that share this path, named by the caller.
pub(super) struct Attempt {
    pub thread: Pubkey,
    /// The thread's `exec_count` the execution is for (with `thread`, its due time).
    pub exec_count: u64,
    /// The priority asked of the builder: the owner's choice within this keeper's bounds
    /// for a first attempt, the recorded one for a rebuild.
    pub priority: ExecutionPriority,
    pub nonce_value: NonceValue,
}

/// Whether the pool's cached value of a durable thread's nonce can be built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NonceValue {
    /// Yes: nothing says it moved.
    Cached,
    /// No: a rebuild happens because the nonce advanced without the stored transaction,
    /// which the cached value may not have seen.
    ReadAfresh,
}

/// A signed execution and the row to persist before it is sent.
pub(super) struct Prepared {
    pub output: TxBuildOutput,
    pub record: NewExecution,
}

/// When a build's nonce is handed back, which says what its cached value is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handback {
    /// The transaction never left the keeper: nothing could have advanced the nonce.
    Unsent,
    /// It was sent, or may have been (landed, failed on chain, unanswered, timed out):
    /// the nonce may have advanced, and its value is read afresh next time.
    AfterSend,
}

/// Why no execution was prepared.
#[derive(Debug)]
pub(super) enum Unprepared {
    /// The clock or the thread could not be read.
    Chain(ChainError),
    /// Read again after its lease was cleared, the thread no longer shows the due time:
    /// [`SkipReason::Gone`] or [`SkipReason::AlreadyExecuted`].
    Moved(SkipReason),
    /// Another keeper holds the thread's lease.
    LeasedBy(Pubkey),
    Lease(LeaseManagerError),
    Build(BuildError),
    /// The signed transaction could not be made into a row.
    Encode(StoreError),
}

impl Executor {
    /// The lease (durable threads), the build and the row of `attempt`, on `state` as
    /// read at `read_slot` showing the due time unexecuted.
    pub(super) async fn prepare(
        &self,
        attempt: &Attempt,
        state: Thread,
        read_slot: u64,
    ) -> Result<Prepared, Unprepared> {
        let state = self.hold_lease(attempt, state).await?;
        if let (NonceValue::ReadAfresh, Ok(nonce)) = (attempt.nonce_value, state.nonce_account()) {
            self.nonces.may_have_advanced(&nonce);
        }
        let output = self
            .build(&attempt.thread, &state, attempt.priority)
            .await
            .map_err(Unprepared::Build)?;
        let nonce = state
            .nonce_account()
            .ok()
            .map(|nonce| (nonce, *output.tx.message.recent_blockhash()));
        let record = NewExecution::from_transaction(
            attempt.thread,
            attempt.exec_count,
            &output.tx,
            nonce,
            output.priority,
            self.config.max_retries,
        );
        match record {
            Ok(record) => Ok(Prepared {
                record: record
                    .with_context(ThreadContext {
                        slot: read_slot,
                        created_at: state.created_at,
                    })
                    .with_due_at(match state.next_due {
                        Due::At { unix_ts } => Some(unix_ts),
                        _ => None,
                    }),
                output,
            }),
            Err(e) => {
                self.hand_back_nonce(output, Handback::Unsent);
                Err(Unprepared::Encode(e))
            }
        }
    }

    /// Makes sure this keeper holds a durable thread's lease, and returns the state to
    /// build from.
    async fn hold_lease(&self, attempt: &Attempt, state: Thread) -> Result<Thread, Unprepared> {
        if !matches!(state.durability, Durability::Durable { .. }) {
            return Ok(state);
        }
        let slot = self.chain.clock().await.map_err(Unprepared::Chain)?.slot;
        match self.leases.ensure(&attempt.thread, &state, slot).await {
            Ok(LeaseStatus::Held { nonce, .. }) if state.nonce_account().ok() != Some(nonce) => {
                // Clearing another keeper's expired lease gave the thread a new nonce:
                // build from the state that names it.
                let fresh = self
                    .thread_read(&attempt.thread)
                    .await
                    .map_err(Unprepared::Chain)?;
                match fresh.state {
                    Some(fresh) if fresh.exec_count == attempt.exec_count => Ok(fresh),
                    Some(_) => Err(Unprepared::Moved(SkipReason::AlreadyExecuted)),
                    None => Err(Unprepared::Moved(SkipReason::Gone)),
                }
            }
            Ok(LeaseStatus::Held { .. }) => Ok(state),
            Ok(LeaseStatus::HeldByOther { holder, .. }) => Err(Unprepared::LeasedBy(holder)),
            Err(e) => Err(Unprepared::Lease(e)),
        }
    }

    async fn build(
        &self,
        thread: &Pubkey,
        state: &Thread,
        priority: ExecutionPriority,
    ) -> Result<TxBuildOutput, BuildError> {
        let durable = matches!(state.durability, Durability::Durable { .. });
        let config = TxConfig {
            priority: Some(priority),
            ..TxConfig::default()
        };
        let exec = ThreadExecution {
            thread: *thread,
            state,
        };
        let result = self
            .builder
            .build_execution_output(exec, &config, true, durable)
            .await;
        if let (Err(BuildError::SimulationFailed { err, .. }), Ok(nonce)) =
            (&result, state.nonce_account())
        {
            // A durable simulation anchored on a stale cached nonce value fails like this;
            // the next build reads the value afresh.
            if matches!(err, TransactionError::BlockhashNotFound) {
                self.nonces.may_have_advanced(&nonce);
            }
        }
        result
    }

    /// Gives back the nonce a build held, if any (see [`Handback`]).
    pub(super) fn hand_back_nonce(&self, mut output: TxBuildOutput, after: Handback) {
        let Some(guard) = output.nonce_guard.take() else {
            return;
        };
        let nonce = guard.nonce();
        let released = match after {
            Handback::Unsent => guard.release(),
            Handback::AfterSend => self.nonces.hand_back_after_send(guard),
        };
        if let Err(e) = released {
            // Nothing to free: the pool took the lease back after its TTL (and logged
            // the reclaim), or the nonce left the pool with the thread's lease.
            tracing::debug!(%nonce, reason = e.kind(), "the build's nonce lease had already ended");
        }
    }

    /// The priority of an execution of `state` asked of the builder.
    pub(super) fn priority_of(&self, state: &Thread) -> ExecutionPriority {
        let durable = matches!(state.durability, Durability::Durable { .. });
        self.requested_priority(durable, state.priority)
    }

    /// What an execution asks the builder for: the owner's priority, within this
    /// keeper's floor and ceiling, or else this keeper's default for the durability.
    fn requested_priority(
        &self,
        durable: bool,
        owner: Option<ThreadPriority>,
    ) -> ExecutionPriority {
        match owner {
            Some(owner) => ExecutionPriority::from(owner)
                .max(self.config.owner_priority_floor)
                .min(self.config.owner_priority_ceiling),
            None if durable => self.config.durable_priority,
            None => self.config.non_durable_priority,
        }
    }

    /// The priority an execution of a durable (or non-durable) thread with the owner's
    /// priority `owner` runs at once the builder's policy has had its say: what an
    /// operating mode admits or not.
    pub fn effective_priority(
        &self,
        durable: bool,
        owner: Option<ThreadPriority>,
    ) -> ExecutionPriority {
        self.builder
            .config()
            .priority
            .effective(Some(self.requested_priority(durable, owner)), durable)
    }
}
