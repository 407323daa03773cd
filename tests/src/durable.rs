//! Builders for the durable-thread instructions, nonce inspection, and durable execution
//! transactions as a keeper signs them: instruction 0 advances the thread's nonce with
//! the keeper as authority, and the blockhash is the nonce value.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_nonce::state::State;
use solana_nonce::versions::Versions;
use solana_sdk::account_utils::StateMut;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use solana_sdk_ids::sysvar;
use solana_system_interface::instruction as system_instruction;
use thread::instructions::CreateThreadArgs;
use thread::state::{Due, Thread};

use crate::{event_authority, Fixture, Outcome, ThreadSpec};

const SYSTEM_PROGRAM: Pubkey = anchor_lang::solana_program::system_program::ID;

/// The authority and value of an initialized nonce account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceInfo {
    pub authority: Pubkey,
    pub value: Hash,
}

impl Fixture {
    /// The nonce account's state, or `None` when it is closed or not initialized.
    pub async fn nonce(&mut self, nonce: Pubkey) -> Option<NonceInfo> {
        let account = self.account(nonce).await?;
        let versions: Versions = account.state().ok()?;
        match versions.state() {
            State::Initialized(data) => Some(NonceInfo {
                authority: data.authority,
                value: data.blockhash(),
            }),
            State::Uninitialized => None,
        }
    }

    /// Signs `ixs` as a durable transaction on `nonce`: instruction 0 advances it with
    /// `authority`, the blockhash is its current value; `signers[0]` pays.
    pub async fn durable_tx(
        &mut self,
        nonce: Pubkey,
        authority: &Pubkey,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Transaction {
        let value = self.nonce(nonce).await.expect("initialized nonce").value;
        let mut all = vec![system_instruction::advance_nonce_account(&nonce, authority)];
        all.extend_from_slice(ixs);
        Transaction::new_signed_with_payer(&all, Some(&signers[0].pubkey()), signers, value)
    }

    /// A durable `exec_thread` of `thread` by `keeper`, the lease holder, signed now and
    /// valid for as long as the nonce is not advanced.
    pub async fn durable_exec_tx(&mut self, keeper: &Keypair, thread: Pubkey) -> Transaction {
        let state = self.thread(thread).await;
        let nonce = nonce_of(&state);
        let ix = durable_exec_ix(&keeper.pubkey(), thread, &state);
        self.durable_tx(nonce, &keeper.pubkey(), &[ix], &[keeper])
            .await
    }
}

/// The nonce account of a durable thread.
pub fn nonce_of(state: &Thread) -> Pubkey {
    state.nonce_account().expect("durable thread")
}

/// `exec_thread` with the instructions sysvar, as a durable execution needs.
pub fn durable_exec_ix(executor: &Pubkey, thread: Pubkey, state: &Thread) -> Instruction {
    keeper::exec_ix::exec_thread_instruction(executor, &thread, state, true)
}

pub fn create_thread_with_nonce_ix(
    owner: &Pubkey,
    thread: Pubkey,
    nonce: &Pubkey,
    args: CreateThreadArgs,
    max_lease_slots: u64,
) -> Instruction {
    keeper::owner_ix::create_thread_with_nonce(owner, &thread, nonce, args, max_lease_slots, None)
}

pub fn claim_lease_ix(
    keeper: &Pubkey,
    thread: Pubkey,
    nonce: &Pubkey,
    slots: u64,
    bond: u64,
) -> Instruction {
    keeper::lease_ix::claim_lease(keeper, &thread, nonce, slots, bond)
}

pub fn renew_lease_ix(keeper: &Pubkey, thread: Pubkey, nonce: &Pubkey, slots: u64) -> Instruction {
    keeper::lease_ix::renew_lease(keeper, &thread, nonce, slots)
}

pub fn revoke_lease_ix(owner: &Pubkey, thread: Pubkey) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::RevokeLease {
            owner: *owner,
            thread,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::RevokeLease {}.data(),
    }
}

/// Hands the nonce authority from `keeper` back to the thread PDA (signed by `keeper`).
pub fn return_authority_ix(nonce: &Pubkey, keeper: &Pubkey, thread: &Pubkey) -> Instruction {
    system_instruction::authorize_nonce_account(nonce, keeper, thread)
}

pub fn release_lease_ix(
    caller: &Pubkey,
    thread: Pubkey,
    holder: &Pubkey,
    nonce: &Pubkey,
) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::ReleaseLease {
            caller: *caller,
            thread,
            holder: *holder,
            nonce_account: *nonce,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::ReleaseLease {}.data(),
    }
}

pub fn forfeit_lease_ix(
    caller: &Pubkey,
    thread: Pubkey,
    owner: &Pubkey,
    old_nonce: &Pubkey,
    new_nonce: &Pubkey,
) -> Instruction {
    keeper::lease_ix::forfeit_lease(caller, &thread, owner, old_nonce, new_nonce)
}

pub fn make_thread_durable_ix(
    owner: &Pubkey,
    thread: Pubkey,
    nonce: &Pubkey,
    max_lease_slots: u64,
) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::MakeThreadDurable {
            owner: *owner,
            thread,
            nonce_account: *nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::MakeThreadDurable { max_lease_slots }.data(),
    }
}

pub fn make_thread_non_durable_ix(owner: &Pubkey, thread: Pubkey, nonce: &Pubkey) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::MakeThreadNonDurable {
            owner: *owner,
            thread,
            nonce_account: *nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::MakeThreadNonDurable {}.data(),
    }
}

pub fn rotate_thread_nonce_ix(
    owner: &Pubkey,
    thread: Pubkey,
    old_nonce: &Pubkey,
    new_nonce: &Pubkey,
) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::RotateThreadNonce {
            owner: *owner,
            thread,
            old_nonce_account: *old_nonce,
            new_nonce_account: *new_nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::RotateThreadNonce {}.data(),
    }
}

impl Fixture {
    /// Creates a durable thread from `spec` (owner: `self.owner`, who pays) with a fresh
    /// nonce account; returns the thread, the nonce account and the outcome.
    pub async fn create_durable_thread(
        &mut self,
        spec: ThreadSpec,
        max_lease_slots: u64,
    ) -> (Pubkey, Pubkey, Outcome) {
        self.create_durable_thread_at(spec, max_lease_slots, &Keypair::new())
            .await
    }

    /// As `create_durable_thread`, with the nonce account at `nonce`'s address (which a
    /// test may have prepared, e.g. pre-funded).
    pub async fn create_durable_thread_at(
        &mut self,
        spec: ThreadSpec,
        max_lease_slots: u64,
        nonce: &Keypair,
    ) -> (Pubkey, Pubkey, Outcome) {
        let owner = self.owner.insecure_clone();
        let (thread, _) = Thread::address(&owner.pubkey(), &spec.id);
        let ix = create_thread_with_nonce_ix(
            &owner.pubkey(),
            thread,
            &nonce.pubkey(),
            spec.into_args(),
            max_lease_slots,
        );
        let outcome = self.process(&[ix], &[&owner, nonce]).await;
        (thread, nonce.pubkey(), outcome)
    }

    /// A plain system nonce account (not a thread's) with `authority`, funded by `payer`
    /// at the Rent sysvar's price for 80 bytes.
    pub async fn create_nonce_account(&mut self, payer: &Keypair, authority: &Pubkey) -> Pubkey {
        let nonce = Keypair::new();
        let lamports = self.rent_for(NONCE_ACCOUNT_LEN).await;
        let ixs = system_instruction::create_nonce_account(
            &payer.pubkey(),
            &nonce.pubkey(),
            authority,
            lamports,
        );
        self.process(&ixs, &[payer, &nonce]).await.assert_ok();
        nonce.pubkey()
    }

    /// The fee the bank charges for a signed transaction. Fees do not depend on the
    /// blockhash, so the message is priced with the latest one (a durable transaction's
    /// nonce value is not in the blockhash queue).
    pub async fn fee_of_tx(&mut self, tx: &Transaction) -> u64 {
        let mut message = tx.message.clone();
        message.recent_blockhash = self.ctx.banks_client.get_latest_blockhash().await.unwrap();
        self.ctx
            .banks_client
            .get_fee_for_message(message)
            .await
            .unwrap()
            .expect("bank prices the message")
    }

    /// Moves the clock's unix time forward to the thread's next due time when that is a
    /// time still in the future, so an `Interval` thread can run again.
    pub async fn make_due(&mut self, thread: Pubkey) {
        if let Due::At { unix_ts } = self.thread(thread).await.next_due {
            if self.clock().await.unix_timestamp < unix_ts {
                self.set_unix_time(unix_ts).await;
            }
        }
    }
}

/// Size of a system nonce account; its rent is always read from the bank.
pub const NONCE_ACCOUNT_LEN: usize = 80;
