//! The bank a test sets up and reaches into: [`TestBank`] (built by [`TestBankBuilder`])
//! starts the in-process bank with a funded owner and keeper and whatever accounts and
//! programs a test adds, and creates threads the way an owner would; [`BankChainExt`] is
//! the test's direct hand on any `BankChain` (a `TestBank`'s or the sandbox world's):
//! reading balances, threads and nonces, warping slots, setting the clock and accounts.
//!
//! Owns: setting a bank up for a test and the reads and writes a test makes around the
//! keeper. Must not: send anything around [`Chain::send`] (the bank's program-account
//! scan sees only what went through it), or hold the context's lock across a call into
//! the chain.

#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are the bank we run

use std::sync::Arc;

use async_trait::async_trait;
use solana_program_test::ProgramTest;
use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use thread::client::{self, NONCE_ACCOUNT_LEN};
use thread::instructions::CreateThreadArgs;
use thread::state::{Due, RateLimit, Thread, ThreadInstruction, Trigger};

use crate::chain::bank::{program_test, BankChain};
use crate::chain::{Chain, TxStatus};

/// What the owner and the keeper of a [`TestBank`] each hold at genesis.
pub const STARTING_LAMPORTS: u64 = 100_000_000_000;

const SYSTEM_PROGRAM: Pubkey = solana_sdk_ids::system_program::ID;

/// A started bank with the thread program, an owner and a keeper funded with
/// [`STARTING_LAMPORTS`] each, and the chain over it.
pub struct TestBank {
    pub chain: Arc<BankChain>,
    /// Creates and owns the threads; pays for the test's own transactions.
    pub owner: Keypair,
    /// The key a keeper under test signs with (and the authority of its nonces).
    pub keeper: Arc<Keypair>,
}

/// What a test adds to the bank before it starts.
pub struct TestBankBuilder {
    program_test: ProgramTest,
    accounts: Vec<(Pubkey, Account)>,
    unix_ts: Option<i64>,
}

impl TestBankBuilder {
    /// Adds `account` at `address` at genesis. The program-account scan does not see it
    /// until it is watched ([`BankChain::watch`]).
    pub fn account(mut self, address: Pubkey, account: Account) -> Self {
        self.accounts.push((address, account));
        self
    }

    /// Starts with the clock at `unix_ts` (slot and epoch as genesis leaves them).
    pub fn time(mut self, unix_ts: i64) -> Self {
        self.unix_ts = Some(unix_ts);
        self
    }

    pub async fn start(self) -> TestBank {
        let mut pt = self.program_test;
        let owner = Keypair::new();
        let keeper = Keypair::new();
        for key in [owner.pubkey(), keeper.pubkey()] {
            pt.add_account(key, Account::new(STARTING_LAMPORTS, 0, &SYSTEM_PROGRAM));
        }
        for (address, account) in self.accounts {
            pt.add_account(address, account);
        }
        let bank = TestBank {
            chain: Arc::new(BankChain::start(pt).await),
            owner,
            keeper: Arc::new(keeper),
        };
        if let Some(unix_ts) = self.unix_ts {
            bank.chain.set_time(unix_ts).await;
        }
        bank
    }
}

impl TestBank {
    /// A bank with nothing but the thread program and the two funded keys.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    pub fn builder() -> TestBankBuilder {
        Self::builder_from(program_test())
    }

    /// A builder over the test's own [`program_test`] (one that loads another program
    /// beside the thread program, say).
    pub fn builder_from(program_test: ProgramTest) -> TestBankBuilder {
        TestBankBuilder {
            program_test,
            accounts: Vec::new(),
            unix_ts: None,
        }
    }

    /// The chain itself, for a wrapper that must own it (`FaultyChain`). Panics if the
    /// test still holds another handle on it.
    pub fn into_chain(self) -> BankChain {
        Arc::into_inner(self.chain).expect("no other handle on the bank's chain")
    }

    pub fn keeper(&self) -> Pubkey {
        self.keeper.pubkey()
    }

    /// `ixs` signed by the owner, who pays, on the latest blockhash; not sent.
    pub async fn signed_by_owner(&self, ixs: &[Instruction]) -> VersionedTransaction {
        let blockhash = self.chain.latest_blockhash().await.unwrap();
        Transaction::new_signed_with_payer(
            ixs,
            Some(&self.owner.pubkey()),
            &[&self.owner],
            blockhash,
        )
        .into()
    }

    /// Sends `ixs` (`signers[0]` pays) through the chain and asserts they succeeded.
    pub async fn process(&self, ixs: &[Instruction], signers: &[&Keypair]) {
        let blockhash = self.chain.latest_blockhash().await.unwrap();
        let tx: VersionedTransaction =
            Transaction::new_signed_with_payer(ixs, Some(&signers[0].pubkey()), signers, blockhash)
                .into();
        let signature = self.chain.send(&tx).await.expect("setup transaction sent");
        let status = self.chain.status(signature).await;
        assert_eq!(status.err, None, "setup transaction failed: {ixs:?}");
    }

    /// `create_thread` arguments for a thread of the owner's with id `id` whose one
    /// stored instruction moves a lamport from the thread back to the owner; 1 000
    /// lamports a run, 1 000 000 deposited. Returns the thread's address too.
    pub fn thread_args(&self, id: &str, trigger: Trigger) -> (Pubkey, CreateThreadArgs) {
        let owner = self.owner.pubkey();
        let (thread, _) = Thread::address(&owner, id.as_bytes());
        let args = CreateThreadArgs {
            id: id.as_bytes().to_vec(),
            trigger,
            instructions: vec![ThreadInstruction::from(system_instruction::transfer(
                &thread, &owner, 1,
            ))],
            fee_per_exec: 1_000,
            rate_limit: RateLimit::default(),
            deposit: 1_000_000,
            priority: None,
            lookup_tables: vec![],
        };
        (thread, args)
    }

    /// `create_thread` of `args`, not sent; returns the thread's address too.
    pub fn create_thread_ix(&self, args: CreateThreadArgs) -> (Pubkey, Instruction) {
        let owner = self.owner.pubkey();
        let (thread, _) = Thread::address(&owner, &args.id);
        (thread, client::create_thread(&owner, &thread, args))
    }

    /// Creates a [`TestBank::thread_args`] thread with `trigger`.
    pub async fn create_thread(&self, id: &str, trigger: Trigger) -> Pubkey {
        let (_, args) = self.thread_args(id, trigger);
        self.create_thread_with(args).await
    }

    /// Creates the thread `args` describe.
    pub async fn create_thread_with(&self, args: CreateThreadArgs) -> Pubkey {
        let (thread, ix) = self.create_thread_ix(args);
        self.process(&[ix], &[&self.owner]).await;
        thread
    }

    /// Creates the thread `args` describe as a durable one: with a fresh nonce account
    /// whose authority is the thread, leasable for up to `max_lease_slots`; not leased.
    pub async fn create_durable_thread_with(
        &self,
        args: CreateThreadArgs,
        max_lease_slots: u64,
    ) -> DurableThread {
        let owner = self.owner.pubkey();
        let (thread, _) = Thread::address(&owner, &args.id);
        let nonce = Keypair::new();
        let ix = client::create_thread_with_nonce(
            &owner,
            &thread,
            &nonce.pubkey(),
            args,
            max_lease_slots,
        );
        self.process(&[ix], &[&self.owner, &nonce]).await;
        DurableThread {
            thread,
            nonce: nonce.pubkey(),
        }
    }

    pub async fn pause_thread(&self, thread: Pubkey) {
        let ix = client::pause_thread(&self.owner.pubkey(), &thread);
        self.process(&[ix], &[&self.owner]).await;
    }

    /// Deletes `thread` (a non-durable one), its lamports back to the owner.
    pub async fn delete_thread(&self, thread: Pubkey) {
        let ix = client::delete_thread(&self.owner.pubkey(), &thread, None, None);
        self.process(&[ix], &[&self.owner]).await;
    }

    /// A nonce account created by the system program with `authority`, funded at the
    /// Rent sysvar's price by the owner.
    pub async fn create_nonce(&self, authority: &Pubkey) -> Pubkey {
        let nonce = Keypair::new();
        let ixs = system_instruction::create_nonce_account(
            &self.owner.pubkey(),
            &nonce.pubkey(),
            authority,
            self.chain.rent_exempt_minimum(NONCE_ACCOUNT_LEN).await,
        );
        self.process(&ixs, &[&self.owner, &nonce]).await;
        nonce.pubkey()
    }
}

/// A durable thread and its nonce account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurableThread {
    pub thread: Pubkey,
    pub nonce: Pubkey,
}

/// An account the thread program owns whose data are the thread discriminator and then
/// `tail`: what a scan by discriminator finds, and (for most tails) no thread decodes
/// from.
pub fn thread_look_alike(tail: &[u8]) -> Account {
    let mut account = Account::new(1_000_000, 0, &thread::ID);
    account.data = <Thread as anchor_lang::Discriminator>::DISCRIMINATOR.to_vec();
    account.data.extend_from_slice(tail);
    account
}

/// An account of `owner` holding `data` (and lamports enough for rent): what a test
/// places with `set_account` for a thread to watch, a value or a price update.
pub fn data_account(data: Vec<u8>, owner: Pubkey) -> Account {
    Account {
        lamports: 10_000_000,
        data,
        owner,
        executable: false,
        rent_epoch: 0,
    }
}

/// A test's direct hand on the bank under a `BankChain`: reads that panic when the bank
/// does not answer (a test has nothing better to do), and writes that go around every
/// transaction. While a keeper runs on another thread, warps and clock changes belong
/// under [`BankChain::pause_transactions`] (the sandbox world's `advance` does that).
#[async_trait]
pub trait BankChainExt {
    /// An account's lamports, 0 if it does not exist.
    async fn balance(&self, key: &Pubkey) -> u64;
    /// An account that must exist.
    async fn existing_account(&self, key: &Pubkey) -> Account;
    /// A thread as the bank holds it now.
    async fn thread_state(&self, key: &Pubkey) -> Thread;
    /// Authority and value of an initialized nonce account.
    async fn nonce(&self, key: &Pubkey) -> (Pubkey, Hash);
    /// What an account of `len` bytes must hold to be rent exempt, at the Rent sysvar's
    /// price.
    async fn rent_exempt_minimum(&self, len: usize) -> u64;
    /// The status of a sent transaction, which must have one.
    async fn status(&self, signature: Signature) -> TxStatus;
    /// Sends a built transaction and asserts it executed and is confirmed.
    async fn land(&self, tx: &VersionedTransaction);
    /// Warps `slots` slots forward; the clock moves as the bank makes it.
    async fn warp_slots(&self, slots: u64);
    /// Warps to `slot`, keeping the unix time where it was.
    async fn warp_to_keeping_time(&self, slot: u64);
    /// The first slot of `epoch` by the genesis epoch schedule.
    async fn first_slot_of_epoch(&self, epoch: u64) -> u64;
    /// Sets the bank's unix time, leaving slot and epoch as they are.
    async fn set_time(&self, unix_ts: i64);
    /// Moves the clock to `thread`'s next due time if that is a time still ahead.
    async fn make_due(&self, thread: &Pubkey);
    /// Stores `account` at `key` as it is, bypassing every program.
    async fn set_account(&self, key: &Pubkey, account: Account);
}

#[async_trait]
impl BankChainExt for BankChain {
    async fn balance(&self, key: &Pubkey) -> u64 {
        self.get_account(key)
            .await
            .unwrap()
            .map_or(0, |a| a.lamports)
    }

    async fn existing_account(&self, key: &Pubkey) -> Account {
        self.get_account(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no account at {key}"))
    }

    async fn thread_state(&self, key: &Pubkey) -> Thread {
        client::decode_thread(&self.existing_account(key).await.data).expect("a thread account")
    }

    async fn nonce(&self, key: &Pubkey) -> (Pubkey, Hash) {
        let account = self.existing_account(key).await;
        let nonce = client::NonceData::parse(&account.data)
            .and_then(client::NonceData::initialized)
            .expect("an initialized nonce account");
        (nonce.authority, Hash::new_from_array(nonce.durable_nonce))
    }

    async fn rent_exempt_minimum(&self, len: usize) -> u64 {
        let context = self.context();
        let rent = context.lock().await.banks_client.get_rent().await.unwrap();
        rent.minimum_balance(len)
    }

    async fn status(&self, signature: Signature) -> TxStatus {
        self.signature_statuses(&[signature]).await.unwrap()[0]
            .clone()
            .expect("a status for a sent transaction")
    }

    async fn land(&self, tx: &VersionedTransaction) {
        let signature = self.send(tx).await.expect("accepted");
        assert_eq!(signature, tx.signatures[0]);
        let status = self.status(signature).await;
        assert_eq!(status.err, None);
        assert!(status.confirmed);
    }

    async fn warp_slots(&self, slots: u64) {
        let slot = self.clock().await.unwrap().slot;
        let context = self.context();
        context.lock().await.warp_to_slot(slot + slots).unwrap();
    }

    async fn warp_to_keeping_time(&self, slot: u64) {
        let unix_ts = self.clock().await.unwrap().unix_timestamp;
        self.context().lock().await.warp_to_slot(slot).unwrap();
        self.set_time(unix_ts).await;
    }

    async fn first_slot_of_epoch(&self, epoch: u64) -> u64 {
        let context = self.context();
        let context = context.lock().await;
        context
            .genesis_config()
            .epoch_schedule
            .get_first_slot_in_epoch(epoch)
    }

    async fn set_time(&self, unix_ts: i64) {
        let mut clock: Clock = self.clock().await.unwrap();
        clock.unix_timestamp = unix_ts;
        self.context().lock().await.set_sysvar(&clock);
    }

    async fn make_due(&self, thread: &Pubkey) {
        if let Due::At { unix_ts } = self.thread_state(thread).await.next_due {
            if self.clock().await.unwrap().unix_timestamp < unix_ts {
                self.set_time(unix_ts).await;
            }
        }
    }

    async fn set_account(&self, key: &Pubkey, account: Account) {
        self.context()
            .lock()
            .await
            .set_account(key, &AccountSharedData::from(account));
    }
}
