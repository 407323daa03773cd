//! Example threads created over JSON-RPC, so a keeper pointed at a fresh localnet has
//! something to execute: an interval thread, a durable one and a cron one, each of whose
//! executions writes an SPL memo signed by the thread (the memo program is in every
//! test-validator genesis). The owner is funded by `requestAirdrop`, through the faucet.
//!
//! Must not: execute threads; that is the keeper's job.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature};
use solana_sdk::signer::Signer;
use solana_sdk::transaction::Transaction;
use thread::instructions::CreateThreadArgs;
use thread::state::{RateLimit, Thread, ThreadInstruction, Trigger};

/// SPL Memo v3: checks that every account it is given signed, so a memo naming the thread
/// shows the thread PDA signing by CPI.
pub const MEMO_PROGRAM: Pubkey = solana_sdk::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// What the owner asks the faucet for: deposits, rent and nonce accounts for a few threads.
const OWNER_AIRDROP: u64 = 10_000_000_000;

/// Lamports deposited in each thread for its keeper's fees.
pub const DEPOSIT: u64 = 1_000_000_000;

/// How long an airdrop or a creation may take to confirm.
const CONFIRM_WITHIN: Duration = Duration::from_secs(60);

/// A thread this module created.
#[derive(Clone, Debug)]
pub struct ExampleThread {
    pub label: &'static str,
    pub address: Pubkey,
    pub durable: bool,
}

/// The example threads: label, trigger, durable.
fn plans() -> Vec<(&'static str, Trigger, bool)> {
    vec![
        (
            "every-5s",
            Trigger::Interval {
                seconds: 5,
                skippable: true,
            },
            false,
        ),
        (
            "durable-every-10s",
            Trigger::Interval {
                seconds: 10,
                skippable: true,
            },
            true,
        ),
        (
            "cron-every-15s",
            Trigger::Cron {
                schedule: "*/15 * * * * *".into(),
                skippable: true,
                jitter: 0,
            },
            false,
        ),
    ]
}

/// Funds a fresh owner from the faucet and creates the example threads, one transaction
/// each, confirmed. Returns them with the owner.
pub async fn create(rpc_url: &str) -> anyhow::Result<(Keypair, Vec<ExampleThread>)> {
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let owner = funded_owner(&rpc, OWNER_AIRDROP).await?;
    let mut threads = Vec::new();
    for (label, trigger, durable) in plans() {
        let address = create_thread(&rpc, &owner, label, trigger, durable).await?;
        threads.push(ExampleThread {
            label,
            address,
            durable,
        });
    }
    Ok((owner, threads))
}

/// A fresh keypair holding `lamports` from the faucet (`requestAirdrop`), confirmed.
pub async fn funded_owner(rpc: &RpcClient, lamports: u64) -> anyhow::Result<Keypair> {
    let owner = Keypair::new();
    let airdrop = rpc
        .request_airdrop(&owner.pubkey(), lamports)
        .await
        .context("requestAirdrop for a thread owner")?;
    confirm(rpc, &airdrop).await?;
    Ok(owner)
}

/// Creates the thread `label` of `owner` (a durable one with a fresh nonce account),
/// whose every execution writes a memo signed by the thread, funded with [`DEPOSIT`];
/// returns its address once the creation is confirmed.
pub async fn create_thread(
    rpc: &RpcClient,
    owner: &Keypair,
    label: &str,
    trigger: Trigger,
    durable: bool,
) -> anyhow::Result<Pubkey> {
    create_thread_running(rpc, owner, label, trigger, durable, &[]).await
}

/// [`create_thread`] whose executions also run `then` after the memo (for example the
/// responder's instructions, whose answers steer the thread).
pub async fn create_thread_running(
    rpc: &RpcClient,
    owner: &Keypair,
    label: &str,
    trigger: Trigger,
    durable: bool,
    then: &[Instruction],
) -> anyhow::Result<Pubkey> {
    let id = label.as_bytes().to_vec();
    let (address, _) = Thread::address(&owner.pubkey(), &id);
    let instructions = std::iter::once(memo_signed_by(&address, label))
        .chain(then.iter().cloned())
        .map(ThreadInstruction::from)
        .collect();
    let args = CreateThreadArgs {
        id,
        trigger,
        instructions,
        // Covers a durable one-shot thread: the execution and its claim and release.
        fee_per_exec: 20_000,
        rate_limit: RateLimit::default(),
        deposit: DEPOSIT,
        priority: None,
        lookup_tables: vec![],
    };
    let nonce = Keypair::new();
    let mut signers = vec![owner];
    let ix = if durable {
        signers.push(&nonce);
        thread::client::create_thread_with_nonce(
            &owner.pubkey(),
            &address,
            &nonce.pubkey(),
            args,
            10_000,
        )
    } else {
        thread::client::create_thread(&owner.pubkey(), &address, args)
    };
    send(rpc, &[ix], &signers)
        .await
        .with_context(|| format!("creating thread {label}"))?;
    Ok(address)
}

/// A counter account of the responder example program, created and paid by `owner`.
pub async fn responder_counter(rpc: &RpcClient, owner: &Keypair) -> anyhow::Result<Pubkey> {
    let counter = Keypair::new();
    let lamports = rpc
        .get_minimum_balance_for_rent_exemption(responder::Counter::LEN)
        .await?;
    let create = responder::create_counter(&owner.pubkey(), &counter.pubkey(), lamports);
    send(rpc, &[create], &[owner, &counter])
        .await
        .context("creating a responder counter")?;
    Ok(counter.pubkey())
}

/// Signs `ixs` with `signers` (the first pays) over a fresh blockhash, sends them and
/// waits until they are confirmed.
pub async fn send(
    rpc: &RpcClient,
    ixs: &[Instruction],
    signers: &[&Keypair],
) -> anyhow::Result<Signature> {
    let payer = signers.first().context("a transaction needs a fee payer")?;
    let blockhash = rpc.get_latest_blockhash().await?;
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), signers, blockhash);
    let signature = rpc.send_transaction(&tx).await?;
    confirm(rpc, &signature).await?;
    Ok(signature)
}

fn memo_signed_by(thread: &Pubkey, label: &str) -> Instruction {
    Instruction {
        program_id: MEMO_PROGRAM,
        accounts: vec![AccountMeta::new_readonly(*thread, true)],
        data: format!("localnet thread {label}").into_bytes(),
    }
}

/// Waits until `signature` is confirmed; an error if it failed or took too long.
pub async fn confirm(rpc: &RpcClient, signature: &Signature) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < CONFIRM_WITHIN {
        if let Some(result) = rpc.get_signature_status(signature).await? {
            return result.with_context(|| format!("transaction {signature} failed"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("transaction {signature} was not confirmed within {CONFIRM_WITHIN:?}")
}
