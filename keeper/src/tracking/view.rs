//! [`ThreadView`]: the part of a thread account the keeper keeps in memory for each
//! tracked thread.
//!
//! Why: a keeper tracks every thread of the program, so what it keeps per thread is
//! multiplied by tens of thousands. The goal is under 1 KiB per tracked thread for the
//! whole daemon (README, Benchmarks); keeping the decoded [`Thread`] took 655 B a thread in
//! the index alone. The view is a fixed-size `Copy` value with nothing on the heap.
//!
//! Owns: which fields of [`Thread`] the keeper reads between chain reads, under the
//! same names, and the one value derived from several of them
//! ([`ThreadView::rate_limited_until_slot`]). Built only by [`ThreadView::of`], from a
//! decoded account.
//!
//! Leaves out, deliberately: the owner and id (the index is keyed by address), the
//! stored instructions, the fee, the trigger's parameters (`next_due` already says when
//! the thread is due; only what an `Account` or `Condition` trigger watches is kept, as
//! [`ThreadView::watch`]; a `Cron` expression would be a heap string), the rate limit's
//! window (reduced to the slot it lets the thread run again), the lease's bond and slots
//! (only its holder), `schedule_base`, `max_lease_slots`, the last execution and the
//! creation time. What needs them reads the whole thread from the chain first, which is
//! also the fresher copy: the executor before it builds `exec_thread`, the lease manager
//! before it claims, renews or releases.
//!
//! Must not: gain a `Vec`, `String` or other heap field (each costs every tracked
//! thread; the view is `Copy` so that one does not compile, and
//! `index::tests::typical_thread_stays_under_one_kib` measures an entry), or read the
//! chain.

use anchor_lang::prelude::err;
use solana_sdk::pubkey::Pubkey;
use thread::condition::Condition;
use thread::errors::ThreadError;
use thread::schedule::condition_of;
use thread::state::{Due, Durability, Thread, ThreadPriority, Trigger};

/// What the keeper keeps of one thread (see the module docs). Field names are the
/// [`Thread`]'s where the value is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadView {
    /// When the thread is next due (`Thread::next_due`).
    pub next_due: Due,
    /// Completed executions (`Thread::exec_count`): the execution a due thread is issued
    /// for.
    pub exec_count: u64,
    /// The first slot the thread's rate limit lets it execute in again (0 when it is not
    /// limited): `exec_thread` refuses it with `RateLimited` before then.
    pub rate_limited_until_slot: u64,
    /// What an `Account` or `Condition` trigger watches (`None` for other triggers).
    pub watch: Option<Watch>,
    /// Recent-blockhash or durable-nonce executions (`Thread::durability`).
    pub durability: Durability,
    /// Who holds the nonce authority lease, if anyone (`Thread::lease`, holder only).
    pub lease: Option<LeaseHolder>,
    /// A paused thread is never due (`Thread::paused`).
    pub paused: bool,
    /// The owner's priority for executions (`Thread::priority`).
    pub priority: Option<ThreadPriority>,
}

/// The account an `Account` or `Condition` trigger watches, and what it looks for there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub address: Pubkey,
    pub looks_for: LooksFor,
}

impl Watch {
    /// What a trigger watches, if it watches an account.
    pub fn of(trigger: &Trigger) -> Option<Self> {
        match *trigger {
            Trigger::Account {
                address,
                offset,
                size,
            } => Some(Watch {
                address,
                looks_for: LooksFor::Change { offset, size },
            }),
            _ => condition_of(trigger).map(|(address, condition)| Watch {
                address,
                looks_for: LooksFor::Condition(condition),
            }),
        }
    }
}

/// What a watched account is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LooksFor {
    /// A change of the bytes `offset..offset + size` (an `Account` trigger).
    Change { offset: u32, size: u32 },
    /// A value meeting a condition (a `Condition` trigger).
    Condition(Condition),
}

/// The keeper holding a thread's lease, and the first slot it no longer lets the holder
/// execute (its expiry; 0 once revoked): enough to route a fleet's work to the holder
/// while the lease lasts. Everything else about it is read from the chain when it
/// matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: Pubkey,
    pub live_until_slot: u64,
}

impl LeaseHolder {
    /// Whether the holder may still execute at `slot`, as far as this view knows.
    pub fn is_live(&self, slot: u64) -> bool {
        slot < self.live_until_slot
    }
}

impl ThreadView {
    /// The view of a decoded thread.
    pub fn of(thread: &Thread) -> Self {
        let rate_limited_until_slot = thread.rate_limited_until_slot();
        let watch = Watch::of(&thread.trigger);
        Self {
            next_due: thread.next_due,
            exec_count: thread.exec_count,
            rate_limited_until_slot,
            watch,
            durability: thread.durability,
            lease: thread.lease.map(|lease| LeaseHolder {
                holder: lease.holder,
                live_until_slot: if lease.revoked_slot.is_some() {
                    0
                } else {
                    lease.expires_slot
                },
            }),
            paused: thread.paused,
            priority: thread.priority,
        }
    }

    /// The nonce account of a durable thread, as `Thread::nonce_account` answers.
    pub fn nonce_account(&self) -> anchor_lang::Result<Pubkey> {
        match self.durability {
            Durability::Durable { nonce_account } => Ok(nonce_account),
            Durability::NonDurable => err!(ThreadError::NotDurable),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use thread::state::{Lease, RateLimit};

    use super::*;
    use crate::test_utils::thread::ThreadFixture;
    use crate::tracking::index::decode;

    /// Decodes the account bytes the way the index does, so the view is built from what
    /// the program wrote, not from the fixture's in-memory value.
    fn view_of(fixture: &ThreadFixture) -> (Thread, ThreadView) {
        let thread = decode(&fixture.data()).unwrap();
        let view = ThreadView::of(&thread);
        (thread, view)
    }

    #[test]
    fn view_agrees_with_the_thread_on_every_field_the_keeper_reads() {
        for fixture in ThreadFixture::varieties() {
            let (thread, view) = view_of(&fixture);
            let name = format!("{:?} / {:?}", thread.trigger, thread.next_due);
            assert_eq!(view.next_due, thread.next_due, "{name}");
            assert_eq!(view.exec_count, thread.exec_count, "{name}");
            assert_eq!(view.paused, thread.paused, "{name}");
            assert_eq!(view.durability, thread.durability, "{name}");
            assert_eq!(
                view.nonce_account().ok(),
                thread.nonce_account().ok(),
                "{name}"
            );
            assert_eq!(
                view.lease.map(|l| l.holder),
                thread.lease.map(|l| l.holder),
                "{name}"
            );
            let watched = match thread.trigger {
                Trigger::Account {
                    address,
                    offset,
                    size,
                } => Some((address, LooksFor::Change { offset, size })),
                Trigger::Condition {
                    address,
                    source,
                    comparison,
                    threshold,
                } => Some((
                    address,
                    LooksFor::Condition(Condition {
                        source,
                        comparison,
                        threshold,
                    }),
                )),
                _ => None,
            };
            assert_eq!(
                view.watch.map(|w| (w.address, w.looks_for)),
                watched,
                "{name}"
            );
        }
    }

    /// The one derived field, checked against the program's own rule: before
    /// `rate_limited_until_slot` `record_in_window` refuses the thread, from it on it
    /// lets the thread run. 0 means it would run at any slot after the window opened.
    #[test]
    fn view_rate_limit_ends_where_the_program_lets_the_thread_run_again() {
        let cases = [
            // (max_execs, window_slots, window_start_slot, execs_in_window)
            (1, 1, 7, 1),
            (1, 1, 7, 0),
            (3, 10, 100, 2),
            (3, 10, 100, 3),
            (2, 50, 0, 2),
            (1, u64::MAX, 5, 1),
        ];
        for (max_execs, window_slots, start, execs) in cases {
            let mut fixture = ThreadFixture::new();
            fixture.thread.rate_limit = RateLimit {
                max_execs,
                window_slots,
            };
            fixture.thread.window_start_slot = start;
            fixture.thread.execs_in_window = execs;
            let (thread, view) = view_of(&fixture);
            let until = view.rate_limited_until_slot;
            let runs_at = |slot: u64| thread.clone().record_in_window(slot).is_ok();
            let case = (max_execs, window_slots, start, execs);
            if until == 0 {
                assert!(runs_at(start), "{case:?}: not limited");
            } else {
                assert!(!runs_at(until - 1), "{case:?}: still limited");
                if until < u64::MAX {
                    assert!(runs_at(until), "{case:?}: the next window");
                }
            }
        }
    }

    #[test]
    fn view_keeps_only_the_lease_holder_and_answers_nonce_account_like_the_thread() {
        let holder = Pubkey::new_unique();
        let mut fixture = ThreadFixture::new().durable();
        fixture.thread.lease = Some(Lease {
            holder,
            claimed_slot: 10,
            expires_slot: 1_510,
            bond: 1_000_000,
            revoked_slot: None,
        });
        let (thread, view) = view_of(&fixture);
        let lease = thread.lease.unwrap();
        assert_eq!(
            view.lease,
            Some(LeaseHolder {
                holder,
                live_until_slot: lease.expires_slot
            })
        );
        assert!(view.lease.unwrap().is_live(lease.expires_slot - 1));
        assert!(!view.lease.unwrap().is_live(lease.expires_slot));
        assert_eq!(
            view.nonce_account().unwrap(),
            thread.nonce_account().unwrap()
        );

        let (thread, view) = view_of(&ThreadFixture::new());
        assert_eq!(view.lease, None);
        let (ours, theirs) = (
            view.nonce_account().unwrap_err(),
            thread.nonce_account().unwrap_err(),
        );
        assert_eq!(ours, theirs, "the same error: NotDurable");
    }

    /// The reason the view exists. Being `Copy` already keeps heap fields out (a `Vec`
    /// or `String` would not compile here); this pins the size: 232 B since a
    /// `Condition` trigger's parameters joined the watch (the keeper judges a condition
    /// as the program does, so it keeps the feed id, comparison and threshold; 184 B
    /// before, when it was at most half a `Thread`). A decoded `Thread` also owns heap
    /// (its id, instructions, a cron string, lookup tables) beyond its `size_of`.
    #[test]
    fn view_is_a_small_fixed_size_value() {
        fn copy<T: Copy>() {}
        copy::<ThreadView>();
        println!(
            "size_of::<ThreadView>() = {}, size_of::<Thread>() = {}",
            size_of::<ThreadView>(),
            size_of::<Thread>()
        );
        assert!(
            size_of::<ThreadView>() <= 232,
            "{}",
            size_of::<ThreadView>()
        );
        assert!(
            size_of::<ThreadView>() * 3 <= size_of::<Thread>() * 2,
            "at most two thirds of a Thread before its heap"
        );
    }
}
