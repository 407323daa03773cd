//! Fleet leadership against a real etcd (the `etcd-server` Debian package, 3.4): each
//! test starts its own etcd ([`crate::common::etcd::Etcd`]: free loopback ports, a temporary
//! directory, never the system one on 2379) and kills it when done.
//!
//! Without an `etcd` binary these tests are skipped with a loud message, unless `CI` is
//! set: then a missing etcd fails them. `scripts/test.sh` installs it. Leases are 2 s
//! (step down after 1.33 s) so the file runs in seconds; deadlines are generous and the
//! orderings strict. Auth and TLS run on etcds of their own (a CA made with `openssl`).

// The shared fixtures in `common` are built on the in-process bank.
#![cfg(feature = "bank")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::etcd::Etcd;
use crate::common::tls::TestCa;
use keeper::leadership::{
    start, ElectionStore, ElectionStoreError, EtcdClient, LeaderState, Leadership,
    LeadershipConfig, StepDown,
};
use keeper::test_utils::loopback::free_port;
use solana_sdk::pubkey::Pubkey;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The lease TTL of these tests, seconds.
const TTL_SECS: u64 = 2;
const TTL: Duration = Duration::from_secs(TTL_SECS);

/// A fleet member's configuration: 2 s leases, 100 ms polls, 500 ms requests.
fn config(endpoints: Vec<String>, id: &str) -> LeadershipConfig {
    LeadershipConfig {
        endpoints,
        key: Some("/thread-keeper/test/leader".into()),
        id: Some(id.into()),
        lease_ttl_secs: TTL_SECS,
        poll_interval_ms: 100,
        request_timeout_ms: 500,
        ..LeadershipConfig::default()
    }
}

/// One keeper's leadership, its campaign spawned.
struct Keeper {
    id: String,
    leadership: Leadership,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Keeper {
    fn spawn(endpoints: Vec<String>, id: &str) -> Self {
        Self::spawn_with(&config(endpoints, id))
    }

    fn spawn_with(config: &LeadershipConfig) -> Self {
        let id = config.id.clone().unwrap();
        let (leadership, campaign) =
            start(config, &Pubkey::new_unique(), &Pubkey::new_unique(), None).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(campaign.run(async {
            stopped.await.ok();
        }));
        Self {
            id,
            leadership,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn is_leader(&self) -> bool {
        self.leadership.is_leader()
    }

    fn lease(&self) -> Option<i64> {
        match self.leadership.state() {
            LeaderState::Leader { lease } => lease,
            _ => None,
        }
    }

    /// Graceful: stops the campaign (lease revoked) and waits for it to return.
    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("the campaign returns promptly after shutdown")
                .unwrap();
        }
    }

    /// The process "dies": the campaign is dropped mid-flight, nothing revoked.
    async fn abort(&mut self) {
        let task = self.task.take().unwrap();
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `f` every 10 ms until it holds; panics after `limit`. Returns when it held.
async fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Instant {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return Instant::now();
        }
        assert!(Instant::now() < end, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn client(etcd: &Etcd) -> EtcdClient {
    EtcdClient::new(&[etcd.url()], Duration::from_millis(500)).unwrap()
}

/// Samples two keepers every 5 ms from a thread of its own: the first and the last
/// instant each was seen leading, and whether both ever were. Sampled at least once at
/// `start` and once at `finish`.
struct Monitor {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default, Clone, Debug)]
struct Seen {
    first: [Option<Instant>; 2],
    last: [Option<Instant>; 2],
    both: bool,
    samples: u64,
}

impl Monitor {
    fn start(a: Leadership, b: Leadership) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || loop {
                let now = Instant::now();
                let leading = [a.is_leader(), b.is_leader()];
                let mut seen = seen.lock().unwrap();
                for (i, leads) in leading.into_iter().enumerate() {
                    if leads {
                        seen.first[i].get_or_insert(now);
                        seen.last[i] = Some(now);
                    }
                }
                seen.both |= leading == [true, true];
                seen.samples += 1;
                drop(seen);
                // Checked after sampling: a finish() always gets one more sample.
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            })
        };
        // The state at the start is sampled before this returns.
        while seen.lock().unwrap().samples == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        Self {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.seen()
    }
}

/// A poll interval longer than any test: a follower configured with it notices a free
/// key only through its watch.
const WATCH_ONLY_POLL_MS: u64 = 60_000;

/// Starts `a` then `b` (polling every `b_poll_ms`) and waits until `a` leads and `b`
/// follows it.
async fn a_leads_b_follows(etcd: &Etcd, b_poll_ms: u64) -> (Keeper, Keeper) {
    let a = Keeper::spawn(vec![etcd.url()], "keeper-a");
    until("a leads", Duration::from_secs(10), || a.is_leader()).await;
    let b = Keeper::spawn_with(&LeadershipConfig {
        poll_interval_ms: b_poll_ms,
        ..config(vec![etcd.url()], "keeper-b")
    });
    until("b follows a", Duration::from_secs(10), || {
        b.leadership.state()
            == LeaderState::Follower {
                leader: "keeper-a".into(),
            }
    })
    .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_keepers_leads_and_the_other_sees_who() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let mut a = Keeper::spawn(vec![etcd.url()], "keeper-a");
    let mut b = Keeper::spawn(vec![etcd.url()], "keeper-b");
    until("someone leads", Duration::from_secs(10), || {
        a.is_leader() || b.is_leader()
    })
    .await;
    let (leader, follower) = if a.is_leader() { (&a, &b) } else { (&b, &a) };
    until(
        "the other follows the leader",
        Duration::from_secs(5),
        || {
            follower.leadership.state()
                == LeaderState::Follower {
                    leader: leader.id.clone(),
                }
        },
    )
    .await;

    // etcd agrees: the key holds the leader's id under the leader's lease.
    let holder = client(&etcd)
        .holder("/thread-keeper/test/leader")
        .await
        .unwrap()
        .expect("the key exists");
    assert_eq!(holder.id, leader.id);
    assert_eq!(Some(holder.lease), leader.lease());

    // Through renewals for more than two TTLs: the same single leader all along.
    let monitor = Monitor::start(a.leadership.clone(), b.leadership.clone());
    tokio::time::sleep(TTL * 2 + Duration::from_millis(500)).await;
    let seen = monitor.finish();
    assert!(!seen.both, "two leaders at once");
    let (li, fi) = if std::ptr::eq(leader, &a) {
        (0, 1)
    } else {
        (1, 0)
    };
    assert!(seen.last[li].is_some(), "the leader kept leading");
    assert!(seen.first[fi].is_none(), "the follower never led");
    assert!(leader.is_leader(), "keepalives keep the lease");
    assert_eq!(leader.leadership.last_step_down(), None);

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_revokes_the_lease_and_the_other_takes_over_at_once() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    // b only watches: taking over at once is the watch's doing.
    let (mut a, b) = a_leads_b_follows(&etcd, WATCH_ONLY_POLL_MS).await;
    let a_lease = a.lease().unwrap();
    let monitor = Monitor::start(a.leadership.clone(), b.leadership.clone());

    let stopping = Instant::now();
    a.shutdown().await;
    let returned = Instant::now();
    // Not leader, and saying so, by the time `run` returned.
    assert!(!a.is_leader());
    assert_eq!(a.leadership.state(), LeaderState::Stopped);
    assert_eq!(a.leadership.last_step_down(), Some(StepDown::Shutdown));
    // The lease is revoked, not left to expire.
    assert_eq!(client(&etcd).keep_alive(a_lease).await.unwrap(), None);

    let took_over = until("b takes over", Duration::from_secs(5), || b.is_leader()).await;
    let seen = monitor.finish();
    assert!(!seen.both, "two leaders at once");
    assert!(
        seen.last[0].unwrap() < seen.first[1].unwrap(),
        "a stopped before b started"
    );
    eprintln!(
        "graceful handover: run returned after {:?}, b led {:?} after the shutdown",
        returned - stopping,
        took_over - stopping
    );
    assert!(
        took_over - stopping < TTL / 2,
        "well under the TTL: {:?}",
        took_over - stopping
    );
    let holder = client(&etcd)
        .holder("/thread-keeper/test/leader")
        .await
        .unwrap();
    assert_eq!(holder.map(|h| h.id), Some("keeper-b".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leader_is_replaced_only_after_its_lease_expires() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    // b only watches: it learns of the expired lease from etcd, not from a poll.
    let (mut a, b) = a_leads_b_follows(&etcd, WATCH_ONLY_POLL_MS).await;
    let a_lease = a.lease().unwrap();
    let monitor = Monitor::start(a.leadership.clone(), b.leadership.clone());

    let died = Instant::now();
    a.abort().await;
    assert!(!a.is_leader(), "an aborted campaign leaves no leader");

    let took_over = until(
        "b takes over after the TTL",
        TTL + Duration::from_secs(5),
        || b.is_leader(),
    )
    .await;
    let seen = monitor.finish();
    assert!(!seen.both, "two leaders at once");
    let a_last = seen.last[0].expect("a was seen leading");
    let b_first = seen.first[1].expect("b was seen leading");
    assert!(
        a_last < b_first,
        "b led only after a stopped believing it led"
    );
    assert!(a_last <= died + Duration::from_millis(20));
    // a's last renewal was at most a third of its 1.33 s window before it died, so its
    // lease lasted at least 1.55 s more: b cannot have been elected before half a TTL.
    eprintln!(
        "dead leader: b led {:?} after a died (TTL {TTL:?})",
        b_first - died
    );
    assert!(
        b_first - died >= TTL / 2,
        "b led {:?} after a died: before a's lease could expire",
        b_first - died
    );
    assert!(took_over - died <= TTL + Duration::from_secs(5));
    // The lease expired rather than being revoked, and the key is b's now.
    assert_eq!(client(&etcd).keep_alive(a_lease).await.unwrap(), None);
    let holder = client(&etcd)
        .holder("/thread-keeper/test/leader")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (holder.id.as_str(), Some(holder.lease)),
        ("keeper-b", b.lease())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_etcd_makes_the_leader_step_down_within_the_ttl_and_its_return_restores_one() {
    let Some(mut etcd) = Etcd::start().await else {
        return;
    };
    let (a, b) = a_leads_b_follows(&etcd, 100).await;

    etcd.kill();
    let killed = Instant::now();
    let stepped_down = until("a steps down", TTL + Duration::from_secs(1), || {
        !a.is_leader()
    })
    .await;
    eprintln!(
        "etcd killed: a stepped down after {:?}",
        stepped_down - killed
    );
    assert!(
        stepped_down - killed <= TTL,
        "fail-safe within the TTL: {:?}",
        stepped_down - killed
    );
    // a says why; both see etcd as unreachable and neither leads.
    until("a reports why", Duration::from_secs(2), || {
        a.leadership.last_step_down().is_some()
    })
    .await;
    match a.leadership.last_step_down() {
        Some(StepDown::Stale {
            since_confirmed,
            last_error: Some(error),
        }) => {
            assert!(matches!(error.kind(), "unreachable" | "timeout"), "{error}");
            assert!(since_confirmed >= TTL.mul_f64(2.0 / 3.0) - Duration::from_millis(50));
        }
        other => panic!("unexpected step-down: {other:?}"),
    }
    for keeper in [&a, &b] {
        until("etcd reported unavailable", Duration::from_secs(3), || {
            matches!(
                keeper.leadership.state(),
                LeaderState::Unavailable { error } if error.kind() == "unreachable"
            )
        })
        .await;
    }
    let monitor = Monitor::start(a.leadership.clone(), b.leadership.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = monitor.finish();
    assert!(
        seen.first == [None, None],
        "nobody leads without etcd: {seen:?}"
    );

    // etcd comes back on the same data and port: one of them leads again.
    etcd.spawn().await;
    let monitor = Monitor::start(a.leadership.clone(), b.leadership.clone());
    until("someone leads again", Duration::from_secs(15), || {
        a.is_leader() || b.is_leader()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = monitor.finish();
    assert!(!seen.both, "two leaders at once");
    assert!(a.is_leader() ^ b.is_leader(), "exactly one leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_gives_a_typed_error_and_never_a_leader() {
    // Needs no etcd: nothing listens on this port.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut keeper = Keeper::spawn(vec![dead.clone()], "keeper-a");
    let monitor = Monitor::start(keeper.leadership.clone(), Leadership::always());
    until("etcd reported unreachable", Duration::from_secs(5), || {
        matches!(keeper.leadership.state(), LeaderState::Unavailable { .. })
    })
    .await;
    let LeaderState::Unavailable { error } = keeper.leadership.state() else {
        unreachable!()
    };
    assert_eq!(error.kind(), "unreachable");
    assert!(error.is_unavailable());
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("etcd at {dead} is unreachable")),
        "{message}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    keeper.shutdown().await;
    assert_eq!(keeper.leadership.state(), LeaderState::Stopped);
    let seen = monitor.finish();
    assert_eq!(seen.first[0], None, "never leader");

    // The client's own calls say the same, and a bad URL is refused up front.
    let etcd = EtcdClient::new(std::slice::from_ref(&dead), Duration::from_millis(500)).unwrap();
    assert!(matches!(
        etcd.grant(2).await,
        Err(ElectionStoreError::Unreachable { endpoint, .. }) if endpoint == dead
    ));
    let error = EtcdClient::new(
        &["http://127.0.0.1:notaport".into()],
        Duration::from_secs(1),
    )
    .err()
    .unwrap();
    assert_eq!(error.kind(), "bad_endpoint");
    let error = start(
        &config(vec!["127.0.0.1:2379".into()], "keeper-a"),
        &Pubkey::new_unique(),
        &Pubkey::new_unique(),
        None,
    )
    .err()
    .unwrap();
    assert_eq!(error.kind(), "endpoints");
    assert!(
        error.to_string().starts_with("leadership.endpoints[0]"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_skipped_for_the_next_one() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut a = Keeper::spawn(vec![dead, etcd.url()], "keeper-a");
    until(
        "a leads through the second endpoint",
        Duration::from_secs(10),
        || a.is_leader(),
    )
    .await;
    // And keeps leading through renewals.
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    assert!(a.is_leader());
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_answers_and_error_bodies_become_typed_results() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let etcd_client = client(&etcd);
    // etcd raises a TTL below its minimum; the elector counts on the smaller one.
    let lease = etcd_client.grant(1).await.unwrap();
    assert!(lease.ttl_secs >= 1);
    assert_eq!(
        etcd_client.claim("/k", "me", lease.id).await.unwrap(),
        keeper::leadership::Claim::Won
    );
    let other = etcd_client.grant(5).await.unwrap();
    assert_eq!(
        etcd_client.claim("/k", "you", other.id).await.unwrap(),
        keeper::leadership::Claim::Held(keeper::leadership::Holder {
            id: "me".into(),
            lease: lease.id,
        })
    );
    assert!(etcd_client.keep_alive(lease.id).await.unwrap().is_some());
    etcd_client.revoke(lease.id).await.unwrap();
    assert_eq!(
        etcd_client.holder("/k").await.unwrap(),
        None,
        "revoking deletes the key"
    );
    // Gone leases: a keepalive says so, a second revoke is not an error.
    assert_eq!(etcd_client.keep_alive(lease.id).await.unwrap(), None);
    etcd_client.revoke(lease.id).await.unwrap();

    // An error body of etcd: a claim of an empty key.
    let error = etcd_client.claim("", "me", other.id).await.unwrap_err();
    assert_eq!(error.kind(), "api");
    assert!(
        matches!(&error, ElectionStoreError::Api { status: 400, code: Some(3), message, .. }
            if message.contains("key is not provided")),
        "{error:?}"
    );
    // A claim under a lease that does not exist.
    let error = etcd_client.claim("/k", "me", 12345).await.unwrap_err();
    assert!(
        matches!(&error, ElectionStoreError::Api { code: Some(5), .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("requested lease not found"),
        "{error}"
    );
}

/// The prefix a keeper's etcd account may read and write, holding the test's key.
const KEEPER_PREFIX: &str = "/thread-keeper/";

/// With auth enabled, a keeper on an account limited to the keepers' prefix leads; a
/// wrong password and no credentials are each reported by etcd's reason and never lead;
/// after etcd restarts (its tokens gone) the keeper authenticates again and leads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_enabled_a_keeper_on_its_account_leads_and_bad_credentials_are_named() {
    let Some(mut etcd) = Etcd::start().await else {
        return;
    };
    etcd.enable_auth("keeper", "pa55-word", KEEPER_PREFIX).await;
    let dir = tempfile::tempdir().unwrap();
    let (right, wrong) = (dir.path().join("right"), dir.path().join("wrong"));
    std::fs::write(&right, "pa55-word\n").unwrap();
    std::fs::write(&wrong, "guess").unwrap();
    let with = |id: &str, password: Option<&std::path::Path>| LeadershipConfig {
        user: password.map(|_| "keeper".to_string()),
        password_file: password.map(std::path::Path::to_path_buf),
        ..config(vec![etcd.url()], id)
    };

    let mut a = Keeper::spawn_with(&with("keeper-a", Some(&right)));
    until("a leads with its account", Duration::from_secs(10), || {
        a.is_leader()
    })
    .await;
    let mut refused = Keeper::spawn_with(&with("keeper-wrong", Some(&wrong)));
    let mut anonymous = Keeper::spawn_with(&with("keeper-anonymous", None));
    for (keeper, reason) in [
        (&refused, "authentication failed"),
        (&anonymous, "user name is empty"),
    ] {
        until("refused with etcd's reason", Duration::from_secs(5), || {
            matches!(&keeper.leadership.state(),
                LeaderState::Unavailable { error } if error.to_string().contains(reason))
        })
        .await;
    }

    etcd.kill();
    until("a steps down without etcd", TTL * 2, || !a.is_leader()).await;
    etcd.spawn().await;
    until(
        "a leads again on a new token",
        Duration::from_secs(15),
        || a.is_leader(),
    )
    .await;
    assert!(!refused.is_leader() && !anonymous.is_leader());
    for keeper in [&mut a, &mut refused, &mut anonymous] {
        keeper.shutdown().await;
    }
}

/// etcd serving clients over TLS: a keeper trusting the CA leads through `https://`; one
/// trusting only the public roots is refused by the handshake, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_keeper_trusting_the_ca_leads_and_one_without_it_is_refused() {
    let Some(ca) = TestCa::new() else {
        return;
    };
    let Some(etcd) = Etcd::start_tls(&ca).await else {
        return;
    };
    assert!(etcd.url().starts_with("https://"));
    let mut trusting = Keeper::spawn_with(&LeadershipConfig {
        ca_file: Some(ca.ca()),
        ..config(vec![etcd.url()], "keeper-tls")
    });
    until("the keeper leads over TLS", Duration::from_secs(10), || {
        trusting.is_leader()
    })
    .await;
    let mut untrusting = Keeper::spawn(vec![etcd.url()], "keeper-no-ca");
    until("refused by the handshake", Duration::from_secs(5), || {
        matches!(&untrusting.leadership.state(),
            LeaderState::Unavailable { error } if error.to_string().contains("certificate"))
    })
    .await;
    trusting.shutdown().await;
    untrusting.shutdown().await;
}
