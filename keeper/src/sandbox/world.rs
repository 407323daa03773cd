//! The sandbox world: an in-process bank with the thread program, a funded owner and
//! keeper, and the example threads (one of each trigger kind, durable and not), created
//! through the program's own instructions.
//!
//! Owns: the bank, the keys and the threads it created, sending its own transactions.
//! Must not: execute threads or touch the daemon's state: the daemon finds the threads
//! on the chain as it would on a cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use solana_sdk::clock::Clock;
use solana_sdk::instruction::Instruction;
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use thread::client;
use thread::instructions::CreateThreadArgs;
use thread::state::{Comparison, RateLimit, Thread, ThreadInstruction, Trigger, ValueSource};

use super::work::{memo_signed_by, plan_work, PlanWork};
use crate::chain::bank::{program_test, BankChain};
use crate::chain::{Chain, ChainError};
use crate::execution::builder::tables::MAX_TRANSACTION_BYTES;

/// What every sandbox thread pays its keeper per execution: enough for a keeper that
/// never runs at a loss (the default) to run each of them in a bank, whose fee market is
/// empty: one signature's base fee (5,000 lamports), plus, for a durable one-shot thread,
/// its lease's claim and release (5,000 each).
pub const SANDBOX_FEE_PER_EXEC: u64 = 20_000;

/// A thread the sandbox created.
#[derive(Clone, Debug)]
pub struct SandboxThread {
    pub key: Pubkey,
    pub label: String,
    pub durable: bool,
    pub trigger: Trigger,
}

/// What to create: a label, a trigger, durability.
#[derive(Clone, Debug)]
pub struct ThreadPlan {
    pub label: String,
    pub trigger: Trigger,
    pub durable: bool,
    /// For an `Account` or `Condition` trigger: the account of another planned thread it
    /// watches, whose address is known only once that thread exists.
    pub watches: Option<Watches>,
    /// What it runs after its memo.
    pub work: PlanWork,
}

/// An account of another planned thread (named by its label) that a plan watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watches {
    /// The nonce account of a durable thread (its value changes with every durable
    /// execution).
    NonceOf(String),
    /// The responder counter a counting thread runs on (its `runs` is the u64 at byte 0).
    CounterOf(String),
}

/// A bank with the thread program, a funded owner and keeper, and example threads.
pub struct World {
    pub chain: Arc<BankChain>,
    pub owner: Keypair,
    pub keeper: Arc<Keypair>,
    pub threads: Vec<SandboxThread>,
}

impl World {
    /// Starts a bank and funds a fresh keeper key from the genesis payer.
    pub async fn start() -> Result<World, ChainError> {
        let chain = Arc::new(BankChain::start(program_test()).await);
        let owner = chain.payer().await;
        let keeper = Arc::new(Keypair::new());
        let fund = system_instruction::transfer(&owner.pubkey(), &keeper.pubkey(), 50_000_000_000);
        send(chain.as_ref(), &[fund], &owner, &[]).await?;
        Ok(World {
            chain,
            owner,
            keeper,
            threads: Vec::new(),
        })
    }

    /// The chain's clock.
    pub async fn clock(&self) -> Result<Clock, ChainError> {
        self.chain.clock().await
    }

    /// Creates every planned thread, funded for `deposit` lamports of fees each.
    pub async fn create(&mut self, plans: &[ThreadPlan], deposit: u64) -> Result<(), ChainError> {
        for plan in plans {
            let id = plan.label.as_bytes().to_vec();
            let (key, _) = Thread::address(&self.owner.pubkey(), &id);
            let work = plan_work(&plan.work, &key, &plan.label, &self.owner.pubkey());
            if let Some((create, signer)) = &work.setup {
                send(
                    self.chain.as_ref(),
                    std::slice::from_ref(create),
                    &self.owner,
                    &[signer],
                )
                .await?;
            }
            let instructions = work.instructions;
            let mut trigger = plan.trigger.clone();
            if let (
                Some(watches),
                Trigger::Account { address, .. } | Trigger::Condition { address, .. },
            ) = (&plan.watches, &mut trigger)
            {
                *address = self.watched_address(watches).await?;
            }
            let args = CreateThreadArgs {
                id,
                trigger: trigger.clone(),
                instructions,
                fee_per_exec: SANDBOX_FEE_PER_EXEC,
                rate_limit: RateLimit::default(),
                deposit,
                priority: None,
                lookup_tables: vec![],
            };
            if plan.durable {
                let nonce = Keypair::new();
                let ix = client::create_thread_with_nonce(
                    &self.owner.pubkey(),
                    &key,
                    &nonce.pubkey(),
                    args,
                    10_000,
                );
                send(self.chain.as_ref(), &[ix], &self.owner, &[&nonce]).await?;
                self.chain.watch(nonce.pubkey());
            } else {
                let ix = client::create_thread(&self.owner.pubkey(), &key, args);
                send(self.chain.as_ref(), &[ix], &self.owner, &[]).await?;
            }
            self.chain.watch(key);
            self.threads.push(SandboxThread {
                key,
                label: plan.label.clone(),
                durable: plan.durable,
                trigger,
            });
        }
        Ok(())
    }

    /// [`World::create`] for many threads: plans that are not durable, watch no nonce
    /// and run only their memo are packed, as many as fit, into transactions of several `create_thread`
    /// instructions (the threads are the ones `create` would make). Durable or watching
    /// plans go through `create`, in order.
    pub async fn create_many(
        &mut self,
        plans: &[ThreadPlan],
        deposit: u64,
    ) -> Result<(), ChainError> {
        let owner = self.owner.pubkey();
        let mut batch: Vec<(Instruction, SandboxThread)> = Vec::new();
        for plan in plans {
            if plan.durable || plan.watches.is_some() || plan.work != PlanWork::Memo {
                self.send_batch(&mut batch).await?;
                self.create(std::slice::from_ref(plan), deposit).await?;
                continue;
            }
            let id = plan.label.as_bytes().to_vec();
            let (key, _) = Thread::address(&owner, &id);
            let args = CreateThreadArgs {
                id,
                trigger: plan.trigger.clone(),
                instructions: vec![ThreadInstruction::from(memo_signed_by(&key, &plan.label))],
                fee_per_exec: SANDBOX_FEE_PER_EXEC,
                rate_limit: RateLimit::default(),
                deposit,
                priority: None,
                lookup_tables: vec![],
            };
            let ix = client::create_thread(&owner, &key, args);
            let thread = SandboxThread {
                key,
                label: plan.label.clone(),
                durable: false,
                trigger: plan.trigger.clone(),
            };
            let mut ixs: Vec<Instruction> = batch.iter().map(|(ix, _)| ix.clone()).collect();
            ixs.push(ix.clone());
            if !fits_one_transaction(&ixs, &owner) {
                self.send_batch(&mut batch).await?;
            }
            batch.push((ix, thread));
        }
        self.send_batch(&mut batch).await
    }

    /// Sends the `create_thread` instructions of `batch` in one transaction and records
    /// their threads; empties `batch`.
    async fn send_batch(
        &mut self,
        batch: &mut Vec<(Instruction, SandboxThread)>,
    ) -> Result<(), ChainError> {
        if batch.is_empty() {
            return Ok(());
        }
        let ixs: Vec<Instruction> = batch.iter().map(|(ix, _)| ix.clone()).collect();
        send(self.chain.as_ref(), &ixs, &self.owner, &[]).await?;
        for (_, thread) in batch.drain(..) {
            self.chain.watch(thread.key);
            self.threads.push(thread);
        }
        Ok(())
    }

    /// The address `watches` names; an error when that thread does not exist (yet).
    async fn watched_address(&self, watches: &Watches) -> Result<Pubkey, ChainError> {
        let (address, what, label) = match watches {
            Watches::NonceOf(label) => (self.nonce_of(label).await?, "durable thread", label),
            Watches::CounterOf(label) => (self.counter_of(label).await?, "counting thread", label),
        };
        address.ok_or_else(|| ChainError::Rpc(format!("no {what} {label} to watch")))
    }

    /// The responder counter the thread labelled `label` runs on: the first account of
    /// its responder instruction.
    async fn counter_of(&self, label: &str) -> Result<Option<Pubkey>, ChainError> {
        let Some(t) = self.threads.iter().find(|t| t.label == label) else {
            return Ok(None);
        };
        Ok(self.thread(&t.key).await?.and_then(|state| {
            state
                .instructions
                .iter()
                .find(|ix| ix.program_id == responder::ID)
                .and_then(|ix| ix.accounts.first())
                .map(|meta| meta.pubkey)
        }))
    }

    async fn nonce_of(&self, label: &str) -> Result<Option<Pubkey>, ChainError> {
        let Some(t) = self.threads.iter().find(|t| t.label == label) else {
            return Ok(None);
        };
        Ok(self
            .thread(&t.key)
            .await?
            .and_then(|s| s.nonce_account().ok()))
    }

    /// A thread's current state.
    pub async fn thread(&self, key: &Pubkey) -> Result<Option<Thread>, ChainError> {
        Ok(self
            .chain
            .get_account(key)
            .await?
            .and_then(|a| client::decode_thread(&a.data).ok()))
    }

    /// Moves the bank `slots` slots and `seconds` seconds forward.
    pub async fn advance(&self, slots: u64, seconds: i64) {
        // No transaction may run in the bank the warp freezes.
        let _paused = self.chain.pause_transactions().await;
        let context = self.chain.context();
        let mut ctx = context.lock().await;
        let Ok(mut clock) = ctx.banks_client.get_sysvar::<Clock>().await else {
            return;
        };
        let unix_ts = clock.unix_timestamp.saturating_add(seconds);
        if slots > 0 && ctx.warp_to_slot(clock.slot + slots).is_ok() {
            if let Ok(warped) = ctx.banks_client.get_sysvar::<Clock>().await {
                clock = warped;
            }
        }
        clock.unix_timestamp = unix_ts;
        ctx.set_sysvar(&clock);
    }
}

/// Whether `ixs` fit one legacy transaction paid by `payer`, signatures included.
fn fits_one_transaction(ixs: &[Instruction], payer: &Pubkey) -> bool {
    let tx = Transaction::new_unsigned(Message::new(ixs, Some(payer)));
    bincode::serialized_size(&tx).is_ok_and(|size| size <= MAX_TRANSACTION_BYTES)
}

/// One of every trigger kind, durable and not, timed from `now`.
pub fn example_plans(now: &Clock) -> Vec<ThreadPlan> {
    let plan = |label: &str, trigger: Trigger, durable: bool| ThreadPlan {
        label: label.to_string(),
        trigger,
        durable,
        watches: None,
        work: PlanWork::Memo,
    };
    vec![
        plan("now", Trigger::Now, false),
        plan(
            "timestamp+20s",
            Trigger::Timestamp {
                unix_ts: now.unix_timestamp + 20,
            },
            false,
        ),
        plan(
            "every-10s",
            Trigger::Interval {
                seconds: 10,
                skippable: false,
            },
            false,
        ),
        plan(
            "durable-every-15s",
            Trigger::Interval {
                seconds: 15,
                skippable: false,
            },
            true,
        ),
        plan(
            "durable-cron-20s",
            Trigger::Cron {
                schedule: "*/20 * * * * *".into(),
                skippable: true,
                jitter: 5,
            },
            true,
        ),
        plan(
            "slot+30",
            Trigger::Slot {
                slot: now.slot + 30,
            },
            false,
        ),
        plan(
            "next-epoch",
            Trigger::Epoch {
                epoch: now.epoch + 1,
            },
            false,
        ),
        ThreadPlan {
            label: "on-nonce-change".into(),
            trigger: Trigger::Account {
                address: Pubkey::default(),
                offset: 40,
                size: 32,
            },
            durable: false,
            watches: Some(Watches::NonceOf("durable-every-15s".into())),
            work: PlanWork::Memo,
        },
        // Threads that steer themselves through the responder's answers: the first is
        // due at once and each run sets its next time; the second stretches its own
        // interval after every buy.
        ThreadPlan {
            work: PlanWork::Reschedule { seconds: 7 },
            ..plan("self-rescheduling", Trigger::Now, false)
        },
        // A condition on that counter: runs once, when its count crosses above 3.
        ThreadPlan {
            watches: Some(Watches::CounterOf("self-rescheduling".into())),
            ..plan(
                "when-count-crosses-3",
                Trigger::Condition {
                    address: Pubkey::default(),
                    source: ValueSource::Integer {
                        offset: 0,
                        width: 8,
                        signed: false,
                    },
                    comparison: Comparison::CrossesAbove,
                    threshold: 3,
                },
                false,
            )
        },
        ThreadPlan {
            work: PlanWork::Dca {
                first_seconds: 5,
                max_seconds: 20,
            },
            ..plan(
                "durable-dca",
                Trigger::Interval {
                    seconds: 5,
                    skippable: true,
                },
                true,
            )
        },
    ]
}

/// Executions per thread, as the chain records them.
pub async fn exec_counts(world: &World) -> Result<BTreeMap<String, u64>, ChainError> {
    let mut counts = BTreeMap::new();
    for t in &world.threads {
        let count = world.thread(&t.key).await?.map_or(0, |s| s.exec_count);
        counts.insert(t.label.clone(), count);
    }
    Ok(counts)
}

/// Signs with `payer` (and `extra`) on a recent blockhash and sends, failing on any error.
pub async fn send(
    chain: &BankChain,
    ixs: &[Instruction],
    payer: &Keypair,
    extra: &[&Keypair],
) -> Result<(), ChainError> {
    let blockhash = chain.latest_blockhash().await?;
    let mut signers = vec![payer];
    signers.extend_from_slice(extra);
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &signers, blockhash);
    let signature = chain.send(&VersionedTransaction::from(tx)).await?;
    match chain
        .signature_statuses(&[signature])
        .await?
        .into_iter()
        .next()
        .flatten()
    {
        Some(status) => match status.err {
            None => Ok(()),
            Some(err) => Err(ChainError::Rejected(err)),
        },
        None => Err(ChainError::Rpc(format!("no status for {signature}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(label: &str, unix_ts: i64) -> ThreadPlan {
        ThreadPlan {
            label: label.into(),
            trigger: Trigger::Timestamp { unix_ts },
            durable: false,
            watches: None,
            work: PlanWork::Memo,
        }
    }

    #[tokio::test]
    async fn create_many_packs_plain_threads_and_makes_what_create_makes() {
        let mut world = World::start().await.unwrap();
        let now = world.clock().await.unwrap().unix_timestamp;
        let mut plans: Vec<ThreadPlan> = (0..12)
            .map(|i| at(&format!("many-{i:02}"), now + 100 + i))
            .collect();
        plans.insert(
            6,
            ThreadPlan {
                label: "durable-in-between".into(),
                trigger: Trigger::Interval {
                    seconds: 15,
                    skippable: false,
                },
                durable: true,
                watches: None,
                work: PlanWork::Memo,
            },
        );
        let creates: Vec<Instruction> = (0..12)
            .map(|i| {
                let (key, _) = Thread::address(&world.owner.pubkey(), b"x");
                let args = CreateThreadArgs {
                    id: format!("many-{i:02}").into_bytes(),
                    trigger: Trigger::Timestamp { unix_ts: now },
                    instructions: vec![ThreadInstruction::from(memo_signed_by(&key, "many-00"))],
                    fee_per_exec: SANDBOX_FEE_PER_EXEC,
                    rate_limit: RateLimit::default(),
                    deposit: 1,
                    priority: None,
                    lookup_tables: vec![],
                };
                client::create_thread(&world.owner.pubkey(), &key, args)
            })
            .collect();
        assert!(fits_one_transaction(&creates[..2], &world.owner.pubkey()));
        assert!(!fits_one_transaction(&creates, &world.owner.pubkey()));

        world.create_many(&plans, 1_000_000).await.unwrap();
        world
            .create(&[at("one-by-one", now + 200)], 1_000_000)
            .await
            .unwrap();

        let labels: Vec<&str> = world.threads.iter().map(|t| t.label.as_str()).collect();
        let mut expected: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        expected.push("one-by-one");
        assert_eq!(
            labels, expected,
            "created in plan order, each recorded once"
        );
        let single = world.thread(&world.threads[13].key).await.unwrap().unwrap();
        for (made, plan) in world.threads.iter().zip(&plans) {
            let state = world.thread(&made.key).await.unwrap().expect("created");
            assert_eq!(state.trigger, plan.trigger, "{}", plan.label);
            assert_eq!(state.id, plan.label.as_bytes(), "{}", plan.label);
            assert_eq!(made.durable, plan.durable, "{}", plan.label);
            assert_eq!(
                state.nonce_account().is_ok(),
                plan.durable,
                "{}",
                plan.label
            );
            assert_eq!(
                ThreadInstruction::from(memo_signed_by(&made.key, &plan.label)),
                state.instructions[0],
                "{}",
                plan.label
            );
            if !plan.durable {
                assert_eq!(state.fee_per_exec, single.fee_per_exec);
                assert_eq!(state.rate_limit, single.rate_limit);
                assert_eq!(state.instructions.len(), single.instructions.len());
            }
        }
    }
}
