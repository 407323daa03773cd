//! [`ThreadFixture`]: the one builder of `Thread` account states for tests, benchmarks
//! and the program tests, so a new field of `Thread` is given its test value once.
//!
//! Owns: a plausible thread as `create_thread` would write it, and setters for the shapes
//! tests need (trigger and due kinds, durable with or without a lease, paused, executed,
//! at its real PDA, with a crank-shaped instruction), plus the account bytes.
//! Must not: talk to a chain or a bank, or check what the program would accept: tests
//! place states no instruction can produce on purpose.

use anchor_lang::AccountSerialize;
use solana_sdk::pubkey::Pubkey;
use thread::state::{
    Comparison, Due, Durability, Lease, RateLimit, Thread, ThreadAccountMeta, ThreadInstruction,
    Trigger, ValueSource,
};

/// A `Condition` trigger on the unsigned u64 at byte `offset` of `address`.
pub fn u64_condition(
    address: Pubkey,
    offset: u32,
    comparison: Comparison,
    threshold: i64,
) -> Trigger {
    Trigger::Condition {
        address,
        source: ValueSource::Integer {
            offset,
            width: 8,
            signed: false,
        },
        comparison,
        threshold,
    }
}

/// The slots a durable fixture may lease its nonce for, as an owner would choose them.
const MAX_LEASE_SLOTS: u64 = 100_000;

/// A decoded thread, built up from [`ThreadFixture::new`].
#[derive(Clone, Debug)]
pub struct ThreadFixture {
    pub thread: Thread,
}

impl Default for ThreadFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadFixture {
    /// A non-durable `Now` thread of a fresh owner with one instruction of 2 accounts
    /// and 12 data bytes, shaped like a lamport transfer. Its bump is 255 whatever its
    /// address; [`ThreadFixture::at_pda`] makes it a thread that could exist.
    pub fn new() -> Self {
        let owner = Pubkey::new_unique();
        let transfer = ThreadInstruction {
            program_id: Pubkey::new_unique(),
            accounts: vec![
                account(Pubkey::new_unique(), true, true),
                account(owner, false, true),
            ],
            data: vec![2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        };
        Self {
            thread: Thread {
                version: Thread::VERSION,
                bump: 255,
                owner,
                id: b"payroll-0001".to_vec(),
                trigger: Trigger::Now,
                next_due: Due::Immediately,
                schedule_base: 0,
                durability: Durability::NonDurable,
                max_lease_slots: 0,
                lease: None,
                fee_per_exec: 1_000,
                rate_limit: RateLimit::default(),
                window_start_slot: 0,
                execs_in_window: 0,
                paused: false,
                exec_count: 0,
                last_exec_slot: 0,
                last_exec_at: 0,
                created_at: 1_700_000_000,
                instructions: vec![transfer],
                priority: None,
                lookup_tables: vec![],
            },
        }
    }

    /// Owned by `owner` under `id`, with the bump of its real PDA.
    pub fn at_pda(mut self, owner: Pubkey, id: &[u8]) -> Self {
        let (_, bump) = Thread::address(&owner, id);
        self.thread.owner = owner;
        self.thread.id = id.to_vec();
        self.thread.bump = bump;
        self
    }

    /// Owned by `owner` under `id` with the `bump` given, right or wrong.
    pub fn owned_as(mut self, owner: Pubkey, id: &[u8], bump: u8) -> Self {
        self.thread.owner = owner;
        self.thread.id = id.to_vec();
        self.thread.bump = bump;
        self
    }

    /// The PDA of the thread's owner and id.
    pub fn address(&self) -> Pubkey {
        Thread::address(&self.thread.owner, &self.thread.id).0
    }

    pub fn instructions(mut self, instructions: Vec<ThreadInstruction>) -> Self {
        self.thread.instructions = instructions;
        self
    }

    /// One instruction of four accounts, the shape of a typical crank: the thread PDA
    /// signing, two writable accounts and one read-only, then `data`.
    pub fn crank(self, data: Vec<u8>) -> Self {
        let crank = ThreadInstruction {
            program_id: Pubkey::new_unique(),
            accounts: vec![
                account(self.address(), true, false),
                account(Pubkey::new_unique(), false, true),
                account(Pubkey::new_unique(), false, true),
                account(Pubkey::new_unique(), false, false),
            ],
            data,
        };
        self.instructions(vec![crank])
    }

    pub fn due(mut self, due: Due) -> Self {
        self.thread.next_due = due;
        self
    }

    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.thread.trigger = trigger;
        self
    }

    pub fn paused(mut self, paused: bool) -> Self {
        self.thread.paused = paused;
        self
    }

    pub fn exec_count(mut self, exec_count: u64) -> Self {
        self.thread.exec_count = exec_count;
        self
    }

    /// Durable on a fresh nonce account.
    pub fn durable(self) -> Self {
        self.durable_on(Pubkey::new_unique())
    }

    /// Durable on `nonce_account`, leasable for up to 100 000 slots.
    pub fn durable_on(mut self, nonce_account: Pubkey) -> Self {
        self.thread.durability = Durability::Durable { nonce_account };
        self.thread.max_lease_slots = MAX_LEASE_SLOTS;
        self
    }

    /// A live lease of `holder`'s, from slot 400 to 1,900.
    pub fn leased_to(mut self, holder: Pubkey) -> Self {
        self.thread.lease = Some(Lease {
            holder,
            claimed_slot: 400,
            expires_slot: 1_900,
            bond: 1_500_000,
            revoked_slot: None,
        });
        self
    }

    /// One thread of each trigger kind and each due kind, durable with and without a
    /// lease, paused, rate-limited, executed: the shapes the keeper must read right.
    pub fn varieties() -> Vec<Self> {
        let address = Pubkey::new_unique();
        let mut limited = Self::new().due(Due::At { unix_ts: 10 }).exec_count(4);
        limited.thread.rate_limit = RateLimit {
            max_execs: 2,
            window_slots: 10,
        };
        limited.thread.window_start_slot = 90;
        limited.thread.execs_in_window = 2;
        let leased = Self::new()
            .durable()
            .due(Due::AtSlot { slot: 500 })
            .leased_to(Pubkey::new_unique());
        vec![
            Self::new(),
            Self::new()
                .trigger(Trigger::Timestamp {
                    unix_ts: 1_800_000_000,
                })
                .due(Due::At {
                    unix_ts: 1_800_000_000,
                }),
            Self::new()
                .trigger(Trigger::Interval {
                    seconds: 60,
                    skippable: false,
                })
                .due(Due::At {
                    unix_ts: 1_700_000_060,
                })
                .exec_count(3),
            Self::new()
                .trigger(Trigger::Cron {
                    schedule: "0 */5 * * * * *".to_string(),
                    skippable: true,
                    jitter: 30,
                })
                .due(Due::At {
                    unix_ts: 1_700_000_317,
                }),
            Self::new()
                .trigger(Trigger::Slot { slot: 500 })
                .due(Due::AtSlot { slot: 500 }),
            Self::new()
                .trigger(Trigger::Epoch { epoch: 9 })
                .due(Due::AtEpoch { epoch: 9 }),
            Self::new()
                .trigger(Trigger::Account {
                    address,
                    offset: 8,
                    size: 16,
                })
                .due(Due::OnChange { last_hash: [3; 32] }),
            Self::new()
                .trigger(Trigger::Condition {
                    address,
                    source: ValueSource::PythPrice {
                        feed_id: [9; 32],
                        exponent: -2,
                        max_age_secs: 60,
                    },
                    comparison: Comparison::CrossesBelow,
                    threshold: 15_000,
                })
                .due(Due::OnCondition { armed: true }),
            Self::new()
                .trigger(Trigger::Condition {
                    address,
                    source: ValueSource::Integer {
                        offset: 8,
                        width: 8,
                        signed: false,
                    },
                    comparison: Comparison::AtLeast,
                    threshold: 3,
                })
                .due(Due::OnCondition { armed: true }),
            Self::new().due(Due::Never).exec_count(1),
            Self::new().paused(true),
            Self::new().durable(),
            leased,
            limited,
        ]
    }

    /// The account data: discriminator and borsh layout, as the program writes it.
    pub fn data(&self) -> Vec<u8> {
        let mut data = Vec::new();
        self.thread
            .try_serialize(&mut data)
            .expect("a Thread serializes into a Vec");
        data
    }
}

fn account(pubkey: Pubkey, is_signer: bool, is_writable: bool) -> ThreadAccountMeta {
    ThreadAccountMeta {
        pubkey,
        is_signer,
        is_writable,
    }
}
