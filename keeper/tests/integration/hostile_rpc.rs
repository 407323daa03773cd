//! The keeper against a hostile or broken JSON-RPC node (`crate::common::hostile_rpc`): answers
//! too large, not JSON, of the wrong shape, too slow, or with a huge error message. Each
//! must cost a bounded amount of memory and log, count as a failure of that endpoint
//! (so failover moves on), and reach errors, logs and `/ready` only as a short excerpt.
//! The last tests run the real `keeper` binary against such nodes.

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::hostile_rpc::{HostileRpc, Mode};
use anchor_lang::Discriminator;
use keeper::chain::breaker::{BreakerConfig, BreakerState};
use keeper::chain::failover::FailoverChain;
use keeper::chain::rpc::RpcChain;
use keeper::chain::transport::ResponseLimits;
use keeper::chain::{Chain, ChainError};
use keeper::test_utils::bank::thread_look_alike;
use keeper::test_utils::loopback::free_port;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::hash::Hash;
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, VersionedTransaction};
use thread::state::Thread;

const MIB: usize = 1024 * 1024;

fn chain(rpc: &HostileRpc, timeout: Duration, limits: ResponseLimits) -> RpcChain {
    RpcChain::with_limits(&rpc.url, CommitmentConfig::confirmed(), timeout, limits)
}

fn small_limits() -> ResponseLimits {
    ResponseLimits {
        max_response_bytes: MIB,
        max_scan_response_bytes: 8 * MIB,
    }
}

/// Every read method of the trait, once, with what it returned.
async fn call_every_method(chain: &RpcChain) -> Vec<(&'static str, Result<(), ChainError>)> {
    let payer = Keypair::new();
    let message = Message::new(&[], Some(&payer.pubkey()));
    let tx = VersionedTransaction::from(Transaction::new(&[&payer], message, Hash::default()));
    let key = Pubkey::new_unique();
    vec![
        ("getAccountInfo", chain.get_account(&key).await.map(drop)),
        (
            "getMultipleAccounts",
            chain.get_multiple_accounts(&[key]).await.map(drop),
        ),
        (
            "getProgramAccounts",
            chain
                .get_program_accounts(&thread::ID, Thread::DISCRIMINATOR)
                .await
                .map(drop),
        ),
        (
            "getLatestBlockhash",
            chain.latest_blockhash().await.map(drop),
        ),
        ("clock", chain.clock().await.map(drop)),
        ("simulateTransaction", chain.simulate(&tx).await.map(drop)),
        ("sendTransaction", chain.send(&tx).await.map(drop)),
        (
            "getSignatureStatuses",
            chain
                .signature_statuses(&[tx.signatures[0]])
                .await
                .map(drop),
        ),
        (
            "getRecentPrioritizationFees",
            chain.recent_prioritization_fees(&[key]).await.map(drop),
        ),
    ]
}

fn assert_short(error: &ChainError) {
    let text = error.to_string();
    assert!(
        text.len() < 600,
        "an error must carry an excerpt, not the answer: {} bytes: {}",
        text.len(),
        &text[..text.len().min(600)]
    );
}

#[tokio::test]
async fn an_oversized_answer_is_refused_at_the_cap_without_reading_it_all() {
    for declared in [false, true] {
        let rpc = HostileRpc::start(Mode::Huge {
            bytes: 64 * MIB,
            declared,
        });
        let chain = chain(&rpc, Duration::from_secs(20), small_limits());
        let error = chain.latest_blockhash().await.unwrap_err();
        assert!(
            matches!(error, ChainError::Unavailable(_)),
            "declared {declared}: {error}"
        );
        assert!(
            error.to_string().contains("1048576-byte limit")
                && error.to_string().contains("daemon.rpc.max_response_bytes"),
            "the error names the limit and the setting: {error}"
        );
        assert_short(&error);
        // The client stopped reading at the cap: the node could hand over only what
        // fits in the cap plus the sockets' buffers, nowhere near the 64 MiB it tried.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            rpc.bytes_written() < 16 * MIB as u64,
            "declared {declared}: the node wrote {} bytes",
            rpc.bytes_written()
        );
    }
}

#[tokio::test]
async fn the_scan_has_its_own_larger_cap() {
    let rpc = HostileRpc::start(Mode::Honest);
    // 3,000 program accounts of 400 bytes: ~1.6 MB of base64 in one scan answer.
    let account = thread_look_alike(&[7; 400 - 8]);
    assert_eq!(account.data.len(), 400);
    let keys: Vec<Pubkey> = (0..3_000).map(|_| Pubkey::new_unique()).collect();
    for key in &keys {
        rpc.put_account(*key, account.clone());
    }
    let chain = chain(&rpc, Duration::from_secs(20), small_limits());
    let (_, accounts) = chain
        .get_program_accounts(&thread::ID, Thread::DISCRIMINATOR)
        .await
        .expect("the scan cap (8 MiB) admits the scan");
    assert_eq!(accounts.len(), keys.len());

    let tight = ResponseLimits {
        max_response_bytes: MIB,
        max_scan_response_bytes: MIB,
    };
    let error = self::chain(&rpc, Duration::from_secs(20), tight)
        .get_program_accounts(&thread::ID, Thread::DISCRIMINATOR)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("daemon.rpc.max_scan_response_bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn a_huge_error_message_reaches_errors_only_as_an_excerpt() {
    let rpc = HostileRpc::start(Mode::HugeError { bytes: 2 * MIB });
    let limits = ResponseLimits {
        max_response_bytes: 4 * MIB,
        ..small_limits()
    };
    let chain = chain(&rpc, Duration::from_secs(20), limits);
    for (method, result) in call_every_method(&chain).await {
        let error = result.expect_err(method);
        assert_short(&error);
    }
}

#[tokio::test]
async fn garbage_and_wrong_shaped_answers_are_endpoint_failures_for_every_method() {
    for mode in [Mode::Garbage, Mode::WrongShape] {
        let rpc = HostileRpc::start(mode.clone());
        let chain = chain(&rpc, Duration::from_secs(5), small_limits());
        for (method, result) in call_every_method(&chain).await {
            match result {
                Err(error @ ChainError::Unavailable(_)) => assert_short(&error),
                other => panic!("{mode:?} {method}: expected Unavailable, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_named_as_one() {
    let rpc = HostileRpc::start(Mode::Slow {
        delay: Duration::from_secs(5),
    });
    let chain = chain(&rpc, Duration::from_millis(300), small_limits());
    let started = Instant::now();
    let error = chain.latest_blockhash().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the call waited for the node"
    );
    assert!(matches!(error, ChainError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test]
async fn a_node_of_the_wrong_shape_fails_over_to_the_fallback() {
    let primary = HostileRpc::start(Mode::WrongShape);
    let fallback = HostileRpc::start(Mode::Honest);
    let endpoints: Vec<Arc<dyn Chain>> = vec![
        Arc::new(chain(&primary, Duration::from_secs(5), small_limits())),
        Arc::new(chain(&fallback, Duration::from_secs(5), small_limits())),
    ];
    let failover = FailoverChain::new(endpoints, BreakerConfig::default(), None).unwrap();
    for _ in 0..10 {
        let clock = failover.clock().await.expect("the fallback answers");
        assert_eq!(clock.slot, 100);
    }
    assert!(fallback.requests("getAccountInfo") >= 10);
    let states = failover.breaker_states();
    assert!(
        matches!(states[0].1, BreakerState::Open { .. }),
        "the primary's breaker opened: {states:?}"
    );
    // With the primary's breaker open, calls go straight to the fallback.
    let asked = primary.total_requests();
    failover.latest_blockhash().await.unwrap();
    assert_eq!(primary.total_requests(), asked);
}

#[tokio::test]
async fn a_node_that_does_not_see_an_account_says_so_at_its_own_slot() {
    // Two nodes of one cluster: one has the thread, the other is behind and does not.
    let key = Pubkey::new_unique();
    let account = thread_look_alike(&[]);
    let ahead = HostileRpc::start(Mode::Honest);
    ahead.put_clock(500, 1_800_000_200);
    ahead.put_account(key, account.clone());
    let behind = HostileRpc::start(Mode::NotFound);
    behind.put_account(key, account.clone());
    let (slot, seen) = chain(&ahead, Duration::from_secs(5), small_limits())
        .get_account_with_slot(&key)
        .await
        .unwrap();
    assert_eq!((slot, seen), (500, Some(account)));
    // The lagging node's "not found" carries the slot it answered at, which is what the
    // executor weighs against the slot its stored execution rests on.
    let (slot, seen) = chain(&behind, Duration::from_secs(5), small_limits())
        .get_account_with_slot(&key)
        .await
        .unwrap();
    assert_eq!((slot, seen), (100, None));
}

// ---------------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------------

/// `keeper run` against `primary` (and `fallback`), health on a free port, with a
/// keeper TOML file of `daemon` settings; killed when dropped.
struct KeeperRun {
    /// Taken by [`KeeperRun::stop`].
    child: Option<Child>,
    health: String,
    _home: crate::home::Home,
}

impl KeeperRun {
    fn start(primary: &HostileRpc, fallback: Option<&HostileRpc>, daemon: &str) -> Self {
        let home = crate::home::Home::with_default_keypair();
        let config = home.write("keeper.toml", format!("[daemon]\n{daemon}").as_bytes());
        let health = format!("127.0.0.1:{}", free_port());
        let store = home.store_path();
        let mut args = vec![
            "-u".to_string(),
            primary.url.clone(),
            "--config".into(),
            config.display().to_string(),
            "--store".into(),
            store.display().to_string(),
            "run".into(),
            "--health-addr".into(),
            health.clone(),
        ];
        if let Some(fallback) = fallback {
            args.extend(["--fallback-url".into(), fallback.url.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = home
            .command(&args, &[("KEEPER_LOG", "info")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keeper starts");
        Self {
            child: Some(child),
            health,
            _home: home,
        }
    }

    /// GET `path` on the health port: (status line, body), or None while it is not up.
    fn get(&self, path: &str) -> Option<(String, String)> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&self.health).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        Some((head.lines().next()?.to_string(), body.to_string()))
    }

    /// Stops the keeper with SIGTERM (failing if it has not stopped within 40 s) and
    /// returns its stderr.
    fn stop(mut self) -> String {
        let child = self.child.take().expect("running");
        crate::home::signal(&child, "TERM");
        crate::home::stderr(&crate::home::wait_with_limit(
            child,
            Duration::from_secs(40),
        ))
    }
}

impl Drop for KeeperRun {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
    }
}

fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keeper_fails_over_from_a_node_of_the_wrong_shape() {
    let primary = HostileRpc::start(Mode::WrongShape);
    let fallback = HostileRpc::start(Mode::Honest);
    let keeper = KeeperRun::start(
        &primary,
        Some(&fallback),
        "tick_ms = 100\nreconcile_ms = 300\n",
    );
    wait_for(
        "the fallback serves the keeper's scans and clock reads",
        30,
        || fallback.requests("getProgramAccounts") >= 2 && fallback.requests("getAccountInfo") >= 5,
    );
    wait_for("/ready answers 200", 30, || {
        keeper
            .get("/ready")
            .is_some_and(|(status, _)| status.contains(" 200 "))
    });
    let stderr = keeper.stop();
    assert!(
        stderr.lines().all(|line| line.len() < 2_000),
        "no log line carries an answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_answers_reach_neither_logs_nor_health_bodies() {
    let rpc = HostileRpc::start(Mode::Huge {
        bytes: 48 * MIB,
        declared: false,
    });
    let keeper = KeeperRun::start(
        &rpc,
        None,
        "tick_ms = 100\nreconcile_ms = 300\n[daemon.rpc]\nmax_response_bytes = 1048576\nmax_scan_response_bytes = 1048576\n",
    );
    wait_for("the health port serves", 30, || {
        keeper.get("/health").is_some()
    });
    // Let the keeper be refused a few huge answers: five, as many as its circuit
    // breaker lets through before it opens and holds every call back for 30 s (a sixth
    // is there only when one was already under way as the breaker opened).
    wait_for("several huge answers", 30, || rpc.total_requests() >= 5);
    // Liveness stays 200 (an RPC outage must not get the keeper restarted); readiness
    // fails, saying why in a few words.
    for (path, ok) in [("/health", true), ("/ready", false)] {
        let (status, body) = keeper.get(path).expect(path);
        assert_eq!(status.contains(" 200 "), ok, "{path}: {status}");
        assert!(
            body.len() < 8 * 1024,
            "{path} body is {} bytes: {}",
            body.len(),
            &body[..body.len().min(300)]
        );
        if !ok {
            assert!(body.contains("limit"), "{path} says why: {body}");
        }
    }
    let requests = rpc.total_requests() as u64;
    let stderr = keeper.stop();
    assert!(
        stderr.lines().all(|line| line.len() < 2_000),
        "no log line carries an answer"
    );
    // Each refused answer cost at most the cap plus socket buffers.
    assert!(
        rpc.bytes_written() < requests * 16 * MIB as u64,
        "{} bytes for {requests} requests",
        rpc.bytes_written()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_that_are_not_threads_draw_one_warning_per_scan_at_most() {
    let rpc = HostileRpc::start(Mode::Honest);
    // 300 program accounts with the thread discriminator and nonsense after it.
    for _ in 0..300 {
        rpc.put_account(Pubkey::new_unique(), thread_look_alike(&[0xff; 40]));
    }
    let keeper = KeeperRun::start(&rpc, None, "tick_ms = 100\nreconcile_ms = 200\n");
    wait_for("five scans", 30, || rpc.requests("getProgramAccounts") >= 5);
    let stderr = keeper.stop();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("invalid thread account"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the 300 accounts (the others at debug), none again while they stay: {warnings:#?}"
    );
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("new=300"),
        "{}",
        warnings[0]
    );
}
