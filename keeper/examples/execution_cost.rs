//! What an execution costs a keeper, measured: runs the sandbox (every trigger kind,
//! durable and not, through the real daemon) and reads back every confirmed execution
//! the keeper built, with the compute-unit limit its builder chose from simulation. For
//! each kind it prints the base fee, the priority fee at a few unit prices and, for
//! durable threads, the share of lease transactions the profitability guard adds: what
//! an owner's `fee_per_exec` must cover for a keeper that never runs at a loss.
//!
//! `cargo run -p keeper --example execution_cost -- --seconds 20`
//! (`--unit-prices 0,1000,10000,100000`: micro-lamports per compute unit).

use std::collections::BTreeMap;

use keeper::execution::builder::{budget_of, fee_of};
use keeper::execution::leases::LeaseConfig;
use keeper::execution::profitability::ExecutionCost;
use keeper::sandbox::{self, SandboxOptions};
use keeper::store::{ExecState, Store};
use solana_sdk::transaction::VersionedTransaction;
use thread::state::{Durability, Trigger};

struct Options {
    seconds: u64,
    unit_prices: Vec<u64>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 20,
        unit_prices: vec![0, 1_000, 10_000, 100_000],
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => {
                options.seconds = value
                    .parse()
                    .map_err(|e| format!("--seconds {value}: {e}"))?
            }
            "--unit-prices" => {
                options.unit_prices = value
                    .split(',')
                    .map(|p| {
                        p.trim()
                            .parse()
                            .map_err(|e| format!("--unit-prices {p}: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            other => {
                return Err(format!(
                    "unknown flag {other}; use --seconds, --unit-prices"
                ))
            }
        }
    }
    Ok(options)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let options = options()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keeper.sqlite");
    eprintln!("running the sandbox for {} s ...", options.seconds);
    let report = sandbox::run(
        SandboxOptions {
            seconds: options.seconds,
            store: Some(path.clone()),
            ..SandboxOptions::default()
        },
        |_| {},
    )
    .await?;
    let store = Store::open(&path)?;

    // Unit limits of confirmed executions, by kind.
    let mut limits: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for row in store.recent_executions(100_000)? {
        if row.state != ExecState::Confirmed {
            continue;
        }
        let tx: VersionedTransaction = bincode::deserialize(&row.transaction)?;
        let kind = if row.nonce_account.is_some() {
            "durable"
        } else {
            "non-durable"
        };
        limits.entry(kind).or_default().push((
            u64::from(budget_of(&tx.message).unit_limit),
            fee_of(&tx.message),
        ));
    }
    println!(
        "measured: {} executions confirmed in the sandbox ({} s; `cargo run -p keeper --example execution_cost -- --seconds {}`)\n",
        report.summary.counts.confirmed, options.seconds, options.seconds
    );
    print!("| execution | CU limit (max) | fee paid in the bank |");
    for price in &options.unit_prices {
        print!(" at {price} µlamports/CU |");
    }
    println!();
    print!("|---|---|---|");
    for _ in &options.unit_prices {
        print!("---|");
    }
    println!();
    for (kind, rows) in &limits {
        let max_limit = rows.iter().map(|(limit, _)| *limit).max().unwrap_or(0);
        let paid = rows.iter().map(|(_, fee)| *fee).max().unwrap_or(0);
        print!("| {kind} ({} runs) | {max_limit} | {paid} |", rows.len());
        for price in &options.unit_prices {
            let priority = (u128::from(*price) * u128::from(max_limit)).div_ceil(1_000_000);
            print!(" {} |", 5_000 + u64::try_from(priority).unwrap_or(u64::MAX));
        }
        println!();
    }

    // A durable thread's lease share at the keeper's default lease settings, for a
    // transaction fee of one signature.
    let leases = LeaseConfig::default().cadence(u64::MAX);
    println!(
        "\nlease share of a durable execution (default leases: {} slots, renewed every {}), at a 5000-lamport transaction:\n",
        leases.lease_slots, leases.renewal_slots
    );
    println!("| trigger | lease share | total |");
    println!("|---|---|---|");
    let mut durable = keeper::test_utils::thread::ThreadFixture::new().thread;
    durable.durability = Durability::Durable {
        nonce_account: solana_sdk::pubkey::Pubkey::new_unique(),
    };
    let every = |seconds| Trigger::Interval {
        seconds,
        skippable: true,
    };
    for (label, trigger) in [
        ("every 10 s", every(10)),
        ("every minute", every(60)),
        ("every 5 minutes", every(300)),
        ("every 10 minutes or rarer", every(600)),
        (
            "one-shot (now, timestamp, slot, epoch) or account change",
            Trigger::Now,
        ),
    ] {
        durable.trigger = trigger;
        let cost = ExecutionCost::of(&durable, 5_000, leases);
        println!("| {label} | {} | {} |", cost.lease_share, cost.total());
    }
    Ok(())
}
