//! Test fixtures: a real Agave bank (solana-program-test) with the thread program loaded
//! natively, funded owner and executor keys, sending and asserting outcomes, clock
//! control and event decoding. Instructions come from the program's `client` module, as
//! every other caller builds them. Integration tests in `tests/` build on this.

#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we test against

pub mod durable;
pub use keeper::test_utils::recorder;

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AnchorDeserialize, Discriminator};
use keeper::test_utils::thread::ThreadFixture;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_program_test::{
    processor, BanksTransactionResultWithMetadata, ProgramTest, ProgramTestContext,
};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::{Instruction, InstructionError};
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use thread::client;
use thread::errors::ThreadError;
use thread::instructions::CreateThreadArgs;
use thread::state::{RateLimit, Thread, ThreadInstruction, Trigger};

/// Lamports given to the owner and the executor at genesis.
pub const STARTING_LAMPORTS: u64 = 100_000_000_000;
/// Signature fee of the test bank, per signature.
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// A bank with the thread program and the responder (loaded natively, as the keeper's
/// own bank does), the recorder test program, and a second responder for answers left
/// behind by a program the stored one calls.
pub fn program_test() -> ProgramTest {
    let mut pt = keeper::chain::bank::program_test();
    pt.add_program("recorder", recorder::ID, processor!(recorder::process));
    pt.add_program(
        "responder_other",
        responder::OTHER_ID,
        processor!(responder::process),
    );
    pt
}

/// The outcome of one transaction: `Ok` or the transaction error, plus its logs.
pub struct Outcome {
    pub result: Result<(), TransactionError>,
    pub logs: Vec<String>,
}

impl Outcome {
    /// Panics with the logs unless the transaction succeeded.
    pub fn assert_ok(&self) {
        if let Err(e) = &self.result {
            panic!("transaction failed: {e:?}\n{}", self.logs.join("\n"));
        }
    }

    /// Panics unless the transaction failed with this program error, by number.
    pub fn assert_error(&self, expected: ThreadError) {
        let code = u32::from(expected);
        match &self.result {
            Err(TransactionError::InstructionError(_, InstructionError::Custom(c)))
                if *c == code => {}
            other => panic!(
                "expected {expected:?} ({code}), got {other:?}\n{}",
                self.logs.join("\n")
            ),
        }
    }

    /// Panics unless the transaction failed with this Anchor framework error (an account
    /// constraint the program never reached its own checks for), by number.
    pub fn assert_anchor_error(&self, expected: anchor_lang::error::ErrorCode) {
        assert_eq!(
            self.custom_code(),
            Some(expected as u32),
            "expected {expected:?}, got {:?}\n{}",
            self.result,
            self.logs.join("\n")
        );
    }

    /// The custom error code, if the transaction failed with one.
    pub fn custom_code(&self) -> Option<u32> {
        match &self.result {
            Err(TransactionError::InstructionError(_, InstructionError::Custom(c))) => Some(*c),
            _ => None,
        }
    }
}

/// A running bank with a funded owner and executor.
pub struct Fixture {
    pub ctx: ProgramTestContext,
    pub owner: Keypair,
    pub executor: Keypair,
    /// Varies the compute-unit limit of each transaction so two otherwise identical
    /// transactions never share a signature (the bank would return the first result).
    tx_counter: u32,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with(program_test()).await
    }

    /// Starts `pt` after funding the owner and executor.
    pub async fn with(mut pt: ProgramTest) -> Self {
        let owner = Keypair::new();
        let executor = Keypair::new();
        for key in [owner.pubkey(), executor.pubkey()] {
            pt.add_account(key, system_account(STARTING_LAMPORTS));
        }
        let ctx = pt.start_with_context().await;
        Self {
            ctx,
            owner,
            executor,
            tx_counter: 0,
        }
    }

    /// Signs `ixs` with `signers` (the first pays) and processes them.
    pub async fn process(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Outcome {
        self.tx_counter += 1;
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(
            1_400_000 - self.tx_counter,
        )];
        all.extend_from_slice(ixs);
        let blockhash = self.latest_blockhash().await;
        let tx = Transaction::new_signed_with_payer(
            &all,
            Some(&signers[0].pubkey()),
            signers,
            blockhash,
        );
        self.process_tx(tx).await
    }

    /// The bank's latest blockhash: what an ordinary (not durable) transaction signs.
    pub async fn latest_blockhash(&mut self) -> Hash {
        self.ctx.banks_client.get_latest_blockhash().await.unwrap()
    }

    /// `ixs` signed by `payer` alone on the latest blockhash, not processed, nothing
    /// added: for tests that hold a transaction back or look at it before sending.
    pub async fn signed_tx(&mut self, ixs: &[Instruction], payer: &Keypair) -> Transaction {
        let blockhash = self.latest_blockhash().await;
        Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &[payer], blockhash)
    }

    /// Processes an already signed transaction.
    pub async fn process_tx(&mut self, tx: Transaction) -> Outcome {
        let BanksTransactionResultWithMetadata { result, metadata } = self
            .ctx
            .banks_client
            .process_transaction_with_metadata(tx)
            .await
            .unwrap();
        Outcome {
            result,
            logs: metadata.map(|m| m.log_messages).unwrap_or_default(),
        }
    }

    /// The one event of type `E` that simulating `ixs` emits; panics on none or several.
    pub async fn simulate_one_event<E: AnchorDeserialize + Discriminator>(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> E {
        let mut events = self.simulate_events::<E>(ixs, signers).await;
        assert_eq!(events.len(), 1, "exactly one event expected");
        events.remove(0)
    }

    /// Simulates `ixs` and returns the events of type `E` they emit.
    pub async fn simulate_events<E: AnchorDeserialize + Discriminator>(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Vec<E> {
        let blockhash = self.latest_blockhash().await;
        let tx =
            Transaction::new_signed_with_payer(ixs, Some(&signers[0].pubkey()), signers, blockhash);
        let sim = self
            .ctx
            .banks_client
            .simulate_transaction(tx)
            .await
            .unwrap();
        if let Some(Err(e)) = &sim.result {
            let logs = sim.simulation_details.map(|d| d.logs).unwrap_or_default();
            panic!("simulation failed: {e:?}\n{}", logs.join("\n"));
        }
        let inner = sim
            .simulation_details
            .and_then(|d| d.inner_instructions)
            .unwrap_or_default();
        inner
            .iter()
            .flat_map(|set| set.iter())
            .filter_map(|ix| decode_event::<E>(&ix.instruction.data))
            .collect()
    }

    pub async fn account(&mut self, key: Pubkey) -> Option<Account> {
        self.ctx.banks_client.get_account(key).await.unwrap()
    }

    pub async fn balance(&mut self, key: Pubkey) -> u64 {
        self.ctx.banks_client.get_balance(key).await.unwrap()
    }

    pub async fn thread(&mut self, key: Pubkey) -> Thread {
        let account = self.account(key).await.expect("thread account exists");
        client::decode_thread(&account.data).unwrap()
    }

    pub async fn rent_for(&mut self, space: usize) -> u64 {
        self.ctx
            .banks_client
            .get_rent()
            .await
            .unwrap()
            .minimum_balance(space)
    }

    pub async fn clock(&mut self) -> Clock {
        self.ctx.banks_client.get_sysvar::<Clock>().await.unwrap()
    }

    /// Sets the bank's unix time, leaving the slot as it is.
    pub async fn set_unix_time(&mut self, unix_ts: i64) {
        let mut clock = self.clock().await;
        clock.unix_timestamp = unix_ts;
        self.ctx.set_sysvar(&clock);
    }

    /// Moves the bank forward by `slots` slots.
    pub async fn warp_slots(&mut self, slots: u64) {
        let slot = self.clock().await.slot;
        self.ctx.warp_to_slot(slot + slots).unwrap();
    }

    pub async fn warp_to_epoch(&mut self, epoch: u64) {
        self.ctx.warp_to_epoch(epoch).unwrap();
    }

    /// Creates a thread owned by `self.owner` and returns its address.
    pub async fn create_thread(&mut self, spec: ThreadSpec) -> (Pubkey, Outcome) {
        let owner = self.owner.insecure_clone();
        let (thread, _) = Thread::address(&owner.pubkey(), &spec.id);
        let ix = client::create_thread(&owner.pubkey(), &thread, spec.into_args());
        let outcome = self.process(&[ix], &[&owner]).await;
        (thread, outcome)
    }

    /// Executes `thread` as `self.executor`, passing every account its instructions name.
    pub async fn exec(&mut self, thread: Pubkey) -> Outcome {
        let executor = self.executor.insecure_clone();
        let state = self.thread(thread).await;
        let ix = client::exec_thread(&executor.pubkey(), &thread, &state);
        self.process(&[ix], &[&executor]).await
    }
}

/// Everything `create_thread` takes, with defaults for the parts a test does not care
/// about. Its fields are [`CreateThreadArgs`]'s, read and written through.
#[derive(Clone, Debug)]
pub struct ThreadSpec(CreateThreadArgs);

impl std::ops::Deref for ThreadSpec {
    type Target = CreateThreadArgs;

    fn deref(&self) -> &CreateThreadArgs {
        &self.0
    }
}

impl std::ops::DerefMut for ThreadSpec {
    fn deref_mut(&mut self) -> &mut CreateThreadArgs {
        &mut self.0
    }
}

impl ThreadSpec {
    /// A thread that records one call in `record` through the recorder program.
    pub fn new(id: &str, trigger: Trigger, record: Pubkey) -> Self {
        Self::running(id, trigger, vec![]).with_recorder(record)
    }

    /// A thread running `instructions`, funded for a thousand executions at 1,000
    /// lamports each.
    pub fn running(id: &str, trigger: Trigger, instructions: Vec<ThreadInstruction>) -> Self {
        Self(CreateThreadArgs {
            id: id.as_bytes().to_vec(),
            trigger,
            instructions,
            fee_per_exec: 1_000,
            rate_limit: RateLimit::default(),
            deposit: 1_000_000,
            priority: None,
            lookup_tables: vec![],
        })
    }

    /// Replaces the instructions with one recorder call signed by the thread PDA. The
    /// thread address depends on the owner, so it is filled in by `for_owner`.
    fn with_recorder(mut self, record: Pubkey) -> Self {
        self.instructions = vec![ThreadInstruction::from(recorder::record_ix(
            Pubkey::default(),
            record,
            1,
        ))];
        self
    }

    /// Points placeholder authority accounts (`Pubkey::default()`) at the thread PDA of
    /// `owner`, since a stored instruction names the thread that signs it.
    pub fn for_owner(mut self, owner: &Pubkey) -> Self {
        let (thread, _) = Thread::address(owner, &self.id);
        for ix in &mut self.instructions {
            for meta in &mut ix.accounts {
                if meta.pubkey == Pubkey::default() {
                    meta.pubkey = thread;
                }
            }
        }
        self
    }

    pub fn into_args(self) -> CreateThreadArgs {
        self.0
    }
}

/// A thread as `create_thread` would write it (a `Now` thread, due immediately) at
/// `owner`'s `id` with `bump` (right or wrong) and `ixs`, for states no instruction can
/// produce yet (placed at genesis), or to build instructions against without a bank.
pub fn hand_built_thread(owner: Pubkey, id: &[u8], bump: u8, ixs: Vec<Instruction>) -> Thread {
    ThreadFixture::new()
        .owned_as(owner, id, bump)
        .instructions(ixs.into_iter().map(ThreadInstruction::from).collect())
        .thread
}

pub fn system_account(lamports: u64) -> Account {
    Account::new(
        lamports,
        0,
        &anchor_lang::solana_program::system_program::ID,
    )
}

/// Decodes an `emit_cpi!` instruction's data into an event of type `E`, if it is one.
pub fn decode_event<E: AnchorDeserialize + Discriminator>(data: &[u8]) -> Option<E> {
    let rest = data.strip_prefix(anchor_lang::event::EVENT_IX_TAG_LE)?;
    let body = rest.strip_prefix(E::DISCRIMINATOR)?;
    E::try_from_slice(body).ok()
}

impl Fixture {
    /// The fee the bank charges for `ixs` paid by `payer`, sent as `process` sends them
    /// (with the compute-budget instruction), asked of the bank itself.
    pub async fn fee_for(&mut self, ixs: &[Instruction], payer: &Pubkey) -> u64 {
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(1_400_000)];
        all.extend_from_slice(ixs);
        let blockhash = self.latest_blockhash().await;
        let message =
            solana_sdk::message::Message::new_with_blockhash(&all, Some(payer), &blockhash);
        self.fee_for_message(message).await
    }

    /// The fee the bank charges for `message`.
    pub async fn fee_for_message(&mut self, message: solana_sdk::message::Message) -> u64 {
        self.ctx
            .banks_client
            .get_fee_for_message(message)
            .await
            .unwrap()
            .expect("bank prices the message")
    }
}
