//! The transaction builder's hot path against a bare ed25519 signature, measured in the
//! same run (these machines are noisy, so only the ratio travels):
//!
//! - `builder/build_and_sign_durable`: take the nonce lease from the pool (value cached),
//!   build the durable execution of a realistic thread with a fixed compute-unit limit
//!   and price (so no simulation and no fee lookup), sign it, release the lease;
//! - `builder/bare_ed25519_sign`: sign the same message bytes with the same keypair.
//!
//! The builder's chain is an `RpcChain` pointed at a closed localhost port, and each
//! build is polled exactly once: a build that touched the chain would suspend (and this
//! bench would panic) or fail, never quietly measure a network round trip.
//!
//! `scripts/bench-builder.sh` runs this and prints the medians and their ratio. The
//! `builder_parts` group breaks the build down (PDA derivation, the `exec_thread`
//! instruction, an unsigned build, the lease) to show where time goes beyond signing.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keeper::chain::rpc::RpcChain;
use keeper::execution::builder::{BuilderConfig, ExecutionBuilder, ThreadExecution, TxConfig};
use keeper::execution::nonce_pool::NoncePool;
use keeper::test_utils::thread::ThreadFixture;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::client;
use thread::state::{Due, Thread, Trigger};

/// A durable `Interval` thread leased by `keeper`, storing one instruction of four
/// accounts (the thread PDA signing, two writable accounts, one read-only) and 16 bytes
/// of data: the shape of a typical crank.
fn realistic_thread(keeper: &Pubkey, nonce: Pubkey) -> (Pubkey, Thread) {
    let fixture = ThreadFixture::new()
        .at_pda(Pubkey::new_unique(), b"bench-crank")
        .trigger(Trigger::Interval {
            seconds: 60,
            skippable: true,
        })
        .due(Due::At {
            unix_ts: 1_700_000_060,
        })
        .durable_on(nonce)
        .leased_to(*keeper)
        .exec_count(42)
        .crank(vec![7; 16]);
    (fixture.address(), fixture.thread)
}

/// A localhost URL nothing listens on: bound, then closed again.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Polls `future` once; the build path under test must never wait on anything.
fn complete_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the build suspended: it tried to reach the chain"),
    }
}

fn builder_vs_bare_signature(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let _entered = runtime.enter();

    let keypair = Arc::new(Keypair::new());
    let keeper = keypair.pubkey();
    let nonce = Pubkey::new_unique();
    let (thread, state) = realistic_thread(&keeper, nonce);

    let pool = NoncePool::new(Duration::from_secs(30));
    pool.insert(nonce, keeper);
    pool.set_value(&nonce, Hash::new_from_array([9; 32]));
    let chain = Arc::new(RpcChain::new(
        closed_port_url(),
        CommitmentConfig::confirmed(),
        Duration::from_millis(200),
    ));
    let builder = ExecutionBuilder::new(
        chain,
        pool.clone(),
        keypair.clone(),
        BuilderConfig::default(),
    );
    let exec = ThreadExecution {
        thread,
        state: &state,
    };
    let config = TxConfig {
        priority: None,
        compute_unit_limit: Some(200_000),
        compute_unit_price: Some(10_000),
    };

    let build_and_release = || {
        let output = complete_now(builder.build_execution_output(exec, &config, true, true))
            .expect("durable build from the cached nonce value");
        let signature = output.signature();
        output.release_nonce().expect("lease still held");
        signature
    };

    // The same message bytes the builder signs, for the baseline.
    let (tx, guard) = complete_now(builder.build_execution_output(exec, &config, true, true))
        .expect("durable build")
        .into_parts();
    guard
        .expect("durable build holds the nonce")
        .release()
        .unwrap();
    let message = tx.message.serialize();
    assert_eq!(keypair.sign_message(&message), tx.signatures[0]);

    let mut group = c.benchmark_group("builder");
    group.bench_function("build_and_sign_durable", |b| {
        b.iter(|| black_box(build_and_release()))
    });
    group.bench_function("bare_ed25519_sign", |b| {
        b.iter(|| black_box(keypair.sign_message(black_box(&message))))
    });
    group.finish();

    // Where the build's time goes beyond the signature (not read by the script).
    let mut parts = c.benchmark_group("builder_parts");
    parts.bench_function("event_authority_pda", |b| b.iter(client::event_authority));
    parts.bench_function("exec_thread_instruction", |b| {
        b.iter(|| {
            black_box(client::exec_thread_after_advance(
                black_box(&keeper),
                &thread,
                &state,
            ))
        })
    });
    parts.bench_function("build_unsigned_durable", |b| {
        b.iter(|| {
            let output = complete_now(builder.build_execution_output(exec, &config, false, true))
                .expect("durable build from the cached nonce value");
            output.release_nonce().expect("lease still held");
        })
    });
    parts.bench_function("lease_acquire_release", |b| {
        b.iter(|| {
            let lease = pool.try_acquire(black_box(&nonce)).expect("free nonce");
            black_box(lease.cached_value());
            lease.release().expect("held");
        })
    });
    parts.finish();
    assert_eq!(pool.available(), 1, "every lease went back to the pool");
}

criterion_group!(benches, builder_vs_bare_signature);
criterion_main!(benches);
