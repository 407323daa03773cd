//! `keeper sandbox`: the whole system on an in-process Agave bank, for a newcomer with
//! no validator. Creates threads of every trigger kind (durable and not), runs the real
//! daemon against the bank while driving its clock forward, and reports every execution.
//!
//! Owns: the run: the world (`world.rs`: bank, funded keeper, example threads; `work.rs`:
//! what each runs, self-steering threads included), the
//! bank's clock driven forward, the daemon against it, and the report.
//! Must not: take any shortcut through the daemon: executions go through discovery, the
//! scheduler, the builder, the store and the chain exactly as against a real cluster.

// program-test 3.1 marks its items deprecated (unstable API); they are the bank we run.
#![allow(deprecated)]

mod work;
mod world;

pub use work::{memo_signed_by, PlanWork, MEMO_PROGRAM};
pub use world::{
    example_plans, exec_counts, send, SandboxThread, ThreadPlan, Watches, World,
    SANDBOX_FEE_PER_EXEC,
};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use thread::schedule::condition_of;
use thread::state::Trigger;

use crate::chain::Chain;
use crate::daemon::{Daemon, DaemonConfig, RunSummary};
use crate::execution::executor::ExecEvent;
use crate::ops::metrics::Metrics;
use crate::store::Store;

/// How often the sandbox clock moves, and by how much.
#[derive(Clone, Copy, Debug)]
pub struct ClockDrive {
    pub every: Duration,
    pub slots: u64,
    pub seconds: i64,
}

impl Default for ClockDrive {
    fn default() -> Self {
        Self {
            every: Duration::from_millis(250),
            slots: 2,
            seconds: 1,
        }
    }
}

/// What `keeper sandbox` does.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Wall-clock seconds to run the daemon for.
    pub seconds: u64,
    pub drive: ClockDrive,
    /// Where the store lives; a temporary in-memory store when `None`.
    pub store: Option<std::path::PathBuf>,
    pub daemon: DaemonConfig,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        let daemon = DaemonConfig {
            tick_ms: 100,
            reconcile_ms: 2_000,
            confirm_ms: 100,
            replay_ms: 500,
            drain_ms: 5_000,
            ..DaemonConfig::default()
        };
        Self {
            seconds: 20,
            drive: ClockDrive::default(),
            store: None,
            daemon,
        }
    }
}

/// What the sandbox saw.
#[derive(Debug, Clone)]
pub struct SandboxReport {
    pub executions: BTreeMap<String, u64>,
    pub summary: RunSummary,
}

/// Runs the sandbox, printing each execution and a summary through `say`.
pub async fn run(
    options: SandboxOptions,
    say: impl Fn(String) + Send + Sync + 'static,
) -> Result<SandboxReport, Box<dyn std::error::Error + Send + Sync>> {
    run_until(options, say, std::future::pending()).await
}

/// [`run`], stopped early (cleanly: the daemon drains and hands its leases back, and the
/// summary is printed) when `stop` completes: `keeper sandbox` passes its stop signals.
pub async fn run_until(
    options: SandboxOptions,
    say: impl Fn(String) + Send + Sync + 'static,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SandboxReport, Box<dyn std::error::Error + Send + Sync>> {
    let say = Arc::new(say);
    say("starting an in-process Agave bank with the thread program".into());
    let mut world = World::start().await?;
    let now = world.clock().await?;
    world.create(&example_plans(&now), 50_000_000).await?;
    for t in &world.threads {
        say(format!(
            "created {:<18} {} {}",
            t.label,
            if t.durable {
                "durable    "
            } else {
                "non-durable"
            },
            describe(&t.trigger)
        ));
    }

    let labels: BTreeMap<Pubkey, String> = world
        .threads
        .iter()
        .map(|t| (t.key, t.label.clone()))
        .collect();
    let (events_tx, mut events_rx) = tokio::sync::broadcast::channel(1_024);
    let printer = {
        let say = say.clone();
        let chain = world.chain.clone();
        tokio::spawn(async move {
            while let Ok(event) = events_rx.recv().await {
                let slot = chain.clock().await.map(|c| c.slot).unwrap_or_default();
                let label = |k: &Pubkey| labels.get(k).cloned().unwrap_or_else(|| k.to_string());
                let line = match event {
                    ExecEvent::Submitted {
                        thread,
                        exec_count,
                        durable,
                        ..
                    } => format!(
                        "slot {slot:>5}  submit   {:<18} run #{} {}",
                        label(&thread),
                        exec_count + 1,
                        if durable {
                            "(durable nonce)"
                        } else {
                            "(recent blockhash)"
                        }
                    ),
                    ExecEvent::Confirmed {
                        thread,
                        exec_count,
                        signature,
                    } => format!(
                        "slot {slot:>5}  confirm  {:<18} run #{} {}",
                        label(&thread),
                        exec_count + 1,
                        short(&signature.to_string())
                    ),
                    ExecEvent::Replayed {
                        thread, exec_count, ..
                    } => format!(
                        "slot {slot:>5}  replay   {:<18} run #{}",
                        label(&thread),
                        exec_count + 1
                    ),
                    ExecEvent::Superseded {
                        thread,
                        exec_count,
                        ran: true,
                        ..
                    } => format!(
                        "slot {slot:>5}  settled  {:<18} run #{} already landed",
                        label(&thread),
                        exec_count + 1
                    ),
                    ExecEvent::Superseded {
                        thread,
                        exec_count,
                        reason,
                        ran: false,
                    } => format!(
                        "slot {slot:>5}  dropped  {:<18} run #{}: {reason}",
                        label(&thread),
                        exec_count + 1
                    ),
                    ExecEvent::DeadLettered {
                        thread,
                        exec_count,
                        reason,
                    } => format!(
                        "slot {slot:>5}  DLQ      {:<18} run #{}: {reason}",
                        label(&thread),
                        exec_count + 1
                    ),
                };
                say(line);
            }
        })
    };

    let store = match &options.store {
        Some(path) => Store::open_exclusive(path)?,
        None => Store::open_in_memory()?,
    };
    let chain: Arc<dyn Chain> = world.chain.clone();
    let daemon = Daemon::new(
        chain,
        world.keeper.clone(),
        store,
        Metrics::new(),
        options.daemon.clone(),
    )
    .with_events(events_tx);
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let daemon = daemon.on_health_bound(bound_tx);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async move {
        let _ = stop_rx.await;
    }));
    // Bound before anything runs; a start that failed drops the sender instead.
    if options.daemon.health_addr.is_some() {
        match bound_rx.await {
            Ok(addr) if options.daemon.dashboard.disabled => {
                say(format!("health at http://{addr}/health"))
            }
            Ok(addr) => say(format!("dashboard at http://{addr}/dashboard")),
            Err(_) => {
                running.await??;
                return Err("the keeper stopped before it served its health port".into());
            }
        }
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(options.seconds);
    let mut ticks = tokio::time::interval(options.drive.every);
    tokio::pin!(stop);
    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            biased;
            _ = &mut stop => {
                say("stop requested: stopping the keeper".into());
                break;
            }
            _ = ticks.tick() => {}
        }
        world
            .advance(options.drive.slots, options.drive.seconds)
            .await;
    }
    let _ = stop_tx.send(());
    let summary = running.await??;
    printer.abort();

    let executions = exec_counts(&world).await?;
    say(String::new());
    say("summary (executions recorded on chain per thread):".into());
    for (label, count) in &executions {
        say(format!("  {label:<18} {count}"));
    }
    say(format!(
        "store: {} confirmed, {} superseded, {} pending, {} dead-lettered; {} leases handed back, {} left to expire",
        summary.counts.confirmed,
        summary.counts.superseded,
        summary.counts.pending,
        summary.counts.dead,
        summary.leases_released,
        summary.leases_left.len()
    ));
    Ok(SandboxReport {
        executions,
        summary,
    })
}

fn describe(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Now => "now".into(),
        Trigger::Timestamp { unix_ts } => format!("at unix {unix_ts}"),
        Trigger::Interval { seconds, .. } => format!("every {seconds} s"),
        Trigger::Cron {
            schedule, jitter, ..
        } => format!("cron {schedule:?} +0..{jitter} s"),
        Trigger::Slot { slot } => format!("at slot {slot}"),
        Trigger::Epoch { epoch } => format!("at epoch {epoch}"),
        Trigger::Account {
            address,
            offset,
            size,
        } => format!(
            "when {}[{offset}..{}] changes",
            short(&address.to_string()),
            offset + size
        ),
        Trigger::Condition { address, .. } => match condition_of(trigger) {
            Some((_, condition)) => format!("when {} {condition}", short(&address.to_string())),
            None => format!("on a condition of {}", short(&address.to_string())),
        },
    }
}

fn short(s: &str) -> String {
    format!("{}…", &s[..8.min(s.len())])
}
