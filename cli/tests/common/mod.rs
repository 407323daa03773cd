//! The bench every command test runs on: an in-process Agave bank with the thread
//! program, a funded owner, and spec builders, so tests state only what they vary.

#![allow(dead_code, deprecated)] // each test file uses part; program-test 3.1 is marked deprecated

use keeper::chain::bank::{program_test, BankChain};
use keeper::chain::Chain;
use solana_sdk::account::Account;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread_cli::commands::{CommandError, Owner, Written};
use thread_cli::spec::{AccountSpec, CreateSpec, InstructionSpec, TriggerSpec, THREAD_WORD};

/// The program the example threads call; never executed here, only stored.
pub const MEMO: &str = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";
pub const FEE: u64 = 5_000;
pub const DEPOSIT: u64 = 1_000_000;

pub struct Bench {
    pub chain: BankChain,
    pub owner: Keypair,
    /// A second funded key: a keeper claiming leases, or a stranger.
    pub other: Keypair,
}

impl Bench {
    pub async fn start() -> Self {
        let mut pt = program_test();
        let owner = Keypair::new();
        let other = Keypair::new();
        for key in [owner.pubkey(), other.pubkey()] {
            pt.add_account(
                key,
                Account::new(100 * LAMPORTS_PER_SOL, 0, &anchor_lang::system_program::ID),
            );
        }
        Self {
            chain: BankChain::start(pt).await,
            owner,
            other,
        }
    }

    pub fn owner(&self) -> Owner<'_> {
        Owner {
            chain: &self.chain,
            keypair: &self.owner,
        }
    }

    pub fn as_other(&self) -> Owner<'_> {
        Owner {
            chain: &self.chain,
            keypair: &self.other,
        }
    }

    pub async fn lamports(&self, key: &Pubkey) -> u64 {
        self.chain
            .get_account(key)
            .await
            .expect("read account")
            .map_or(0, |a| a.lamports)
    }

    pub async fn exists(&self, key: &Pubkey) -> bool {
        self.chain
            .get_account(key)
            .await
            .expect("read account")
            .is_some()
    }

    /// Creates `spec` and returns what the command reported, failing the test otherwise.
    pub async fn create(&self, spec: &CreateSpec) -> Written {
        thread_cli::commands::create(self.owner(), spec)
            .await
            .unwrap_or_else(|e| panic!("create {:?}: {e}", spec.id))
    }
}

/// A thread that writes a memo signed by itself, with `trigger`.
pub fn spec(id: &str, trigger: TriggerSpec) -> CreateSpec {
    CreateSpec {
        id: id.into(),
        trigger,
        instructions: vec![InstructionSpec {
            program: MEMO.into(),
            accounts: vec![AccountSpec {
                pubkey: THREAD_WORD.into(),
                is_signer: true,
                is_writable: false,
            }],
            data: Some("utf8:hello from a thread".into()),
        }],
        fee_per_exec: FEE,
        deposit: DEPOSIT,
        rate_limit: None,
        priority: None,
        durable: false,
        max_lease_slots: None,
        lookup_tables: vec![],
    }
}

pub fn trigger(kind: &str) -> TriggerSpec {
    TriggerSpec {
        kind: kind.into(),
        ..TriggerSpec::default()
    }
}

pub fn address(written: &Written) -> Pubkey {
    written.thread.parse().expect("a thread address")
}

/// The nonce account a write reported creating.
pub fn nonce(written: &Written) -> Pubkey {
    written
        .nonce_account
        .as_deref()
        .expect("a nonce account reported")
        .parse()
        .expect("a nonce address")
}

/// Fails unless `result` is a refusal of `field`.
pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, CommandError>, field: &str) {
    match result {
        Err(CommandError::Refused(refusal)) => assert_eq!(refusal.field, field, "{refusal}"),
        other => panic!("expected a refusal of {field}, got {other:?}"),
    }
}
