//! Daemons of a fleet sharing one work stream (`[daemon.fleet]`) on one bank and one
//! real nats-server, no etcd: each keeper leads, so each hands every due time over, the
//! stream keeps one copy of each, and every keeper's submitter pulls from it. Checked
//! after the fleet catches up: every due time ran exactly once on chain and no due time
//! was confirmed twice across the keepers' stores, with the work shared; with a keeper
//! killed mid-run, and with nats-server stopped for ten seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use keeper::daemon::Daemon;
use keeper::fleet::FleetConfig;
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, World};
use keeper::store::{ExecState, Store};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use thread::state::{Due, Trigger};

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
    _dir: tempfile::TempDir,
}

impl NatsFleet {
    /// `keepers` daemons over 9 non-durable interval threads, a one-shot and a durable
    /// interval thread; `None` when nats-server is not installed.
    async fn start(keepers: usize) -> Option<Self> {
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
        config.fleet = FleetConfig {
            ack_wait_secs: 5,
            request_timeout_ms: 1_000,
            ..nats.config()
        };
        let (mut stores, mut runs, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
        for (n, keypair) in keypairs.iter().enumerate() {
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
            _dir: dir,
        })
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
        for store in &self.stores {
            lines.push(format!("{:?}", store.counts().unwrap()));
        }
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
