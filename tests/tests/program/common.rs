//! Setup shared by the program tests: the one bank every test file starts from (the
//! thread program, recorder accounts, owner, keeper and a funded stranger) and the one
//! snapshot that says what a rejected transaction must leave as it was.
//!
//! Owns the genesis and the before/after comparison. Must not hold any file's scenario:
//! threads, leases and attacks are built by the test files on top of `Env`.

use anchor_lang::{AccountDeserialize, AccountSerialize};
use solana_program_test::ProgramTest;
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::state::Thread;
use thread_tests::{program_test, recorder, system_account, Fixture, STARTING_LAMPORTS};

/// A fixture plus one recorder account, created at genesis.
pub async fn fixture_with_record() -> (Fixture, Pubkey) {
    let mut pt = program_test();
    let record = Keypair::new();
    let record = solana_sdk::signature::Signer::pubkey(&record);
    pt.add_account(record, recorder::record_account());
    (Fixture::with(pt).await, record)
}

/// (last authority, calls, total) of a recorder account.
pub async fn record_of(fx: &mut Fixture, record: Pubkey) -> (Pubkey, u64, u64) {
    let account = fx.account(record).await.unwrap();
    recorder::read_record(&account.data)
}

/// A bank under construction: the thread program, two recorder accounts (the one threads
/// write, and one a stranger would like written instead) and a funded stranger. Tests
/// that need more at genesis add it to `pt` before `start`.
pub(crate) struct Genesis {
    pub pt: ProgramTest,
    pub record: Pubkey,
    pub stranger_record: Pubkey,
    pub stranger: Keypair,
}

pub(crate) fn genesis() -> Genesis {
    let mut pt = program_test();
    let record = Pubkey::new_unique();
    let stranger_record = Pubkey::new_unique();
    let stranger = Keypair::new();
    pt.add_account(record, recorder::record_account());
    pt.add_account(stranger_record, recorder::record_account());
    pt.add_account(stranger.pubkey(), system_account(STARTING_LAMPORTS));
    Genesis {
        pt,
        record,
        stranger_record,
        stranger,
    }
}

impl Genesis {
    /// Writes `state` at `address`, sized and funded like a thread account the program
    /// created: for states no instruction can produce.
    pub fn place_thread(&mut self, address: Pubkey, state: &Thread) {
        let space = state.space();
        let mut data = Vec::with_capacity(space);
        state.try_serialize(&mut data).unwrap();
        assert!(data.len() <= space);
        data.resize(space, 0);
        let account = Account {
            lamports: 1_000_000_000,
            data,
            owner: thread::ID,
            executable: false,
            rent_epoch: 0,
        };
        self.pt.add_account(address, account);
    }

    pub async fn start(self) -> Env {
        let fx = Fixture::with(self.pt).await;
        Env {
            owner: fx.owner.insecure_clone(),
            keeper: fx.executor.insecure_clone(),
            fx,
            record: self.record,
            stranger_record: self.stranger_record,
            stranger: self.stranger,
        }
    }
}

/// A started bank: the fixture, its recorder accounts, the owner, the keeper (the
/// fixture's executor) and a funded stranger (a second keeper or an attacker).
pub(crate) struct Env {
    pub fx: Fixture,
    pub record: Pubkey,
    pub stranger_record: Pubkey,
    pub owner: Keypair,
    pub keeper: Keypair,
    pub stranger: Keypair,
}

pub(crate) async fn env() -> Env {
    genesis().start().await
}

/// What a snapshot watches: a thread and, for a durable one, its nonce account.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watched {
    pub thread: Pubkey,
    pub nonce: Option<Pubkey>,
}

impl From<Pubkey> for Watched {
    fn from(thread: Pubkey) -> Self {
        Watched {
            thread,
            nonce: None,
        }
    }
}

/// What a rejected transaction may do to the thread's nonce: a non-durable one leaves it
/// as it was; a durable one that fails in execution still advances it (and pays its fee).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceEffect {
    Untouched,
    Advanced,
}

/// Everything a rejected transaction must leave as it was: the thread account byte for
/// byte, the nonce account, both recorder accounts and the balances of owner, keeper and
/// stranger.
pub(crate) struct Snapshot {
    watched: Watched,
    thread_account: Option<Account>,
    nonce_account: Option<Account>,
    records: Vec<(Pubkey, Vec<u8>)>,
    balances: Vec<(Pubkey, u64)>,
}

impl Env {
    /// (last authority, calls, total) of the recorder account `record`.
    pub async fn record_of(&mut self, record: Pubkey) -> (Pubkey, u64, u64) {
        record_of(&mut self.fx, record).await
    }

    pub async fn snapshot(&mut self, watched: impl Into<Watched>) -> Snapshot {
        let watched = watched.into();
        let thread_account = self.fx.account(watched.thread).await;
        let nonce_account = match watched.nonce {
            Some(nonce) => self.fx.account(nonce).await,
            None => None,
        };
        let mut records = Vec::new();
        for key in [self.record, self.stranger_record] {
            records.push((key, self.fx.account(key).await.unwrap().data));
        }
        let mut balances = Vec::new();
        for key in [
            self.owner.pubkey(),
            self.keeper.pubkey(),
            self.stranger.pubkey(),
        ] {
            balances.push((key, self.fx.balance(key).await));
        }
        Snapshot {
            watched,
            thread_account,
            nonce_account,
            records,
            balances,
        }
    }

    /// Asserts that the thread (its lamports, its exec_count, every byte) and both
    /// records are as they were in `before`. Balances are not compared: whoever sent the
    /// rejected transaction paid its fee.
    pub async fn assert_unchanged(&mut self, before: &Snapshot) {
        let was = before.thread_account.as_ref().expect("thread existed");
        let after = self
            .fx
            .account(before.watched.thread)
            .await
            .expect("thread exists");
        assert_eq!(after.lamports, was.lamports, "thread lamports moved");
        let exec_count_was = Thread::try_deserialize(&mut was.data.as_slice())
            .expect("a thread account")
            .exec_count;
        assert_eq!(
            self.fx.thread(before.watched.thread).await.exec_count,
            exec_count_was,
            "exec_count moved"
        );
        assert_eq!(&after, was, "thread account changed");
        self.assert_records_unchanged(before).await;
    }

    /// Asserts that nothing moved since `before` but the transaction fees in `fees`
    /// (payer, lamports): the thread account byte for byte, the records, the nonce
    /// account (its value excepted when `nonce` is `Advanced`, which is then checked to
    /// have changed) and the balances of owner, keeper and stranger.
    pub async fn assert_only_fees(
        &mut self,
        before: &Snapshot,
        fees: &[(Pubkey, u64)],
        nonce: NonceEffect,
    ) {
        assert_eq!(
            self.fx.account(before.watched.thread).await,
            before.thread_account,
            "thread account changed"
        );
        self.assert_records_unchanged(before).await;
        let nonce_key = before
            .watched
            .nonce
            .expect("a snapshot of a durable thread");
        let nonce_now = self.fx.account(nonce_key).await;
        match nonce {
            NonceEffect::Untouched => {
                assert_eq!(nonce_now, before.nonce_account, "nonce account changed")
            }
            NonceEffect::Advanced => {
                let (now, was) = (nonce_now.unwrap(), before.nonce_account.clone().unwrap());
                assert_eq!(now.lamports, was.lamports, "nonce lamports moved");
                assert_eq!(now.owner, was.owner);
                assert_eq!(&now.data[..40], &was.data[..40], "nonce authority changed");
                assert_ne!(&now.data[40..72], &was.data[40..72], "nonce not advanced");
            }
        }
        for (key, was) in &before.balances {
            let fee: u64 = fees.iter().filter(|(k, _)| k == key).map(|(_, f)| f).sum();
            assert_eq!(
                self.fx.balance(*key).await,
                was - fee,
                "balance of {key} moved by more than its fees"
            );
        }
    }

    async fn assert_records_unchanged(&mut self, before: &Snapshot) {
        for (key, data) in &before.records {
            let now = self.fx.account(*key).await.unwrap().data;
            assert_eq!(&now, data, "record {key} changed");
        }
    }
}
