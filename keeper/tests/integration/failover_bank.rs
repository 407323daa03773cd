//! `FailoverChain` over two `FaultyChain`s in front of one real bank: two RPC endpoints
//! of the same cluster, one of which goes down.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we test against

use std::sync::Arc;
use std::time::Duration;

use keeper::chain::bank::BankChain;
use keeper::chain::breaker::{BreakerConfig, BreakerState};
use keeper::chain::failover::FailoverChain;
use keeper::chain::faulty::{Fault, FaultyChain, Op};
use keeper::chain::{Chain, ChainError};
use keeper::test_utils::bank::{BankChainExt, TestBank, STARTING_LAMPORTS};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, TransactionError, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use tokio::time::Instant;

const LAMPORTS_PER_SIGNATURE: u64 = 5_000;
const AMOUNT: u64 = 1_000_000;
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// One bank, two endpoints in front of it (`a` preferred), and the failover over them.
struct Cluster {
    owner: Keypair,
    a: Arc<FaultyChain<BankChain>>,
    b: Arc<FaultyChain<BankChain>>,
    chain: FailoverChain,
}

impl Cluster {
    async fn start() -> Self {
        let bank = TestBank::start().await;
        let owner = bank.owner.insecure_clone();
        let context = bank.chain.context();
        let a = Arc::new(FaultyChain::new(bank.into_chain(), 1));
        let b = Arc::new(FaultyChain::new(BankChain::from_shared(context).await, 2));
        let chain = FailoverChain::new(
            vec![a.clone() as Arc<dyn Chain>, b.clone() as Arc<dyn Chain>],
            BreakerConfig::default(),
            None,
        )
        .unwrap();
        Self { owner, a, b, chain }
    }

    /// A signed transfer of `AMOUNT` from the owner to a new account.
    async fn transfer(&self) -> (Pubkey, VersionedTransaction) {
        let to = Pubkey::new_unique();
        let blockhash = self.b.inner().latest_blockhash().await.unwrap();
        let ix = system_instruction::transfer(&self.owner.pubkey(), &to, AMOUNT);
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&self.owner.pubkey()),
            &[&self.owner],
            blockhash,
        );
        (to, tx.into())
    }

    /// Lamports, read straight from the bank.
    async fn balance(&self, key: &Pubkey) -> u64 {
        self.b.inner().balance(key).await
    }

    fn states(&self) -> Vec<(String, &'static str)> {
        self.chain
            .breaker_states()
            .into_iter()
            .map(|(name, state)| (name, state.as_str()))
            .collect()
    }
}

#[tokio::test]
async fn endpoints_are_labelled_apart() {
    let c = Cluster::start().await;
    assert_eq!(
        c.states(),
        [
            ("faulty:bank".to_string(), "closed"),
            ("faulty:bank#2".to_string(), "closed")
        ]
    );
    assert_eq!(c.chain.endpoint(), "failover[faulty:bank, faulty:bank#2]");
}

#[tokio::test]
async fn send_fails_over_when_the_first_endpoint_is_down_and_lands_once() {
    let c = Cluster::start().await;
    let (to, tx) = c.transfer().await;
    c.a.script(Op::Send, [Some(Fault::Drop)]);

    assert_eq!(c.chain.send(&tx).await, Ok(tx.signatures[0]));
    assert_eq!(c.a.forwarded(Op::Send), 0, "a never got it");
    assert_eq!(c.b.forwarded(Op::Send), 1, "b did");

    let status = c.chain.signature_statuses(&tx.signatures).await.unwrap()[0]
        .clone()
        .expect("landed");
    assert_eq!(status.err, None);
    assert_eq!(c.balance(&to).await, AMOUNT);
    assert_eq!(
        c.balance(&c.owner.pubkey()).await,
        STARTING_LAMPORTS - AMOUNT - LAMPORTS_PER_SIGNATURE
    );
    assert_eq!(
        c.chain.breaker_states()[0].1,
        BreakerState::Closed { failures: 0 },
        "the status query went to a again, which answered"
    );
}

#[tokio::test]
async fn resend_after_a_lost_answer_does_not_land_twice() {
    let c = Cluster::start().await;
    let (to, tx) = c.transfer().await;
    // a forwards the send (it lands) and the answer is lost: the failover resends it to b.
    c.a.script(Op::Send, [Some(Fault::LoseAnswer)]);

    assert_eq!(
        c.chain.send(&tx).await,
        Err(ChainError::Rejected(TransactionError::AlreadyProcessed)),
        "b's answer to the duplicate is the answer"
    );
    assert_eq!((c.a.forwarded(Op::Send), c.b.forwarded(Op::Send)), (1, 1));
    assert!(
        c.chain.signature_statuses(&tx.signatures).await.unwrap()[0].is_some(),
        "the status tells what happened"
    );
    assert_eq!(c.balance(&to).await, AMOUNT, "moved once");
    assert_eq!(
        c.balance(&c.owner.pubkey()).await,
        STARTING_LAMPORTS - AMOUNT - LAMPORTS_PER_SIGNATURE,
        "one fee"
    );
}

#[tokio::test]
async fn breaker_skips_a_down_endpoint_then_traffic_returns_after_recovery() {
    let c = Cluster::start().await;
    tokio::time::pause();
    let start = Instant::now();
    c.a.down_between(start, start + Duration::from_secs(45));

    // Five failures open a's breaker; b answers each call.
    let slot = c.chain.clock().await.unwrap().slot;
    for _ in 0..4 {
        assert_eq!(c.chain.clock().await.unwrap().slot, slot);
    }
    assert_eq!(c.states()[0].1, "open");
    assert_eq!((c.a.calls(), c.b.calls()), (5, 5));

    // While open, a is not tried at all.
    for _ in 0..10 {
        c.chain.latest_blockhash().await.unwrap();
    }
    assert_eq!(c.a.calls(), 5);

    // After the timeout one probe goes to a; still down, so open again.
    tokio::time::advance(OPEN_TIMEOUT).await;
    c.chain.clock().await.unwrap();
    assert_eq!(c.a.calls(), 6);
    assert_eq!(c.states()[0].1, "open");

    // a is back (the down window ended at 45 s): probes succeed, the breaker closes and
    // the traffic, a send included, returns to a.
    tokio::time::advance(OPEN_TIMEOUT).await;
    let b_calls = c.b.calls();
    c.chain.clock().await.unwrap();
    assert_eq!(c.states()[0].1, "half_open");
    c.chain.clock().await.unwrap();
    assert_eq!(c.states()[0].1, "closed");
    let (to, tx) = c.transfer().await; // its blockhash is read past the fault injector
    assert_eq!(c.chain.send(&tx).await, Ok(tx.signatures[0]));
    assert_eq!(c.a.forwarded(Op::Send), 1);
    assert_eq!(c.b.forwarded(Op::Send), 0);
    assert_eq!(c.b.calls(), b_calls, "nothing more reached b");
    assert_eq!(c.balance(&to).await, AMOUNT);
}

#[tokio::test]
async fn all_endpoints_down_is_unavailable() {
    let c = Cluster::start().await;
    tokio::time::pause();
    let start = Instant::now();
    let until = start + Duration::from_secs(3600);
    c.a.down_between(start, until);
    c.b.down_between(start, until);

    let err = c.chain.clock().await.unwrap_err();
    assert_eq!(
        err,
        ChainError::Unavailable("faulty:bank: injected: endpoint down".into()),
        "b's error, the last one"
    );
    for _ in 0..4 {
        assert_eq!(c.chain.clock().await.unwrap_err().kind(), "unavailable");
    }
    assert!(c.states().iter().all(|(_, state)| *state == "open"));
    let (calls_a, calls_b) = (c.a.calls(), c.b.calls());
    let err = c.chain.latest_blockhash().await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        (c.a.calls(), c.b.calls()),
        (calls_a, calls_b),
        "none was tried"
    );
}
