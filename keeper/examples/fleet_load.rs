//! Fleet load harness: keeper daemons sharing work through a real nats-server (JetStream)
//! with leadership through a real etcd, on one in-process Agave bank. Two phases in one
//! run, each on a batch of N fresh non-durable `Timestamp` threads falling due evenly
//! over `--spread-secs` simulated seconds while the harness moves the bank's clock one
//! second per `--step-ms`:
//!
//! - the baseline: one keeper (it leads and is the only submitter);
//! - the fleet: `--keepers` keepers (one leads, every one submits).
//!
//! For each: executions per wall second from the first clock step to the last
//! confirmation, how the executions were shared, and the exactly-once check (every
//! thread ran once on chain, and exactly one keeper's store confirmed it). The figure is
//! the ratio of the two rates, measured in the same run on the same bank.
//!
//!   cargo run --release -p keeper --example fleet_load -- --threads 10000 --keepers 3
//!   scripts/fleet-load.sh [--quick] [extra flags]
//!
//! Needs `nats-server` and `etcd` (the Debian packages `scripts/test.sh` installs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use keeper::daemon::{Daemon, DaemonConfig, DaemonError, RunSummary};
use keeper::fleet::FleetConfig;
use keeper::leadership::{LeadershipConfig, LEADER_METRIC};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, ThreadPlan, World};
use keeper::store::{ExecState, Store};
use keeper::test_utils::etcd::Etcd;
use keeper::test_utils::nats::Nats;
use keeper::test_utils::probed_bank::ProbedBank;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use thread::state::{Due, Trigger};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Error = Box<dyn std::error::Error>;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Fleet load harness: keepers sharing work over NATS, one against several",
    args_override_self = true
)]
struct Args {
    /// Threads per phase (non-durable, `Timestamp` triggers).
    #[arg(long, default_value_t = 10_000)]
    threads: usize,
    /// Keepers of the fleet phase (the baseline has one).
    #[arg(long, default_value_t = 3)]
    keepers: usize,
    /// Simulated seconds each phase's due times are spread over, evenly.
    #[arg(long, default_value_t = 60)]
    spread_secs: u64,
    /// Wall milliseconds per simulated second.
    #[arg(long, default_value_t = 1_000)]
    step_ms: u64,
    /// Longest wait, after the last thread fell due, for every execution to confirm.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
}

impl Args {
    fn command(&self) -> String {
        // The figures are the release build's; a debug run says so.
        let release = if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        };
        format!(
            "cargo run{release} -p keeper --example fleet_load -- --threads {} --keepers {} \
             --spread-secs {} --step-ms {} --drain-secs {}",
            self.threads, self.keepers, self.spread_secs, self.step_ms, self.drain_secs
        )
    }
}

/// Lamports each extra keeper is funded with.
const KEEPER_FUNDS: u64 = 1_000_000_000_000;

/// One keeper daemon of a phase, with its own store file.
struct Keeper {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<RunSummary, DaemonError>>,
    store: Store,
    metrics: Arc<Metrics>,
}

impl Keeper {
    fn start(
        world: &World,
        keypair: Arc<Keypair>,
        path: &Path,
        config: DaemonConfig,
    ) -> Result<Self, Error> {
        let metrics = Metrics::new();
        let daemon = Daemon::new(
            Arc::new(ProbedBank::new(world.chain.clone())),
            keypair,
            Store::open(path)?,
            metrics.clone(),
            config,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            stop,
            task,
            store: Store::open(path)?,
            metrics,
        })
    }

    fn leads(&self) -> bool {
        self.metrics
            .registry()
            .gather()
            .iter()
            .find(|family| family.name() == LEADER_METRIC)
            .is_some_and(|family| family.get_metric()[0].get_gauge().get_value() == 1.0)
    }

    fn indexed(&self) -> i64 {
        self.metrics
            .threads
            .with_label_values(&["non_durable"])
            .get()
    }

    async fn stop(self) -> Result<(), Error> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// What one phase measured.
struct Phase {
    keepers: usize,
    wall: Duration,
    confirmed: usize,
    per_keeper: Vec<usize>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.confirmed as f64 / self.wall.as_secs_f64()
    }
}

/// Thread `i` of a batch falls due `1 + i % spread` seconds after `base`.
fn plans(batch: &str, n: usize, base: i64, spread: u64) -> Vec<ThreadPlan> {
    (0..n)
        .map(|i| ThreadPlan {
            label: format!("{batch}-{i:06}"),
            trigger: Trigger::Timestamp {
                unix_ts: base + 1 + (i as u64 % spread) as i64,
            },
            durable: false,
            watches: None,
            work: keeper::sandbox::PlanWork::Memo,
        })
        .collect()
}

/// The daemon settings of a phase: its own streams on the shared server, its own key in
/// the shared etcd.
fn config(nats: &Nats, etcd: &Etcd, phase: &str, keeper: usize) -> DaemonConfig {
    let mut config = DaemonConfig::default();
    // Idle keepers would otherwise count the bank's fast clock as errors only while
    // degraded: the harness measures the fleet, not the monitor.
    config.degradation.min_samples = u32::MAX;
    config.fleet = FleetConfig {
        work_stream: format!("WORK_{phase}"),
        dead_letter_stream: format!("DEAD_{phase}"),
        subject_prefix: format!("load.{phase}"),
        ..nats.config()
    };
    config.leadership = LeadershipConfig {
        endpoints: vec![etcd.url()],
        key: Some(format!("/thread-keeper/load/{phase}/leader")),
        id: Some(format!("{phase}-keeper-{keeper}")),
        ..LeadershipConfig::default()
    };
    config
}

/// Runs `keypairs.len()` keepers over `batch` (due from `base` on): waits until every
/// keeper indexed `indexed` threads and one leads, then moves the clock until every
/// thread of the batch is confirmed.
#[allow(clippy::too_many_arguments)]
async fn phase(
    args: &Args,
    world: &World,
    nats: &Nats,
    etcd: &Etcd,
    name: &str,
    keypairs: &[Arc<Keypair>],
    batch: &[Pubkey],
    base: i64,
    indexed: usize,
    dir: &Path,
) -> Result<Phase, Error> {
    let mut keepers = Vec::new();
    for (n, keypair) in keypairs.iter().enumerate() {
        let path = dir.join(format!("{name}-{n}.sqlite"));
        keepers.push(Keeper::start(
            world,
            keypair.clone(),
            &path,
            config(nats, etcd, name, n),
        )?);
    }
    let ready = Instant::now();
    while !(keepers.iter().all(|k| k.indexed() >= indexed as i64)
        && keepers.iter().filter(|k| k.leads()).count() == 1)
    {
        if ready.elapsed() > Duration::from_secs(300) {
            return Err(format!("{name}: the keepers did not index and elect in 300 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Discovery tells the scheduler after the index is written; let it catch up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let now = world.clock().await?.unix_timestamp;
    world.advance(0, base - now).await;
    let step = Duration::from_millis(args.step_ms);
    let start = Instant::now();
    let until = start + step * args.spread_secs as u32 + Duration::from_secs(args.drain_secs);
    let confirmed_of = |keepers: &[Keeper]| -> Result<Vec<usize>, Error> {
        keepers
            .iter()
            .map(|k| Ok(k.store.counts()?.confirmed as usize))
            .collect()
    };
    let mut k: u32 = 0;
    let (wall, per_keeper) = loop {
        let per_keeper = confirmed_of(&keepers)?;
        if per_keeper.iter().sum::<usize>() >= batch.len() || Instant::now() >= until {
            break (start.elapsed(), per_keeper);
        }
        k += 1;
        tokio::time::sleep_until((start + step * k).into()).await;
        world.advance(2, 1).await;
    };
    let confirmed = per_keeper.iter().sum();
    check_exactly_once(world, &keepers, batch).await?;
    for keeper in keepers {
        keeper.stop().await?;
    }
    Ok(Phase {
        keepers: keypairs.len(),
        wall,
        confirmed,
        per_keeper,
    })
}

/// Every thread of `batch` ran once on chain and was confirmed in exactly one store.
async fn check_exactly_once(
    world: &World,
    keepers: &[Keeper],
    batch: &[Pubkey],
) -> Result<(), Error> {
    let mut confirmed: HashMap<Pubkey, usize> = HashMap::new();
    for keeper in keepers {
        for thread in batch {
            let rows = keeper.store.executions_of_thread(thread, 10)?;
            let ok = rows
                .iter()
                .filter(|r| r.state == ExecState::Confirmed)
                .count();
            *confirmed.entry(*thread).or_default() += ok;
        }
    }
    let mut ran_twice = 0;
    let mut unconfirmed = 0;
    for thread in batch {
        let state = world
            .thread(thread)
            .await?
            .ok_or("a thread of the batch is gone")?;
        if state.exec_count != 1 || state.next_due != Due::Never {
            ran_twice += usize::from(state.exec_count > 1);
            unconfirmed += usize::from(state.exec_count == 0);
        }
        match confirmed.get(thread).copied().unwrap_or(0) {
            1 => {}
            0 => unconfirmed += 1,
            _ => ran_twice += 1,
        }
    }
    if ran_twice + unconfirmed > 0 {
        return Err(format!(
            "exactly once broken: {ran_twice} ran or were confirmed twice, {unconfirmed} not run"
        )
        .into());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args = Args::parse();
    if args.threads == 0 || args.keepers < 2 || args.spread_secs == 0 || args.step_ms == 0 {
        return Err(
            "--threads above 0, --keepers at least 2, --spread-secs and --step-ms above 0".into(),
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Error> {
    let n = args.threads;
    println!(
        "keeper fleet load harness: {n} threads per phase due over {} simulated s, one clock \
         second per {} ms; 1 keeper, then {}",
        args.spread_secs, args.step_ms, args.keepers
    );
    let nats = Nats::start().await.ok_or("nats-server is not installed")?;
    let etcd = Etcd::start().await.ok_or("etcd is not installed")?;
    let dir = tempfile::tempdir()?;

    let setup = Instant::now();
    let mut world = World::start().await?;
    let base_one = world.clock().await?.unix_timestamp + 100_000;
    let base_fleet = base_one + args.spread_secs as i64 + 10_000;
    world
        .create_many(&plans("one", n, base_one, args.spread_secs), 1_000_000)
        .await?;
    let one: Vec<Pubkey> = world.threads.iter().map(|t| t.key).collect();
    world
        .create_many(&plans("fleet", n, base_fleet, args.spread_secs), 1_000_000)
        .await?;
    let fleet: Vec<Pubkey> = world.threads.iter().skip(n).map(|t| t.key).collect();
    let mut keypairs = vec![world.keeper.clone()];
    while keypairs.len() < args.keepers {
        let keypair = Arc::new(Keypair::new());
        let fund =
            system_instruction::transfer(&world.owner.pubkey(), &keypair.pubkey(), KEEPER_FUNDS);
        sandbox::send(&world.chain, &[fund], &world.owner, &[]).await?;
        keypairs.push(keypair);
    }
    println!(
        "  created {} threads and {} keepers in {:.1} s",
        2 * n,
        keypairs.len(),
        setup.elapsed().as_secs_f64()
    );

    let baseline = phase(
        &args,
        &world,
        &nats,
        &etcd,
        "one",
        &keypairs[..1],
        &one,
        base_one,
        2 * n,
        dir.path(),
    )
    .await?;
    let scaled = phase(
        &args,
        &world,
        &nats,
        &etcd,
        "fleet",
        &keypairs,
        &fleet,
        base_fleet,
        2 * n,
        dir.path(),
    )
    .await?;

    println!("\n  command: {}", args.command());
    println!(
        "  | keepers (submitters) | confirmed | wall s | executions/s | confirmed by each keeper |"
    );
    println!("  |---|---|---|---|---|");
    for p in [&baseline, &scaled] {
        println!(
            "  | {} | {} of {n} | {:.1} | {:.1} | {:?} |",
            p.keepers,
            p.confirmed,
            p.wall.as_secs_f64(),
            p.rate(),
            p.per_keeper
        );
    }
    println!(
        "  ratio, {} submitters against 1: {:.2} (offered load {:.1}/s); every thread ran once on \
         chain and was confirmed in one store, in both phases",
        args.keepers,
        scaled.rate() / baseline.rate(),
        n as f64 / args.spread_secs as f64 / (args.step_ms as f64 / 1_000.0)
    );
    Ok(())
}
