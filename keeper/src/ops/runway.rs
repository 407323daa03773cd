//! How many executions each thread's balance still pays for, exported only for threads
//! that are running low: `keeper_thread_runway_executions{thread}`.
//!
//! Why only low ones: a keeper tracks every thread of the program, and one series per
//! thread would make the metric's cardinality the size of the program. A thread gets a
//! series when its runway drops below the threshold, and loses it when it is topped up,
//! paused (it pays nothing while paused), finished, or no longer a thread.
//!
//! Owns: the runway rule (spare balance over the fee: what `exec_thread` spends, the
//! same figure `keeper explain` prints) and which threads have a series. Must not: read
//! the chain (discovery hands it the accounts it already read).

use std::collections::HashSet;
use std::sync::Arc;

use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use thread::state::{Due, Thread};

use crate::chain::KeyedAccount;
use crate::ops::metrics::Metrics;
use crate::tracking::index::decode;

/// Executions a thread's balance pays for: its spare balance (above rent and a held
/// lease's bond) over its fee; `None` when executions are free.
pub fn runway(thread: &Thread, lamports: u64, rent_minimum: u64) -> Option<u64> {
    let spare = lamports.saturating_sub(thread.reserve_at(rent_minimum));
    spare.checked_div(thread.fee_per_exec)
}

/// The threads below a runway threshold, kept in step with their gauge series.
pub struct RunwayWatch {
    /// A thread with fewer executions left than this gets a series; 0 turns it off.
    threshold: u64,
    rent: Rent,
    metrics: Arc<Metrics>,
    low: HashSet<Pubkey>,
}

impl RunwayWatch {
    pub fn new(threshold: u64, rent: Rent, metrics: Arc<Metrics>) -> Self {
        Self {
            threshold,
            rent,
            metrics,
            low: HashSet::new(),
        }
    }

    /// A complete view of the program's accounts: every thread's runway, and the series
    /// of threads it no longer shows dropped.
    pub fn observe_all(&mut self, accounts: &[KeyedAccount]) {
        let seen: HashSet<Pubkey> = accounts.iter().map(|keyed| keyed.pubkey).collect();
        let gone: Vec<Pubkey> = self.low.difference(&seen).copied().collect();
        for key in gone {
            self.clear(&key);
        }
        for keyed in accounts {
            self.observe(&keyed.pubkey, &keyed.account);
        }
    }

    /// One account as it is now (a closed or foreign one clears its series).
    pub fn observe(&mut self, key: &Pubkey, account: &Account) {
        let low = decode(&account.data).ok().and_then(|thread| {
            // A paused or finished thread spends nothing: it is not running out.
            if thread.paused || thread.next_due == Due::Never || account.owner != thread::ID {
                return None;
            }
            let left = runway(
                &thread,
                account.lamports,
                self.rent.minimum_balance(account.data.len()),
            )?;
            (left < self.threshold).then_some(left)
        });
        match low {
            Some(left) => {
                self.metrics
                    .thread_runway
                    .with_label_values(&[&key.to_string()])
                    .set(i64::try_from(left).unwrap_or(i64::MAX));
                self.low.insert(*key);
            }
            None => self.clear(key),
        }
    }

    fn clear(&mut self, key: &Pubkey) {
        if self.low.remove(key) {
            // Removing a series that was never set is an error of the library only.
            let _ = self
                .metrics
                .thread_runway
                .remove_label_values(&[&key.to_string()]);
        }
    }

    /// Threads with a series now.
    pub fn low_threads(&self) -> usize {
        self.low.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::thread::ThreadFixture;

    /// `fixture`'s account holding rent and then `lamports`.
    fn account(fixture: &ThreadFixture, lamports: u64) -> Account {
        let data = fixture.data();
        Account {
            lamports: Rent::default().minimum_balance(data.len()) + lamports,
            data,
            owner: thread::ID,
            executable: false,
            rent_epoch: 0,
        }
    }

    fn series(metrics: &Metrics) -> Vec<String> {
        metrics
            .render()
            .lines()
            .filter(|line| line.starts_with("keeper_thread_runway_executions{"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn only_threads_below_the_threshold_have_a_series_until_they_recover_or_go() {
        let metrics = Metrics::new();
        let mut watch = RunwayWatch::new(10, Rent::default(), metrics.clone());
        let fee = ThreadFixture::new().thread.fee_per_exec;
        assert!(fee > 0);
        let (low, high) = (Pubkey::new_unique(), Pubkey::new_unique());
        let thread = ThreadFixture::new();
        watch.observe_all(&[
            KeyedAccount {
                pubkey: low,
                account: account(&thread, 3 * fee),
            },
            KeyedAccount {
                pubkey: high,
                account: account(&thread, 50 * fee),
            },
        ]);
        assert_eq!(
            series(&metrics),
            [format!(
                "keeper_thread_runway_executions{{thread=\"{low}\"}} 3"
            )]
        );

        // Topped up: the series goes.
        watch.observe(&low, &account(&thread, 40 * fee));
        assert!(series(&metrics).is_empty());

        // Low again, then paused: a paused thread spends nothing.
        watch.observe(&low, &account(&thread, fee));
        assert_eq!(watch.low_threads(), 1);
        let paused = ThreadFixture::new().paused(true);
        watch.observe(&low, &account(&paused, fee));
        assert!(series(&metrics).is_empty());

        // Low, then gone from a complete view.
        watch.observe(&low, &account(&thread, fee));
        watch.observe_all(&[]);
        assert!(series(&metrics).is_empty());
        assert_eq!(watch.low_threads(), 0);
    }

    #[test]
    fn the_runway_is_the_spare_balance_over_the_fee_and_free_threads_have_none() {
        let mut thread = ThreadFixture::new().thread;
        thread.fee_per_exec = 1_000;
        assert_eq!(runway(&thread, 10_500, 500), Some(10));
        assert_eq!(runway(&thread, 400, 500), Some(0));
        thread.fee_per_exec = 0;
        assert_eq!(runway(&thread, 10_500, 500), None);
    }
}
