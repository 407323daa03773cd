//! The transaction builder against a real Agave bank with the thread program loaded:
//! durable executions built by `ExecutionBuilder` land (legacy and v0 messages), advance
//! the thread's nonce and run the thread; the instruction order of every built durable
//! transaction is decoded and checked; simulation without the nonce advance sizes a
//! durable transfer; each build error comes from real chain state and is counted by kind;
//! a stale cached nonce value is rejected until invalidated; the legacy wrappers warn
//! once; concurrent builds never hand one nonce to two live outputs; a stored instruction
//! naming the executor lands; a revoked lease is handed back by its holder's lease
//! manager and left alone by another keeper's until its grace window ends.
//!
//! Durable threads are set up as the program requires: `create_thread_with_nonce` by the
//! owner, `claim_lease` by the keeper (so the keeper is the nonce authority and the lease
//! holder), a slot warped so the fresh nonce can advance, then `pool.insert(nonce,
//! keeper)`. Pure builder tests (stub chain, paused time) are in `src/builder/mod.rs`.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we test against

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use keeper::chain::bank::program_test;
use keeper::chain::{Chain, ChainError};
use keeper::execution::builder::compute::ComputeConfig;
use keeper::execution::builder::order::{without_nonce_advance, OrderError};
use keeper::execution::builder::priority::ExecutionPriority;
use keeper::execution::builder::{
    BuildError, BuilderConfig, ExecutionBuilder, MessageVersion, SimulationMode, ThreadExecution,
    TxConfig, ADVANCE_NONCE_UNITS,
};
use keeper::execution::leases::{LeaseConfig, LeaseManager, LeaseStatus};
use keeper::execution::nonce_pool::NoncePool;
use keeper::ops::metrics::Metrics;
use keeper::test_utils::bank::{BankChainExt, DurableThread, TestBank};
use keeper::test_utils::logs::CapturedLogs;
use keeper::test_utils::recorder;
use keeper::test_utils::tx::{assert_durable_exec_order, decoded, is_advance_of};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_program_test::processor;
use solana_sdk::instruction::InstructionError;
use solana_sdk::message::{Message, VersionedMessage};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use thread::client;
use thread::errors::ThreadError;
use thread::instructions::CreateThreadArgs;
use thread::state::{Thread, ThreadAccountMeta, Trigger, REVOKE_GRACE_SLOTS};

const SYSTEM_PROGRAM: Pubkey = anchor_lang::solana_program::system_program::ID;
const LEASE_SLOTS: u64 = 10_000;
const MAX_LEASE_SLOTS: u64 = 100_000;

/// The record the threads' recorder calls write to.
const RECORD: Pubkey = Pubkey::new_from_array([8; 32]);

fn custom(error: ThreadError) -> InstructionError {
    InstructionError::Custom(u32::from(error))
}

/// A fixed budget: no simulation, no fee lookup.
const FIXED: TxConfig = TxConfig {
    priority: None,
    compute_unit_limit: Some(200_000),
    compute_unit_price: Some(1_000),
};

/// The test bank with the counter program and its record loaded, and the keeper's nonce
/// pool and metrics, which every builder of a test shares.
struct Rig {
    bank: TestBank,
    pool: NoncePool,
    metrics: Arc<Metrics>,
}

async fn rig() -> Rig {
    let mut pt = program_test();
    pt.add_program("recorder", recorder::ID, processor!(recorder::process));
    let bank = TestBank::builder_from(pt)
        .account(RECORD, recorder::record_account())
        .start()
        .await;
    let metrics = Metrics::new();
    Rig {
        bank,
        pool: NoncePool::new(BuilderConfig::default().lease_ttl).with_observer(metrics.clone()),
        metrics,
    }
}

impl Rig {
    fn builder(&self, config: BuilderConfig) -> ExecutionBuilder {
        ExecutionBuilder::new(
            self.bank.chain.clone(),
            self.pool.clone(),
            self.bank.keeper.clone(),
            config,
        )
        .with_metrics(self.metrics.clone())
    }

    fn count(&self, label: &str) -> u64 {
        self.metrics.builds_total.with_label_values(&[label]).get()
    }

    /// `create_thread` arguments for a thread that calls the recorder once per execution.
    fn counter_thread_args(&self, id: &str, trigger: Trigger) -> CreateThreadArgs {
        let (thread, mut args) = self.bank.thread_args(id, trigger);
        args.instructions = vec![recorder::record_ix(thread, RECORD, 1).into()];
        args
    }

    async fn plain_thread(&self, id: &str, trigger: Trigger) -> Pubkey {
        let args = self.counter_thread_args(id, trigger);
        self.bank.create_thread_with(args).await
    }

    /// A durable thread (nonce authority: the thread PDA), not leased.
    async fn durable_thread(&self, id: &str, trigger: Trigger) -> DurableThread {
        let args = self.counter_thread_args(id, trigger);
        self.bank
            .create_durable_thread_with(args, MAX_LEASE_SLOTS)
            .await
    }

    /// The keeper claims the lease (bond: the nonce's lamports), so it holds the nonce
    /// authority; a slot passes so the fresh nonce can advance; the pool learns the nonce.
    async fn claim(&self, d: DurableThread) {
        let chain = &self.bank.chain;
        let keeper = self.bank.keeper();
        let bond = chain.balance(&d.nonce).await;
        let ix = client::claim_lease(&keeper, &d.thread, &d.nonce, LEASE_SLOTS, bond);
        self.bank.process(&[ix], &[&self.bank.keeper]).await;
        let lease = chain
            .thread_state(&d.thread)
            .await
            .lease
            .expect("lease claimed");
        assert_eq!(lease.holder, keeper);
        assert_eq!(chain.nonce(&d.nonce).await.0, keeper);
        chain.warp_slots(1).await;
        self.pool.insert(d.nonce, keeper);
    }

    /// A durable thread leased by the keeper and registered in its pool.
    async fn leased(&self, id: &str, trigger: Trigger) -> DurableThread {
        let d = self.durable_thread(id, trigger).await;
        self.claim(d).await;
        d
    }

    /// Calls the recorder has seen.
    async fn calls(&self) -> u64 {
        let record = self.bank.chain.existing_account(&RECORD).await;
        recorder::read_record(&record.data).1
    }
}

fn exec(thread: Pubkey, state: &Thread) -> ThreadExecution<'_> {
    ThreadExecution { thread, state }
}

#[tokio::test]
async fn built_durable_execution_lands_and_advances_the_nonce() {
    let rig = rig().await;
    let d = rig.leased("e2e", Trigger::Now).await;
    let builder = rig.builder(BuilderConfig::default());
    let state = rig.bank.chain.thread_state(&d.thread).await;
    let (_, before) = rig.bank.chain.nonce(&d.nonce).await;

    // The limit is sized by simulating the execution (advance kept, see SimulationMode).
    let config = TxConfig {
        compute_unit_price: Some(1_000),
        ..TxConfig::default()
    };
    let output = builder
        .build_execution_output(exec(d.thread, &state), &config, true, true)
        .await
        .unwrap();
    assert_durable_exec_order(&output, &d.nonce, &rig.bank.keeper(), &d.thread);
    assert_eq!(*output.tx.message.recent_blockhash(), before);
    assert!(matches!(output.tx.message, VersionedMessage::Legacy(_)));
    let limit = output.budget.unit_limit;
    assert!(
        (ComputeConfig::default().min_unit_limit..1_400_000).contains(&limit),
        "{limit}"
    );
    assert_eq!(output.priority, ExecutionPriority::Medium);
    assert_eq!(rig.pool.available(), 0, "held until broadcast resolves");

    rig.bank.chain.land(&output.tx).await;
    let after = rig.bank.chain.thread_state(&d.thread).await;
    assert_eq!(after.exec_count, 1);
    assert_eq!(rig.calls().await, 1);
    let (authority, advanced) = rig.bank.chain.nonce(&d.nonce).await;
    assert_ne!(
        advanced, before,
        "the durable transaction advanced the nonce"
    );
    assert_eq!(
        authority,
        rig.bank.keeper(),
        "the lease still holds the authority"
    );

    // The same signed transaction can never land twice.
    assert!(matches!(
        rig.bank.chain.send(&output.tx).await,
        Err(ChainError::Rejected(_))
    ));
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);

    output.release_nonce().unwrap();
    assert_eq!(rig.pool.available(), 1);
    assert_eq!(rig.count("ok"), 1);
    let explicit = rig
        .metrics
        .lease_age_seconds
        .with_label_values(&["explicit"]);
    assert_eq!(explicit.get_sample_count(), 1);
}

#[tokio::test]
async fn v0_message_lands_as_a_durable_transaction() {
    let rig = rig().await;
    let d = rig.leased("v0", Trigger::Now).await;
    let builder = rig.builder(BuilderConfig {
        message_version: MessageVersion::V0,
        ..BuilderConfig::default()
    });
    let state = rig.bank.chain.thread_state(&d.thread).await;
    let (_, before) = rig.bank.chain.nonce(&d.nonce).await;

    let output = builder
        .build_execution_output(exec(d.thread, &state), &FIXED, true, true)
        .await
        .unwrap();
    assert!(matches!(output.tx.message, VersionedMessage::V0(_)));
    assert_durable_exec_order(&output, &d.nonce, &rig.bank.keeper(), &d.thread);
    assert_eq!(*output.tx.message.recent_blockhash(), before);

    rig.bank.chain.land(&output.tx).await;
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);
    assert_eq!(rig.calls().await, 1);
    assert_ne!(rig.bank.chain.nonce(&d.nonce).await.1, before);
    output.release_nonce().unwrap();
}

#[tokio::test]
async fn durable_transfer_simulates_without_the_nonce_advance_and_reports_units() {
    let rig = rig().await;
    let d = rig.leased("transfer", Trigger::Now).await;
    let config = BuilderConfig {
        simulation: SimulationMode::SkipNonceAdvance,
        // No floor and no margin: the limit is exactly the units the transaction needs.
        compute: ComputeConfig {
            min_unit_limit: 1,
            margin_percent: 0,
            ..ComputeConfig::default()
        },
        ..BuilderConfig::default()
    };
    let builder = rig.builder(config.clone());
    let (_, before) = rig.bank.chain.nonce(&d.nonce).await;
    let to = Pubkey::new_unique();
    let transfer = system_instruction::transfer(&rig.bank.keeper(), &to, 1_000_000);

    // A payload that does not check the nonce itself: sized without the advance.
    let output = builder
        .build_instructions_output(
            std::slice::from_ref(&transfer),
            Some(d.nonce),
            &TxConfig::default(),
            true,
            true,
        )
        .await
        .unwrap();
    let ixs = decoded(&output.tx);
    assert_eq!(
        ixs.len(),
        3,
        "no fee market in the bank: no price instruction"
    );
    assert!(
        is_advance_of(&ixs[0], &d.nonce, &rig.bank.keeper()),
        "{:?}",
        ixs[0]
    );
    assert_eq!(
        ixs[1],
        ComputeBudgetInstruction::set_compute_unit_limit(output.budget.unit_limit)
    );
    assert_eq!(ixs[2].program_id, SYSTEM_PROGRAM);
    assert_eq!(ixs[2].data, transfer.data);

    // The same instructions with the advance skipped simulate cleanly and report units;
    // the builder sized its limit from exactly those units.
    let simulated = without_nonce_advance(&ixs, true);
    assert_eq!(simulated[..], ixs[1..]);
    let blockhash = rig.bank.chain.latest_blockhash().await.unwrap();
    let message = Message::new_with_blockhash(&simulated, Some(&rig.bank.keeper()), &blockhash);
    let sim_tx = VersionedTransaction {
        signatures: vec![Signature::default()],
        message: VersionedMessage::Legacy(message),
    };
    let sim = rig.bank.chain.simulate(&sim_tx).await.unwrap();
    assert_eq!(sim.err, None, "{:?}", sim.logs);
    assert!(sim.units_consumed > 0);
    // The builder sized its limit from those units plus the advance it skipped, which
    // is what the full transaction consumes.
    assert_eq!(
        u64::from(output.budget.unit_limit),
        sim.units_consumed + ADVANCE_NONCE_UNITS
    );
    let full_message = Message::new_with_blockhash(&ixs, Some(&rig.bank.keeper()), &blockhash);
    let full = rig
        .bank
        .chain
        .simulate(&VersionedTransaction {
            signatures: vec![Signature::default()],
            message: VersionedMessage::Legacy(full_message),
        })
        .await
        .unwrap();
    assert_eq!(full.err, None, "{:?}", full.logs);
    assert_eq!(
        full.units_consumed,
        sim.units_consumed + ADVANCE_NONCE_UNITS
    );
    assert_eq!(
        rig.bank.chain.nonce(&d.nonce).await.1,
        before,
        "simulation consumed nothing"
    );
    assert_eq!(rig.bank.chain.balance(&to).await, 0);

    // And the built durable transfer lands.
    rig.bank.chain.land(&output.tx).await;
    assert_eq!(rig.bank.chain.balance(&to).await, 1_000_000);
    assert_ne!(rig.bank.chain.nonce(&d.nonce).await.1, before);
    output.release_nonce().unwrap();
}

#[tokio::test]
async fn durable_execution_cannot_be_sized_without_its_nonce_advance() {
    let rig = rig().await;
    let d = rig.leased("skip", Trigger::Now).await;
    let state = rig.bank.chain.thread_state(&d.thread).await;

    // The program refuses a durable execution whose instruction 0 is not the advance, so
    // skipping it for a thread execution measures a failure; `Auto` keeps it.
    let skip = rig.builder(BuilderConfig {
        simulation: SimulationMode::SkipNonceAdvance,
        ..BuilderConfig::default()
    });
    let err = skip
        .build_execution_output(exec(d.thread, &state), &TxConfig::default(), true, true)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            &err,
            BuildError::SimulationFailed {
                err: TransactionError::InstructionError(1, e),
                ..
            } if *e == custom(ThreadError::MissingNonceAdvance)
        ),
        "{err:?}"
    );
    assert_eq!(rig.pool.available(), 1, "the failed build freed the nonce");

    let auto = rig.builder(BuilderConfig::default());
    let output = auto
        .build_execution_output(exec(d.thread, &state), &TxConfig::default(), true, true)
        .await
        .unwrap();
    rig.bank.chain.land(&output.tx).await;
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);
    output.release_nonce().unwrap();
    assert_eq!(rig.count("simulation_failed"), 1);
    assert_eq!(rig.count("ok"), 1);
}

#[tokio::test]
async fn build_errors_come_from_chain_state_and_are_counted_by_kind() {
    let rig = rig().await;
    let builder = rig.builder(BuilderConfig::default());
    let leased = rig.leased("held", Trigger::Now).await;
    let unleased = rig.durable_thread("unleased", Trigger::Now).await;
    let not_due = rig
        .leased(
            "not-due",
            Trigger::Interval {
                seconds: 3_600,
                skippable: true,
            },
        )
        .await;
    let plain = rig.plain_thread("plain", Trigger::Now).await;
    let leased_state = rig.bank.chain.thread_state(&leased.thread).await;

    // NonceUnavailable: the nonce is held by another build's output.
    let output = builder
        .build_execution_output(exec(leased.thread, &leased_state), &FIXED, true, true)
        .await
        .unwrap();
    let err = builder
        .build_execution_output(exec(leased.thread, &leased_state), &FIXED, true, true)
        .await
        .err()
        .unwrap();
    assert_eq!(err, BuildError::NonceUnavailable(leased.nonce));
    assert_eq!(err.kind(), "nonce_unavailable");
    output.release_nonce().unwrap();

    // NotDurable: a nonce enforced on a thread that has none.
    let plain_state = rig.bank.chain.thread_state(&plain).await;
    let err = builder
        .build_execution_output(exec(plain, &plain_state), &FIXED, true, true)
        .await
        .err()
        .unwrap();
    assert_eq!(err, BuildError::NotDurable(plain));
    assert_eq!(err.kind(), "not_durable");

    // NonceRequired: a durable thread built without its nonce.
    let err = builder
        .build_execution_output(exec(leased.thread, &leased_state), &FIXED, true, false)
        .await
        .err()
        .unwrap();
    assert_eq!(err, BuildError::NonceRequired(leased.thread));
    assert_eq!(err.kind(), "nonce_required");

    // NonceAuthorityMismatch: registered in the pool, but no lease was claimed on chain,
    // so the authority is still the thread PDA.
    rig.pool.insert(unleased.nonce, rig.bank.keeper());
    let unleased_state = rig.bank.chain.thread_state(&unleased.thread).await;
    let err = builder
        .build_execution_output(exec(unleased.thread, &unleased_state), &FIXED, true, true)
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        BuildError::NonceAuthorityMismatch {
            nonce: unleased.nonce,
            expected: rig.bank.keeper(),
            actual: unleased.thread,
        }
    );
    assert_eq!(err.kind(), "nonce_authority_mismatch");
    assert_eq!(
        rig.pool.cached_value(&unleased.nonce),
        None,
        "nothing cached"
    );

    // SimulationFailed: the thread is not due; the program's error code comes through.
    let not_due_state = rig.bank.chain.thread_state(&not_due.thread).await;
    let err = builder
        .build_execution_output(
            exec(not_due.thread, &not_due_state),
            &TxConfig::default(),
            true,
            true,
        )
        .await
        .err()
        .unwrap();
    match &err {
        BuildError::SimulationFailed { err, logs } => {
            assert_eq!(
                *err,
                TransactionError::InstructionError(2, custom(ThreadError::ThreadNotDue))
            );
            let code = format!(
                "custom program error: {:#x}",
                u32::from(ThreadError::ThreadNotDue)
            );
            assert!(logs.iter().any(|l| l.contains(&code)), "{logs:?}");
        }
        other => panic!("expected SimulationFailed, got {other:?}"),
    }
    assert_eq!(err.kind(), "simulation_failed");

    for label in [
        "ok",
        "nonce_unavailable",
        "not_durable",
        "nonce_required",
        "nonce_authority_mismatch",
        "simulation_failed",
    ] {
        assert_eq!(rig.count(label), 1, "{label}");
        assert!(rig
            .metrics
            .render()
            .contains(&format!("keeper_builds_total{{result=\"{label}\"}} 1")));
    }
    assert_eq!(
        rig.pool.available(),
        rig.pool.len(),
        "no failed build kept a nonce"
    );
}

#[tokio::test]
async fn stale_cached_nonce_value_is_rejected_until_invalidated() {
    let rig = rig().await;
    let interval = Trigger::Interval {
        seconds: 60,
        skippable: true,
    };
    let d = rig.leased("cached", interval).await;
    let builder = rig.builder(BuilderConfig::default());

    rig.bank.chain.make_due(&d.thread).await;
    let state = rig.bank.chain.thread_state(&d.thread).await;
    let first = builder
        .build_execution_output(exec(d.thread, &state), &TxConfig::default(), true, true)
        .await
        .unwrap();
    let (_, first_value) = rig.bank.chain.nonce(&d.nonce).await;
    assert_eq!(*first.tx.message.recent_blockhash(), first_value);
    rig.bank.chain.land(&first.tx).await;
    first.release_nonce().unwrap();
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);

    // Due again a slot later; the pool still caches the value the first build used.
    rig.bank.chain.warp_slots(1).await;
    rig.bank.chain.make_due(&d.thread).await;
    let (_, current) = rig.bank.chain.nonce(&d.nonce).await;
    assert_ne!(current, first_value);
    assert_eq!(rig.pool.cached_value(&d.nonce), Some(first_value));
    let state = rig.bank.chain.thread_state(&d.thread).await;
    let stale = builder
        .build_execution_output(exec(d.thread, &state), &FIXED, true, true)
        .await
        .unwrap();
    assert_eq!(*stale.tx.message.recent_blockhash(), first_value);
    assert_eq!(
        rig.bank.chain.send(&stale.tx).await,
        Err(ChainError::Rejected(TransactionError::BlockhashNotFound))
    );
    stale.release_nonce().unwrap();
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);

    // After invalidate, the next build reads the refreshed value and lands.
    rig.pool.invalidate(&d.nonce);
    let fresh = builder
        .build_execution_output(exec(d.thread, &state), &TxConfig::default(), true, true)
        .await
        .unwrap();
    assert_eq!(*fresh.tx.message.recent_blockhash(), current);
    assert_eq!(rig.pool.cached_value(&d.nonce), Some(current));
    rig.bank.chain.land(&fresh.tx).await;
    fresh.release_nonce().unwrap();
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 2);
    assert_eq!(rig.calls().await, 2);
}

/// The only test in this binary that calls the legacy wrappers: their warning is a
/// process-wide `Once`.
#[tokio::test]
#[allow(deprecated)]
async fn legacy_wrappers_return_a_landing_tx_and_warn_exactly_once() {
    let rig = rig().await;
    let d = rig.leased("legacy", Trigger::Now).await;
    let plain = rig.plain_thread("legacy-plain", Trigger::Now).await;
    let builder = rig.builder(BuilderConfig::default());
    let (captured, _guard) = CapturedLogs::start(tracing::Level::WARN);

    let state = rig.bank.chain.thread_state(&d.thread).await;
    let durable_tx = builder
        .build_execution(exec(d.thread, &state), &TxConfig::default(), true)
        .await
        .unwrap();
    assert_eq!(
        rig.pool.available(),
        1,
        "the legacy API gives the nonce back before broadcast"
    );
    let ixs = decoded(&durable_tx);
    assert!(
        is_advance_of(&ixs[0], &d.nonce, &rig.bank.keeper()),
        "{:?}",
        ixs[0]
    );
    rig.bank.chain.land(&durable_tx).await;
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);

    let plain_state = rig.bank.chain.thread_state(&plain).await;
    let plain_tx = builder
        .build_execution_with_nonce(exec(plain, &plain_state), &TxConfig::default(), true, false)
        .await
        .unwrap();
    assert_eq!(
        decoded(&plain_tx)[0],
        ComputeBudgetInstruction::set_compute_unit_limit(ComputeConfig::default().min_unit_limit),
        "not anchored on a nonce"
    );
    rig.bank.chain.land(&plain_tx).await;
    assert_eq!(rig.bank.chain.thread_state(&plain).await.exec_count, 1);

    for _ in 0..3 {
        builder
            .build_execution_with_nonce(exec(d.thread, &state), &FIXED, true, true)
            .await
            .unwrap();
        builder
            .build_execution(exec(plain, &plain_state), &FIXED, false)
            .await
            .unwrap();
    }

    let text = captured.text();
    assert_eq!(text.matches("legacy build API").count(), 1, "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("keeper::")).count(),
        1,
        "no other keeper warning (no guard or lease dropped unreleased): {text}"
    );
    assert_eq!(rig.pool.available(), 1);
    assert_eq!(rig.count("ok"), 8);
}

/// Per nonce, outputs currently alive; and what the builds came to.
struct Tally {
    live: HashMap<Pubkey, AtomicUsize>,
    ok: AtomicUsize,
    unavailable: AtomicUsize,
    order: AtomicUsize,
}

/// Three builds on random threads of `threads`, each retried while its nonce is held
/// elsewhere: a durable execution (simulated or fixed budget) or a build whose
/// hand-made wrong order fails after taking the nonce. Each output is decoded, counted
/// live (never two for one nonce), then released, dropped or taken apart.
async fn contended_builds(
    seed: u64,
    builder: Arc<ExecutionBuilder>,
    threads: Arc<Vec<(DurableThread, Thread)>>,
    tally: Arc<Tally>,
) {
    let keeper = builder.keeper();
    let mut rng = SmallRng::seed_from_u64(seed);
    for _ in 0..3 {
        let (d, state) = &threads[rng.random_range(0..threads.len())];
        let config = if rng.random_bool(0.5) {
            FIXED
        } else {
            TxConfig::default()
        };
        let wrong_order = rng.random_range(0..6) == 0;
        let result = loop {
            let result = if wrong_order {
                let advance = system_instruction::advance_nonce_account(&d.nonce, &keeper);
                builder
                    .build_instructions_output(&[advance], Some(d.nonce), &FIXED, true, true)
                    .await
            } else {
                builder
                    .build_execution_output(exec(d.thread, state), &config, true, true)
                    .await
            };
            match result {
                Err(BuildError::NonceUnavailable(n)) => {
                    assert_eq!(n, d.nonce);
                    tally.unavailable.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                other => break other,
            }
        };
        match result {
            Ok(output) => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                let live = &tally.live[&d.nonce];
                assert_eq!(live.fetch_add(1, Ordering::SeqCst), 0, "{d:?} built twice");
                assert_durable_exec_order(&output, &d.nonce, &keeper, &d.thread);
                for _ in 0..rng.random_range(0..3) {
                    tokio::task::yield_now().await;
                }
                assert!(output.nonce_guard.as_ref().unwrap().is_valid());
                live.fetch_sub(1, Ordering::SeqCst);
                match rng.random_range(0..3) {
                    0 => output.release_nonce().unwrap(),
                    1 => drop(output),
                    _ => output.into_parts().1.unwrap().mark_used(),
                }
            }
            Err(BuildError::Order(OrderError::LateAdvance(3))) => {
                tally.order.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => panic!("unexpected build error {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_builds_on_a_few_durable_threads_never_share_a_nonce() {
    let rig = rig().await;
    let mut threads = Vec::new();
    for i in 0..3 {
        let d = rig.leased(&format!("busy-{i}"), Trigger::Now).await;
        threads.push((d, rig.bank.chain.thread_state(&d.thread).await));
    }
    let threads = Arc::new(threads);
    let builder = Arc::new(rig.builder(BuilderConfig {
        sanity_checks: true,
        ..BuilderConfig::default()
    }));
    let tally = Arc::new(Tally {
        live: threads
            .iter()
            .map(|(d, _)| (d.nonce, AtomicUsize::new(0)))
            .collect(),
        ok: AtomicUsize::new(0),
        unavailable: AtomicUsize::new(0),
        order: AtomicUsize::new(0),
    });
    let tasks = 32u64;
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            tokio::spawn(contended_builds(
                0xba4c_u64.wrapping_add(i),
                builder.clone(),
                threads.clone(),
                tally.clone(),
            ))
        })
        .collect();
    for handle in handles {
        handle
            .await
            .expect("no nonce was handed to two live outputs");
    }
    let ok = tally.ok.load(Ordering::SeqCst);
    let order = tally.order.load(Ordering::SeqCst);
    assert_eq!((ok + order) as u64, tasks * 3);
    assert!(
        tally.unavailable.load(Ordering::SeqCst) > 0,
        "builds contended"
    );
    assert_eq!(rig.count("ok"), ok as u64);
    assert_eq!(rig.count("instruction_order"), order as u64);
    assert_eq!(rig.pool.available(), rig.pool.len(), "a nonce leaked");

    // The pool is whole and its values are right: each thread's execution still lands.
    for (d, state) in threads.iter() {
        let output = builder
            .build_execution_output(exec(d.thread, state), &TxConfig::default(), true, true)
            .await
            .unwrap();
        rig.bank.chain.land(&output.tx).await;
        output.release_nonce().unwrap();
        assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);
    }
    assert_eq!(rig.calls().await, 3);
}

/// A stored instruction may name the executor's key (the plain case: an owner running its
/// own keeper, paying it). The builder passes the executor once, as the fee payee, and
/// the program finds it there: both a plain and a durable execution land.
#[tokio::test]
async fn stored_instruction_naming_the_executor_lands_through_the_builder() {
    let rig = rig().await;
    let builder = rig.builder(BuilderConfig::default());
    let names_keeper = |id: &str| {
        let mut args = rig.counter_thread_args(id, Trigger::Now);
        args.instructions[0].accounts.push(ThreadAccountMeta {
            pubkey: rig.bank.keeper(),
            is_signer: false,
            is_writable: true,
        });
        args
    };

    let plain = rig
        .bank
        .create_thread_with(names_keeper("pays-keeper-plain"))
        .await;
    let state = rig.bank.chain.thread_state(&plain).await;
    let output = builder
        .build_execution_output(exec(plain, &state), &FIXED, true, false)
        .await
        .unwrap();
    let program_ix = decoded(&output.tx)
        .into_iter()
        .find(|ix| ix.program_id == thread::ID)
        .unwrap();
    let keeper_metas = program_ix
        .accounts
        .iter()
        .filter(|m| m.pubkey == rig.bank.keeper())
        .count();
    assert_eq!(
        keeper_metas, 1,
        "the executor is passed once, as the fee payee"
    );
    rig.bank.chain.land(&output.tx).await;
    assert_eq!(rig.bank.chain.thread_state(&plain).await.exec_count, 1);
    assert_eq!(rig.calls().await, 1);

    let d = rig
        .bank
        .create_durable_thread_with(names_keeper("pays-keeper-durable"), MAX_LEASE_SLOTS)
        .await;
    rig.claim(d).await;
    let state = rig.bank.chain.thread_state(&d.thread).await;
    let output = builder
        .build_execution_output(exec(d.thread, &state), &FIXED, true, true)
        .await
        .unwrap();
    assert_durable_exec_order(&output, &d.nonce, &rig.bank.keeper(), &d.thread);
    rig.bank.chain.land(&output.tx).await;
    output.release_nonce().unwrap();
    assert_eq!(rig.bank.chain.thread_state(&d.thread).await.exec_count, 1);
    assert_eq!(rig.calls().await, 2);
}

/// After the owner revokes a lease, the holder's keeper hands it back (its bond returned,
/// here claimed afresh at once) while another keeper leaves it alone until the grace
/// window ends, since the program refuses to forfeit it before then.
#[tokio::test]
async fn revoked_lease_is_handed_back_by_its_holder_and_left_alone_by_others() {
    let rig = rig().await;
    let d = rig.leased("revoked", Trigger::Now).await;
    let revoke = client::revoke_lease(&rig.bank.owner.pubkey(), &d.thread);
    rig.bank.process(&[revoke], &[&rig.bank.owner]).await;
    let state = rig.bank.chain.thread_state(&d.thread).await;
    let revoked = state.lease.expect("still held");
    let revoked_at = revoked.revoked_slot.expect("revoked");
    let slot = rig.bank.chain.clock().await.unwrap().slot;
    let thread_lamports = rig.bank.chain.balance(&d.thread).await;

    let other = Arc::new(Keypair::new());
    let fund =
        system_instruction::transfer(&rig.bank.owner.pubkey(), &other.pubkey(), 1_000_000_000);
    rig.bank.process(&[fund], &[&rig.bank.owner]).await;
    let manager = |keypair: &Arc<Keypair>| {
        LeaseManager::new(
            rig.bank.chain.clone(),
            keypair.clone(),
            NoncePool::new(BuilderConfig::default().lease_ttl),
            LeaseConfig::default(),
        )
    };
    let status = manager(&other).ensure(&d.thread, &state, slot).await;
    assert_eq!(
        status,
        Ok(LeaseStatus::HeldByOther {
            holder: rig.bank.keeper(),
            expires_slot: revoked_at + REVOKE_GRACE_SLOTS,
        })
    );
    assert_eq!(
        rig.bank.chain.thread_state(&d.thread).await.lease,
        Some(revoked),
        "nothing sent"
    );

    let status = manager(&rig.bank.keeper)
        .ensure(&d.thread, &state, slot)
        .await;
    assert!(matches!(status, Ok(LeaseStatus::Held { nonce, .. }) if nonce == d.nonce));
    let lease = rig
        .bank
        .chain
        .thread_state(&d.thread)
        .await
        .lease
        .expect("claimed afresh");
    assert_eq!(
        (lease.holder, lease.revoked_slot),
        (rig.bank.keeper(), None)
    );
    assert_eq!(lease.bond, revoked.bond);
    assert_eq!(
        rig.bank.chain.balance(&d.thread).await,
        thread_lamports,
        "bond returned, reposted"
    );
}
