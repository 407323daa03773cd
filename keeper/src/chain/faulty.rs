//! [`FaultyChain`]: any [`Chain`] with faults injected, for tests of the keeper's retry,
//! replay and failover paths.
//!
//! Owns the fault plan (per-operation scripts, random rates, "down" windows, delayed
//! statuses), one seeded RNG, and a log of what it injected. The faults:
//! - [`Fault::Drop`]: `Unavailable`, the request never reached the chain;
//! - [`Fault::LoseAnswer`]: the request is forwarded (a send lands), then `Unavailable`:
//!   the answer was lost on the way back;
//! - [`Fault::Timeout`]: waits, then `Unavailable`, without forwarding;
//! - [`Fault::Rpc`]: the endpoint answers with an error, without forwarding;
//! - [`Fault::Down`]: every call between two instants ([`FaultyChain::down_between`]);
//! - delayed statuses ([`FaultyChain::status_delay`]): each signature's status stays
//!   `None` for a random time after it was sent (or first found), so transactions seem to
//!   land later and in another order than they were sent;
//! - hidden accounts ([`FaultyChain::hide_account`]): "account not found" for an account
//!   the chain has, read at a slot of the test's choosing: a node that lags behind the
//!   one the keeper read before, or one of another cluster.
//!
//! Deterministic: the same seed and the same sequence of calls give the same faults.
//! Time is `tokio::time`, so tests can pause it. Must not: change the answers it lets
//! through (other than hiding statuses), or draw randomness from anywhere but its seed.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::VersionedTransaction;
use tokio::time::Instant;

use super::{Chain, ChainError, KeyedAccount, ProgramNotices, Simulation, TxStatus};

/// One method of [`Chain`], to aim faults at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    GetAccount,
    GetMultipleAccounts,
    GetProgramAccounts,
    LatestBlockhash,
    Clock,
    Simulate,
    Send,
    SignatureStatuses,
    RecentPrioritizationFees,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::GetAccount,
        Op::GetMultipleAccounts,
        Op::GetProgramAccounts,
        Op::LatestBlockhash,
        Op::Clock,
        Op::Simulate,
        Op::Send,
        Op::SignatureStatuses,
        Op::RecentPrioritizationFees,
    ];
}

/// What happens to one call instead of a plain answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `Unavailable` without forwarding.
    Drop,
    /// Forwarded, then `Unavailable`: it took effect, the caller cannot know.
    LoseAnswer,
    /// Waits this long, then `Unavailable`, without forwarding.
    Timeout(Duration),
    /// `ChainError::Rpc` with this message, without forwarding.
    Rpc(String),
    /// `Unavailable` without forwarding, inside a down window.
    Down,
}

/// Probabilities of the random faults for one operation, each in `[0, 1]`, summing to at
/// most 1. A random timeout lasts [`FaultyChain::timeout_after`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    pub drop: f64,
    pub lose_answer: f64,
    pub timeout: f64,
    pub rpc: f64,
}

/// One injected fault, in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// 0-based index of the call among all calls to this chain.
    pub call: u64,
    pub op: Op,
    pub fault: Fault,
}

struct State {
    rng: StdRng,
    /// A second stream for status delays, so turning them on leaves the faults as they were.
    delay_rng: StdRng,
    calls: u64,
    scripts: HashMap<Op, VecDeque<Option<Fault>>>,
    rates: HashMap<Op, FaultRates>,
    down: Vec<(Instant, Instant)>,
    status_delay: Option<(Duration, Duration)>,
    visible_at: HashMap<Signature, Instant>,
    forwarded: HashMap<Op, u64>,
    injected: Vec<Injected>,
    /// Accounts answered as absent, with the slot such a read reports (`None`: the
    /// inner chain's).
    hidden: HashMap<Pubkey, Option<u64>>,
}

impl State {
    fn delay(&mut self) -> Option<Duration> {
        let (min, max) = self.status_delay?;
        if max <= min {
            return Some(min);
        }
        Some(self.delay_rng.random_range(min..=max))
    }
}

/// A [`Chain`] that wraps `C` and injects faults (see the module docs).
pub struct FaultyChain<C: Chain> {
    inner: C,
    endpoint: String,
    timeout: Duration,
    state: Mutex<State>,
}

impl<C: Chain> FaultyChain<C> {
    /// Passes everything through until faults are configured; `seed` drives every
    /// random choice.
    pub fn new(inner: C, seed: u64) -> Self {
        let endpoint = format!("faulty:{}", inner.endpoint());
        Self {
            inner,
            endpoint,
            timeout: Duration::from_secs(30),
            state: Mutex::new(State {
                rng: StdRng::seed_from_u64(seed),
                delay_rng: StdRng::seed_from_u64(seed ^ 0x5eed_de1a_7000_0000),
                calls: 0,
                scripts: HashMap::new(),
                rates: HashMap::new(),
                down: Vec::new(),
                status_delay: None,
                visible_at: HashMap::new(),
                forwarded: HashMap::new(),
                injected: Vec::new(),
                hidden: HashMap::new(),
            }),
        }
    }

    /// How long a random [`Fault::Timeout`] waits (30 s unless set).
    pub fn timeout_after(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Random faults for `op`.
    pub fn rates(self, op: Op, rates: FaultRates) -> Self {
        self.lock().rates.insert(op, rates);
        self
    }

    /// Replaces `op`'s random faults while the chain is in use: an outage starts, or
    /// ends with `FaultRates::default()`.
    pub fn set_rates(&self, op: Op, rates: FaultRates) {
        self.lock().rates.insert(op, rates);
    }

    /// The same random faults for every operation.
    pub fn rates_all(self, rates: FaultRates) -> Self {
        for op in Op::ALL {
            self.lock().rates.insert(op, rates);
        }
        self
    }

    /// Appends steps to `op`'s script: its next calls take them in order (`None` lets
    /// one call through) before any random draw. Can be called while the chain is in use.
    pub fn script(&self, op: Op, steps: impl IntoIterator<Item = Option<Fault>>) {
        self.lock().scripts.entry(op).or_default().extend(steps);
    }

    /// Every call in `[from, until)` fails with [`Fault::Down`].
    pub fn down_between(&self, from: Instant, until: Instant) {
        self.lock().down.push((from, until));
    }

    /// Hides each signature's status for a random time in `[min, max]` after it was sent
    /// through this chain, or after its status was first found.
    pub fn status_delay(self, min: Duration, max: Duration) -> Self {
        self.lock().status_delay = Some((min, max));
        self
    }

    /// Answers "account not found" for `key` from now on, while the inner chain has it:
    /// reads of it alone, of several accounts and of the program's accounts leave it out.
    /// A read with its slot reports `reported_slot` (a lagging node's, below what the
    /// keeper saw before; or another cluster's), or the inner chain's when `None`. The
    /// program subscription passes it through untouched, as with every other fault.
    pub fn hide_account(&self, key: Pubkey, reported_slot: Option<u64>) {
        self.lock().hidden.insert(key, reported_slot);
    }

    /// Ends [`FaultyChain::hide_account`] for `key`: the node caught up.
    pub fn reveal_account(&self, key: &Pubkey) {
        self.lock().hidden.remove(key);
    }

    /// `Some(reported slot)` when `key` is hidden.
    fn hidden(&self, key: &Pubkey) -> Option<Option<u64>> {
        self.lock().hidden.get(key).copied()
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The faults injected so far.
    pub fn injected(&self) -> Vec<Injected> {
        self.lock().injected.clone()
    }

    /// How many calls of `op` reached the inner chain (lost answers included).
    pub fn forwarded(&self, op: Op) -> u64 {
        self.lock().forwarded.get(&op).copied().unwrap_or(0)
    }

    /// How many calls were made, faulty or not.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// The fault for the next call of `op`, if any. Draws exactly one random number per
    /// call that is neither down nor scripted, whatever the rates, so that changing the
    /// rates of one operation does not shift the draws of another.
    fn decide(&self, op: Op) -> Option<Fault> {
        let now = Instant::now();
        let mut state = self.lock();
        let call = state.calls;
        state.calls += 1;
        let fault = if state
            .down
            .iter()
            .any(|(from, until)| *from <= now && now < *until)
        {
            Some(Fault::Down)
        } else if let Some(step) = state.scripts.get_mut(&op).and_then(VecDeque::pop_front) {
            step
        } else {
            let draw: f64 = state.rng.random();
            let rates = state.rates.get(&op).copied().unwrap_or_default();
            let faults = [
                (rates.drop, Fault::Drop),
                (rates.lose_answer, Fault::LoseAnswer),
                (rates.timeout, Fault::Timeout(self.timeout)),
                (
                    rates.rpc,
                    Fault::Rpc(format!("injected RPC error on {op:?}")),
                ),
            ];
            let mut threshold = 0.0;
            faults.into_iter().find_map(|(rate, fault)| {
                threshold += rate;
                (draw < threshold).then_some(fault)
            })
        };
        match &fault {
            Some(fault) => state.injected.push(Injected {
                call,
                op,
                fault: fault.clone(),
            }),
            None => *state.forwarded.entry(op).or_default() += 1,
        }
        if fault == Some(Fault::LoseAnswer) {
            *state.forwarded.entry(op).or_default() += 1;
        }
        fault
    }

    async fn run<T, F>(&self, op: Op, call: F) -> Result<T, ChainError>
    where
        F: Future<Output = Result<T, ChainError>>,
    {
        let endpoint = &self.endpoint;
        match self.decide(op) {
            None => call.await,
            Some(Fault::Drop) => Err(ChainError::Unavailable(format!(
                "{endpoint}: injected: {op:?} dropped"
            ))),
            Some(Fault::Down) => Err(ChainError::Unavailable(format!(
                "{endpoint}: injected: endpoint down"
            ))),
            Some(Fault::LoseAnswer) => {
                let _ = call.await;
                Err(ChainError::Unavailable(format!(
                    "{endpoint}: injected: answer to {op:?} lost"
                )))
            }
            Some(Fault::Timeout(wait)) => {
                tokio::time::sleep(wait).await;
                Err(ChainError::Unavailable(format!(
                    "{endpoint}: injected: {op:?} timed out after {wait:?}"
                )))
            }
            Some(Fault::Rpc(message)) => Err(ChainError::Rpc(message)),
        }
    }

    /// Starts the delay of a signature that reached the inner chain's send.
    fn sent(&self, signature: Signature) {
        let mut state = self.lock();
        if let Some(delay) = state.delay() {
            let at = Instant::now() + delay;
            state.visible_at.entry(signature).or_insert(at);
        }
    }
}

#[async_trait]
impl<C: Chain> Chain for FaultyChain<C> {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        let account = self
            .run(Op::GetAccount, self.inner.get_account(key))
            .await?;
        Ok(account.filter(|_| self.hidden(key).is_none()))
    }

    /// Counted as [`Op::GetAccount`]: it is one `getAccountInfo`.
    async fn get_account_with_slot(
        &self,
        key: &Pubkey,
    ) -> Result<(u64, Option<Account>), ChainError> {
        let (slot, account) = self
            .run(Op::GetAccount, self.inner.get_account_with_slot(key))
            .await?;
        Ok(match self.hidden(key) {
            Some(reported) => (reported.unwrap_or(slot), None),
            None => (slot, account),
        })
    }

    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let mut accounts = self
            .run(
                Op::GetMultipleAccounts,
                self.inner.get_multiple_accounts(keys),
            )
            .await?;
        for (key, account) in keys.iter().zip(accounts.iter_mut()) {
            if self.hidden(key).is_some() {
                *account = None;
            }
        }
        Ok(accounts)
    }

    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        let (slot, mut accounts) = self
            .run(
                Op::GetProgramAccounts,
                self.inner.get_program_accounts(program, prefix),
            )
            .await?;
        accounts.retain(|keyed| self.hidden(&keyed.pubkey).is_none());
        Ok((slot, accounts))
    }

    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.run(Op::LatestBlockhash, self.inner.latest_blockhash())
            .await
    }

    async fn clock(&self) -> Result<Clock, ChainError> {
        self.run(Op::Clock, self.inner.clock()).await
    }

    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        self.run(Op::Simulate, self.inner.simulate(tx)).await
    }

    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let forward = async {
            let result = self.inner.send(tx).await;
            if let Some(signature) = tx.signatures.first() {
                if result.is_ok() {
                    self.sent(*signature);
                }
            }
            result
        };
        self.run(Op::Send, forward).await
    }

    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        let mut statuses = self
            .run(
                Op::SignatureStatuses,
                self.inner.signature_statuses(signatures),
            )
            .await?;
        let now = Instant::now();
        let mut state = self.lock();
        if state.status_delay.is_none() {
            return Ok(statuses);
        }
        for (signature, status) in signatures.iter().zip(statuses.iter_mut()) {
            if status.is_none() {
                continue;
            }
            let visible_at = match state.visible_at.get(signature) {
                Some(at) => *at,
                None => {
                    let at = now + state.delay().unwrap_or_default();
                    state.visible_at.insert(*signature, at);
                    at
                }
            };
            if now < visible_at {
                *status = None;
            }
        }
        Ok(statuses)
    }

    async fn recent_prioritization_fees(
        &self,
        accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        self.run(
            Op::RecentPrioritizationFees,
            self.inner.recent_prioritization_fees(accounts),
        )
        .await
    }

    /// Passed through untouched: the push stream is a hint next to the full views, and
    /// the faults here are about requests.
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        self.inner.subscribe_program(program, prefix).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use solana_sdk::message::Message;
    use solana_sdk::signature::Keypair;
    use solana_sdk::signer::Signer;
    use solana_sdk::transaction::Transaction;

    use super::*;

    /// A chain that answers everything at once and remembers what it was sent.
    #[derive(Default)]
    struct Stub {
        sent: Mutex<HashSet<Signature>>,
    }

    #[async_trait]
    impl Chain for Stub {
        fn endpoint(&self) -> &str {
            "stub"
        }
        async fn get_account(&self, _: &Pubkey) -> Result<Option<Account>, ChainError> {
            Ok(None)
        }
        async fn get_multiple_accounts(
            &self,
            keys: &[Pubkey],
        ) -> Result<Vec<Option<Account>>, ChainError> {
            Ok(vec![None; keys.len()])
        }
        async fn get_program_accounts(
            &self,
            _: &Pubkey,
            _: &[u8],
        ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
            Ok((7, vec![]))
        }
        async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
            Ok(Hash::new_from_array([1; 32]))
        }
        async fn clock(&self) -> Result<Clock, ChainError> {
            Ok(Clock::default())
        }
        async fn simulate(&self, _: &VersionedTransaction) -> Result<Simulation, ChainError> {
            Ok(Simulation {
                err: None,
                logs: vec![],
                units_consumed: 42,
            })
        }
        async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
            self.sent.lock().insert(tx.signatures[0]);
            Ok(tx.signatures[0])
        }
        async fn signature_statuses(
            &self,
            signatures: &[Signature],
        ) -> Result<Vec<Option<TxStatus>>, ChainError> {
            let sent = self.sent.lock();
            Ok(signatures
                .iter()
                .map(|s| {
                    sent.contains(s).then_some(TxStatus {
                        slot: 1,
                        err: None,
                        confirmed: true,
                    })
                })
                .collect())
        }
        async fn recent_prioritization_fees(&self, _: &[Pubkey]) -> Result<Vec<u64>, ChainError> {
            Ok(vec![])
        }
    }

    fn tx() -> VersionedTransaction {
        let payer = Keypair::new();
        let message = Message::new(&[], Some(&payer.pubkey()));
        Transaction::new(&[&payer], message, Hash::new_unique()).into()
    }

    fn sent(chain: &FaultyChain<Stub>, tx: &VersionedTransaction) -> bool {
        chain.inner().sent.lock().contains(&tx.signatures[0])
    }

    #[tokio::test]
    async fn without_faults_every_call_passes_through() {
        let chain = FaultyChain::new(Stub::default(), 1);
        let tx = tx();
        assert_eq!(chain.endpoint(), "faulty:stub");
        assert_eq!(chain.get_account(&Pubkey::new_unique()).await, Ok(None));
        assert_eq!(
            chain.get_multiple_accounts(&[Pubkey::new_unique()]).await,
            Ok(vec![None])
        );
        assert_eq!(
            chain
                .get_program_accounts(&Pubkey::new_unique(), b"x")
                .await,
            Ok((7, vec![]))
        );
        assert_eq!(
            chain.latest_blockhash().await,
            Ok(Hash::new_from_array([1; 32]))
        );
        assert_eq!(chain.clock().await, Ok(Clock::default()));
        assert_eq!(chain.simulate(&tx).await.unwrap().units_consumed, 42);
        assert_eq!(chain.send(&tx).await, Ok(tx.signatures[0]));
        assert!(chain.signature_statuses(&tx.signatures).await.unwrap()[0].is_some());
        assert_eq!(chain.recent_prioritization_fees(&[]).await, Ok(vec![]));
        assert_eq!(chain.calls(), 9);
        assert!(chain.injected().is_empty());
        assert_eq!(chain.forwarded(Op::Send), 1);
    }

    #[tokio::test]
    async fn dropped_send_never_reaches_the_chain() {
        let chain = FaultyChain::new(Stub::default(), 1);
        chain.script(Op::Send, [Some(Fault::Drop)]);
        let tx = tx();
        let err = chain.send(&tx).await.unwrap_err();
        assert_eq!(err.kind(), "unavailable");
        assert!(!sent(&chain, &tx));
        assert_eq!(chain.forwarded(Op::Send), 0);
        // The script is used up: the retry goes through.
        assert_eq!(chain.send(&tx).await, Ok(tx.signatures[0]));
        assert!(sent(&chain, &tx));
    }

    #[tokio::test]
    async fn lost_answer_send_lands_but_reports_unavailable() {
        let chain = FaultyChain::new(Stub::default(), 1);
        chain.script(Op::Send, [Some(Fault::LoseAnswer)]);
        let tx = tx();
        let err = chain.send(&tx).await.unwrap_err();
        assert_eq!(err.kind(), "unavailable");
        assert!(
            sent(&chain, &tx),
            "the transaction must have been forwarded"
        );
        assert_eq!(chain.forwarded(Op::Send), 1);
        assert!(chain.signature_statuses(&tx.signatures).await.unwrap()[0].is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_waits_then_is_unavailable_without_forwarding() {
        let chain = FaultyChain::new(Stub::default(), 1);
        chain.script(Op::Send, [Some(Fault::Timeout(Duration::from_secs(5)))]);
        let tx = tx();
        let started = Instant::now();
        let err = chain.send(&tx).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(err.kind(), "unavailable");
        assert!(!sent(&chain, &tx));
    }

    #[tokio::test(start_paused = true)]
    async fn random_timeouts_last_timeout_after() {
        let chain = FaultyChain::new(Stub::default(), 1)
            .timeout_after(Duration::from_millis(250))
            .rates(
                Op::Clock,
                FaultRates {
                    timeout: 1.0,
                    ..FaultRates::default()
                },
            );
        let started = Instant::now();
        assert_eq!(chain.clock().await.unwrap_err().kind(), "unavailable");
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test]
    async fn rpc_fault_is_an_rpc_error() {
        let chain = FaultyChain::new(Stub::default(), 1);
        chain.script(Op::LatestBlockhash, [Some(Fault::Rpc("boom".into())), None]);
        assert_eq!(
            chain.latest_blockhash().await,
            Err(ChainError::Rpc("boom".into()))
        );
        assert!(chain.latest_blockhash().await.is_ok());
        assert_eq!(
            chain.injected(),
            vec![Injected {
                call: 0,
                op: Op::LatestBlockhash,
                fault: Fault::Rpc("boom".into()),
            }]
        );
    }

    #[tokio::test]
    async fn scripts_aim_at_one_operation() {
        let chain = FaultyChain::new(Stub::default(), 1);
        chain.script(Op::Simulate, [None, Some(Fault::Drop)]);
        let tx = tx();
        assert!(chain.clock().await.is_ok());
        assert!(chain.simulate(&tx).await.is_ok());
        assert!(chain.clock().await.is_ok());
        assert_eq!(chain.simulate(&tx).await.unwrap_err().kind(), "unavailable");
        assert!(chain.simulate(&tx).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn down_window_fails_every_call_inside_it() {
        let chain = FaultyChain::new(Stub::default(), 1);
        let now = Instant::now();
        chain.down_between(now + Duration::from_secs(10), now + Duration::from_secs(20));
        let tx = tx();
        assert!(chain.clock().await.is_ok());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(chain.clock().await.unwrap_err().kind(), "unavailable");
        assert_eq!(chain.send(&tx).await.unwrap_err().kind(), "unavailable");
        assert!(!sent(&chain, &tx));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(chain.latest_blockhash().await.is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(chain.latest_blockhash().await.is_ok());
        assert!(chain.send(&tx).await.is_ok());
        let faults: Vec<Fault> = chain.injected().into_iter().map(|i| i.fault).collect();
        assert_eq!(faults, vec![Fault::Down; 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_statuses_appear_late_and_out_of_order() {
        let chain = FaultyChain::new(Stub::default(), 3)
            .status_delay(Duration::from_secs(1), Duration::from_secs(10));
        let txs: Vec<_> = (0..8).map(|_| tx()).collect();
        let signatures: Vec<_> = txs.iter().map(|tx| tx.signatures[0]).collect();
        for tx in &txs {
            chain.send(tx).await.unwrap();
        }
        let statuses = chain.signature_statuses(&signatures).await.unwrap();
        assert!(
            statuses.iter().all(Option::is_none),
            "hidden before the minimum delay"
        );

        let mut order = Vec::new();
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            let statuses = chain.signature_statuses(&signatures).await.unwrap();
            for (i, status) in statuses.iter().enumerate() {
                if status.is_some() && !order.contains(&i) {
                    order.push(i);
                }
            }
        }
        assert_eq!(order.len(), 8, "all visible after the maximum delay");
        let mut sorted = order.clone();
        sorted.sort();
        assert_ne!(order, sorted, "statuses appear in another order than sent");
    }

    #[tokio::test(start_paused = true)]
    async fn delays_start_when_a_status_is_first_found_for_unsent_signatures() {
        let stub = Stub::default();
        let tx = tx();
        stub.send(&tx).await.unwrap();
        let chain =
            FaultyChain::new(stub, 3).status_delay(Duration::from_secs(2), Duration::from_secs(2));
        assert_eq!(
            chain.signature_statuses(&tx.signatures).await.unwrap(),
            vec![None]
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(chain.signature_statuses(&tx.signatures).await.unwrap()[0].is_some());
    }

    async fn run_mixed(seed: u64) -> (Vec<Injected>, Vec<String>) {
        let chain = FaultyChain::new(Stub::default(), seed)
            .timeout_after(Duration::from_millis(1))
            .rates_all(FaultRates {
                drop: 0.1,
                lose_answer: 0.1,
                timeout: 0.1,
                rpc: 0.1,
            });
        let mut outcomes = Vec::new();
        for i in 0..50 {
            let tx = tx();
            let outcome = match i % 3 {
                0 => chain.send(&tx).await.map(|_| ()),
                1 => chain.clock().await.map(|_| ()),
                _ => chain.simulate(&tx).await.map(|_| ()),
            };
            outcomes.push(match outcome {
                Ok(()) => "ok".to_string(),
                Err(e) => e.kind().to_string(),
            });
        }
        (chain.injected(), outcomes)
    }

    #[tokio::test(start_paused = true)]
    async fn same_seed_same_faults() {
        let (a, outcomes_a) = run_mixed(42).await;
        let (b, outcomes_b) = run_mixed(42).await;
        assert_eq!(a, b);
        assert_eq!(outcomes_a, outcomes_b);
        assert!(!a.is_empty() && a.len() < 50);
        let (c, _) = run_mixed(43).await;
        assert_ne!(a, c, "another seed, other faults");
    }

    #[tokio::test]
    async fn rates_are_honoured_over_many_calls() {
        let chain = FaultyChain::new(Stub::default(), 9).rates(
            Op::GetAccount,
            FaultRates {
                drop: 0.3,
                rpc: 0.2,
                ..FaultRates::default()
            },
        );
        let key = Pubkey::new_unique();
        let (mut drops, mut rpcs) = (0, 0);
        for _ in 0..2_000 {
            match chain.get_account(&key).await {
                Err(ChainError::Unavailable(_)) => drops += 1,
                Err(ChainError::Rpc(_)) => rpcs += 1,
                _ => {}
            }
        }
        assert!((500..700).contains(&drops), "drops: {drops}");
        assert!((300..500).contains(&rpcs), "rpc errors: {rpcs}");
        // Other operations are untouched.
        for _ in 0..100 {
            assert!(chain.clock().await.is_ok());
        }
    }
}
