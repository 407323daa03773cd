//! The builder over a stub chain that answers only what a build asks (nonce accounts,
//! the latest blockhash, simulations, fee samples): priority defaulting, the nonce
//! guard's lifetime (explicit release, drop, drop-on-error, TTL expiry and reclaim in
//! paused time), errors and their metric labels, the instruction order of every
//! build, the builder-level sanity check, and concurrent builds on a few nonces.
//! Flows through a real bank are in `keeper/tests/integration/builder_bank.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_nonce::state::{DurableNonce, State as NonceState};
use solana_nonce::versions::Versions;
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::instruction::InstructionError;
use solana_sdk::transaction::TransactionError;
use solana_system_interface::instruction as system_instruction;
use thread::errors::ThreadError;

use super::order::OrderError;
use super::priority::PriorityPolicy;
use super::*;
use crate::chain::ChainError;
use crate::chain::{KeyedAccount, Simulation, TxStatus};
use crate::ops::metrics::Metrics;
use crate::test_utils::logs::CapturedLogs;
use crate::test_utils::thread::ThreadFixture;
use crate::test_utils::tx::{assert_durable_exec_order, decoded, is_advance_of};

/// Units every stub simulation reports.
const UNITS: u64 = 50_000;
/// A fixed budget: no simulation, no fee lookup.
const FIXED: TxConfig = TxConfig {
    priority: None,
    compute_unit_limit: Some(200_000),
    compute_unit_price: Some(1_000),
};
/// Sized by simulation, priced from fee samples.
const SIZED: TxConfig = TxConfig {
    priority: None,
    compute_unit_limit: None,
    compute_unit_price: None,
};

fn custom(error: ThreadError) -> InstructionError {
    InstructionError::Custom(u32::from(error))
}

/// What the stub's `simulate` answers, after yielding `0..=max_yields` times (drawn
/// from its seeded RNG) and sleeping `delay` (tokio time).
#[derive(Clone)]
struct SimPlan {
    err: Option<TransactionError>,
    /// Percent of simulations that fail with `ThreadNotDue`, drawn from the RNG.
    fail_percent: u32,
    max_yields: u32,
    delay: Duration,
}

impl Default for SimPlan {
    fn default() -> Self {
        Self {
            err: None,
            fail_percent: 0,
            max_yields: 0,
            delay: Duration::ZERO,
        }
    }
}

struct StubChain {
    blockhash: Hash,
    accounts: Mutex<HashMap<Pubkey, Account>>,
    plan: Mutex<SimPlan>,
    rng: Mutex<SmallRng>,
    fees: Vec<u64>,
    reads: AtomicUsize,
    simulated: Mutex<Vec<VersionedTransaction>>,
}

impl StubChain {
    fn new(fees: Vec<u64>) -> Self {
        Self {
            blockhash: Hash::new_from_array([42; 32]),
            accounts: Mutex::new(HashMap::new()),
            plan: Mutex::new(SimPlan::default()),
            rng: Mutex::new(SmallRng::seed_from_u64(7)),
            fees,
            reads: AtomicUsize::new(0),
            simulated: Mutex::new(Vec::new()),
        }
    }

    fn set_plan(&self, plan: SimPlan) {
        *self.plan.lock().unwrap() = plan;
    }

    /// Stores an initialized nonce account with `authority`; returns its value.
    fn put_nonce(&self, nonce: Pubkey, authority: &Pubkey, seed: u8) -> Hash {
        let durable = DurableNonce::from_blockhash(&Hash::new_from_array([seed; 32]));
        let state = Versions::new(NonceState::new_initialized(authority, durable, 5_000));
        let account = Account {
            lamports: 1_447_680,
            data: bincode::serialize(&state).unwrap(),
            owner: solana_sdk_ids::system_program::ID,
            executable: false,
            rent_epoch: 0,
        };
        self.accounts.lock().unwrap().insert(nonce, account);
        *durable.as_hash()
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn last_simulated(&self) -> Vec<Instruction> {
        decoded(self.simulated.lock().unwrap().last().expect("a simulation"))
    }
}

fn not_used<T>() -> Result<T, ChainError> {
    Err(ChainError::Rpc("not used by the builder".into()))
}

#[async_trait]
impl Chain for StubChain {
    fn endpoint(&self) -> &str {
        "stub"
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.accounts.lock().unwrap().get(key).cloned())
    }

    async fn get_multiple_accounts(
        &self,
        _keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        not_used()
    }

    async fn get_program_accounts(
        &self,
        _program: &Pubkey,
        _prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        not_used()
    }

    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        Ok(self.blockhash)
    }

    async fn clock(&self) -> Result<Clock, ChainError> {
        not_used()
    }

    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        self.simulated.lock().unwrap().push(tx.clone());
        let plan = self.plan.lock().unwrap().clone();
        let (yields, fails) = {
            let mut rng = self.rng.lock().unwrap();
            (
                rng.random_range(0..=plan.max_yields),
                rng.random_range(0..100) < plan.fail_percent,
            )
        };
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let err = plan.err.or_else(|| {
            fails.then(|| TransactionError::InstructionError(2, custom(ThreadError::ThreadNotDue)))
        });
        Ok(Simulation {
            err,
            logs: vec!["Program log: stub".into()],
            units_consumed: UNITS,
        })
    }

    async fn send(&self, _tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        not_used()
    }

    async fn signature_statuses(
        &self,
        _signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        not_used()
    }

    async fn recent_prioritization_fees(
        &self,
        _accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        Ok(self.fees.clone())
    }
}

/// A thread of a fresh owner storing one crank instruction (the thread PDA signing),
/// leased by `keeper` when durable.
fn thread_state(id: &str, durability: Durability, keeper: &Pubkey) -> (Pubkey, Thread) {
    let fixture = ThreadFixture::new()
        .at_pda(Pubkey::new_unique(), id.as_bytes())
        .crank(vec![1, 2, 3]);
    let fixture = match durability {
        Durability::Durable { nonce_account } => {
            fixture.durable_on(nonce_account).leased_to(*keeper)
        }
        Durability::NonDurable => fixture,
    };
    (fixture.address(), fixture.thread)
}

/// A builder over a stub chain, with `durable` threads whose nonces this keeper
/// holds (registered in the pool, authority = keeper on chain, values not cached)
/// and one non-durable thread.
struct Fx {
    builder: Arc<ExecutionBuilder>,
    chain: Arc<StubChain>,
    pool: NoncePool,
    keeper: Pubkey,
    metrics: Arc<Metrics>,
    durable: Vec<(Pubkey, Thread)>,
    plain: (Pubkey, Thread),
    /// On-chain value of each nonce.
    values: HashMap<Pubkey, Hash>,
}

fn fixture(durable: usize, config: BuilderConfig) -> Fx {
    fixture_with_fees(durable, config, vec![])
}

fn fixture_with_fees(durable: usize, config: BuilderConfig, fees: Vec<u64>) -> Fx {
    let keypair = Arc::new(Keypair::new());
    let keeper = keypair.pubkey();
    let chain = Arc::new(StubChain::new(fees));
    let pool = NoncePool::new(config.lease_ttl);
    let metrics = Metrics::new();
    let mut values = HashMap::new();
    let durable: Vec<(Pubkey, Thread)> = (0..durable)
        .map(|i| {
            let nonce = Pubkey::new_unique();
            pool.insert(nonce, keeper);
            values.insert(nonce, chain.put_nonce(nonce, &keeper, i as u8));
            thread_state(
                &format!("durable-{i}"),
                Durability::Durable {
                    nonce_account: nonce,
                },
                &keeper,
            )
        })
        .collect();
    let plain = thread_state("plain", Durability::NonDurable, &keeper);
    let builder = ExecutionBuilder::new(chain.clone(), pool.clone(), keypair, config)
        .with_metrics(metrics.clone());
    Fx {
        builder: Arc::new(builder),
        chain,
        pool,
        keeper,
        metrics,
        durable,
        plain,
        values,
    }
}

fn exec(thread: &(Pubkey, Thread)) -> ThreadExecution<'_> {
    ThreadExecution {
        thread: thread.0,
        state: &thread.1,
    }
}

fn nonce_of(thread: &(Pubkey, Thread)) -> Pubkey {
    exec(thread).nonce().expect("durable thread")
}

impl Fx {
    fn count(&self, label: &str) -> u64 {
        self.metrics.builds_total.with_label_values(&[label]).get()
    }

    /// The signed durable execution of `thread` on its nonce, with `config`'s budget.
    async fn build_signed(
        &self,
        thread: &(Pubkey, Thread),
        config: &TxConfig,
    ) -> Result<TxBuildOutput, BuildError> {
        self.builder
            .build_execution_output(exec(thread), config, true, true)
            .await
    }
}

/// Program, data and account keys of each instruction (privileges aside, which a
/// compiled message merges across instructions).
fn shape(ixs: &[Instruction]) -> Vec<(Pubkey, Vec<u8>, Vec<Pubkey>)> {
    ixs.iter()
        .map(|ix| {
            let keys = ix.accounts.iter().map(|m| m.pubkey).collect();
            (ix.program_id, ix.data.clone(), keys)
        })
        .collect()
}

const GUARD_WARNING: &str = "TxBuildOutput dropped with its nonce guard still held";

#[tokio::test]
async fn durable_build_orders_advance_limit_price_exec_on_the_cached_nonce() {
    let fx = fixture(1, BuilderConfig::default());
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    let cached = Hash::new_from_array([5; 32]);
    fx.pool.set_value(&nonce, cached);

    let output = fx.build_signed(thread, &FIXED).await.unwrap();
    assert_eq!(fx.chain.reads(), 0, "a cached value needs no chain call");
    assert_eq!(*output.tx.message.recent_blockhash(), cached);
    assert_eq!(
        output.budget,
        ComputeBudget {
            unit_limit: 200_000,
            unit_price: 1_000
        }
    );
    assert_durable_exec_order(&output, &nonce, &fx.keeper, &thread.0);
    assert!(output.tx.verify_with_results().iter().all(|ok| *ok));
    assert_eq!(fx.pool.available(), 0, "the output holds the nonce");
    output.release_nonce().unwrap();
    assert_eq!(fx.pool.available(), 1);
    assert_eq!(fx.count("ok"), 1);
}

#[tokio::test]
async fn first_durable_build_reads_the_nonce_once_and_caches_its_value() {
    let fx = fixture(1, BuilderConfig::default());
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    let value = fx.values[&nonce];
    assert_eq!(fx.pool.cached_value(&nonce), None);

    for _ in 0..3 {
        let output = fx
            .builder
            .build_execution_output(exec(thread), &FIXED, false, true)
            .await
            .unwrap();
        assert_eq!(*output.tx.message.recent_blockhash(), value);
        output.release_nonce().unwrap();
    }
    assert_eq!(fx.chain.reads(), 1);
    assert_eq!(fx.pool.cached_value(&nonce), Some(value));

    fx.pool.invalidate(&nonce);
    let output = fx
        .builder
        .build_execution_output(exec(thread), &FIXED, false, true)
        .await
        .unwrap();
    assert_eq!(fx.chain.reads(), 2, "invalidate makes the next build read");
    output.release_nonce().unwrap();
}

#[tokio::test]
async fn non_durable_build_uses_the_latest_blockhash_and_holds_nothing() {
    let fx = fixture(1, BuilderConfig::default());
    let output = fx
        .builder
        .build_execution_output(exec(&fx.plain), &FIXED, true, false)
        .await
        .unwrap();
    assert_eq!(*output.tx.message.recent_blockhash(), fx.chain.blockhash);
    assert!(output.nonce_guard.is_none());
    let ixs = decoded(&output.tx);
    assert_eq!(
        ixs[0],
        ComputeBudgetInstruction::set_compute_unit_limit(200_000)
    );
    assert_eq!(ixs[2].program_id, thread::ID);
    assert_eq!(fx.pool.available(), 1);
    let (captured, _guard) = CapturedLogs::start(tracing::Level::WARN);
    drop(output);
    assert_eq!(captured.text(), "", "no guard, nothing to warn about");
}

#[tokio::test]
async fn simulation_mode_decides_whether_the_nonce_advance_is_simulated() {
    let payload = system_instruction::transfer(&Pubkey::new_unique(), &Pubkey::new_unique(), 1);
    let cases = [
        (SimulationMode::Auto, true, true),
        (SimulationMode::Auto, false, false),
        (SimulationMode::KeepNonceAdvance, true, true),
        (SimulationMode::KeepNonceAdvance, false, true),
        (SimulationMode::SkipNonceAdvance, true, false),
        (SimulationMode::SkipNonceAdvance, false, false),
    ];
    for (simulation, thread_exec, advance_simulated) in cases {
        let config = BuilderConfig {
            simulation,
            ..BuilderConfig::default()
        };
        let fx = fixture(1, config.clone());
        let thread = &fx.durable[0];
        let nonce = nonce_of(thread);
        let output = if thread_exec {
            fx.builder
                .build_execution_output(exec(thread), &SIZED, false, true)
                .await
        } else {
            fx.builder
                .build_instructions_output(
                    std::slice::from_ref(&payload),
                    Some(nonce),
                    &SIZED,
                    false,
                    true,
                )
                .await
        }
        .unwrap();
        let simulated = fx.chain.last_simulated();
        let case = format!("{simulation:?} exec={thread_exec}");
        assert_eq!(
            is_advance_of(&simulated[0], &nonce, &fx.keeper),
            advance_simulated,
            "{case}"
        );
        // Whatever was simulated, the built transaction advances the nonce first, and
        // its limit is sized from the simulated units.
        assert!(
            is_advance_of(&decoded(&output.tx)[0], &nonce, &fx.keeper),
            "{case}"
        );
        // A skipped advance is counted back in: the transaction sent runs it.
        let advance_units = if advance_simulated {
            0
        } else {
            ADVANCE_NONCE_UNITS
        };
        assert_eq!(
            output.budget.unit_limit,
            config.compute.unit_limit(UNITS + advance_units),
            "{case}"
        );
        let exec_ix = decoded(&output.tx)[2].clone();
        let payload = if thread_exec {
            exec_ix
        } else {
            payload.clone()
        };
        let probe = ordered_instructions(
            Some(NonceUse {
                nonce,
                authority: fx.keeper,
            }),
            ComputeBudget {
                unit_limit: MAX_COMPUTE_UNIT_LIMIT,
                unit_price: 0,
            },
            std::slice::from_ref(&payload),
        );
        assert_eq!(
            shape(&simulated),
            shape(&without_nonce_advance(&probe, !advance_simulated)),
            "{case}: the simulation is the build at the maximum limit, no price"
        );
        output.release_nonce().unwrap();
    }
}

#[tokio::test]
async fn priority_policy_is_visible_in_the_output_and_scales_the_price() {
    use ExecutionPriority::*;
    // (policy floor, requested, durable, effective)
    let cases = [
        (Some(Critical), Some(Low), true, Critical),
        (Some(Critical), Some(Low), false, Low),
        (Some(Critical), None, true, Medium),
        (Some(Critical), Some(High), true, High),
        (Some(High), Some(Low), true, High),
        (None, Some(Low), true, Low),
    ];
    for (floor, requested, durable, effective) in cases {
        let config = BuilderConfig {
            priority: PriorityPolicy {
                default: Medium,
                durable_floor: floor,
            },
            ..BuilderConfig::default()
        };
        // One fee sample of 1000 micro-lamports: the price is 1000 scaled by priority.
        let fx = fixture_with_fees(1, config, vec![1_000]);
        let tx_config = TxConfig {
            priority: requested,
            ..SIZED
        };
        let output = if durable {
            fx.builder
                .build_execution_output(exec(&fx.durable[0]), &tx_config, false, true)
                .await
        } else {
            fx.builder
                .build_execution_output(exec(&fx.plain), &tx_config, false, false)
                .await
        }
        .unwrap();
        let case = format!("floor {floor:?}, requested {requested:?}, durable {durable}");
        assert_eq!(output.priority, effective, "{case}");
        assert_eq!(
            output.budget.unit_price,
            1_000 * effective.price_percent() / 100,
            "{case}"
        );
        output.release_nonce().unwrap();
    }
}

#[tokio::test]
async fn failed_simulation_returns_err_and_frees_the_nonce() {
    let fx = fixture(1, BuilderConfig::default());
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    fx.chain.set_plan(SimPlan {
        err: Some(TransactionError::InstructionError(
            2,
            custom(ThreadError::ThreadNotDue),
        )),
        ..SimPlan::default()
    });
    for _ in 0..3 {
        let err = fx
            .build_signed(thread, &SIZED)
            .await
            .err()
            .expect("simulation fails");
        match &err {
            BuildError::SimulationFailed { err, logs } => {
                assert_eq!(
                    *err,
                    TransactionError::InstructionError(2, custom(ThreadError::ThreadNotDue))
                );
                assert_eq!(logs, &["Program log: stub".to_string()]);
            }
            other => panic!("expected SimulationFailed, got {other:?}"),
        }
        assert_eq!(err.kind(), "simulation_failed");
        assert_eq!(fx.pool.available(), 1, "the error path freed {nonce}");
    }
    assert_eq!(fx.count("simulation_failed"), 3);
    fx.chain.set_plan(SimPlan::default());
    let output = fx.build_signed(thread, &SIZED).await.unwrap();
    output.release_nonce().unwrap();
}

#[tokio::test]
async fn explicit_release_frees_the_nonce_without_warning() {
    let fx = fixture(1, BuilderConfig::default());
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    let (captured, _guard) = CapturedLogs::start(tracing::Level::WARN);
    let output = fx.build_signed(thread, &FIXED).await.unwrap();
    assert!(fx.pool.try_acquire(&nonce).is_none(), "held by the output");
    assert!(matches!(
        fx.build_signed(thread, &FIXED)
            .await,
        Err(BuildError::NonceUnavailable(n)) if n == nonce
    ));
    output.release_nonce().unwrap();
    assert_eq!(fx.pool.available(), 1);
    let again = fx.pool.try_acquire(&nonce).expect("free after release");
    again.release().unwrap();
    assert_eq!(captured.text(), "");
}

#[tokio::test]
async fn dropping_an_output_that_holds_its_guard_warns_and_frees_the_nonce() {
    let fx = fixture(1, BuilderConfig::default());
    let thread = &fx.durable[0];
    let output = fx.build_signed(thread, &FIXED).await.unwrap();
    let signature = output.signature().unwrap();
    let (captured, _guard) = CapturedLogs::start(tracing::Level::WARN);
    drop(output);
    let text = captured.text();
    assert_eq!(text.matches(GUARD_WARNING).count(), 1, "{text}");
    assert!(text.contains(&signature.to_string()), "{text}");
    assert_eq!(fx.pool.available(), 1);

    // Taking the guard out (and marking it used) is the quiet way to keep it.
    let output = fx.build_signed(thread, &FIXED).await.unwrap();
    let (_tx, guard) = output.into_parts();
    let mut guard = guard.unwrap();
    assert_eq!(fx.pool.available(), 0);
    guard.mark_used();
    drop(guard);
    assert_eq!(fx.pool.available(), 1);
    assert_eq!(captured.text().matches(GUARD_WARNING).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn release_after_the_ttl_reclaimed_the_lease_reports_expiry() {
    let config = BuilderConfig {
        lease_ttl: Duration::from_secs(10),
        ..BuilderConfig::default()
    };
    let fx = fixture(1, config);
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    let output = fx.build_signed(thread, &FIXED).await.unwrap();
    let guard = output.nonce_guard.as_ref().unwrap();
    assert_eq!(guard.ttl(), Duration::from_secs(10));

    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(fx.pool.reclaim_expired(), 0);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(fx.pool.reclaim_expired(), 1);
    assert_eq!(fx.pool.available(), 1);

    // Someone else builds on the reclaimed nonce; the stale release must not free it.
    let next = fx.build_signed(thread, &FIXED).await.unwrap();
    assert_eq!(output.release_nonce(), Err(BuildError::LeaseExpired(nonce)));
    assert!(next.nonce_guard.as_ref().unwrap().is_valid());
    assert_eq!(fx.pool.available(), 0);
    next.release_nonce().unwrap();
    assert_eq!(fx.pool.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn lease_reclaimed_during_a_slow_simulation_fails_the_build() {
    let config = BuilderConfig {
        lease_ttl: Duration::from_secs(30),
        ..BuilderConfig::default()
    };
    let fx = fixture(1, config);
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    fx.chain.set_plan(SimPlan {
        delay: Duration::from_secs(31),
        ..SimPlan::default()
    });
    let reclaimer = fx
        .pool
        .spawn_reclaimer(Duration::from_secs(1), std::future::pending());

    let slow = fx.build_signed(thread, &SIZED);
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(30_500)).await;
        fx.pool
            .try_acquire(&nonce)
            .expect("the reclaimer freed the expired lease")
    };
    let (slow, meanwhile) = tokio::join!(slow, meanwhile);
    assert_eq!(slow.err(), Some(BuildError::LeaseExpired(nonce)));
    assert!(
        meanwhile.is_valid(),
        "the failed build did not free the new holder"
    );
    assert_eq!(fx.pool.available(), 0);
    meanwhile.release().unwrap();
    assert_eq!(fx.pool.available(), 1);
    assert_eq!(fx.count("lease_expired"), 1);
    reclaimer.abort();
}

#[tokio::test(start_paused = true)]
async fn lease_expired_but_not_reclaimed_fails_the_build_and_is_freed() {
    let fx = fixture(1, BuilderConfig::default());
    let thread = &fx.durable[0];
    let nonce = nonce_of(thread);
    fx.chain.set_plan(SimPlan {
        delay: fx.builder.config().lease_ttl,
        ..SimPlan::default()
    });
    let result = fx.build_signed(thread, &SIZED).await;
    assert_eq!(result.err(), Some(BuildError::LeaseExpired(nonce)));
    assert_eq!(
        fx.pool.available(),
        1,
        "the expired lease went back on drop"
    );
}

#[tokio::test]
async fn errors_are_typed_and_each_kind_is_counted() {
    let fx = fixture(3, BuilderConfig::default());
    let [held, unknown, foreign] = [&fx.durable[0], &fx.durable[1], &fx.durable[2]];

    let not_durable = fx
        .builder
        .build_execution_output(exec(&fx.plain), &FIXED, true, true)
        .await
        .err()
        .unwrap();
    assert_eq!(not_durable, BuildError::NotDurable(fx.plain.0));

    let nonce_required = fx
        .builder
        .build_execution_output(exec(held), &FIXED, true, false)
        .await
        .err()
        .unwrap();
    assert_eq!(nonce_required, BuildError::NonceRequired(held.0));

    let output = fx.build_signed(held, &FIXED).await.unwrap();
    let unavailable = fx.build_signed(held, &FIXED).await.err().unwrap();
    assert_eq!(unavailable, BuildError::NonceUnavailable(nonce_of(held)));
    output.release_nonce().unwrap();

    fx.chain.accounts.lock().unwrap().remove(&nonce_of(unknown));
    let invalid = fx.build_signed(unknown, &FIXED).await.err().unwrap();
    assert_eq!(invalid, BuildError::InvalidNonceAccount(nonce_of(unknown)));

    let other = Pubkey::new_unique();
    fx.chain.put_nonce(nonce_of(foreign), &other, 9);
    let mismatch = fx.build_signed(foreign, &FIXED).await.err().unwrap();
    assert_eq!(
        mismatch,
        BuildError::NonceAuthorityMismatch {
            nonce: nonce_of(foreign),
            expected: fx.keeper,
            actual: other
        }
    );

    let unregistered = Pubkey::new_unique();
    let transfer = system_instruction::transfer(&fx.keeper, &Pubkey::new_unique(), 1);
    let not_in_pool = fx
        .builder
        .build_instructions_output(
            std::slice::from_ref(&transfer),
            Some(unregistered),
            &FIXED,
            true,
            true,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(not_in_pool, BuildError::NonceUnavailable(unregistered));

    let no_nonce = fx
        .builder
        .build_instructions_output(std::slice::from_ref(&transfer), None, &FIXED, true, true)
        .await
        .err()
        .unwrap();
    assert_eq!(no_nonce.kind(), "not_durable");

    let errors = [
        not_durable,
        nonce_required,
        unavailable,
        invalid,
        mismatch,
        not_in_pool,
        no_nonce,
    ];
    let kinds: Vec<&str> = errors.iter().map(BuildError::kind).collect();
    assert_eq!(
        kinds,
        [
            "not_durable",
            "nonce_required",
            "nonce_unavailable",
            "invalid_nonce_account",
            "nonce_authority_mismatch",
            "nonce_unavailable",
            "not_durable"
        ]
    );
    assert_eq!(fx.count("not_durable"), 2);
    assert_eq!(fx.count("nonce_required"), 1);
    assert_eq!(fx.count("nonce_unavailable"), 2);
    assert_eq!(fx.count("invalid_nonce_account"), 1);
    assert_eq!(fx.count("nonce_authority_mismatch"), 1);
    assert_eq!(fx.count("ok"), 1);
    assert!(fx
        .metrics
        .render()
        .contains("keeper_builds_total{result=\"nonce_required\"} 1"));
    assert_eq!(fx.pool.available(), 3, "no error kept a nonce");
}

#[tokio::test]
async fn builder_sanity_check_trips_on_a_hand_made_wrong_order() {
    let config = BuilderConfig {
        sanity_checks: true,
        ..BuilderConfig::default()
    };
    let fx = fixture(1, config);
    let nonce = nonce_of(&fx.durable[0]);
    let transfer = system_instruction::transfer(&fx.keeper, &Pubkey::new_unique(), 1);
    let second_advance = system_instruction::advance_nonce_account(&nonce, &fx.keeper);
    let late_price = ComputeBudgetInstruction::set_compute_unit_price(5);

    // [advance, limit, price, transfer, advance]
    let late_advance = fx
        .builder
        .build_instructions_output(
            &[transfer.clone(), second_advance.clone()],
            Some(nonce),
            &FIXED,
            true,
            true,
        )
        .await;
    assert_eq!(
        late_advance.err(),
        Some(BuildError::Order(OrderError::LateAdvance(4)))
    );
    assert_eq!(fx.pool.available(), 1, "the failed build freed the nonce");

    // [limit, price, transfer, price]
    let late_budget = fx
        .builder
        .build_instructions_output(&[transfer.clone(), late_price], None, &FIXED, true, false)
        .await;
    assert_eq!(
        late_budget.err(),
        Some(BuildError::Order(OrderError::LateComputeBudget(3)))
    );

    // A non-durable build that smuggles in an advance: [limit, price, advance]
    let smuggled = fx
        .builder
        .build_instructions_output(&[second_advance], None, &FIXED, true, false)
        .await;
    assert_eq!(
        smuggled.err(),
        Some(BuildError::Order(OrderError::LateAdvance(2)))
    );
    assert_eq!(fx.count("instruction_order"), 3);

    let fine = fx
        .builder
        .build_instructions_output(&[transfer], Some(nonce), &FIXED, true, true)
        .await
        .unwrap();
    assert!(is_advance_of(&decoded(&fine.tx)[0], &nonce, &fx.keeper));
    fine.release_nonce().unwrap();
}

/// Live outputs per nonce, and what the builds came to.
#[derive(Default)]
struct Tally {
    live: HashMap<Pubkey, AtomicUsize>,
    ok: AtomicUsize,
    unavailable: AtomicUsize,
    simulation_failed: AtomicUsize,
    order: AtomicUsize,
}

/// Three builds on randomly chosen threads, each retried (after a yield) while its
/// nonce is held by another build: a durable execution (fixed or simulated budget,
/// signed or not) or a build whose hand-made wrong order fails after the nonce was
/// taken. A successful output is counted live (never two per nonce), its transaction
/// decoded, and then released, dropped, or taken apart and marked used.
async fn contended_builds(seed: u64, fx: Arc<Fx>, tally: Arc<Tally>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    for _ in 0..3 {
        let thread = &fx.durable[rng.random_range(0..fx.durable.len())];
        let nonce = nonce_of(thread);
        let config = if rng.random_bool(0.5) { FIXED } else { SIZED };
        let sign = rng.random_bool(0.1);
        let wrong_order = rng.random_range(0..6) == 0;
        let result = loop {
            let result = if wrong_order {
                let advance = system_instruction::advance_nonce_account(&nonce, &fx.keeper);
                fx.builder
                    .build_instructions_output(&[advance], Some(nonce), &FIXED, sign, true)
                    .await
            } else {
                fx.builder
                    .build_execution_output(exec(thread), &config, sign, true)
                    .await
            };
            match result {
                Err(BuildError::NonceUnavailable(n)) => {
                    assert_eq!(n, nonce);
                    tally.unavailable.fetch_add(1, Ordering::Relaxed);
                    // A scheduler would come back later; let the holder finish.
                    tokio::task::yield_now().await;
                }
                other => break other,
            }
        };
        match result {
            Ok(output) => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                let live = &tally.live[&nonce];
                let before = live.fetch_add(1, Ordering::SeqCst);
                assert_eq!(before, 0, "two live outputs for nonce {nonce}");
                assert_durable_exec_order(&output, &nonce, &fx.keeper, &thread.0);
                assert_eq!(*output.tx.message.recent_blockhash(), fx.values[&nonce]);
                for _ in 0..rng.random_range(0..3) {
                    tokio::task::yield_now().await;
                }
                assert!(output.nonce_guard.as_ref().unwrap().is_valid());
                live.fetch_sub(1, Ordering::SeqCst);
                match rng.random_range(0..3) {
                    0 => output.release_nonce().expect("no TTL expiry here"),
                    1 => drop(output),
                    _ => output.into_parts().1.unwrap().mark_used(),
                }
            }
            Err(BuildError::SimulationFailed { .. }) => {
                tally.simulation_failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(BuildError::Order(OrderError::LateAdvance(3))) => {
                tally.order.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => panic!("unexpected build error {other:?}"),
        }
    }
}

async fn run_contended_builds(base_seed: u64, tasks: u64) -> Arc<Tally> {
    let config = BuilderConfig {
        sanity_checks: true,
        ..BuilderConfig::default()
    };
    let fx = Arc::new(fixture(3, config));
    fx.chain.set_plan(SimPlan {
        fail_percent: 20,
        max_yields: 3,
        ..SimPlan::default()
    });
    let tally = Arc::new(Tally {
        live: fx
            .durable
            .iter()
            .map(|t| (nonce_of(t), AtomicUsize::new(0)))
            .collect(),
        ..Tally::default()
    });
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            tokio::spawn(contended_builds(
                base_seed.wrapping_add(i),
                fx.clone(),
                tally.clone(),
            ))
        })
        .collect();
    for handle in handles {
        handle.await.expect("no task saw a double allocation");
    }
    assert_eq!(fx.pool.available(), fx.pool.len(), "a nonce leaked");
    for thread in &fx.durable {
        let lease = fx.pool.try_acquire(&nonce_of(thread)).expect("free again");
        lease.release().unwrap();
    }
    let get = |n: &AtomicUsize| n.load(Ordering::SeqCst);
    let total = get(&tally.ok)
        + get(&tally.unavailable)
        + get(&tally.simulation_failed)
        + get(&tally.order);
    assert_eq!(total as u64 - get(&tally.unavailable) as u64, tasks * 3);
    assert_eq!(fx.count("ok"), get(&tally.ok) as u64);
    assert_eq!(
        fx.count("nonce_unavailable"),
        get(&tally.unavailable) as u64
    );
    assert_eq!(
        fx.count("simulation_failed"),
        get(&tally.simulation_failed) as u64
    );
    assert_eq!(fx.count("instruction_order"), get(&tally.order) as u64);
    assert!(fx.chain.reads() >= 3, "each nonce's value was read");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_builds_never_share_a_live_nonce_multi_thread() {
    let tally = run_contended_builds(0xb01d, 100).await;
    assert!(tally.ok.load(Ordering::SeqCst) > 150);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn concurrent_builds_never_share_a_live_nonce_current_thread() {
    let tally = run_contended_builds(42, 100).await;
    let get = |n: &AtomicUsize| n.load(Ordering::SeqCst);
    assert!(get(&tally.ok) > 150);
    assert!(get(&tally.unavailable) > 0, "builds did contend");
    assert!(get(&tally.simulation_failed) > 0);
    assert!(get(&tally.order) > 0);
}
