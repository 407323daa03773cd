//! Discovery and the scheduler against a real Agave bank with the thread program loaded:
//! threads created by real transactions, found by a scan, removed when deleted, and
//! found due exactly when the program's own `check_due` says so as the bank's clock is
//! warped.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we test against

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::common::ProbedBank;
use keeper::chain::faulty::{FaultyChain, Op};
use keeper::chain::Chain;
use keeper::ops::metrics::Metrics;
use keeper::ops::runway::RunwayWatch;
use keeper::test_utils::bank::{thread_look_alike, BankChainExt, TestBank, TestBankBuilder};
use keeper::tracking::discovery::{
    read_index, shared_index, Discovery, SharedIndex, ThreadChanged,
};
use keeper::tracking::scheduler::Scheduler;
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use thread::schedule::{check_due, ChainTime, Watched};
use thread::state::{Due, Trigger};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The bank's unix time while threads are created.
const T0: i64 = 1_800_000_000;
/// Data of the account the `Account`-trigger threads watch.
const WATCHED_DATA: [u8; 32] = [7; 32];

/// The account the `Account`-trigger threads watch.
const WATCHED: Pubkey = Pubkey::new_from_array([9; 32]);

/// The bank these tests start: the clock at `T0`, the watched account holding
/// [`WATCHED_DATA`].
fn bank_at_t0() -> TestBankBuilder {
    let watched = Account {
        lamports: 1_000_000_000,
        data: WATCHED_DATA.to_vec(),
        owner: Pubkey::new_unique(),
        executable: false,
        rent_epoch: 0,
    };
    TestBank::builder().account(WATCHED, watched).time(T0)
}

/// Replaces the data of the watched account.
async fn write_watched(bank: &TestBank, data: &[u8]) {
    let mut account = bank.chain.existing_account(&WATCHED).await;
    account.data = data.to_vec();
    bank.chain.set_account(&WATCHED, account).await;
}

fn drain(rx: &mut mpsc::Receiver<ThreadChanged>) -> BTreeSet<Pubkey> {
    let mut keys = BTreeSet::new();
    while let Ok(ThreadChanged(key)) = rx.try_recv() {
        keys.insert(key);
    }
    keys
}

mod discovery {
    use super::*;

    /// A scan exports the runway of the threads running low, and only theirs: a thread
    /// with 3 executions' worth of deposit under a threshold of 10, not one with 1 000.
    #[tokio::test]
    async fn a_scan_exports_the_runway_of_threads_running_low_only() {
        let bank = bank_at_t0().start().await;
        let (_, mut args) = bank.thread_args("low", Trigger::Slot { slot: 1_000 });
        args.deposit = 3 * args.fee_per_exec;
        let low = bank.create_thread_with(args).await;
        let plenty = bank
            .create_thread("plenty", Trigger::Slot { slot: 1_000 })
            .await;
        let metrics = Metrics::new();
        let chain: Arc<dyn Chain> = bank.chain;
        let (tx, _rx) = mpsc::channel(16);
        let mut discovery = Discovery::new(chain, shared_index(), tx, Duration::from_secs(1))
            .with_runway(RunwayWatch::new(10, Rent::default(), metrics.clone()));
        discovery.scan().await.unwrap();
        let series: Vec<String> = metrics
            .render()
            .lines()
            .filter(|line| line.starts_with("keeper_thread_runway_executions{"))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            series,
            [format!(
                "keeper_thread_runway_executions{{thread=\"{low}\"}} 3"
            )],
            "{plenty} has 1000 executions left"
        );
    }

    #[tokio::test]
    async fn discovery_finds_threads_created_in_the_bank() {
        let bank = bank_at_t0().start().await;
        let a = bank.create_thread("a", Trigger::Now).await;
        let b = bank.create_thread("b", Trigger::Slot { slot: 1_000 }).await;
        let c = bank
            .create_thread(
                "c",
                Trigger::Account {
                    address: WATCHED,
                    offset: 0,
                    size: 8,
                },
            )
            .await;
        let chain: Arc<dyn Chain> = bank.chain;
        let index = shared_index();
        let (tx, mut rx) = mpsc::channel(16);
        let mut discovery =
            Discovery::new(chain.clone(), index.clone(), tx, Duration::from_secs(1));

        let report = discovery.scan().await.unwrap();
        assert_eq!((report.seen, report.inserted), (3, 3));
        assert!(report.invalid.is_empty());
        assert_eq!(drain(&mut rx), BTreeSet::from([a, b, c]));
        {
            let index = read_index(&index);
            assert_eq!(index.len(), 3);
            assert_eq!(index.get(&a).unwrap().state.next_due, Due::Immediately);
            assert_eq!(
                index.get(&b).unwrap().state.next_due,
                Due::AtSlot { slot: 1_000 }
            );
            assert!(matches!(
                index.get(&c).unwrap().state.next_due,
                Due::OnChange { .. }
            ));
            assert_eq!(index.counts_by_durability().non_durable, 3);
        }

        // Nothing changed: a reconcile notifies nobody.
        let report = discovery.scan().await.unwrap();
        assert_eq!(report.unchanged, 3);
        assert!(drain(&mut rx).is_empty());
    }

    #[tokio::test]
    async fn discovery_drops_a_deleted_thread_on_the_next_reconcile() {
        let bank = bank_at_t0().start().await;
        let kept = bank.create_thread("kept", Trigger::Now).await;
        let gone = bank.create_thread("gone", Trigger::Now).await;
        let index = shared_index();
        let (tx, mut rx) = mpsc::channel(16);
        let chain = Arc::new(bank);
        let discovery = Discovery::new(
            Arc::new(ProbedBank::new(chain.chain.clone())),
            index.clone(),
            tx,
            Duration::from_millis(200),
        );
        let running = RunningDiscovery::spawn(discovery);

        let first = recv_set(&mut rx, 2).await;
        assert_eq!(first, BTreeSet::from([kept, gone]));

        chain.delete_thread(gone).await;
        assert_eq!(chain.chain.get_account(&gone).await.unwrap(), None);
        let next = recv_set(&mut rx, 1).await;
        assert_eq!(next, BTreeSet::from([gone]), "only the deleted one changed");
        {
            let index = read_index(&index);
            assert!(!index.contains(&gone));
            assert!(index.contains(&kept));
        }

        running.stop().await;
    }

    #[tokio::test]
    async fn discovery_follows_pushed_changes_between_reconciles() {
        let bank = Arc::new(bank_at_t0().start().await);
        let before = bank.create_thread("before", Trigger::Now).await;
        let index = shared_index();
        let (tx, mut rx) = mpsc::channel(16);
        let chain = Arc::new(FaultyChain::new(ProbedBank::new(bank.chain.clone()), 1));
        // A reconcile interval no test waits for: whatever arrives after the first scan
        // came through the subscription.
        let discovery =
            Discovery::new(chain.clone(), index.clone(), tx, Duration::from_secs(3_600));
        let running = RunningDiscovery::spawn(discovery);
        assert_eq!(recv_set(&mut rx, 1).await, BTreeSet::from([before]));

        let created = bank
            .create_thread("after", Trigger::Slot { slot: 5_000 })
            .await;
        assert_eq!(recv_set(&mut rx, 1).await, BTreeSet::from([created]));
        assert_eq!(
            read_index(&index).get(&created).unwrap().state.next_due,
            Due::AtSlot { slot: 5_000 }
        );

        bank.pause_thread(created).await;
        assert_eq!(recv_set(&mut rx, 1).await, BTreeSet::from([created]));
        assert!(read_index(&index).get(&created).unwrap().state.paused);

        bank.delete_thread(before).await;
        assert_eq!(recv_set(&mut rx, 1).await, BTreeSet::from([before]));
        assert!(!read_index(&index).contains(&before));
        assert_eq!(
            chain.forwarded(Op::GetProgramAccounts),
            1,
            "one scan at start; the rest was pushed"
        );

        running.stop().await;
    }

    #[tokio::test]
    async fn discovery_reports_a_garbage_thread_account_and_indexes_the_others() {
        let junk = Pubkey::new_unique();
        let junk_account = thread_look_alike(b"\x00\x01 definitely not a thread");
        let bank = bank_at_t0().account(junk, junk_account).start().await;
        bank.chain.watch(junk);
        let a = bank.create_thread("a", Trigger::Now).await;
        let b = bank
            .create_thread("b", Trigger::Timestamp { unix_ts: T0 + 5 })
            .await;

        let index = shared_index();
        let (tx, mut rx) = mpsc::channel(16);
        let mut discovery = Discovery::new(bank.chain, index.clone(), tx, Duration::from_secs(1));
        let report = discovery.scan().await.unwrap();
        assert_eq!(report.seen, 3, "the scan returns the junk account too");
        assert_eq!(report.inserted, 2);
        assert_eq!(report.invalid.len(), 1);
        assert_eq!(report.invalid[0].0, junk);
        assert!(!report.invalid[0].1.is_empty());
        assert_eq!(drain(&mut rx), BTreeSet::from([a, b]));
        assert!(!read_index(&index).contains(&junk));

        // The daemon keeps going: the next reconcile reports it again, changes nothing.
        let report = discovery.scan().await.unwrap();
        assert_eq!((report.unchanged, report.invalid.len()), (2, 1));
        assert_eq!(read_index(&index).len(), 2);
    }

    /// Discovery running in a task of its own, as the daemon runs it.
    struct RunningDiscovery {
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    }

    impl RunningDiscovery {
        fn spawn(discovery: Discovery) -> Self {
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(discovery.run(async move {
                let _ = stopped.await;
            }));
            Self { stop, task }
        }

        /// Asks it to stop; it must within five seconds.
        async fn stop(self) {
            self.stop.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(5), self.task)
                .await
                .expect("discovery stops on shutdown")
                .unwrap();
        }
    }

    async fn recv_set(rx: &mut mpsc::Receiver<ThreadChanged>, n: usize) -> BTreeSet<Pubkey> {
        let mut keys = BTreeSet::new();
        while keys.len() < n {
            let ThreadChanged(key) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a notification within 10 s")
                .expect("discovery running");
            keys.insert(key);
        }
        keys
    }
}

mod scheduler {
    use super::*;

    /// What the program itself would say of each indexed thread, from the whole thread
    /// as the bank holds it (the index keeps only the keeper's view): not paused, and
    /// `check_due` passes with the bank's clock and the watched account's current data.
    async fn due_on_chain(bank: &TestBank, index: &SharedIndex) -> BTreeSet<Pubkey> {
        let now = ChainTime::from(&bank.chain.clock().await.unwrap());
        let watched = bank.chain.existing_account(&WATCHED).await;
        let keys: Vec<Pubkey> = read_index(index).keys().copied().collect();
        let mut due = BTreeSet::new();
        for key in keys {
            let state = bank.chain.thread_state(&key).await;
            let data = matches!(state.trigger, Trigger::Account { .. }).then_some(Watched {
                data: &watched.data,
                owner: &watched.owner,
            });
            if !state.paused && check_due(&state.next_due, &state.trigger, now, data).is_ok() {
                due.insert(key);
            }
        }
        due
    }

    /// 20 threads of every trigger kind, two of them paused; the bank's time, slot,
    /// epoch and watched account move step by step, and after each step the scheduler's
    /// due set must equal both the expected names and the program's own verdict. Each
    /// tick costs one clock call and one account fetch (one watched account), however
    /// many time-triggered threads wait.
    #[tokio::test]
    async fn scheduler_finds_each_thread_due_exactly_when_the_program_does() {
        let bank = bank_at_t0().start().await;
        let start = bank.chain.clock().await.unwrap();
        let (s0, e0) = (start.slot, start.epoch);
        let f1 = bank.chain.first_slot_of_epoch(e0 + 1).await;
        let f2 = bank.chain.first_slot_of_epoch(e0 + 2).await;
        assert!(
            f1 > s0 + 11,
            "epoch {e0} ends after the slot steps ({s0}, {f1})"
        );
        let far = f2 + 10;
        let w = WATCHED;
        let account = |offset, size| Trigger::Account {
            address: w,
            offset,
            size,
        };

        let specs: Vec<(&str, Trigger)> = vec![
            ("now-1", Trigger::Now),
            ("now-2", Trigger::Now),
            ("ts-past", Trigger::Timestamp { unix_ts: T0 - 100 }),
            ("ts-10", Trigger::Timestamp { unix_ts: T0 + 10 }),
            ("ts-20a", Trigger::Timestamp { unix_ts: T0 + 20 }),
            ("ts-20b", Trigger::Timestamp { unix_ts: T0 + 20 }),
            ("ts-40", Trigger::Timestamp { unix_ts: T0 + 40 }),
            ("ts-paused", Trigger::Timestamp { unix_ts: T0 + 10 }),
            (
                "iv-15",
                Trigger::Interval {
                    seconds: 15,
                    skippable: true,
                },
            ),
            (
                "iv-30",
                Trigger::Interval {
                    seconds: 30,
                    skippable: false,
                },
            ),
            ("slot-5", Trigger::Slot { slot: s0 + 5 }),
            ("slot-10a", Trigger::Slot { slot: s0 + 10 }),
            ("slot-10b", Trigger::Slot { slot: s0 + 10 }),
            ("slot-paused", Trigger::Slot { slot: s0 + 5 }),
            ("slot-far", Trigger::Slot { slot: far }),
            ("epoch-1", Trigger::Epoch { epoch: e0 + 1 }),
            ("epoch-2", Trigger::Epoch { epoch: e0 + 2 }),
            ("acct-lo", account(0, 8)),
            ("acct-hi", account(8, 8)),
            ("acct-all", account(0, 32)),
        ];
        assert_eq!(specs.len(), 20);
        let mut names = BTreeMap::new();
        for (name, trigger) in specs {
            let key = bank.create_thread(name, trigger).await;
            names.insert(key, name);
        }
        let by_name: BTreeMap<&str, Pubkey> = names.iter().map(|(k, n)| (*n, *k)).collect();
        bank.pause_thread(by_name["ts-paused"]).await;
        bank.pause_thread(by_name["slot-paused"]).await;
        assert_eq!(
            bank.chain.clock().await.unwrap().slot,
            s0,
            "all created in one slot"
        );

        let bank = Arc::new(bank);
        let faulty = Arc::new(FaultyChain::new(ProbedBank::new(bank.chain.clone()), 7));
        let index = shared_index();
        let (tx, _rx) = mpsc::channel(64);
        let mut discovery =
            Discovery::new(faulty.clone(), index.clone(), tx, Duration::from_secs(1));
        assert_eq!(discovery.scan().await.unwrap().inserted, 20);
        let mut scheduler = Scheduler::default();
        scheduler.load(&index);
        assert_eq!(scheduler.len(), 20);
        assert_eq!(scheduler.account_trigger_threads(), 3);

        let mut expected: BTreeSet<&str> = BTreeSet::from(["now-1", "now-2", "ts-past"]);
        let mut ticks = 0u64;
        let clock_calls = faulty.forwarded(Op::Clock);
        let fetches = faulty.forwarded(Op::GetMultipleAccounts);
        let mut check = async |step: &str, expected: &BTreeSet<&str>| {
            let (issued, stats) = scheduler.tick_on(faulty.as_ref()).await.unwrap();
            ticks += 1;
            assert_eq!((stats.rpc_calls, stats.account_fetches), (2, 1), "{step}");
            let issued: BTreeSet<Pubkey> = issued.into_iter().collect();
            let got: BTreeSet<&str> = issued.iter().map(|k| names[k]).collect();
            assert_eq!(&got, expected, "scheduler at step {step}");
            let oracle: BTreeSet<&str> = due_on_chain(&bank, &index)
                .await
                .iter()
                .map(|k| names[k])
                .collect();
            assert_eq!(oracle, got, "the program disagrees at step {step}");
        };

        check("start", &expected).await;
        for (ts, newly) in [
            (T0 + 9, vec![]),
            (T0 + 10, vec!["ts-10"]),
            (T0 + 14, vec![]),
            (T0 + 15, vec!["iv-15"]),
            (T0 + 19, vec![]),
            (T0 + 20, vec!["ts-20a", "ts-20b"]),
            (T0 + 29, vec![]),
            (T0 + 30, vec!["iv-30"]),
            (T0 + 39, vec![]),
            (T0 + 40, vec!["ts-40"]),
        ] {
            bank.chain.set_time(ts).await;
            expected.extend(newly);
            check(&format!("unix time T0+{}", ts - T0), &expected).await;
        }
        for (slot, newly) in [
            (s0 + 4, vec![]),
            (s0 + 5, vec!["slot-5"]),
            (s0 + 9, vec![]),
            (s0 + 10, vec!["slot-10a", "slot-10b"]),
        ] {
            bank.chain.warp_to_keeping_time(slot).await;
            expected.extend(newly);
            check(&format!("slot s0+{}", slot - s0), &expected).await;
        }

        let mut data = WATCHED_DATA;
        data[10] = 0;
        write_watched(&bank, &data).await;
        let mut changed = expected.clone();
        changed.extend(["acct-hi", "acct-all"]);
        check("watched bytes 8..16 changed", &changed).await;
        write_watched(&bank, &WATCHED_DATA).await;
        check("watched account changed back", &expected).await;
        data = WATCHED_DATA;
        data[3] = 1;
        write_watched(&bank, &data).await;
        let mut changed = expected.clone();
        changed.extend(["acct-lo", "acct-all"]);
        check("watched bytes 0..8 changed", &changed).await;
        write_watched(&bank, &WATCHED_DATA).await;
        check("watched account restored", &expected).await;

        for (slot, newly) in [
            (f1 - 1, vec![]),
            (f1, vec!["epoch-1"]),
            (f2 - 1, vec![]),
            (f2, vec!["epoch-2"]),
            (far - 1, vec![]),
            (far, vec!["slot-far"]),
        ] {
            bank.chain.warp_to_keeping_time(slot).await;
            expected.extend(newly);
            check(&format!("slot {slot}"), &expected).await;
        }
        assert_eq!(
            expected.len(),
            15,
            "every time, slot and epoch thread but the paused ones (the account threads \
             were due while their range differed)"
        );
        assert_eq!(bank.chain.clock().await.unwrap().epoch, e0 + 2);

        assert_eq!(faulty.forwarded(Op::Clock) - clock_calls, ticks);
        assert_eq!(faulty.forwarded(Op::GetMultipleAccounts) - fetches, ticks);
    }
}
