//! [`FailoverChain`]: one [`Chain`] over several RPC endpoints of the same cluster, so
//! that one provider's outage is not the keeper's, each endpoint guarded by its own
//! [`CircuitBreaker`].
//!
//! Owns the endpoint order, one breaker per endpoint and the
//! `keeper_rpc_breaker_state{endpoint}` gauge. Every call goes to the first endpoint, in
//! configured order, whose breaker allows it. [`ChainError::Unavailable`] (not reached,
//! no answer) counts as a failure of that endpoint and the call moves on to the next
//! one; any other answer, errors included ([`ChainError::Rpc`], [`ChainError::Rejected`]),
//! is *the* answer: the endpoint is up, so it counts as a success for its breaker and is
//! returned as is. When every endpoint is open or failed, the last `Unavailable` is
//! returned (or one saying that every breaker is open, when none was tried).
//!
//! Must not: retry the same endpoint or wait (that is [`crate::execution::retry`]; wrap calls on a
//! `FailoverChain` in a [`crate::execution::retry::RetryStrategy`] to get both), nor change a
//! request or an answer.
//!
//! **Sends fail over too.** An `Unavailable` send may still have reached the cluster
//! (the answer was lost on the way back), so the same transaction can be sent again
//! through the next endpoint. That is safe: it is the same signed transaction with the
//! same signature, and the cluster executes a signature at most once, whether it is
//! durable (the nonce advances on the first execution, so a second one is rejected) or
//! not (the status cache rejects a duplicate within the blockhash's lifetime, after
//! which the blockhash has expired). The resend's answer may then be a
//! [`ChainError::Rejected`] such as `AlreadyProcessed` for a transaction that did land:
//! callers decide what happened from [`Chain::signature_statuses`], not from the answer
//! of `send`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use prometheus::{IntGaugeVec, Opts, Registry};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::VersionedTransaction;

use crate::chain::breaker::{BreakerConfig, BreakerConfigError, BreakerState, CircuitBreaker};
use crate::chain::{Chain, ChainError, KeyedAccount, ProgramNotices, Simulation, TxStatus};

/// Name of the breaker state gauge: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE_METRIC: &str = "keeper_rpc_breaker_state";

/// Why a [`FailoverChain`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("failover needs at least one RPC endpoint")]
    NoEndpoints,
    #[error(transparent)]
    Breaker(#[from] BreakerConfigError),
    #[error("registering {BREAKER_STATE_METRIC}: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl FailoverError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoEndpoints => "no_endpoints",
            Self::Breaker(e) => e.kind(),
            Self::Metrics(_) => "metrics",
        }
    }
}

struct Endpoint {
    chain: Arc<dyn Chain>,
    breaker: CircuitBreaker,
}

/// The newest `Unavailable` of any endpoint, kept so that a call refused by open
/// breakers can still say what broke them (an operator reading `/ready` needs the
/// cause, not only "open").
#[derive(Default)]
struct LastFailure(parking_lot::Mutex<Option<(String, String)>>);

impl LastFailure {
    fn record(&self, endpoint: &str, message: &str) {
        *self.0.lock() = Some((endpoint.to_string(), message.to_string()));
    }

    /// `; last failure: <endpoint>: <message>`, or nothing.
    fn describe(&self) -> String {
        match self.0.lock().clone() {
            Some((endpoint, message)) => format!("; last failure of {endpoint}: {message}"),
            None => String::new(),
        }
    }
}

/// A future as `async_trait` methods return it.
type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChainError>> + Send + 'a>>;

/// A [`Chain`] that spreads nothing and fails over in order (see the module docs).
pub struct FailoverChain {
    name: String,
    endpoints: Vec<Endpoint>,
    last_failure: LastFailure,
}

impl FailoverChain {
    /// Endpoints in order of preference, each with a breaker configured by `config`.
    /// With a `registry`, registers `keeper_rpc_breaker_state{endpoint}` on it (all 0
    /// at first) and keeps it in step with the breakers.
    ///
    /// Endpoints are labelled with [`Chain::endpoint`]; when several share a name, the
    /// second is labelled `name#2`, the third `name#3`, and so on.
    pub fn new(
        endpoints: Vec<Arc<dyn Chain>>,
        config: BreakerConfig,
        registry: Option<&Registry>,
    ) -> Result<Self, FailoverError> {
        if endpoints.is_empty() {
            return Err(FailoverError::NoEndpoints);
        }
        config.validate()?;
        let gauge = match registry {
            Some(registry) => {
                let gauge = IntGaugeVec::new(
                    Opts::new(
                        BREAKER_STATE_METRIC,
                        "Circuit breaker state per RPC endpoint: 0 closed, 1 half-open, 2 open",
                    ),
                    &["endpoint"],
                )?;
                registry.register(Box::new(gauge.clone()))?;
                Some(gauge)
            }
            None => None,
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut labels = Vec::with_capacity(endpoints.len());
        for chain in &endpoints {
            let name = chain.endpoint().to_string();
            let count = seen.entry(name.clone()).or_default();
            *count += 1;
            labels.push(if *count == 1 {
                name
            } else {
                format!("{name}#{count}")
            });
        }
        let name = format!("failover[{}]", labels.join(", "));
        let endpoints = endpoints
            .into_iter()
            .zip(labels)
            .map(|(chain, label)| {
                let mut breaker = CircuitBreaker::new(label.clone(), config)?;
                if let Some(gauge) = &gauge {
                    gauge.with_label_values(&[label.as_str()]).set(0);
                    let gauge = gauge.clone();
                    breaker = breaker.on_change(move |endpoint, state| {
                        gauge.with_label_values(&[endpoint]).set(state.gauge());
                    });
                }
                Ok(Endpoint { chain, breaker })
            })
            .collect::<Result<_, FailoverError>>()?;
        Ok(Self {
            name,
            endpoints,
            last_failure: LastFailure::default(),
        })
    }

    /// Each endpoint's label and breaker state, in configured order.
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.endpoints
            .iter()
            .map(|e| (e.breaker.name().to_string(), e.breaker.state()))
            .collect()
    }

    /// Sends `call` to the first endpoint whose breaker allows it, moving on after each
    /// `Unavailable` (see the module docs).
    async fn route<'a, T>(
        &'a self,
        op: &'static str,
        call: impl Fn(&'a dyn Chain) -> ChainFuture<'a, T>,
    ) -> Result<T, ChainError> {
        let mut last = None;
        for endpoint in &self.endpoints {
            if !endpoint.breaker.allow() {
                continue;
            }
            match call(endpoint.chain.as_ref()).await {
                Err(ChainError::Unavailable(message)) => {
                    endpoint.breaker.record_failure();
                    self.last_failure.record(endpoint.breaker.name(), &message);
                    tracing::debug!(
                        endpoint = endpoint.breaker.name(),
                        op,
                        error = %message,
                        "endpoint unavailable, failing over"
                    );
                    last = Some(ChainError::Unavailable(message));
                }
                answer => {
                    endpoint.breaker.record_success();
                    return answer;
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            ChainError::Unavailable(format!(
                "{}: {op}: every endpoint's circuit breaker is open{}",
                self.name,
                self.last_failure.describe()
            ))
        }))
    }
}

#[async_trait]
impl Chain for FailoverChain {
    /// `failover[label, label, ...]`.
    fn endpoint(&self) -> &str {
        &self.name
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        self.route("get_account", |c| c.get_account(key)).await
    }

    /// One endpoint answers both the slot and the account.
    async fn get_account_with_slot(
        &self,
        key: &Pubkey,
    ) -> Result<(u64, Option<Account>), ChainError> {
        self.route("get_account", |c| c.get_account_with_slot(key))
            .await
    }

    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        self.route("get_multiple_accounts", |c| c.get_multiple_accounts(keys))
            .await
    }

    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        self.route("get_program_accounts", |c| {
            c.get_program_accounts(program, prefix)
        })
        .await
    }

    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.route("latest_blockhash", |c| c.latest_blockhash())
            .await
    }

    async fn clock(&self) -> Result<Clock, ChainError> {
        self.route("clock", |c| c.clock()).await
    }

    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        self.route("simulate", |c| c.simulate(tx)).await
    }

    /// Fails over like every other call: resending a signed transaction is safe (see the
    /// module docs).
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        self.route("send", |c| c.send(tx)).await
    }

    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        self.route("signature_statuses", |c| c.signature_statuses(signatures))
            .await
    }

    async fn recent_prioritization_fees(
        &self,
        accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        self.route("recent_prioritization_fees", |c| {
            c.recent_prioritization_fees(accounts)
        })
        .await
    }

    /// Subscribes through the first endpoint (in order, breaker permitting) that can
    /// push, and keeps that one stream: its implementation reconnects by itself, and a
    /// stream that is down only delays changes until the next full view. Push failures
    /// do not count against an endpoint's breaker, which judges its request path.
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        let mut last = None;
        for endpoint in &self.endpoints {
            if !endpoint.breaker.allow() {
                continue;
            }
            match endpoint.chain.subscribe_program(program, prefix).await {
                Ok(notices) => return Ok(notices),
                Err(error) => {
                    tracing::debug!(
                        endpoint = endpoint.breaker.name(),
                        %error,
                        "no program subscription through this endpoint"
                    );
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            ChainError::Unavailable(format!(
                "{}: subscribe_program: every endpoint's circuit breaker is open{}",
                self.name,
                self.last_failure.describe()
            ))
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use prometheus::TextEncoder;
    use solana_sdk::message::Message;
    use solana_sdk::signature::{Keypair, Signer};
    use solana_sdk::transaction::Transaction;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    /// An endpoint that answers every call, or fails them all with `Unavailable` while
    /// down, or with a set error; it counts the calls it got.
    struct Stub {
        name: &'static str,
        down: AtomicBool,
        error: Mutex<Option<ChainError>>,
        calls: AtomicU64,
    }

    impl Stub {
        fn new(name: &'static str) -> Arc<Self> {
            Arc::new(Self {
                name,
                down: AtomicBool::new(false),
                error: Mutex::new(None),
                calls: AtomicU64::new(0),
            })
        }

        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }

        fn calls(&self) -> u64 {
            self.calls.load(Ordering::SeqCst)
        }

        fn answer<T>(&self, value: T) -> Result<T, ChainError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(ChainError::Unavailable(format!("{} is down", self.name)));
            }
            match self.error.lock().unwrap().clone() {
                Some(error) => Err(error),
                None => Ok(value),
            }
        }
    }

    #[async_trait]
    impl Chain for Stub {
        fn endpoint(&self) -> &str {
            self.name
        }
        async fn get_account(&self, _: &Pubkey) -> Result<Option<Account>, ChainError> {
            self.answer(None)
        }
        async fn get_multiple_accounts(
            &self,
            keys: &[Pubkey],
        ) -> Result<Vec<Option<Account>>, ChainError> {
            self.answer(vec![None; keys.len()])
        }
        async fn get_program_accounts(
            &self,
            _: &Pubkey,
            _: &[u8],
        ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
            self.answer((1, vec![]))
        }
        async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
            self.answer(Hash::new_from_array([7; 32]))
        }
        async fn clock(&self) -> Result<Clock, ChainError> {
            self.answer(Clock {
                slot: 42,
                ..Clock::default()
            })
        }
        async fn simulate(&self, _: &VersionedTransaction) -> Result<Simulation, ChainError> {
            self.answer(Simulation {
                err: None,
                logs: vec![],
                units_consumed: 1,
            })
        }
        async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
            self.answer(tx.signatures[0])
        }
        async fn signature_statuses(
            &self,
            signatures: &[Signature],
        ) -> Result<Vec<Option<TxStatus>>, ChainError> {
            self.answer(vec![None; signatures.len()])
        }
        async fn recent_prioritization_fees(&self, _: &[Pubkey]) -> Result<Vec<u64>, ChainError> {
            self.answer(vec![])
        }
    }

    fn failover(stubs: &[&Arc<Stub>]) -> FailoverChain {
        failover_with(stubs, None).unwrap()
    }

    fn failover_with(
        stubs: &[&Arc<Stub>],
        registry: Option<&Registry>,
    ) -> Result<FailoverChain, FailoverError> {
        let chains = stubs
            .iter()
            .map(|s| Arc::clone(s) as Arc<dyn Chain>)
            .collect();
        FailoverChain::new(chains, BreakerConfig::default(), registry)
    }

    fn tx() -> VersionedTransaction {
        let payer = Keypair::new();
        let message = Message::new(&[], Some(&payer.pubkey()));
        Transaction::new(&[&payer], message, Hash::new_unique()).into()
    }

    fn states(chain: &FailoverChain) -> Vec<(String, &'static str)> {
        chain
            .breaker_states()
            .into_iter()
            .map(|(name, state)| (name, state.as_str()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn healthy_first_endpoint_takes_every_call() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        let chain = failover(&[&a, &b]);
        for _ in 0..3 {
            assert_eq!(chain.clock().await.unwrap().slot, 42);
        }
        assert_eq!((a.calls(), b.calls()), (3, 0));
        assert_eq!(chain.endpoint(), "failover[a, b]");
    }

    #[tokio::test(start_paused = true)]
    async fn unavailable_endpoint_fails_over_to_the_next() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        a.set_down(true);
        let chain = failover(&[&a, &b]);
        assert_eq!(chain.clock().await.unwrap().slot, 42);
        assert_eq!((a.calls(), b.calls()), (1, 1));
        assert_eq!(
            chain.breaker_states()[0].1,
            BreakerState::Closed { failures: 1 }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_method_fails_over() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        a.set_down(true);
        let chain = failover(&[&a, &b]);
        let key = Pubkey::new_unique();
        let tx = tx();
        chain.get_account(&key).await.unwrap();
        chain.get_multiple_accounts(&[key]).await.unwrap();
        chain.get_program_accounts(&key, b"x").await.unwrap();
        chain.latest_blockhash().await.unwrap();
        // The fifth failure opens a's breaker: from here on b alone is asked.
        chain.clock().await.unwrap();
        chain.simulate(&tx).await.unwrap();
        assert_eq!(chain.send(&tx).await, Ok(tx.signatures[0]));
        chain.signature_statuses(&tx.signatures).await.unwrap();
        chain.recent_prioritization_fees(&[key]).await.unwrap();
        assert_eq!((a.calls(), b.calls()), (5, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_the_answer_not_a_failover() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        let rejected =
            ChainError::Rejected(solana_sdk::transaction::TransactionError::BlockhashNotFound);
        *a.error.lock().unwrap() = Some(rejected.clone());
        let chain = failover(&[&a, &b]);
        let tx = tx();
        for _ in 0..10 {
            assert_eq!(chain.send(&tx).await, Err(rejected.clone()));
        }
        *a.error.lock().unwrap() = Some(ChainError::Rpc("invalid params".into()));
        assert_eq!(
            chain.clock().await,
            Err(ChainError::Rpc("invalid params".into()))
        );
        assert_eq!((a.calls(), b.calls()), (11, 0));
        assert_eq!(
            chain.breaker_states()[0].1,
            BreakerState::Closed { failures: 0 },
            "an endpoint that answers is up"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_after_the_threshold_and_the_endpoint_is_skipped() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        a.set_down(true);
        let chain = failover(&[&a, &b]);
        for _ in 0..5 {
            chain.clock().await.unwrap();
        }
        assert_eq!(
            states(&chain),
            [("a".into(), "open"), ("b".into(), "closed")]
        );
        for _ in 0..20 {
            chain.clock().await.unwrap();
        }
        assert_eq!(a.calls(), 5, "no call reaches an open endpoint");
        assert_eq!(b.calls(), 25);
    }

    #[tokio::test(start_paused = true)]
    async fn probe_after_open_timeout_and_traffic_returns_once_recovered() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        a.set_down(true);
        let chain = failover(&[&a, &b]);
        for _ in 0..5 {
            chain.clock().await.unwrap();
        }
        tokio::time::advance(TIMEOUT - Duration::from_millis(1)).await;
        chain.clock().await.unwrap();
        assert_eq!(a.calls(), 5, "still open just before the timeout");

        // Timeout passed, a still down: one probe, then open again.
        tokio::time::advance(Duration::from_millis(1)).await;
        chain.clock().await.unwrap();
        assert_eq!(a.calls(), 6, "the probe went to a");
        assert_eq!(states(&chain)[0].1, "open");
        chain.clock().await.unwrap();
        assert_eq!(a.calls(), 6);

        // a recovers: the next probe succeeds, two close the breaker.
        a.set_down(false);
        tokio::time::advance(TIMEOUT).await;
        let b_before = b.calls();
        chain.clock().await.unwrap();
        assert_eq!(states(&chain)[0].1, "half_open");
        chain.clock().await.unwrap();
        assert_eq!(states(&chain)[0].1, "closed");
        for _ in 0..10 {
            chain.clock().await.unwrap();
        }
        assert_eq!(a.calls(), 6 + 12, "traffic is back on a");
        assert_eq!(b.calls(), b_before, "and off b");
    }

    #[tokio::test(start_paused = true)]
    async fn all_down_returns_the_last_unavailable() {
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        a.set_down(true);
        b.set_down(true);
        let chain = failover(&[&a, &b]);
        assert_eq!(
            chain.clock().await,
            Err(ChainError::Unavailable("b is down".into()))
        );
        for _ in 0..4 {
            assert!(chain.clock().await.is_err());
        }
        assert_eq!(states(&chain), [("a".into(), "open"), ("b".into(), "open")]);

        // Every breaker open: nothing is called, the error says so.
        let err = chain.clock().await.unwrap_err();
        assert_eq!(err.kind(), "unavailable");
        assert!(err
            .to_string()
            .contains("every endpoint's circuit breaker is open"));
        assert_eq!((a.calls(), b.calls()), (5, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn gauge_follows_each_breaker() {
        let registry = Registry::new();
        let (a, b) = (Stub::new("a"), Stub::new("b"));
        let chain = failover_with(&[&a, &b], Some(&registry)).unwrap();
        let gauge = |endpoint: &str| -> i64 {
            let families = registry.gather();
            let family = families
                .iter()
                .find(|f| f.name() == BREAKER_STATE_METRIC)
                .expect("registered");
            family
                .get_metric()
                .iter()
                .find(|m| m.get_label()[0].value() == endpoint)
                .map(|m| m.get_gauge().get_value() as i64)
                .expect("labelled")
        };
        assert_eq!((gauge("a"), gauge("b")), (0, 0), "present from the start");
        a.set_down(true);
        for _ in 0..5 {
            chain.clock().await.unwrap();
        }
        assert_eq!((gauge("a"), gauge("b")), (2, 0));
        let text = TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(
            text.contains("keeper_rpc_breaker_state{endpoint=\"a\"} 2"),
            "{text}"
        );
        a.set_down(false);
        tokio::time::advance(TIMEOUT).await;
        chain.clock().await.unwrap();
        assert_eq!(gauge("a"), 1);
        chain.clock().await.unwrap();
        assert_eq!(gauge("a"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rejects_no_endpoints_and_a_second_registration() {
        let err = FailoverChain::new(vec![], BreakerConfig::default(), None)
            .err()
            .unwrap();
        assert_eq!(err.kind(), "no_endpoints");
        let bad = BreakerConfig {
            success_threshold: 0,
            ..BreakerConfig::default()
        };
        let a = Stub::new("a");
        let err = FailoverChain::new(vec![a.clone() as Arc<dyn Chain>], bad, None)
            .err()
            .unwrap();
        assert_eq!(err.kind(), "success_threshold");
        let registry = Registry::new();
        failover_with(&[&a], Some(&registry)).unwrap();
        let err = failover_with(&[&a], Some(&registry)).err().unwrap();
        assert_eq!(err.kind(), "metrics");
    }

    #[tokio::test(start_paused = true)]
    async fn endpoints_sharing_a_name_get_distinct_labels() {
        let (a1, a2, b, a3) = (
            Stub::new("a"),
            Stub::new("a"),
            Stub::new("b"),
            Stub::new("a"),
        );
        let chain = failover(&[&a1, &a2, &b, &a3]);
        let labels: Vec<String> = chain.breaker_states().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["a", "a#2", "b", "a#3"]);
        assert_eq!(chain.endpoint(), "failover[a, a#2, b, a#3]");
    }
}
