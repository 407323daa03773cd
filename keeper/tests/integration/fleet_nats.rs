//! The fleet's work queue against a real nats-server with JetStream (started by the
//! tests on loopback, see `common/nats.rs`): each due time stored once whoever publishes
//! it; one submitter per delivery, a lease holder's executions to it alone; a delivery
//! left unsettled (a submitter killed mid-execution) coming back to another after
//! `ack_wait`; retries after their delay, then the dead-letter stream with the reason;
//! a message that is not an execution dead-lettered at once; dead letters retried and
//! purged fleet-wide; a new leader reading the in-flight set from the stream, and
//! executions rerouted to a lease holder; auth; and an outage: a failed publish is
//! "unknown", a republish is safe, a restart loses nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use keeper::execution::builder::priority::ExecutionPriority;
use keeper::fleet::{Drained, FleetConfig, Handed, Published, Publisher, WorkItem, WorkQueue};
use solana_sdk::pubkey::Pubkey;

use crate::common::nats::Nats;
use crate::common::tls::TestCa;

fn item(exec_count: u64, submitter: Option<Pubkey>) -> WorkItem {
    WorkItem {
        thread: Pubkey::new_unique(),
        exec_count,
        submitter,
        priority: ExecutionPriority::Medium,
    }
}

/// Waits at most this long for the first delivery of a fetch.
const WAIT: Duration = Duration::from_millis(500);

async fn queue(config: &FleetConfig) -> WorkQueue {
    WorkQueue::connect(config).await.expect("connected")
}

/// A leader's publisher on `queue`, with a spool of its own (an in-memory store).
fn leader(queue: WorkQueue) -> Publisher {
    Publisher::new(queue, keeper::store::Store::open_in_memory().unwrap())
}

/// Everything the work stream's shared subject holds, each delivery settled as done.
async fn take_all(queue: &WorkQueue) -> Vec<WorkItem> {
    let submitter = queue.submitter(&Pubkey::new_unique()).await.unwrap();
    let mut taken = Vec::new();
    loop {
        let batch = submitter.next(10, Duration::from_secs(2)).await.unwrap();
        if batch.is_empty() {
            return taken;
        }
        for delivery in batch {
            taken.push(delivery.item);
            delivery.done().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_time_is_stored_once_whoever_publishes_it() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let leader = queue(&nats.config()).await;
    let next_leader = queue(&nats.config()).await;
    let due = item(3, None);

    assert!(matches!(
        leader.publish(&due).await.unwrap(),
        Published::New(_)
    ));
    assert_eq!(leader.publish(&due).await.unwrap(), Published::Duplicate);
    assert_eq!(
        next_leader.publish(&due).await.unwrap(),
        Published::Duplicate
    );
    let next_due_time = WorkItem {
        exec_count: 4,
        ..due
    };
    assert!(matches!(
        next_leader.publish(&next_due_time).await.unwrap(),
        Published::New(_)
    ));

    let submitter = leader.submitter(&Pubkey::new_unique()).await.unwrap();
    let got = submitter.next(10, WAIT).await.unwrap();
    let counts: Vec<u64> = got.iter().map(|d| d.item.exec_count).collect();
    assert_eq!(counts, [3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_execution_goes_to_one_submitter_and_a_lease_holders_to_it_alone() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let queue = queue(&nats.config()).await;
    let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
    let shared: Vec<WorkItem> = (0..20).map(|n| item(n, None)).collect();
    let for_a: Vec<WorkItem> = (0..5).map(|n| item(n, Some(a))).collect();
    for due in shared.iter().chain(&for_a) {
        queue.publish(due).await.unwrap();
    }
    let (sub_a, sub_b) = (
        queue.submitter(&a).await.unwrap(),
        queue.submitter(&b).await.unwrap(),
    );

    let mut seen_by_a = Vec::new();
    let mut seen_by_b = Vec::new();
    loop {
        let (got_a, got_b) = (
            sub_a.next(4, WAIT).await.unwrap(),
            sub_b.next(4, WAIT).await.unwrap(),
        );
        if got_a.is_empty() && got_b.is_empty() {
            break;
        }
        for (got, seen) in [(got_a, &mut seen_by_a), (got_b, &mut seen_by_b)] {
            for delivery in got {
                assert_eq!(delivery.attempt, 1);
                seen.push(delivery.item);
                delivery.done().await.unwrap();
            }
        }
    }
    let all: Vec<WorkItem> = seen_by_a.iter().chain(&seen_by_b).copied().collect();
    let unique: BTreeSet<String> = all.iter().map(WorkItem::message_id).collect();
    assert_eq!(all.len(), 25, "every execution delivered");
    assert_eq!(unique.len(), 25, "none twice");
    assert!(
        seen_by_b.iter().all(|i| i.submitter.is_none()),
        "a's own stay with a"
    );
    assert!(!seen_by_b.is_empty(), "the shared subject is shared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_left_unsettled_comes_back_to_another_submitter_after_ack_wait() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let config = FleetConfig {
        ack_wait_secs: 1,
        ..nats.config()
    };
    let queue = queue(&config).await;
    let due = item(0, None);
    queue.publish(&due).await.unwrap();
    let killed = queue.submitter(&Pubkey::new_unique()).await.unwrap();
    let taken = killed.next(1, WAIT).await.unwrap();
    assert_eq!(taken.len(), 1);
    // The submitter dies holding it: never settled.
    drop(taken);
    drop(killed);

    let survivor = queue.submitter(&Pubkey::new_unique()).await.unwrap();
    assert!(
        survivor
            .next(1, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty(),
        "not before ack_wait"
    );
    let again = survivor.next(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].item, due);
    assert_eq!(again[0].attempt, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_come_after_their_delay_and_the_last_is_dead_lettered_with_its_reason() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let config = FleetConfig {
        max_deliver: 2,
        ..nats.config()
    };
    let queue = queue(&config).await;
    let due = item(9, None);
    queue.publish(&due).await.unwrap();
    let me = Pubkey::new_unique();
    let submitter = queue.submitter(&me).await.unwrap();

    let first = submitter.next(1, WAIT).await.unwrap().pop().unwrap();
    assert!(!first.is_last());
    first
        .retry_in(Duration::from_millis(300), "blockhash expired")
        .await
        .unwrap();
    assert!(
        submitter
            .next(1, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty(),
        "not before its delay"
    );
    let second = submitter
        .next(1, Duration::from_secs(5))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(second.attempt, 2);
    assert!(second.is_last());
    second
        .retry_in(
            Duration::from_millis(300),
            "simulation failed: custom program error: 0x1785",
        )
        .await
        .unwrap();
    assert!(
        submitter
            .next(1, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty(),
        "ended"
    );

    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.item, Some(due));
    assert_eq!(
        letter.reason,
        "simulation failed: custom program error: 0x1785"
    );
    assert_eq!(letter.attempts, 2);
    assert_eq!(letter.keeper, me.to_string());

    // Every keeper sees it; a retry puts it back, fresh, and empties the queue.
    let other = self::queue(&config).await;
    assert_eq!(other.dead_letters().await.unwrap(), letters);
    assert_eq!(other.retry_dead_letter(letter.id).await.unwrap(), due);
    assert!(queue.dead_letters().await.unwrap().is_empty());
    let back = submitter
        .next(1, Duration::from_secs(5))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!((back.item, back.attempt), (due, 1));
    back.dead_letter("given up by hand").await.unwrap();
    let id = queue.dead_letters().await.unwrap()[0].id;
    queue.purge_dead_letter(id).await.unwrap();
    assert!(queue.dead_letters().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_an_execution_is_dead_lettered_at_once_with_its_text() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let config = nats.config();
    let queue = queue(&config).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish("thread.work.any.junk.1", "{\"thread\": 42}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let good = item(1, None);
    queue.publish(&good).await.unwrap();

    let submitter = queue.submitter(&Pubkey::new_unique()).await.unwrap();
    let got = submitter.next(10, WAIT).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.item).collect::<Vec<_>>(),
        [good],
        "the poison is not handed out"
    );
    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].item, None);
    assert!(
        letters[0].reason.contains("not an execution"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[0].reason.contains("\\\"thread\\\": 42"),
        "{}",
        letters[0].reason
    );
    let refused = queue.retry_dead_letter(letters[0].id).await.unwrap_err();
    assert!(refused.to_string().contains("purge it"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_when_the_server_asks_and_a_wrong_password_is_named() {
    let Some(nats) = Nats::start_with_password("keeper", "s3cret-pass").await else {
        return;
    };
    let config = nats.config();
    let queue = queue(&config).await;
    assert!(matches!(
        queue.publish(&item(0, None)).await.unwrap(),
        Published::New(_)
    ));

    let wrong = config
        .password_file
        .clone()
        .unwrap()
        .with_file_name("wrong");
    std::fs::write(&wrong, "not-it\n").unwrap();
    let refused = WorkQueue::connect(&FleetConfig {
        password_file: Some(wrong),
        ..config.clone()
    })
    .await
    .err()
    .expect("refused");
    assert_eq!(refused.kind(), "fleet_connect");
    assert!(refused.to_string().contains(&nats.url()), "{refused}");
    let anonymous = WorkQueue::connect(&FleetConfig {
        user: None,
        password_file: None,
        ..config
    })
    .await
    .err()
    .expect("refused");
    assert_eq!(anonymous.kind(), "fleet_connect");
}

/// During an outage a publish fails, but the client may still deliver it once the server
/// is back: "failed" means "unknown". Publishing the same due time again (as a spool
/// does) is safe, since the stream keeps one per message id; nothing stored before the
/// outage is lost across the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_is_a_typed_error_a_republish_is_safe_and_a_restart_loses_nothing() {
    let Some(mut nats) = Nats::start().await else {
        return;
    };
    let config = FleetConfig {
        request_timeout_ms: 1_000,
        ..nats.config()
    };
    let queue = queue(&config).await;
    let before = item(5, None);
    queue.publish(&before).await.unwrap();

    nats.kill();
    let during = item(6, None);
    let down = queue.publish(&during).await.unwrap_err();
    assert_eq!(down.kind(), "fleet_jetstream");
    let unreachable = WorkQueue::connect(&config)
        .await
        .err()
        .expect("nothing listens");
    assert_eq!(unreachable.kind(), "fleet_connect");

    nats.spawn().await;
    let queue = self::queue(&config).await;
    queue.publish(&during).await.unwrap();
    let mut got: Vec<u64> = take_all(&queue)
        .await
        .iter()
        .map(|i| i.exec_count)
        .collect();
    got.sort();
    assert_eq!(
        got,
        [5, 6],
        "the one from before kept on disk, the one from during once"
    );
}

/// NATS stops for a while: what the leader hands over meanwhile is spooled in its store
/// (once per due time however often it is handed over), a drain while NATS is still
/// down publishes nothing and keeps everything, and the drain once it is back leaves the
/// spool empty and the work stream with every due time exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_nats_is_down_executions_are_spooled_and_drained_once_it_is_back() {
    let Some(mut nats) = Nats::start().await else {
        return;
    };
    let config = FleetConfig {
        request_timeout_ms: 500,
        ..nats.config()
    };
    let store = keeper::store::Store::open_in_memory().unwrap();
    let publisher = Publisher::new(queue(&config).await, store.clone());
    let before = item(1, None);
    assert!(matches!(
        publisher.hand_over(&before).await.unwrap(),
        Handed::Published(_)
    ));

    nats.kill();
    let during: Vec<WorkItem> = (2..5).map(|n| item(n, None)).collect();
    for due in during.iter().chain(&during) {
        assert_eq!(publisher.hand_over(due).await.unwrap(), Handed::Spooled);
    }
    assert_eq!(store.spool_len().unwrap(), 3, "one per due time");
    let still_down = publisher.drain().await.unwrap();
    assert_eq!(
        still_down,
        Drained {
            published: 0,
            left: 3
        }
    );

    nats.spawn().await;
    let queue = self::queue(&config).await;
    let drained = Publisher::new(queue.clone(), store.clone())
        .drain()
        .await
        .unwrap();
    assert_eq!(
        drained,
        Drained {
            published: 3,
            left: 0
        }
    );
    let mut got: Vec<String> = take_all(&queue)
        .await
        .iter()
        .map(WorkItem::message_id)
        .collect();
    got.sort();
    let mut expected: Vec<String> = std::iter::once(&before)
        .chain(&during)
        .map(WorkItem::message_id)
        .collect();
    expected.sort();
    assert_eq!(got, expected, "every due time once");
}

/// `keeper dlq --fleet`: the real binary lists, shows, retries and purges the fleet's
/// dead letters (the keeper config file names the NATS server), and refuses without a
/// fleet configured, naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_dlq_fleet_lists_shows_retries_and_purges_the_fleets_dead_letters() {
    use crate::home::{stderr, stdout, Home};

    let Some(nats) = Nats::start().await else {
        return;
    };
    let config = FleetConfig {
        max_deliver: 1,
        ..nats.config()
    };
    let queue = queue(&config).await;
    let (first, second) = (item(3, None), item(8, None));
    for due in [&first, &second] {
        queue.publish(due).await.unwrap();
    }
    let submitter = queue.submitter(&Pubkey::new_unique()).await.unwrap();
    for delivery in submitter.next(2, WAIT).await.unwrap() {
        delivery
            .retry_in(
                Duration::from_secs(1),
                "simulation failed: the test's reason",
            )
            .await
            .unwrap();
    }
    let ids: Vec<u64> = queue
        .dead_letters()
        .await
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids.len(), 2);

    let home = Home::new();
    let file = home.write(
        "keeper.toml",
        format!("[daemon.fleet]\nnats_urls = [\"{}\"]\n", nats.url()).as_bytes(),
    );
    let file = file.to_str().unwrap().to_string();
    let keeper = |args: &[&str]| {
        let mut all = vec!["--config", file.as_str(), "dlq", "--fleet"];
        all.extend_from_slice(args);
        home.command(&all, &[]).output().unwrap()
    };

    let listed = keeper(&["list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(text.contains(&first.thread.to_string()), "{text}");
    assert!(
        text.contains("simulation failed: the test's reason"),
        "{text}"
    );
    assert!(text.contains("2 in the fleet's stream"), "{text}");
    let shown = keeper(&["show", &ids[0].to_string()]);
    assert!(
        stdout(&shown).contains("exec count  3 (run #4)"),
        "{}",
        stdout(&shown)
    );

    let retried = keeper(&["retry", &ids[0].to_string()]);
    assert!(retried.status.success(), "{}", stderr(&retried));
    let back = submitter.next(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(back.iter().map(|d| d.item).collect::<Vec<_>>(), [first]);
    let purged = keeper(&["purge", &ids[1].to_string()]);
    assert!(purged.status.success(), "{}", stderr(&purged));
    assert!(queue.dead_letters().await.unwrap().is_empty());

    let unknown = keeper(&["show", "999"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("keeper dlq --fleet list"),
        "{}",
        stderr(&unknown)
    );
    let alone = home
        .command(&["dlq", "--fleet", "list"], &[])
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(1));
    assert!(
        stderr(&alone).contains("daemon.fleet.nats_urls"),
        "{}",
        stderr(&alone)
    );
}

/// A due time the fleet gave up on (in the dead-letter stream) is not handed over again
/// by any leader, until an operator retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_due_time_is_not_handed_over_again_until_retried() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let config = FleetConfig {
        max_deliver: 1,
        ..nats.config()
    };
    let queue = queue(&config).await;
    let publisher = leader(queue.clone());
    let due = item(2, None);
    let other = item(2, None);
    assert!(matches!(
        publisher.hand_over(&due).await.unwrap(),
        Handed::Published(Published::New(_))
    ));
    let submitter = queue.submitter(&Pubkey::new_unique()).await.unwrap();
    let delivery = submitter.next(1, WAIT).await.unwrap().pop().unwrap();
    delivery
        .retry_in(Duration::from_secs(1), "simulation failed")
        .await
        .unwrap();
    assert_eq!(
        queue.depths().await.unwrap(),
        (0, 1),
        "none pending, one dead"
    );
    assert!(queue.is_dead_lettered(&due).await.unwrap());
    assert!(
        !queue.is_dead_lettered(&other).await.unwrap(),
        "only that due time"
    );

    let next_leader = leader(self::queue(&config).await);
    assert_eq!(
        next_leader.hand_over(&due).await.unwrap(),
        Handed::DeadLettered
    );
    assert!(take_all(&queue).await.is_empty(), "nothing handed over");

    let id = queue.dead_letters().await.unwrap()[0].id;
    queue.retry_dead_letter(id).await.unwrap();
    assert!(!queue.is_dead_lettered(&due).await.unwrap());
    assert_eq!(take_all(&queue).await, [due], "back once retried");
}

/// A new leader hands over what the old one had in flight, long after the stream's
/// duplicate window: it reads the in-flight set from the stream and publishes nothing;
/// once the execution is settled it may publish again. A copy stuck on the route of a
/// keeper that no longer holds the lease does not count: the due time goes to the route
/// it takes now, and a holder's copy is not doubled by a new one for everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_sees_the_in_flight_set_in_the_stream_and_publishes_nothing_twice() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    // The shortest window the stream takes: past it, only the in-flight set stops a
    // second copy.
    let config = FleetConfig {
        duplicate_window_secs: 1,
        ..nats.config()
    };
    let old_leader = leader(queue(&config).await);
    let gone_keeper = Pubkey::new_unique();
    let shared = item(5, None);
    let on_gone_keeper = item(9, Some(gone_keeper));
    let held = item(1, Some(gone_keeper));
    for due in [shared, on_gone_keeper, held] {
        assert!(matches!(
            old_leader.hand_over(&due).await.unwrap(),
            Handed::Published(Published::New(_))
        ));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let queue = queue(&config).await;
    let new_leader = leader(queue.clone());
    assert_eq!(
        new_leader.hand_over(&shared).await.unwrap(),
        Handed::InFlight
    );
    assert_eq!(new_leader.hand_over(&held).await.unwrap(), Handed::InFlight);
    assert_eq!(
        new_leader
            .hand_over(&shared.routed_to(Some(Pubkey::new_unique())))
            .await
            .unwrap(),
        Handed::InFlight,
        "a copy for everyone reaches a new holder too"
    );
    let lapsed = on_gone_keeper.routed_to(None);
    assert!(
        matches!(
            new_leader.hand_over(&lapsed).await.unwrap(),
            Handed::Published(Published::New(_))
        ),
        "the gone keeper's lease lapsed: published for everyone"
    );
    assert_eq!(
        queue.routes_in_flight(&lapsed).await.unwrap().len(),
        2,
        "the stale copy waits for its keeper, the new one for everyone"
    );

    let taken = take_all(&queue).await;
    assert_eq!(taken.len(), 2, "{taken:?}");
    assert!(taken.contains(&shared) && taken.contains(&lapsed));
    assert!(queue.routes_in_flight(&shared).await.unwrap().is_empty());
    assert!(
        matches!(
            new_leader.hand_over(&shared).await.unwrap(),
            Handed::Published(Published::New(_))
        ),
        "settled, so no longer in flight"
    );
}

/// A delivery only the lease holder can sign, pulled by another submitter, is rerouted:
/// on the holder's route at once (not delivered again to everyone after a delay), and
/// gone from the shared one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_for_a_lease_holder_is_rerouted_to_it_at_once() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let queue = queue(&nats.config()).await;
    let (holder, other) = (Pubkey::new_unique(), Pubkey::new_unique());
    let due = item(4, None);
    queue.publish(&due).await.unwrap();
    let by_other = queue.submitter(&other).await.unwrap();
    let delivery = by_other.next(1, WAIT).await.unwrap().pop().unwrap();
    delivery.reroute(holder).await.unwrap();

    assert_eq!(
        queue.routes_in_flight(&due).await.unwrap(),
        [Some(holder)],
        "on the holder's route only"
    );
    assert!(by_other.next(1, WAIT).await.unwrap().is_empty());
    let by_holder = queue.submitter(&holder).await.unwrap();
    let got = by_holder.next(2, WAIT).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.item).collect::<Vec<_>>(),
        [due.routed_to(Some(holder))]
    );
    assert_eq!(got[0].attempt, 1);
}

/// A server that takes TLS only: a keeper trusting its CA connects through `tls://` and
/// the queue works; one without the CA is refused at connect, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_keeper_trusting_the_ca_connects_and_one_without_it_is_refused() {
    let Some(ca) = TestCa::new() else {
        return;
    };
    let Some(nats) = Nats::start_tls(&ca).await else {
        return;
    };
    let config = nats.config();
    assert!(config.nats_urls[0].starts_with("tls://"));
    let queue = queue(&config).await;
    let due = item(1, None);
    assert!(matches!(
        queue.publish(&due).await.unwrap(),
        Published::New(_)
    ));
    assert_eq!(take_all(&queue).await, [due]);

    let Err(refused) = WorkQueue::connect(&FleetConfig {
        ca_file: None,
        request_timeout_ms: 2_000,
        ..config
    })
    .await
    else {
        panic!("connected without trusting the server's CA");
    };
    assert_eq!(refused.kind(), "fleet_connect", "{refused}");
}

/// A stream left by keepers of the earlier subject scheme (`<prefix>.work.any`, no due
/// time in the subject): its consumer, which would pull nothing new, is made again, the
/// old messages are dropped, and new work flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_of_the_earlier_subject_scheme_is_replaced_and_work_flows() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let config = nats.config();
    let queue = queue(&config).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(&config.work_stream).await.unwrap();
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("submit-any".into()),
            filter_subject: "thread.work.any".into(),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    js.publish("thread.work.any", "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let due = item(6, None);
    queue.publish(&due).await.unwrap();
    assert_eq!(take_all(&queue).await, [due], "the new work is delivered");
    assert_eq!(
        queue.depths().await.unwrap(),
        (0, 0),
        "the old scheme's message is gone, nothing dead-lettered"
    );
}
