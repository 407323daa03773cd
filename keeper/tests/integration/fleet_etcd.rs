//! A fleet of two keeper daemons, `a` and `b`, each with its own keypair, store and
//! metrics, against one in-process bank and a real etcd ([`crate::common::etcd::Etcd`]), with
//! durable and non-durable threads due every few seconds while the bank's clock is
//! driven forward. Pinned, end to end through the daemon's wiring of leadership:
//!
//! - one keeper leads at a time, as each one's `/health` says ("leadership") and its
//!   `keeper_leader` gauge agrees;
//! - the follower sends nothing and pays nothing: its probe of the bank counts no send,
//!   its balance does not move, its store stays empty;
//! - a graceful stop of the leader revokes its etcd lease and hands its durable threads'
//!   on-chain leases back, so the follower leads well within the TTL and runs a durable
//!   thread at once;
//! - a leader that dies (its run dropped where it stands) is replaced only after its etcd
//!   lease expires, and its durable threads only once their on-chain leases expired;
//! - over the whole run every due time of every thread ran exactly once on chain: none
//!   lost in the handover, none run by both keepers.
//!
//! Without an `etcd` binary the tests are skipped with a loud message, unless `CI` is set.
//! Leases are 2 s and followers poll every 200 ms; deadlines are generous, the orderings
//! strict.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::etcd::Etcd;
use crate::common::{
    every, fast_config, plan, rows, rows_by_due_time, state, tempdir, wait_until, Events,
    ProbedBank, Running, TestClock,
};
use keeper::daemon::{Daemon, DaemonConfig, RunSummary};
use keeper::leadership::{ElectionStore, EtcdClient, LeadershipConfig, LEADER_METRIC};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, World};
use keeper::store::{ExecState, Store};
use keeper::test_utils::bank::BankChainExt;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use tempfile::TempDir;
use thread::state::{Due, Trigger};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The etcd lease TTL, seconds: how long a dead leader keeps the key.
const TTL_SECS: u64 = 2;
const TTL: Duration = Duration::from_secs(TTL_SECS);
/// How often a follower looks at the key, milliseconds.
const POLL_MS: u64 = 200;
/// Fee deposit of each thread (5 000 lamports an execution).
const DEPOSIT: u64 = 50_000_000;
/// What the second keeper is funded with.
const KEEPER_FUNDS: u64 = 50_000_000_000;
/// One step of the driven clock, every `STEP` of wall time: one chain second (and the
/// slots each test asks for) and ten seconds of the stores' clock, so replays come soon.
const STEP: Duration = Duration::from_millis(200);
const STORE_SECONDS_PER_STEP: i64 = 10;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A fleet member's daemon settings: fast loops, the degradation monitor out of the way,
/// health on a free port, and leadership through `etcd` with 2 s leases, the key and id
/// left to their defaults (the thread program's key; `<keeper pubkey>@<host>/<pid>`).
fn config(etcd: &Etcd) -> DaemonConfig {
    let mut config = fast_config();
    config.executor.confirm_timeout_secs = 2;
    config.degradation.min_samples = u32::MAX;
    config.health_addr = Some("127.0.0.1:0".parse().unwrap());
    config.leadership = LeadershipConfig {
        endpoints: vec![etcd.url()],
        lease_ttl_secs: TTL_SECS,
        poll_interval_ms: POLL_MS,
        request_timeout_ms: 500,
        ..LeadershipConfig::default()
    };
    config
}

/// One keeper of the fleet: its daemon, seen through its own probe of the bank (every
/// send it makes, nobody else's), its store file, its metrics and its `/health`.
struct Keeper {
    name: &'static str,
    keypair: Arc<Keypair>,
    chain: Arc<ProbedBank>,
    path: PathBuf,
    /// The test's own handle on the store file.
    store: Store,
    metrics: Arc<Metrics>,
    health: SocketAddr,
    events: Events,
    running: Option<Running>,
}

impl Keeper {
    async fn start(
        name: &'static str,
        world: &World,
        keypair: Arc<Keypair>,
        dir: &Path,
        clock: &TestClock,
        config: DaemonConfig,
    ) -> Self {
        let chain = Arc::new(ProbedBank::new(world.chain.clone()));
        let path = dir.join(format!("{name}.sqlite"));
        let metrics = Metrics::new();
        let (bound_tx, bound_rx) = oneshot::channel();
        let running = Running::spawn(
            Daemon::new(
                chain.clone(),
                keypair.clone(),
                clock.store(&path),
                metrics.clone(),
                config,
            )
            .on_health_bound(bound_tx),
        );
        let health = tokio::time::timeout(Duration::from_secs(10), bound_rx)
            .await
            .expect("the health server binds")
            .expect("the daemon tells where");
        Self {
            name,
            keypair,
            chain,
            store: clock.store(&path),
            path,
            metrics,
            health,
            events: running.events.clone(),
            running: Some(running),
        }
    }

    fn pubkey(&self) -> Pubkey {
        self.keypair.pubkey()
    }

    /// The `keeper_leader` gauge of its metrics.
    fn gauge(&self) -> i64 {
        let rendered = self.metrics.render();
        let line = rendered
            .lines()
            .find(|l| l.starts_with(&format!("{LEADER_METRIC} ")))
            .unwrap_or_else(|| panic!("{}: no {LEADER_METRIC} in\n{rendered}", self.name));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    async fn stop(&mut self) -> RunSummary {
        self.running.take().expect("running").stop().await
    }

    async fn crash(&mut self) {
        self.running.take().expect("running").crash().await
    }

    /// Confirmations it saw, as (thread, exec_count).
    fn confirmed(&self) -> Vec<(Pubkey, u64)> {
        self.events.confirmed()
    }
}

/// `/health`'s "leadership" of the keeper serving at `addr`; "down" when it does not
/// answer (a crashed daemon serves nothing).
async fn leadership(http: &reqwest::Client, addr: SocketAddr) -> String {
    let answer = http
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let Ok(answer) = answer else {
        return "down".into();
    };
    let body: serde_json::Value = answer.json().await.expect("/health answers JSON");
    body["leadership"]
        .as_str()
        .expect("/health says where the keeper stands")
        .to_string()
}

/// Samples both keepers' `/health` in rounds, `b` first and then `a`, until finished.
/// Asked in that order, a round cannot see both leading during a handover from `a` to
/// `b` unless they overlapped: `a` answered "leader" after `b` had.
struct Monitor {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

#[derive(Clone, Debug, Default)]
struct Seen {
    rounds: u64,
    /// Rounds in which both said "leader".
    both: Vec<u64>,
    /// The first and last round each (`a`, `b`) said "leader".
    first: [Option<u64>; 2],
    last: [Option<u64>; 2],
    /// When `b` first said "leader" (its answer's arrival).
    b_led_at: Option<Instant>,
}

impl Monitor {
    async fn start(http: reqwest::Client, a: SocketAddr, b: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = {
            let (stop, seen) = (stop.clone(), seen.clone());
            tokio::spawn(async move {
                loop {
                    // Checked before sampling: a finish() waits for one more round.
                    let last = stop.load(Ordering::SeqCst);
                    let b_leads = leadership(&http, b).await == "leader";
                    let b_answered = Instant::now();
                    let a_leads = leadership(&http, a).await == "leader";
                    {
                        let mut seen = seen.lock().unwrap();
                        let round = seen.rounds;
                        for (i, leads) in [a_leads, b_leads].into_iter().enumerate() {
                            if leads {
                                seen.first[i].get_or_insert(round);
                                seen.last[i] = Some(round);
                            }
                        }
                        if b_leads && seen.b_led_at.is_none() {
                            seen.b_led_at = Some(b_answered);
                        }
                        if a_leads && b_leads {
                            seen.both.push(round);
                        }
                        seen.rounds += 1;
                    }
                    if last {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let monitor = Self { stop, seen, task };
        wait_until!("the monitor sampled once", 10, monitor.seen().rounds > 0);
        monitor
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        let seen = self.seen.lock().unwrap().clone();
        seen
    }
}

/// The stage: a bank with the threads, a funded second keeper, a store clock, etcd, and
/// both keepers running with `a` leading and `b` following.
struct Fleet {
    _dir: TempDir,
    etcd: Etcd,
    world: Arc<World>,
    clock: TestClock,
    http: reqwest::Client,
    a: Keeper,
    b: Keeper,
}

impl Fleet {
    /// `None` when etcd is not installed (and `CI` is not set).
    async fn start(configure: impl Fn(&mut DaemonConfig)) -> Option<Self> {
        let etcd = Etcd::start().await?;
        let mut world = World::start().await.expect("bank starts");
        let b_keypair = Arc::new(Keypair::new());
        let fund =
            system_instruction::transfer(&world.owner.pubkey(), &b_keypair.pubkey(), KEEPER_FUNDS);
        sandbox::send(&world.chain, &[fund], &world.owner, &[])
            .await
            .expect("the second keeper is funded");
        world
            .create(
                &[
                    plan("nd-now", Trigger::Now, false),
                    plan("nd-every-2s", every(2), false),
                    plan("nd-every-3s", every(3), false),
                    plan("d-now", Trigger::Now, true),
                    plan("d-every-3s", every(3), true),
                    plan("d-every-4s", every(4), true),
                ],
                DEPOSIT,
            )
            .await
            .expect("threads created");
        let world = Arc::new(world);

        let dir = tempdir();
        let clock = TestClock::new();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut config = config(&etcd);
        configure(&mut config);

        // `a` first, alone until it leads: the test knows who leads.
        let a = Keeper::start(
            "a",
            &world,
            world.keeper.clone(),
            dir.path(),
            &clock,
            config.clone(),
        )
        .await;
        wait_until!("a leads", 10, leadership(&http, a.health).await == "leader");
        let b = Keeper::start("b", &world, b_keypair, dir.path(), &clock, config).await;
        wait_until!(
            "b follows a",
            10,
            leadership(&http, b.health).await == "follower"
        );
        assert_eq!(leadership(&http, a.health).await, "leader");
        assert_eq!((a.gauge(), b.gauge()), (1, 0), "the gauges agree");
        Some(Self {
            _dir: dir,
            etcd,
            world,
            clock,
            http,
            a,
            b,
        })
    }

    fn threads(&self) -> Vec<Pubkey> {
        self.world.threads.iter().map(|t| t.key).collect()
    }

    fn durable(&self) -> BTreeSet<Pubkey> {
        self.world
            .threads
            .iter()
            .filter(|t| t.durable)
            .map(|t| t.key)
            .collect()
    }

    fn label(&self, thread: &Pubkey) -> &str {
        let t = self.world.threads.iter().find(|t| t.key == *thread);
        t.map_or("?", |t| t.label.as_str())
    }

    /// Moves the bank `slots` slots and a second forward, and the stores' clock, every
    /// [`STEP`] until aborted.
    fn drive(&self, slots: u64) -> JoinHandle<()> {
        let (world, clock) = (self.world.clone(), self.clock.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(STEP);
            loop {
                ticks.tick().await;
                world.advance(slots, 1).await;
                clock.advance(STORE_SECONDS_PER_STEP);
            }
        })
    }

    /// The id under the fleet's key in etcd (the default key: the thread program's), if
    /// any keeper holds it.
    async fn key_holder(&self) -> Option<String> {
        let etcd = EtcdClient::new(&[self.etcd.url()], Duration::from_millis(500)).unwrap();
        let key = LeadershipConfig::default().key_for(&thread::ID);
        etcd.holder(&key).await.expect("etcd answers").map(|h| h.id)
    }

    /// Durable threads whose on-chain lease `holder` holds.
    async fn leased_by(&self, holder: &Pubkey) -> BTreeSet<Pubkey> {
        let mut leased = BTreeSet::new();
        for thread in self.durable() {
            let s = state(&self.world, &thread).await;
            if s.lease.is_some_and(|l| l.holder == *holder) {
                leased.insert(thread);
            }
        }
        leased
    }

    /// `a` leads for `wall` while the clock moves: it executes durable and non-durable
    /// threads, and `b`, following all along, sends nothing, pays nothing and stores
    /// nothing.
    async fn a_alone_executes_for(&self, wall: Duration, monitor: &Monitor) {
        let b_funds = self.world.chain.balance(&self.b.pubkey()).await;
        assert_eq!(b_funds, KEEPER_FUNDS);
        tokio::time::sleep(wall).await;
        let durable = self.durable();
        wait_until!("a ran durable and non-durable threads", 20, {
            let ran: BTreeSet<Pubkey> = self.a.confirmed().into_iter().map(|(t, _)| t).collect();
            ran.iter().any(|t| durable.contains(t)) && ran.iter().any(|t| !durable.contains(t))
        });

        let seen = monitor.seen();
        assert!(seen.both.is_empty(), "two leaders at once: {seen:?}");
        assert_eq!(seen.first[1], None, "b never led while a did: {seen:?}");
        assert_eq!(
            seen.last[0],
            Some(seen.rounds - 1),
            "a led all along: {seen:?}"
        );
        assert_eq!(leadership(&self.http, self.b.health).await, "follower");
        assert_eq!((self.a.gauge(), self.b.gauge()), (1, 0));

        assert!(self.a.chain.sends() > 0, "a sent its executions");
        assert_eq!(self.b.chain.sends(), 0, "b sent nothing while following");
        assert_eq!(self.b.chain.sent(), vec![]);
        assert_eq!(
            self.world.chain.balance(&self.b.pubkey()).await,
            b_funds,
            "b paid for nothing"
        );
        assert_eq!(
            self.b.store.counts().unwrap().total(),
            0,
            "b stored nothing"
        );
        assert!(self.b.events.all().is_empty(), "b executed nothing");
        assert!(
            !self.leased_by(&self.a.pubkey()).await.is_empty(),
            "a holds on-chain leases of its durable threads"
        );
        assert!(self.leased_by(&self.b.pubkey()).await.is_empty());
    }

    /// After `b` took over: it executes a durable thread within `secs`.
    async fn b_runs_a_durable_thread_within(&self, secs: u64) {
        let durable = self.durable();
        wait_until!(
            "b runs a durable thread",
            secs,
            self.b
                .confirmed()
                .iter()
                .any(|(thread, _)| durable.contains(thread))
        );
    }

    /// Freezes time and moves slots until every thread is past its due time and the
    /// `stores` have nothing unfinished; returns the final chain time.
    async fn settle(&self, stores: &[&Store]) -> i64 {
        for _ in 0..200 {
            self.world.advance(1, 0).await;
            self.clock.advance(STORE_SECONDS_PER_STEP);
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = self.world.clock().await.unwrap().unix_timestamp;
            let mut caught_up = stores.iter().all(|s| s.counts().unwrap().unfinished() == 0);
            for thread in self.threads() {
                caught_up &= match state(&self.world, &thread).await.next_due {
                    Due::Never => true,
                    Due::At { unix_ts } => unix_ts > now,
                    other => panic!("{}: unexpected {other:?}", self.label(&thread)),
                };
            }
            if caught_up {
                return now;
            }
        }
        panic!("the fleet did not catch up with every thread");
    }

    /// The end of a handover: the clock stops, `b` settles every due time, then the
    /// leadership monitor and `b` stop. Returns the final chain time, what the monitor
    /// saw and b's summary.
    async fn finish_on_b(
        &mut self,
        driver: JoinHandle<()>,
        monitor: Monitor,
    ) -> (i64, Seen, RunSummary) {
        driver.abort();
        let _ = driver.await;
        let now = self.settle(&[&self.b.store]).await;
        let seen = monitor.finish().await;
        (now, seen, self.b.stop().await)
    }

    /// Every due time of every thread up to `now` ran exactly once on chain, and the
    /// keepers' records agree: the on-chain `exec_count` is the count of due times the
    /// trigger passed; no due time was confirmed twice (by one keeper or both); every
    /// transaction either keeper sent succeeded (the program refuses a due time run twice,
    /// so a double would show as a failure); each due time `b` stored has one row there,
    /// finished. Returns the on-chain counts.
    async fn assert_each_due_time_ran_once(&self, now: i64) -> BTreeMap<Pubkey, u64> {
        let mut on_chain = BTreeMap::new();
        let mut wrong = Vec::new();
        for t in &self.world.threads {
            let s = state(&self.world, &t.key).await;
            let want = match t.trigger {
                Trigger::Now => 1,
                Trigger::Interval {
                    seconds,
                    skippable: false,
                } => u64::try_from((now - s.created_at).div_euclid(seconds)).unwrap(),
                ref other => panic!("{}: no reference for {other:?}", t.label),
            };
            if s.exec_count != want {
                wrong.push(format!(
                    "{}: ran {}, expected {want} (created {}, now {now})",
                    t.label, s.exec_count, s.created_at
                ));
            }
            on_chain.insert(t.key, s.exec_count);
        }
        assert!(
            wrong.is_empty(),
            "wrong execution counts:\n{}",
            wrong.join("\n")
        );

        let mut confirmed = self.a.confirmed();
        confirmed.extend(self.b.confirmed());
        let unique: BTreeSet<(Pubkey, u64)> = confirmed.iter().copied().collect();
        assert_eq!(
            unique.len(),
            confirmed.len(),
            "a due time was confirmed twice"
        );
        for (thread, exec_count) in &unique {
            assert!(
                exec_count < &on_chain[thread],
                "{} #{exec_count} confirmed but not on chain",
                self.label(thread)
            );
        }

        for keeper in [&self.a, &self.b] {
            let failed = keeper.chain.sent_that_failed().await;
            assert!(
                failed.is_empty(),
                "{} failed on chain: {failed:?}",
                keeper.name
            );
        }

        for (due_time, states) in rows_by_due_time(&self.b.path) {
            assert_eq!(states.len(), 1, "b: {due_time:?} has rows {states:?}");
            assert!(
                matches!(states[0], ExecState::Confirmed | ExecState::Superseded),
                "b: {due_time:?} ended {:?}",
                states[0]
            );
        }
        on_chain
    }
}

/// The due times (thread, exec_count) a keeper's store file holds rows for.
fn due_times(path: &Path) -> BTreeSet<(Pubkey, u64)> {
    rows(path).into_iter().map(|(t, c, _)| (t, c)).collect()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// `a` leads and executes, `b` follows and does nothing; `a` stops gracefully: its etcd
/// lease is revoked and its on-chain leases handed back, so `b` leads well within the TTL
/// and runs the durable threads at once; every due time of the run ran once, the early
/// ones by `a` (confirmed in its store), the later ones by `b`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_handover_loses_no_due_time_and_runs_none_twice() {
    let started = std::time::Instant::now();
    let Some(mut fleet) = Fleet::start(|_| {}).await else {
        return;
    };
    let monitor = Monitor::start(fleet.http.clone(), fleet.a.health, fleet.b.health).await;
    let driver = fleet.drive(1);
    fleet
        .a_alone_executes_for(Duration::from_secs(4), &monitor)
        .await;

    // a stops while the clock keeps moving.
    let a_held = fleet.leased_by(&fleet.a.pubkey()).await;
    let stopping = Instant::now();
    let a_summary = fleet.a.stop().await;
    let a_returned = Instant::now();
    let a_sends = fleet.a.chain.sends();
    assert_eq!(
        fleet.leased_by(&fleet.a.pubkey()).await,
        BTreeSet::new(),
        "a handed every on-chain lease back before it returned"
    );
    // The lease upkeep may hand a done thread's lease back just before the stop does:
    // what counts is that the shutdown left none to expire.
    assert!(
        a_summary.leases_left.is_empty(),
        "{a_summary:?}, held {}",
        a_held.len()
    );
    assert_eq!(a_summary.counts.unfinished(), 0, "a drained: {a_summary:?}");
    assert_eq!(fleet.a.gauge(), 0, "a stopped leading");
    let a_id = fleet.a.pubkey().to_string();
    assert!(
        !fleet
            .key_holder()
            .await
            .is_some_and(|id| id.starts_with(&a_id)),
        "a's lease was revoked before its run returned"
    );

    wait_until!(
        "b takes over",
        10,
        leadership(&fleet.http, fleet.b.health).await == "leader"
    );
    let took_over = Instant::now();
    eprintln!(
        "graceful handover: a's run returned {:?} after the stop, b led {:?} after that",
        a_returned - stopping,
        took_over - a_returned
    );
    assert!(
        took_over - a_returned < TTL,
        "b leads well within the TTL of a's revoked lease: {:?}",
        took_over - a_returned
    );
    assert_eq!(fleet.b.gauge(), 1);
    fleet.b_runs_a_durable_thread_within(10).await;
    assert!(
        fleet.b.chain.sends() > 0,
        "b sends its executions once it leads"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (now, seen, b_summary) = fleet.finish_on_b(driver, monitor).await;

    assert!(seen.both.is_empty(), "two leaders at once: {seen:?}");
    let (a_last, b_first) = (seen.last[0].unwrap(), seen.first[1].unwrap());
    assert!(a_last < b_first, "a stopped leading before b led: {seen:?}");
    assert_eq!(
        fleet.a.chain.sends(),
        a_sends,
        "a sent nothing after it returned"
    );

    let on_chain = fleet.assert_each_due_time_ran_once(now).await;
    // Every due time has one row, in one store, confirmed; a's come before b's.
    let (ran_by_a, ran_by_b) = (due_times(&fleet.a.path), due_times(&fleet.b.path));
    assert!(ran_by_a.is_disjoint(&ran_by_b), "a due time run by both");
    let all: BTreeSet<(Pubkey, u64)> = on_chain
        .iter()
        .flat_map(|(thread, n)| (0..*n).map(|c| (*thread, c)))
        .collect();
    assert_eq!(
        ran_by_a.union(&ran_by_b).copied().collect::<BTreeSet<_>>(),
        all,
        "every due time that ran has its one row"
    );
    for (due_time, states) in rows_by_due_time(&fleet.a.path) {
        assert_eq!(states, [ExecState::Confirmed], "a: {due_time:?}");
    }
    for thread in fleet.threads() {
        let last_a = ran_by_a
            .iter()
            .filter(|(t, _)| *t == thread)
            .map(|(_, c)| c)
            .max();
        let first_b = ran_by_b
            .iter()
            .filter(|(t, _)| *t == thread)
            .map(|(_, c)| c)
            .min();
        if let (Some(last_a), Some(first_b)) = (last_a, first_b) {
            assert!(
                last_a < first_b,
                "{}: a ran #{last_a}, b #{first_b}",
                fleet.label(&thread)
            );
        }
    }
    let confirmed = u64::try_from(fleet.a.confirmed().len() + fleet.b.confirmed().len()).unwrap();
    assert_eq!(
        confirmed,
        on_chain.values().sum::<u64>(),
        "each confirmed once"
    );
    assert_eq!(b_summary.counts.unfinished(), 0, "{b_summary:?}");
    assert_eq!(fleet.leased_by(&fleet.b.pubkey()).await, BTreeSet::new());
    eprintln!(
        "graceful: {} executions ({} by a, {} by b) in {:.1?}",
        confirmed,
        ran_by_a.len(),
        ran_by_b.len(),
        started.elapsed()
    );
}

/// `a` dies while it leads (its run dropped where it stands: nothing drained, no lease
/// revoked or handed back). `b` leads only once a's etcd lease expired, runs a's durable
/// threads only once their on-chain leases (20 slots here) expired, and at the end every
/// due time ran exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leader_is_replaced_after_its_leases_expire_and_no_due_time_is_lost() {
    let started = std::time::Instant::now();
    let Some(mut fleet) = Fleet::start(|config| {
        config.leases.lease_slots = 20;
        config.leases.renew_below_slots = 10;
        config.leases.renew_margin_slots = 6;
    })
    .await
    else {
        return;
    };
    let monitor = Monitor::start(fleet.http.clone(), fleet.a.health, fleet.b.health).await;
    // Two slots a step: on-chain leases of 20 slots last two seconds.
    let driver = fleet.drive(2);
    fleet
        .a_alone_executes_for(Duration::from_secs(4), &monitor)
        .await;

    // The durable threads still due later that a holds on-chain leases on.
    let periodic: BTreeSet<Pubkey> = fleet
        .world
        .threads
        .iter()
        .filter(|t| matches!(t.trigger, Trigger::Interval { .. }))
        .map(|t| t.key)
        .collect();
    let a_held: BTreeSet<Pubkey> = fleet
        .leased_by(&fleet.a.pubkey())
        .await
        .intersection(&periodic)
        .copied()
        .collect();
    assert!(
        !a_held.is_empty(),
        "a holds leases on periodic durable threads"
    );
    let died = Instant::now();
    fleet.a.crash().await;
    wait_until!("a dead daemon stops leading", 2, fleet.a.gauge() == 0);
    // Nothing revoked: the key is still a's, under a lease left to expire.
    let holder = fleet.key_holder().await.expect("the key is held");
    assert!(
        holder.starts_with(&fleet.a.pubkey().to_string()),
        "a's key, not revoked: {holder}"
    );

    wait_until!(
        "b takes over after the TTL",
        TTL_SECS + 10,
        leadership(&fleet.http, fleet.b.health).await == "leader"
    );
    let a_sends = fleet.a.chain.sends();
    let took_over = Instant::now();
    wait_until!(
        "the monitor sees b lead",
        5,
        monitor.seen().b_led_at.is_some()
    );
    let b_led_at = monitor.seen().b_led_at.unwrap().min(took_over);
    eprintln!(
        "dead leader: b led {:?} after a died (TTL {TTL:?})",
        b_led_at - died
    );
    // a's last renewal was at most a third of its 1.33 s window before it died, so its
    // lease outlived the death by at least 1.55 s.
    assert!(
        b_led_at - died >= TTL / 2,
        "b led {:?} after a died: before a's etcd lease could expire",
        b_led_at - died
    );
    fleet.b_runs_a_durable_thread_within(15).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (now, seen, b_summary) = fleet.finish_on_b(driver, monitor).await;

    assert!(seen.both.is_empty(), "two leaders at once: {seen:?}");
    assert!(
        seen.last[0].unwrap() < seen.first[1].unwrap(),
        "a stopped leading before b led: {seen:?}"
    );
    assert_eq!(
        fleet.a.chain.sends(),
        a_sends,
        "a dead keeper sends nothing"
    );
    let on_chain = fleet.assert_each_due_time_ran_once(now).await;
    // b ran the durable threads a held leases on: after clearing the expired leases.
    let ran_by_b = due_times(&fleet.b.path);
    for thread in &a_held {
        assert!(
            ran_by_b.iter().any(|(t, _)| t == thread),
            "b never ran {}, leased by a when it died",
            fleet.label(thread)
        );
    }
    let still_a: BTreeSet<Pubkey> = fleet
        .leased_by(&fleet.a.pubkey())
        .await
        .intersection(&periodic)
        .copied()
        .collect();
    assert_eq!(still_a, BTreeSet::new(), "b cleared a's expired leases");
    assert_eq!(b_summary.counts.unfinished(), 0, "{b_summary:?}");
    eprintln!(
        "dead leader: {} executions, {} by b, in {:.1?}",
        on_chain.values().sum::<u64>(),
        ran_by_b.len(),
        started.elapsed()
    );
}
