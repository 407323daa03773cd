//! Daemons of a fleet sharing one work stream (`[daemon.fleet]`) on one bank and one
//! real nats-server. Without etcd each keeper leads, so each hands every due time over,
//! the stream keeps one copy of each, and every keeper's submitter pulls from it; with
//! a real etcd one keeper schedules and all submit. Checked after the fleet catches up:
//! every due time ran exactly once on chain and no due time was confirmed twice across
//! the keepers' stores, with the work shared; with a keeper killed mid-run, nats-server
//! stopped for ten seconds, and the etcd leader killed mid-run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use keeper::daemon::Daemon;
use keeper::fleet::FleetConfig;
use keeper::leadership::{LeadershipConfig, LEADER_METRIC};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, World};
use keeper::store::{ExecState, Store};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use thread::state::{Due, Trigger};

use crate::common::etcd::Etcd;
use crate::common::nats::Nats;
use crate::common::{every, fast_config, plan, state, wait_until, ProbedBank, Running, TestClock};

const KEEPER_FUNDS: u64 = 50_000_000_000;
const DEPOSIT: u64 = 200_000_000;
/// One step of the driven clock: a chain second and two slots, ten store seconds.
const STEP: Duration = Duration::from_millis(200);

struct NatsFleet {
    nats: Nats,
    world: Arc<World>,
    clock: TestClock,
    /// The test's own handle on each keeper's store.
    stores: Vec<Store>,
    /// Each keeper's daemon; `None` once crashed.
    runs: Vec<Option<Running>>,
    /// Each keeper's metrics.
    metrics: Vec<Arc<Metrics>>,
    /// The fleet's etcd, when one keeper leads at a time.
    _etcd: Option<Etcd>,
    _dir: tempfile::TempDir,
}

impl NatsFleet {
    /// `keepers` daemons over 9 non-durable interval threads, a one-shot and a durable
    /// interval thread; `None` when nats-server is not installed.
    async fn start(keepers: usize) -> Option<Self> {
        Self::start_with(keepers, None).await
    }

    /// [`NatsFleet::start`] with leadership through `etcd` (2 s leases): one keeper
    /// schedules, every keeper submits.
    async fn start_led(keepers: usize, etcd: Etcd) -> Option<Self> {
        Self::start_with(keepers, Some(etcd)).await
    }

    async fn start_with(keepers: usize, etcd: Option<Etcd>) -> Option<Self> {
        let nats = Nats::start().await?;
        let mut world = World::start().await.expect("bank starts");
        let mut plans: Vec<_> = (0..9)
            .map(|n| {
                plan(
                    format!("nd{n}-every-{}s", 2 + n % 3),
                    every(2 + n % 3),
                    false,
                )
            })
            .collect();
        plans.push(plan("nd-now", Trigger::Now, false));
        plans.push(plan("d-every-3s", every(3), true));
        world
            .create(&plans, DEPOSIT)
            .await
            .expect("threads created");
        let mut keypairs = vec![world.keeper.clone()];
        while keypairs.len() < keepers {
            let keypair = Arc::new(Keypair::new());
            let fund = system_instruction::transfer(
                &world.owner.pubkey(),
                &keypair.pubkey(),
                KEEPER_FUNDS,
            );
            sandbox::send(&world.chain, &[fund], &world.owner, &[])
                .await
                .expect("funded");
            keypairs.push(keypair);
        }
        let world = Arc::new(world);
        let clock = TestClock::new();
        let dir = tempfile::tempdir().unwrap();
        let mut config = fast_config();
        config.executor.confirm_timeout_secs = 2;
        config.degradation.min_samples = u32::MAX;
        // Short on-chain leases, so a durable thread leased by a keeper that is killed is
        // taken over within the test (a 1,500-slot lease outlasts it).
        config.leases.lease_slots = 30;
        config.leases.renew_below_slots = 15;
        config.leases.renew_margin_slots = 8;
        config.fleet = FleetConfig {
            ack_wait_secs: 5,
            request_timeout_ms: 1_000,
            ..nats.config()
        };
        let (mut stores, mut runs, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
        for (n, keypair) in keypairs.iter().enumerate() {
            let mut config = config.clone();
            if let Some(etcd) = &etcd {
                config.leadership = LeadershipConfig {
                    endpoints: vec![etcd.url()],
                    key: Some("/thread-keeper/fleet-test/leader".into()),
                    id: Some(format!("keeper-{n}")),
                    lease_ttl_secs: 2,
                    poll_interval_ms: 100,
                    request_timeout_ms: 500,
                    ..LeadershipConfig::default()
                };
            }
            let path = dir.path().join(format!("keeper-{n}.sqlite"));
            stores.push(clock.store(&path));
            metrics.push(Metrics::new());
            runs.push(Some(Running::spawn(Daemon::new(
                Arc::new(ProbedBank::new(world.chain.clone())),
                keypair.clone(),
                clock.store(&path),
                metrics[n].clone(),
                config.clone(),
            ))));
        }
        Some(Self {
            nats,
            world,
            clock,
            stores,
            runs,
            metrics,
            _etcd: etcd,
            _dir: dir,
        })
    }

    /// The live keepers whose `keeper_leader` gauge is 1.
    fn leaders(&self) -> Vec<usize> {
        (0..self.runs.len())
            .filter(|&n| self.runs[n].is_some())
            .filter(|&n| {
                self.metrics[n]
                    .registry()
                    .gather()
                    .iter()
                    .find(|family| family.name() == LEADER_METRIC)
                    .is_some_and(|family| family.get_metric()[0].get_gauge().get_value() == 1.0)
            })
            .collect()
    }

    /// How many due times keeper `n` handed to the fleet with `outcome`.
    fn handovers(&self, n: usize, outcome: &str) -> u64 {
        self.metrics[n]
            .fleet_handovers_total
            .with_label_values(&[outcome])
            .get()
    }

    /// `steps` steps of the clock, one every [`STEP`].
    async fn drive(&self, steps: usize) {
        for _ in 0..steps {
            self.world.advance(2, 1).await;
            self.clock.advance(10);
            tokio::time::sleep(STEP).await;
        }
    }

    /// Moves the chain a slot at a time until no thread is due and no live keeper's
    /// store has anything unfinished, then stops every live keeper; returns the chain
    /// time then.
    async fn catch_up_and_stop(&mut self) -> i64 {
        let live: Vec<usize> = (0..self.runs.len())
            .filter(|&n| self.runs[n].is_some())
            .collect();
        let mut caught_up_at = None;
        for _ in 0..300 {
            self.world.advance(1, 0).await;
            self.clock.advance(10);
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = self.world.clock().await.unwrap().unix_timestamp;
            let mut caught_up = live
                .iter()
                .all(|&n| self.stores[n].counts().unwrap().unfinished() == 0);
            for t in &self.world.threads {
                caught_up &= match state(&self.world, &t.key).await.next_due {
                    Due::Never => true,
                    Due::At { unix_ts } => unix_ts > now,
                    other => panic!("{}: unexpected {other:?}", t.label),
                };
            }
            if caught_up {
                caught_up_at = Some(now);
                break;
            }
        }
        for run in self.runs.iter_mut().filter_map(Option::take) {
            run.stop().await;
        }
        match caught_up_at {
            Some(now) => now,
            None => panic!("the fleet did not catch up:\n{}", self.behind().await),
        }
    }

    async fn behind(&self) -> String {
        let mut lines = Vec::new();
        for t in &self.world.threads {
            let s = state(&self.world, &t.key).await;
            lines.push(format!(
                "{}: exec_count {} next {:?}",
                t.label, s.exec_count, s.next_due
            ));
        }
        for (n, store) in self.stores.iter().enumerate() {
            let handed: Vec<String> = keeper::ops::metrics::HANDOVER_OUTCOMES
                .iter()
                .map(|outcome| format!("{outcome} {}", self.handovers(n, outcome)))
                .collect();
            lines.push(format!(
                "keeper {n}: {:?}; handed over: {}",
                store.counts().unwrap(),
                handed.join(", ")
            ));
        }
        lines.push(format!("leading: {:?}", self.leaders()));
        lines.join("\n")
    }

    /// Every due time up to `now` ran exactly once on chain and was confirmed in at most
    /// one keeper's store. Returns the keepers that confirmed any.
    async fn assert_each_due_time_ran_once(&self, now: i64) -> BTreeSet<usize> {
        let mut confirmed: BTreeMap<(Pubkey, u64), usize> = BTreeMap::new();
        let mut workers = BTreeSet::new();
        for (n, store) in self.stores.iter().enumerate() {
            for t in &self.world.threads {
                for row in store.executions_of_thread(&t.key, 1_000).unwrap() {
                    if row.state == ExecState::Confirmed {
                        *confirmed
                            .entry((t.key, row.exec_count_at_build))
                            .or_default() += 1;
                        workers.insert(n);
                    }
                }
            }
        }
        assert!(
            confirmed.values().all(|&n| n == 1),
            "a due time confirmed twice: {confirmed:?}"
        );
        for t in &self.world.threads {
            let s = state(&self.world, &t.key).await;
            let want = match t.trigger {
                Trigger::Now => 1,
                Trigger::Interval { seconds, .. } => {
                    u64::try_from((now - s.created_at).div_euclid(seconds)).unwrap()
                }
                ref other => panic!("{other:?}"),
            };
            assert_eq!(
                s.exec_count, want,
                "{}: ran {} times",
                t.label, s.exec_count
            );
        }
        workers
    }

    /// Every run on chain is confirmed in some store (no keeper was lost mid-run).
    async fn assert_every_run_confirmed(&self) {
        for t in &self.world.threads {
            let confirmed: usize = self
                .stores
                .iter()
                .map(|s| {
                    s.executions_of_thread(&t.key, 1_000)
                        .unwrap()
                        .iter()
                        .filter(|r| r.state == ExecState::Confirmed)
                        .count()
                })
                .sum();
            let ran = state(&self.world, &t.key).await.exec_count;
            assert_eq!(
                confirmed as u64, ran,
                "{}: every run confirmed once",
                t.label
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_keepers_share_the_work_and_each_due_time_runs_once() {
    let Some(mut fleet) = NatsFleet::start(3).await else {
        return;
    };
    fleet.drive(40).await;
    let now = fleet.catch_up_and_stop().await;
    let workers = fleet.assert_each_due_time_ran_once(now).await;
    fleet.assert_every_run_confirmed().await;
    assert!(
        workers.len() >= 2,
        "the work was shared: only keeper(s) {workers:?} ran any"
    );
}

/// A keeper is killed mid-run, whatever it held in hand: its deliveries go back to the
/// stream after `ack_wait` and the others finish them; the chain runs each due time
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_killed_mid_run_leaves_nothing_undone_and_nothing_doubled() {
    let Some(mut fleet) = NatsFleet::start(3).await else {
        return;
    };
    fleet.drive(15).await;
    fleet.runs[1].take().expect("running").crash().await;
    fleet.drive(25).await;
    let now = fleet.catch_up_and_stop().await;
    let workers = fleet.assert_each_due_time_ran_once(now).await;
    assert!(
        workers.contains(&0) && workers.contains(&2),
        "the survivors worked: {workers:?}"
    );
}

/// nats-server stops for ten seconds while the keepers run: what the leaders hand over
/// meanwhile waits in their spools, and once it is back they drain them and the fleet
/// catches up, each due time run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stopped_for_ten_seconds_loses_nothing_and_doubles_nothing() {
    let Some(mut fleet) = NatsFleet::start(2).await else {
        return;
    };
    fleet.drive(10).await;
    fleet.nats.kill();
    fleet.drive(50).await;
    let spooled: usize = fleet.stores.iter().map(|s| s.spool_len().unwrap()).sum();
    assert!(spooled > 0, "due times were spooled while NATS was down");
    let shown: i64 = fleet.metrics.iter().map(|m| m.fleet_spooled.get()).sum();
    assert!(shown > 0, "keeper_fleet_spooled shows it");
    fleet.nats.spawn().await;
    fleet.drive(10).await;
    wait_until!(
        "the spools drain and the gauges say so",
        20,
        fleet.metrics.iter().all(|m| m.fleet_spooled.get() == 0)
    );
    let now = fleet.catch_up_and_stop().await;
    fleet.assert_each_due_time_ran_once(now).await;
    fleet.assert_every_run_confirmed().await;
    let left: usize = fleet.stores.iter().map(|s| s.spool_len().unwrap()).sum();
    assert_eq!(left, 0, "every spool drained");
}

/// With etcd, only the leader hands due times over and every keeper submits. The leader
/// is killed mid-run, whatever it held: another keeper takes over after its lease
/// expires, and the fleet catches up with each due time run once, nothing lost and
/// nothing doubled. The keeper that never led never handed anything over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_mid_run_is_replaced_and_nothing_in_flight_is_lost_or_doubled() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let Some(mut fleet) = NatsFleet::start_led(3, etcd).await else {
        return;
    };
    wait_until!("one keeper leads", 15, fleet.leaders().len() == 1);
    fleet.drive(15).await;
    let leaders = fleet.leaders();
    assert_eq!(leaders.len(), 1, "one leader at a time: {leaders:?}");
    let old = leaders[0];
    assert!(
        fleet.handovers(old, "published") > 0,
        "the leader schedules"
    );
    fleet.runs[old].take().expect("running").crash().await;

    fleet.drive(10).await;
    wait_until!("another keeper leads", 15, fleet.leaders().len() == 1);
    let new = fleet.leaders()[0];
    fleet.drive(15).await;
    assert_eq!(fleet.leaders(), [new], "the new leader keeps leading");
    // Whether anything was still in flight when it took over depends on timing, so it is
    // reported, not asserted: fleet_nats.rs pins that a new leader reads the in-flight
    // set (a_new_leader_sees_the_in_flight_set_in_the_stream_and_publishes_nothing_twice).
    eprintln!(
        "the new leader's hand-overs found {} due times in flight",
        fleet.handovers(new, "in_flight")
    );
    let never_led = (0..3).find(|&n| n != old && n != new).unwrap();
    for outcome in keeper::ops::metrics::HANDOVER_OUTCOMES {
        assert_eq!(
            fleet.handovers(never_led, outcome),
            0,
            "a follower hands nothing over ({outcome})"
        );
    }
    let now = fleet.catch_up_and_stop().await;
    let workers = fleet.assert_each_due_time_ran_once(now).await;
    assert!(
        workers.len() >= 2,
        "every keeper submits, leading or not: only {workers:?} ran any"
    );
}
