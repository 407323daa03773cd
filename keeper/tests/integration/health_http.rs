//! Health checks against a real Agave bank (`BankChain`, with `FaultyChain` for outages),
//! the health server over real HTTP, and the Prometheus alert rules in `ops/` against the
//! metrics the keeper exports.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we test against

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keeper::chain::breaker::BreakerConfig;
use keeper::chain::failover::FailoverChain;
use keeper::chain::faulty::{Fault, FaultyChain, Op};
use keeper::chain::rpc::RpcChain;
use keeper::chain::Chain;
use keeper::ops::degradation::{DegradationConfig, DegradationMonitor};
use keeper::ops::health::{
    HealthCheck, HealthRegistry, HealthStatus, NonceAccountsCheck, NonceProblem, RpcCheck,
    WatchedNonces, NONCE_ACCOUNT_LEN,
};
use keeper::ops::http::{spawn, HealthServer};
use keeper::ops::metrics::Metrics;
use keeper::test_utils::bank::{BankChainExt, TestBank};
use keeper::test_utils::probed_bank::ProbedBank;
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use tokio::sync::{oneshot, Notify};

const SYSTEM_PROGRAM: Pubkey = anchor_lang::solana_program::system_program::ID;

/// The bank, and the chain the checks read it through: faulty, passing everything until
/// a test scripts a fault. The bank's keeper is the authority of its nonce accounts.
async fn bank_behind_faults() -> (TestBank, Arc<FaultyChain<ProbedBank>>) {
    let bank = TestBank::start().await;
    let chain = Arc::new(FaultyChain::new(ProbedBank::new(bank.chain.clone()), 7));
    (bank, chain)
}

/// Stores `account` at a new address, bypassing the system program.
async fn store(bank: &TestBank, account: Account) -> Pubkey {
    let address = Pubkey::new_unique();
    bank.chain.set_account(&address, account).await;
    address
}

// Health checks against the bank.

#[tokio::test]
async fn valid_nonce_accounts_are_healthy() {
    let (bank, chain) = bank_behind_faults().await;
    let keeper = bank.keeper.pubkey();
    let watched = WatchedNonces::new();
    watched.insert(bank.create_nonce(&keeper).await, keeper);
    watched.insert(bank.create_nonce(&keeper).await, keeper);
    let metrics = Metrics::new();
    metrics.invalid_nonces.set(9);
    let check = NonceAccountsCheck::new(chain.clone(), metrics.clone(), watched);

    let status = check.check().await;

    assert!(status.healthy, "{}", status.message);
    assert_eq!(status.message, "2 nonce accounts valid");
    assert_eq!(status.metrics["checked"], 2.0);
    assert_eq!(status.metrics["invalid"], 0.0);
    assert_eq!(metrics.invalid_nonces.get(), 0);
    assert!(check.critical());
    assert_eq!(check.name(), "nonce_accounts");
}

#[tokio::test]
async fn each_invalid_nonce_account_is_reported_with_its_problem() {
    let (bank, chain) = bank_behind_faults().await;
    let keeper = bank.keeper.pubkey();
    let minimum = bank.chain.rent_exempt_minimum(NONCE_ACCOUNT_LEN).await;

    let valid = bank.create_nonce(&keeper).await;
    let stranger = Pubkey::new_unique();
    let wrong_authority = bank.create_nonce(&stranger).await;
    let missing = Pubkey::new_unique();
    let mut poor = bank.chain.existing_account(&valid).await;
    poor.lamports = minimum - 1;
    let under_funded = store(&bank, poor).await;
    let uninitialized = store(
        &bank,
        Account {
            lamports: minimum,
            data: vec![0; NONCE_ACCOUNT_LEN],
            owner: SYSTEM_PROGRAM,
            executable: false,
            rent_epoch: 0,
        },
    )
    .await;
    let mut foreign = bank.chain.existing_account(&valid).await;
    foreign.owner = thread::ID;
    let wrong_owner = store(&bank, foreign).await;

    let watched = WatchedNonces::new();
    for nonce in [
        valid,
        wrong_authority,
        missing,
        under_funded,
        uninitialized,
        wrong_owner,
    ] {
        watched.insert(nonce, keeper);
    }
    let metrics = Metrics::new();
    let check = NonceAccountsCheck::new(chain.clone(), metrics.clone(), watched);

    let (checked, invalid) = check.scan().await.unwrap();
    assert_eq!(checked, 6);
    let mut expected = vec![
        (
            wrong_authority,
            NonceProblem::WrongAuthority {
                expected: keeper,
                actual: stranger,
            },
        ),
        (missing, NonceProblem::Missing),
        (
            under_funded,
            NonceProblem::BelowRentExempt {
                lamports: minimum - 1,
                minimum,
            },
        ),
        (uninitialized, NonceProblem::Uninitialized),
        (wrong_owner, NonceProblem::WrongOwner { owner: thread::ID }),
    ];
    expected.sort_by_key(|(nonce, _)| *nonce);
    assert_eq!(invalid, expected);
    assert_eq!(metrics.invalid_nonces.get(), 5);

    let status = check.check().await;
    assert!(!status.healthy);
    assert!(status
        .message
        .starts_with("5 of 6 nonce accounts invalid: "));
    for line in [
        format!("{wrong_authority}: authority is {stranger}, expected {keeper}"),
        format!("{missing}: account does not exist"),
        format!(
            "{under_funded}: balance of {} lamports is below the rent-exempt minimum of {minimum}",
            minimum - 1
        ),
        format!("{uninitialized}: nonce account is not initialized"),
        format!(
            "{wrong_owner}: owned by {}, not the system program",
            thread::ID
        ),
    ] {
        assert!(
            status.message.contains(&line),
            "{line:?} not in {:?}",
            status.message
        );
    }
    assert!(!status.message.contains(&valid.to_string()));
    assert_eq!(status.metrics["invalid"], 5.0);
    assert_eq!(status.metrics["checked"], 6.0);
}

#[tokio::test]
async fn the_rent_exempt_minimum_comes_from_the_rent_sysvar_unless_fixed() {
    let (bank, chain) = bank_behind_faults().await;
    let keeper = bank.keeper.pubkey();
    let nonce = bank.create_nonce(&keeper).await;
    let watched = WatchedNonces::new();
    watched.insert(nonce, keeper);
    let minimum = bank.chain.rent_exempt_minimum(NONCE_ACCOUNT_LEN).await;

    let from_sysvar = NonceAccountsCheck::new(chain.clone(), Metrics::new(), watched.clone());
    assert!(from_sysvar.check().await.healthy);

    let stricter = NonceAccountsCheck::new(chain.clone(), Metrics::new(), watched)
        .with_rent_exempt_minimum(minimum + 1);
    let (_, invalid) = stricter.scan().await.unwrap();
    assert_eq!(
        invalid,
        vec![(
            nonce,
            NonceProblem::BelowRentExempt {
                lamports: minimum,
                minimum: minimum + 1
            }
        )]
    );
}

#[tokio::test]
async fn the_watched_set_follows_leases_at_run_time() {
    let (bank, chain) = bank_behind_faults().await;
    let keeper = bank.keeper.pubkey();
    let metrics = Metrics::new();
    let watched = WatchedNonces::new();
    let check = NonceAccountsCheck::new(chain.clone(), metrics.clone(), watched.clone());

    let empty = check.check().await;
    assert!(empty.healthy);
    assert_eq!(empty.message, "0 nonce accounts valid");

    // A lease on a nonce someone else is the authority of.
    let foreign = bank.create_nonce(&Pubkey::new_unique()).await;
    watched.insert(foreign, keeper);
    assert!(!check.check().await.healthy);
    assert_eq!(metrics.invalid_nonces.get(), 1);

    // The lease is released; another one claimed.
    watched.remove(&foreign);
    watched.insert(bank.create_nonce(&keeper).await, keeper);
    assert!(check.check().await.healthy);
    assert_eq!(metrics.invalid_nonces.get(), 0);
}

#[tokio::test]
async fn a_chain_outage_fails_the_nonce_check_and_leaves_the_gauge() {
    let (bank, chain) = bank_behind_faults().await;
    let keeper = bank.keeper.pubkey();
    let watched = WatchedNonces::new();
    watched.insert(Pubkey::new_unique(), keeper);
    let metrics = Metrics::new();
    let check = NonceAccountsCheck::new(chain.clone(), metrics.clone(), watched);
    assert!(!check.check().await.healthy);
    assert_eq!(metrics.invalid_nonces.get(), 1);

    chain.script(Op::GetMultipleAccounts, [Some(Fault::Drop)]);
    let status = check.check().await;
    assert!(!status.healthy);
    assert!(
        status
            .message
            .starts_with("could not read the nonce accounts: chain endpoint unavailable"),
        "{}",
        status.message
    );
    assert_eq!(metrics.invalid_nonces.get(), 1);
}

#[tokio::test]
async fn rpc_check_fails_on_errors_and_on_timeouts() {
    let (_, chain) = bank_behind_faults().await;
    let check = RpcCheck::new(chain.clone(), Duration::from_millis(200));
    assert_eq!(check.name(), "rpc:faulty:bank");
    assert!(check.critical());

    let status = check.check().await;
    assert!(status.healthy, "{}", status.message);
    assert!(status.metrics.contains_key("latency_seconds"));

    chain.script(
        Op::LatestBlockhash,
        [
            Some(Fault::Rpc("node is behind".into())),
            Some(Fault::Timeout(Duration::from_secs(60))),
        ],
    );
    let status = check.check().await;
    assert!(!status.healthy);
    assert_eq!(
        status.message,
        "latest_blockhash failed: chain request failed: node is behind"
    );
    let status = check.check().await;
    assert!(!status.healthy);
    assert_eq!(status.message, "latest_blockhash timed out after 200 ms");

    assert!(check.check().await.healthy);
}

// The HTTP server.

/// A registry with the RPC and nonce checks over `bank`, one valid nonce watched, and
/// a degradation monitor (its mode gauge on the keeper's registry) that decides on a
/// single outcome.
async fn registry(
    bank: &TestBank,
    chain: &Arc<FaultyChain<ProbedBank>>,
) -> (Arc<HealthRegistry>, Arc<DegradationMonitor>) {
    let keeper = bank.keeper.pubkey();
    let watched = WatchedNonces::new();
    watched.insert(bank.create_nonce(&keeper).await, keeper);
    let metrics = Metrics::new();
    let config = DegradationConfig {
        min_samples: 1,
        ..DegradationConfig::default()
    };
    let monitor = Arc::new(DegradationMonitor::new(config, Some(metrics.registry())).unwrap());
    let registry = HealthRegistry::new(metrics.clone())
        .with_degradation(monitor.clone())
        .with_check(RpcCheck::new(chain.clone(), Duration::from_secs(2)))
        .with_check(NonceAccountsCheck::new(chain.clone(), metrics, watched));
    (Arc::new(registry), monitor)
}

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (status, content_type, body) = get(url).await;
    assert_eq!(content_type, "application/json");
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn the_server_answers_health_ready_and_metrics() {
    let (bank, chain) = bank_behind_faults().await;
    let (registry, monitor) = registry(&bank, &chain).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, server) = spawn("127.0.0.1:0".parse().unwrap(), registry.clone(), async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    assert_ne!(addr.port(), 0);
    let base = format!("http://{addr}");

    // Alive before any check ran.
    let (status, body) = get_json(&format!("{base}/health")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "status": "alive", "mode": "full", "leadership": "leader", "checks": {} })
    );

    let (status, body) = get_json(&format!("{base}/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], json!(true));
    assert_eq!(body["failing"], json!([]));
    assert_eq!(body["checks"]["rpc:faulty:bank"]["healthy"], json!(true));
    assert_eq!(body["checks"]["rpc:faulty:bank"]["critical"], json!(true));
    assert_eq!(
        body["checks"]["nonce_accounts"]["message"],
        json!("1 nonce account valid")
    );
    assert_eq!(
        body["checks"]["nonce_accounts"]["metrics"]["invalid"],
        json!(0.0)
    );

    let (status, content_type, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for line in [
        "keeper_invalid_nonces 0",
        "keeper_dlq_size 0",
        "keeper_operating_mode 0",
        "keeper_executions_confirmed_total 0",
        "# TYPE keeper_confirmation_latency_seconds histogram",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }

    let (status, _, body) = get(&format!("{base}/nope")).await;
    assert_eq!(status, 404);
    assert_eq!(body, "not found\n");
    let response = reqwest::Client::new()
        .post(format!("{base}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");

    // The endpoint goes down: unready, naming both critical checks; still alive.
    let now = tokio::time::Instant::now();
    chain.down_between(now, now + Duration::from_secs(3600));
    // One failure in four (last, so the first outcome does not already count as a
    // 100 % error rate): 0.25, between the default 0.1 and 0.5.
    for ok in [true, true, true, false] {
        monitor.record(ok);
    }
    let (status, body) = get_json(&format!("{base}/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], json!(false));
    assert_eq!(body["mode"], json!("degraded"));
    let failing = body["failing"].as_array().unwrap();
    let names: Vec<&str> = failing
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nonce_accounts", "rpc:faulty:bank"]);
    assert_eq!(
        failing[1]["message"],
        json!("latest_blockhash failed: chain endpoint unavailable: faulty:bank: injected: endpoint down")
    );

    let (status, body) = get_json(&format!("{base}/health")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], json!("alive"));
    assert_eq!(body["mode"], json!("degraded"));
    assert_eq!(body["checks"]["rpc:faulty:bank"]["healthy"], json!(false));
    let (_, _, text) = get(&format!("{base}/metrics")).await;
    assert!(text.contains("keeper_operating_mode 1"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server drains")
        .unwrap();
}

/// A check that takes `delay` and says when it started.
struct Slow {
    started: Arc<Notify>,
    delay: Duration,
}

#[async_trait]
impl HealthCheck for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    async fn check(&self) -> HealthStatus {
        self.started.notify_one();
        tokio::time::sleep(self.delay).await;
        HealthStatus::healthy("slow but fine")
    }
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_then_stops_listening() {
    let started = Arc::new(Notify::new());
    let registry = Arc::new(HealthRegistry::new(Metrics::new()).with_check(Slow {
        started: started.clone(),
        delay: Duration::from_millis(300),
    }));
    let server = HealthServer::bind("127.0.0.1:0".parse().unwrap(), registry)
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    let in_flight = tokio::spawn(get_json_owned(format!("http://{addr}/ready")));
    started.notified().await;
    stop.send(()).unwrap();

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["slow"]["message"], json!("slow but fine"));
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("server stops after draining")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening on {addr}"
    );
}

async fn get_json_owned(url: String) -> (u16, Value) {
    get_json(&url).await
}

#[tokio::test]
async fn an_idle_connection_does_not_hold_shutdown_up() {
    let registry = Arc::new(HealthRegistry::new(Metrics::new()));
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, server) = spawn("127.0.0.1:0".parse().unwrap(), registry, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    // A keep-alive client whose connection stays open after its request.
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap();

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("idle keep-alive connections are closed at shutdown")
        .unwrap();
    drop(client);
}

// The alert rules.

fn alert_rules() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/prometheus/alerts.yml");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn every_alert_rule_uses_metrics_the_keeper_exports() {
    let metrics = Metrics::new();
    let _monitor =
        DegradationMonitor::new(DegradationConfig::default(), Some(metrics.registry())).unwrap();
    let endpoint: Arc<dyn Chain> = Arc::new(RpcChain::new(
        "https://rpc.example",
        CommitmentConfig::confirmed(),
        Duration::from_secs(1),
    ));
    let _failover = FailoverChain::new(
        vec![endpoint],
        BreakerConfig::default(),
        Some(metrics.registry()),
    )
    .unwrap();
    // A labelled family is rendered once it has a series.
    metrics.thread_runway.with_label_values(&["thread"]).set(1);
    let text = metrics.render();
    let families: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();

    let rules = alert_rules();
    let mut used = BTreeSet::new();
    for line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(at) = rest.find("keeper_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            used.insert(name);
        }
    }
    // Metric names only: job labels and alert names use other spellings.
    assert!(used.len() >= 8, "too few metrics referenced: {used:?}");
    for name in &used {
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| families.contains(base))
            })
            .unwrap_or(name);
        assert!(
            families.contains(family),
            "alerts.yml uses {name}, which the keeper does not export; exported: {families:?}"
        );
    }
}

#[test]
fn the_seed_thresholds_each_have_an_alert() {
    let rules = alert_rules();
    for (alert, expr) in [
        ("KeeperDeadLetterQueueLarge", "keeper_dlq_size > 10"),
        ("KeeperSuccessRateLow", "< 0.95"),
        ("KeeperReplayFailuresHigh", "> 5"),
        ("KeeperInvalidNonces", "keeper_invalid_nonces > 0"),
        ("KeeperRpcBreakerOpen", "keeper_rpc_breaker_state == 2"),
        ("KeeperInMaintenance", "keeper_operating_mode == 2"),
    ] {
        let at = rules
            .find(&format!("alert: {alert}\n"))
            .unwrap_or_else(|| panic!("no alert {alert}"));
        let rule = &rules[at..];
        let end = rule[1..].find("- alert:").map_or(rule.len(), |e| e + 1);
        assert!(
            rule[..end].contains(expr),
            "{alert} does not test {expr:?}:\n{}",
            &rule[..end]
        );
    }
}
