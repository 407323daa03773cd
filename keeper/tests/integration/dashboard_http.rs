//! The dashboard over real HTTP, served by a running daemon against a real bank: each
//! `/api/...` answer against what the keeper knows (the chain, its store, `keeper
//! explain`), its security headers, and its actions: refused without the token, from
//! another origin or as a form, taken on the store with all three.
//! `keeper/tests/browser/` drives the same page in a real browser.

#![cfg(feature = "bank")]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keeper::config::DaemonConfig;
use keeper::daemon::Daemon;
use keeper::ops::explain;
use keeper::ops::metrics::Metrics;
use keeper::sandbox::World;
use keeper::store::{ExecState, ExecutionPriority, Store, UnbuiltExecution};
use serde_json::Value;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use thread::state::{Due, Trigger};
use tokio::sync::oneshot;

use crate::common::{
    every, fast_config, first_row, plan, tempdir, wait_until, world_with, Running, TestClock,
};

const TOKEN: &str = "dashboard-test-token-0123456789abcdef";
const DEPOSIT: u64 = 50_000_000;

/// A daemon serving the dashboard on a free port over `world`.
struct Served {
    world: Arc<World>,
    store: Store,
    addr: SocketAddr,
    run: Running,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Starts the daemon with `change` applied to its settings (the token file is
    /// written and named unless `change` removes it).
    async fn start(change: impl FnOnce(&mut DaemonConfig)) -> Self {
        let world = world_with(
            &[
                plan("durable-every-minute", every(60), true),
                plan("once-now", Trigger::Now, false),
            ],
            DEPOSIT,
        )
        .await;
        let dir = tempdir();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let mut config = fast_config();
        config.health_addr = Some("127.0.0.1:0".parse().unwrap());
        config.dashboard.token_file = Some(token_file);
        change(&mut config);
        let store = TestClock::new().memory_store();
        let (bound_tx, bound_rx) = oneshot::channel();
        let run = Running::spawn(
            Daemon::new(
                world.chain.clone(),
                world.keeper.clone(),
                store.clone(),
                Metrics::new(),
                config,
            )
            .on_health_bound(bound_tx),
        );
        let addr = tokio::time::timeout(Duration::from_secs(10), bound_rx)
            .await
            .expect("the health server binds")
            .unwrap();
        Self {
            world,
            store,
            addr,
            run,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("answered")
    }

    async fn json(&self, path: &str) -> (u16, Value) {
        let answer = self.get(path).await;
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("JSON"))
    }

    /// POSTs `path` as the dashboard's page does, with `token` (none: no header) and
    /// `origin` (none: no header).
    async fn act(&self, path: &str, token: Option<&str>, origin: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body("{}");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let answer = request.send().await.expect("answered");
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("JSON"))
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn thread(&self, label: &str) -> Pubkey {
        self.world
            .threads
            .iter()
            .find(|t| t.label == label)
            .expect("a thread of the world")
            .key
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_answers_with_what_the_keeper_knows_under_a_strict_policy() {
    let served = Served::start(|_| {}).await;
    let (durable, once) = (
        served.thread("durable-every-minute"),
        served.thread("once-now"),
    );
    wait_until!(
        "the one-shot thread ran",
        30,
        served
            .store
            .find(&once, 0)
            .unwrap()
            .is_some_and(|row| row.state == ExecState::Confirmed)
    );

    // The page and its assets: all from the binary, under a policy allowing nothing else.
    let page = served.get("/dashboard").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/dashboard/app.js" defer></script>"#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other host"
    );
    for (path, kind) in [
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let asset = served.get(path).await;
        assert_eq!(asset.status(), 200, "{path}");
        assert!(asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    assert_eq!(served.get("/favicon.ico").await.status(), 204);
    assert_eq!(
        served.get("/").await.url().path(),
        "/dashboard",
        "/ leads to the page"
    );

    // The overview: this keeper, leading, its threads counted.
    let (status, overview) = served.json("/api/overview").await;
    assert_eq!(status, 200);
    assert_eq!(overview["keeper"], served.world.keeper.pubkey().to_string());
    assert_eq!(overview["leadership"], "leader");
    assert_eq!(overview["mode"], "full");
    assert_eq!(overview["threads"]["total"], 2);
    assert_eq!(overview["threads"]["durable"], 1);
    assert_eq!(overview["threads"]["done"], 1, "the one-shot thread ran");
    assert_eq!(overview["actions"], true);
    assert_eq!(overview["fleet"], Value::Null, "no fleet configured");
    assert!(overview["checks"]["scheduler"]["healthy"]
        .as_bool()
        .unwrap());

    // The threads, and a search by the start of an address.
    let (_, listed) = served.json("/api/threads").await;
    let addresses: BTreeSet<String> = listed["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        addresses,
        BTreeSet::from([durable.to_string(), once.to_string()])
    );
    let prefix = &durable.to_string()[..6];
    let (_, found) = served.json(&format!("/api/threads?q={prefix}")).await;
    assert_eq!(found["threads"][0]["address"], durable.to_string());
    assert_eq!(found["threads"][0]["durable"], true);
    let (status, refused) = served.json("/api/threads?q=%3Cscript%3E").await;
    assert_eq!(status, 400);
    assert!(refused["error"].as_str().unwrap().starts_with("q:"));

    // A thread's page is `keeper explain` with this keeper's store.
    let (status, page) = served.json(&format!("/api/thread/{durable}")).await;
    assert_eq!(status, 200);
    let (_, explained) = explain::explain(
        &*served.world.chain,
        &thread::ID,
        &durable,
        Some(&served.store),
        Some(served.world.keeper.pubkey()),
    )
    .await
    .unwrap();
    assert_eq!(page, serde_json::to_value(&explained).unwrap());
    assert_eq!(served.json("/api/thread/not-a-key").await.0, 400);
    let (status, missing) = served
        .json(&format!("/api/thread/{}", Pubkey::new_unique()))
        .await;
    assert_eq!(status, 404);
    assert!(missing["error"].is_string());

    // The latest executions, with what each paid.
    let (_, executions) = served.json("/api/executions").await;
    let ran = executions["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["thread"] == once.to_string())
        .expect("the one-shot thread's execution")
        .clone();
    assert_eq!(ran["state"], "confirmed");
    assert_eq!(ran["run"], 1);
    assert_eq!(
        ran["signature"],
        first_row(&served.store, &once).signature.to_string()
    );
    assert!(ran["fee_lamports"].as_u64().unwrap() >= 5_000);
    assert!(ran["settled_at"].is_i64());
    assert!(served.json("/api/series").await.1["points"].is_array());
    // The due-to-submit chart's source: observed for the one-shot thread's submission.
    let metrics = served.get("/metrics").await.text().await.unwrap();
    let submitted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("keeper_due_to_submit_seconds_count "))
        .expect("the histogram is exported");
    assert!(submitted.parse::<u64>().unwrap() >= 1, "{submitted}");
    assert_eq!(served.get("/api/nothing").await.status(), 404);
    served.run.stop().await;
}

/// A dead letter of a thread that does not exist (replaying it supersedes it at once).
fn dead_letter(store: &Store) -> i64 {
    store
        .dead_letter_unbuilt(
            &UnbuiltExecution {
                thread: Pubkey::new_unique(),
                exec_count: 0,
                priority: ExecutionPriority::Medium,
                max_retries: 0,
                attempts: 1,
            },
            "simulation failed: the test's reason",
        )
        .unwrap()
        .expect("a new due time");
    store.dlq_list(100).unwrap().last().unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_needs_the_token_from_the_same_origin_and_then_acts_on_the_store() {
    let served = Served::start(|_| {}).await;
    let origin = served.origin();
    let id = dead_letter(&served.store);
    let (_, listed) = served.json("/api/dlq").await;
    assert_eq!(listed["dead_letters"][0]["id"], id);
    assert_eq!(
        listed["dead_letters"][0]["reason"],
        "simulation failed: the test's reason"
    );

    let retry = format!("/api/dlq/{id}/retry");
    let (status, refused) = served.act(&retry, None, Some(&origin)).await;
    assert_eq!(status, 401);
    assert!(refused["error"].as_str().unwrap().contains("token"));
    assert_eq!(
        served
            .act(&retry, Some("wrong-token-wrong-token-wrong"), Some(&origin))
            .await
            .0,
        401
    );
    assert_eq!(
        served
            .act(&retry, Some(TOKEN), Some("http://evil.example"))
            .await
            .0,
        403
    );
    assert_eq!(
        served.act(&retry, Some(TOKEN), None).await.0,
        403,
        "no origin, no browser marker"
    );
    let form = served
        .http
        .post(served.url(&retry))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("origin", &origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    assert_eq!(
        served.store.dlq_len().unwrap(),
        1,
        "nothing refused touched the store"
    );

    let (status, done) = served.act(&retry, Some(TOKEN), Some(&origin)).await;
    assert_eq!(status, 200, "{done}");
    assert!(done["done"].as_str().unwrap().contains("queued for replay"));
    assert_eq!(served.store.dlq_len().unwrap(), 0);

    let purged = dead_letter(&served.store);
    let (status, _) = served
        .act(
            &format!("/api/dlq/{purged}/purge"),
            Some(TOKEN),
            Some(&origin),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(served.store.dlq_len().unwrap(), 0);
    let (status, gone) = served
        .act(
            &format!("/api/dlq/{purged}/purge"),
            Some(TOKEN),
            Some(&origin),
        )
        .await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(
        served
            .act("/api/dlq/1/explode", Some(TOKEN), Some(&origin))
            .await
            .0,
        404
    );
    served.run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_file_the_dashboard_only_reads_and_it_can_be_turned_off() {
    let served = Served::start(|config| config.dashboard.token_file = None).await;
    let id = dead_letter(&served.store);
    let (status, refused) = served
        .act(
            &format!("/api/dlq/{id}/purge"),
            Some(TOKEN),
            Some(&served.origin()),
        )
        .await;
    assert_eq!(status, 403);
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("daemon.dashboard.token_file"));
    assert_eq!(served.store.dlq_len().unwrap(), 1);
    assert_eq!(served.json("/api/overview").await.1["actions"], false);
    served.run.stop().await;

    let off = Served::start(|config| config.dashboard.disabled = true).await;
    assert_eq!(off.get("/dashboard").await.status(), 404);
    assert_eq!(off.get("/api/overview").await.status(), 404);
    assert_eq!(off.get("/health").await.status(), 200);
    off.run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_that_cannot_be_read_stops_the_start_naming_the_key() {
    let (error, store) = refused_start(|config| {
        config.health_addr = Some("127.0.0.1:0".parse().unwrap());
        config.dashboard.token_file = Some(PathBuf::from("/nonexistent/keeper-token"));
    })
    .await;
    assert!(error.contains("daemon.dashboard.token_file"), "{error}");
    assert_eq!(store.counts().unwrap().total(), 0, "nothing ran");
}

/// A daemon over a fresh world with `change` applied to its settings, which must refuse
/// to start: its error, and its store.
async fn refused_start(change: impl FnOnce(&mut DaemonConfig)) -> (String, Store) {
    let world = world_with(&[plan("once-now", Trigger::Now, false)], DEPOSIT).await;
    let mut config = fast_config();
    change(&mut config);
    let store = TestClock::new().memory_store();
    let result = Daemon::new(
        world.chain.clone(),
        world.keeper.clone(),
        store.clone(),
        Metrics::new(),
        config,
    )
    .run(std::future::pending())
    .await;
    (result.expect_err("refused").to_string(), store)
}

/// A port free a moment ago (the test's own listener, dropped).
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_can_have_its_own_address_and_a_taken_one_stops_the_start() {
    let own = free_addr();
    let served = Served::start(|config| config.dashboard.addr = Some(own)).await;
    assert_eq!(
        served.get("/dashboard").await.status(),
        404,
        "not on the health port"
    );
    assert_eq!(served.get("/health").await.status(), 200);
    let page = served
        .http
        .get(format!("http://{own}/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    served.run.stop().await;

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (error, store) =
        refused_start(|config| config.dashboard.addr = Some(taken.local_addr().unwrap())).await;
    assert!(error.contains("daemon.dashboard.addr"), "{error}");
    assert!(error.ends_with("Nothing was sent"), "{error}");
    assert_eq!(store.counts().unwrap().total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_pause_holds_every_execution_until_resumed() {
    let served = Served::start(|_| {}).await;
    let origin = served.origin();
    let durable = served.thread("durable-every-minute");
    let runs = || async { crate::common::exec_count(&served.world, &durable).await };
    assert_eq!(
        served.act("/api/keeper/pause", None, Some(&origin)).await.0,
        401
    );

    let Due::At { unix_ts: due_at } = crate::common::state(&served.world, &durable).await.next_due
    else {
        panic!("an interval thread is due at a time");
    };
    let (status, paused) = served
        .act("/api/keeper/pause", Some(TOKEN), Some(&origin))
        .await;
    assert_eq!(status, 200, "{paused}");
    let (_, overview) = served.json("/api/overview").await;
    assert_eq!(
        (overview["paused"].clone(), overview["mode"].clone()),
        (Value::Bool(true), "maintenance".into())
    );
    served.world.advance(200, 61).await;
    // Due now, and held: a few scheduler ticks pass with nothing sent.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(runs().await, 0, "nothing runs while paused");

    let (status, _) = served
        .act("/api/keeper/resume", Some(TOKEN), Some(&origin))
        .await;
    assert_eq!(status, 200);
    // What was held is issued again after the scheduler's retry cool-down, in chain time.
    served.world.advance(20, 6).await;
    wait_until!("the held thread runs once resumed", 30, runs().await == 1);
    // Its row says when it fell due (chain time), beside when it was sent and settled.
    let (_, executions) = served.json("/api/executions").await;
    let ran = executions["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["thread"] == durable.to_string())
        .expect("the held thread's execution")
        .clone();
    assert_eq!(ran["due_at"], Value::from(due_at));
    assert_eq!(served.json("/api/overview").await.1["paused"], false);
    served.run.stop().await;
}

/// In a fleet (`[daemon.fleet]`, a real nats-server), the overview shows the fleet's work
/// queue, and the threads run through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_fleet_the_overview_shows_the_fleets_queue() {
    let Some(nats) = crate::common::nats::Nats::start().await else {
        return;
    };
    let served = Served::start(|config| {
        config.fleet = keeper::fleet::FleetConfig {
            request_timeout_ms: 1_000,
            ..nats.config()
        }
    })
    .await;
    wait_until!(
        "the one-shot thread ran through the fleet",
        30,
        served.json("/api/overview").await.1["threads"]["done"] == 1
    );
    let (_, overview) = served.json("/api/overview").await;
    let fleet = &overview["fleet"];
    for gauge in ["pending", "dead_letters", "spooled"] {
        assert!(fleet[gauge].is_i64(), "{gauge} in {fleet}");
    }
    assert_eq!(fleet["spooled"], 0, "NATS answers: nothing spooled");
    assert_eq!(fleet["dead_letters"], 0);
}
