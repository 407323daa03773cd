//! Unit tests of leadership: the configuration, the handle, and the campaign against an
//! in-memory etcd ([`FakeEtcd`]) under paused tokio time, so that TTLs, deadlines and
//! faults are exact. The same flows run against a real etcd in
//! `keeper/tests/integration/leadership_etcd.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prometheus::Registry;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use solana_sdk::pubkey::Pubkey;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

use super::*;
use crate::config::setting::{refusal, Spoil};

const KEY: &str = "/thread-keeper/test/leader";

/// How one keeper's link to the fake etcd behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    /// Every call fails at once as unreachable.
    Down,
    /// Every call waits, until the link changes.
    Hang,
    /// Every call is applied at once, but its answer waits until the link changes.
    Late,
}

#[derive(Default)]
struct Cluster {
    next_lease: i64,
    /// Lease id -> (TTL, expiry).
    leases: HashMap<i64, (Duration, Instant)>,
    /// The leader key: (id, lease).
    key: Option<(String, i64)>,
    /// When leases expired (not revoked), in order.
    expired_at: Vec<(i64, Instant)>,
    revoked: Vec<i64>,
}

impl Cluster {
    /// Drops the leases whose expiry has come, and their key, as etcd does.
    fn expire(&mut self) {
        let now = Instant::now();
        let gone: Vec<i64> = self
            .leases
            .iter()
            .filter(|(_, (_, expiry))| *expiry <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            let (_, expiry) = self.leases.remove(&id).unwrap();
            self.expired_at.push((id, expiry));
            self.drop_key_of(id);
        }
    }

    fn drop_key_of(&mut self, lease: i64) {
        if self.key.as_ref().is_some_and(|(_, l)| *l == lease) {
            self.key = None;
        }
    }

    /// Whether `lease` is live and holds the key, right now.
    fn holds_key(&mut self, lease: i64) -> bool {
        self.expire();
        self.leases.contains_key(&lease) && self.key.as_ref().is_some_and(|(_, l)| *l == lease)
    }
}

/// One keeper's view of a shared in-memory etcd.
#[derive(Clone)]
struct FakeEtcd {
    cluster: Arc<Mutex<Cluster>>,
    link: Arc<Mutex<Link>>,
    /// Whether the keeper's handle said "leader" when each revoke arrived.
    leader_at_revoke: Arc<Mutex<Vec<bool>>>,
    watched: Arc<Mutex<Option<Leadership>>>,
    /// Watches set up by a follower.
    watches: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeEtcd {
    fn new(cluster: &Arc<Mutex<Cluster>>) -> Self {
        Self {
            cluster: cluster.clone(),
            link: Arc::new(Mutex::new(Link::Up)),
            leader_at_revoke: Arc::default(),
            watched: Arc::default(),
            watches: Arc::default(),
        }
    }

    fn set_link(&self, link: Link) {
        *self.link.lock().unwrap() = link;
    }

    /// Whether a call gets through; a hung call waits until the link changes, and then
    /// acts at that later time (like a late answer).
    async fn reach(&self) -> Result<(), ElectionStoreError> {
        loop {
            let link = *self.link.lock().unwrap();
            match link {
                Link::Up => return Ok(()),
                Link::Down => return Err(unreachable()),
                Link::Hang => sleep(Duration::from_millis(10)).await,
                Link::Late => return Ok(()),
            }
        }
    }

    fn cluster(&self) -> std::sync::MutexGuard<'_, Cluster> {
        let mut cluster = self.cluster.lock().unwrap();
        cluster.expire();
        cluster
    }
}

impl FakeEtcd {
    /// Runs `apply` on the cluster once the call gets through, then delivers its answer
    /// (late, or not at all, as the link says by then).
    async fn call<T>(
        &self,
        apply: impl FnOnce(&mut Cluster) -> T,
    ) -> Result<T, ElectionStoreError> {
        self.reach().await?;
        let answer = apply(&mut self.cluster());
        loop {
            let link = *self.link.lock().unwrap();
            match link {
                Link::Late => sleep(Duration::from_millis(10)).await,
                // Applied, but the answer is lost on the way back.
                Link::Down => return Err(unreachable()),
                Link::Up | Link::Hang => return Ok(answer),
            }
        }
    }
}

fn unreachable() -> ElectionStoreError {
    ElectionStoreError::Unreachable {
        endpoint: "fake".into(),
        reason: "link down".into(),
    }
}

#[async_trait]
impl ElectionStore for FakeEtcd {
    async fn grant(&self, ttl_secs: i64) -> Result<Granted, ElectionStoreError> {
        self.call(|cluster| {
            cluster.next_lease += 1;
            let id = cluster.next_lease;
            let ttl = Duration::from_secs(ttl_secs as u64);
            cluster.leases.insert(id, (ttl, Instant::now() + ttl));
            Granted { id, ttl_secs }
        })
        .await
    }

    async fn keep_alive(&self, lease: i64) -> Result<Option<i64>, ElectionStoreError> {
        self.call(|cluster| {
            cluster.leases.get_mut(&lease).map(|(ttl, expiry)| {
                *expiry = Instant::now() + *ttl;
                ttl.as_secs() as i64
            })
        })
        .await
    }

    async fn revoke(&self, lease: i64) -> Result<(), ElectionStoreError> {
        let leader = self
            .watched
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|l| l.is_leader() || l.state().is_leader());
        self.leader_at_revoke.lock().unwrap().push(leader);
        self.call(|cluster| {
            cluster.leases.remove(&lease);
            cluster.drop_key_of(lease);
            cluster.revoked.push(lease);
        })
        .await
    }

    async fn claim(&self, key: &str, id: &str, lease: i64) -> Result<Claim, ElectionStoreError> {
        assert_eq!(key, KEY);
        self.call(|cluster| {
            if let Some((id, lease)) = &cluster.key {
                return Ok(Claim::Held(Holder {
                    id: id.clone(),
                    lease: *lease,
                }));
            }
            if !cluster.leases.contains_key(&lease) {
                return Err(ElectionStoreError::Api {
                    endpoint: "fake".into(),
                    status: 404,
                    code: Some(5),
                    message: "etcdserver: requested lease not found".into(),
                });
            }
            cluster.key = Some((id.to_string(), lease));
            Ok(Claim::Won)
        })
        .await?
    }

    async fn holder(&self, key: &str) -> Result<Option<Holder>, ElectionStoreError> {
        assert_eq!(key, KEY);
        self.call(|cluster| {
            cluster.key.as_ref().map(|(id, lease)| Holder {
                id: id.clone(),
                lease: *lease,
            })
        })
        .await
    }

    /// A watch as etcd keeps it: told as soon as the key changes, through the link.
    async fn wait_while_held(
        &self,
        key: &str,
        held_by: &Holder,
        at_most: Duration,
    ) -> Result<(), ElectionStoreError> {
        assert_eq!(key, KEY);
        self.watches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let deadline = Instant::now() + at_most;
        loop {
            let lease = self
                .call(|cluster| cluster.key.as_ref().map(|(_, lease)| *lease))
                .await?;
            if lease != Some(held_by.lease) || Instant::now() >= deadline {
                return Ok(());
            }
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A 3 s lease, stepping down after 2 s, renewing every 2/3 s; followers poll every
/// 100 ms.
fn config() -> LeadershipConfig {
    LeadershipConfig {
        lease_ttl_secs: 3,
        poll_interval_ms: 100,
        request_timeout_ms: 500,
        ..LeadershipConfig::default()
    }
}

/// One keeper of a fleet on the fake etcd, its campaign spawned.
struct Keeper {
    etcd: FakeEtcd,
    leadership: Leadership,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Keeper {
    fn spawn(cluster: &Arc<Mutex<Cluster>>, id: &str, registry: Option<&Registry>) -> Self {
        Self::spawn_with(cluster, id, registry, &config())
    }

    fn spawn_with(
        cluster: &Arc<Mutex<Cluster>>,
        id: &str,
        registry: Option<&Registry>,
        config: &LeadershipConfig,
    ) -> Self {
        let etcd = FakeEtcd::new(cluster);
        let (leadership, elector) =
            Elector::new(etcd.clone(), KEY.into(), id.into(), config, registry).unwrap();
        *etcd.watched.lock().unwrap() = Some(leadership.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(elector.run(async {
            stopped.await.ok();
        }));
        Self {
            etcd,
            leadership,
            stop: Some(stop),
            task,
        }
    }

    fn lease(&self) -> Option<i64> {
        match self.leadership.state() {
            LeaderState::Leader { lease } => lease,
            _ => None,
        }
    }

    async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap();
    }
}

/// Waits (in paused time) until `f` holds, checking every 10 ms, at most `limit`.
async fn until(limit: Duration, mut f: impl FnMut() -> bool) -> Instant {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return Instant::now();
        }
        assert!(Instant::now() < end, "condition not met within {limit:?}");
        sleep(Duration::from_millis(10)).await;
    }
}

fn leaders(keepers: &[&Keeper]) -> usize {
    keepers.iter().filter(|k| k.leadership.is_leader()).count()
}

#[test]
fn defaults_are_a_lone_keeper_with_a_ten_second_lease() {
    let config = LeadershipConfig::default();
    assert!(!config.is_fleet());
    assert_eq!(config.lease_ttl(), Duration::from_secs(10));
    assert_eq!(config.step_down_window().as_millis(), 6_666);
    config.validate().unwrap();

    let program = Pubkey::new_unique();
    let keeper = Pubkey::new_unique();
    assert_eq!(
        config.key_for(&program),
        format!("/thread-keeper/{program}/leader")
    );
    let id = config.id_for(&keeper);
    assert!(id.starts_with(&format!("{keeper}@")), "{id}");
    assert!(id.ends_with(&format!("/{}", std::process::id())), "{id}");
}

#[test]
fn config_reads_from_toml_and_refuses_unknown_keys() {
    let config: LeadershipConfig = toml::from_str(
        r#"
        endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        lease_ttl_secs = 6
        id = "keeper-a"
        "#,
    )
    .unwrap();
    assert!(config.is_fleet());
    assert_eq!(config.lease_ttl_secs, 6);
    assert_eq!(config.id_for(&Pubkey::new_unique()), "keeper-a");
    assert_eq!(config.poll_interval_ms, 1_000, "missing keys take defaults");
    config.validate().unwrap();

    let error = toml::from_str::<LeadershipConfig>("lease_ttl = 6").unwrap_err();
    assert!(error.to_string().contains("unknown field"), "{error}");
}

#[test]
fn validate_names_the_bad_field() {
    let with = |f: fn(&mut LeadershipConfig)| {
        let mut config = LeadershipConfig {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            ..LeadershipConfig::default()
        };
        f(&mut config);
        config.validate().unwrap_err()
    };
    let error = with(|c| c.endpoints.push("not a url".into()));
    assert_eq!(error.kind(), "endpoints");
    assert!(
        error
            .to_string()
            .starts_with("leadership.endpoints[1] \"not a url\""),
        "{error}"
    );
    let error = with(|c| c.endpoints[0] = "grpc://etcd:2379".into());
    assert!(error.to_string().contains("not http or https"), "{error}");
    let error = with(|c| c.user = Some("keeper".into()));
    assert_eq!(error.kind(), "password_file");
    assert!(error.to_string().contains("go together"), "{error}");
    let error = with(|c| c.ca_file = Some("ca.pem".into()));
    assert_eq!(error.kind(), "ca_file");
    assert!(error.to_string().contains("https://host:port"), "{error}");
    let mut tls = LeadershipConfig {
        endpoints: vec!["https://etcd:2379".into()],
        ca_file: Some("ca.pem".into()),
        user: Some("keeper".into()),
        password_file: Some("password".into()),
        ..LeadershipConfig::default()
    };
    assert_eq!(tls.validate(), Ok(()));
    tls.user = Some(String::new());
    assert_eq!(tls.validate().unwrap_err().kind(), "password_file");
    let error = with(|c| c.endpoints[0] = "http://etcd:2379/v3".into());
    assert!(error.to_string().contains("without a path"), "{error}");
    assert_eq!(with(|c| c.key = Some(String::new())).kind(), "key");
    assert_eq!(with(|c| c.id = Some(" ".into())).kind(), "id");
    assert_eq!(with(|c| c.lease_ttl_secs = 0).kind(), "lease_ttl_secs");
    assert_eq!(
        with(|c| c.step_down_fraction = 1.0).kind(),
        "step_down_fraction"
    );
    assert_eq!(
        with(|c| c.step_down_fraction = f64::NAN).kind(),
        "step_down_fraction"
    );
    assert_eq!(with(|c| c.poll_interval_ms = 0).kind(), "poll_interval_ms");
    let error = with(|c| c.request_timeout_ms = 7_000);
    assert_eq!(error.kind(), "request_timeout_ms");
    assert!(error.to_string().contains("6666 ms"), "{error}");
}

#[test]
fn settings_are_refused_by_their_full_key_with_the_reason_validate_gives() {
    let cases: [(&str, &str, Spoil<LeadershipConfig>); 9] = [
        ("daemon.leadership.endpoints", "not a url", |c| {
            c.endpoints = vec!["not a url".into()]
        }),
        ("daemon.leadership.key", "", |c| c.key = Some(String::new())),
        ("daemon.leadership.id", "", |c| c.id = Some(" ".into())),
        ("daemon.leadership.lease_ttl_secs", "0", |c| {
            c.lease_ttl_secs = 0
        }),
        ("daemon.leadership.step_down_fraction", "1", |c| {
            c.step_down_fraction = 1.0
        }),
        ("daemon.leadership.poll_interval_ms", "0", |c| {
            c.poll_interval_ms = 0
        }),
        ("daemon.leadership.request_timeout_ms", "7000", |c| {
            c.request_timeout_ms = 7_000
        }),
        ("daemon.leadership.password_file", "none", |c| {
            c.user = Some("keeper".into())
        }),
        ("daemon.leadership.ca_file", "ca.pem", |c| {
            c.ca_file = Some("ca.pem".into())
        }),
    ];
    for (field, value, spoil) in cases {
        let err = refusal(spoil, LeadershipConfig::validate_settings);
        assert_eq!((err.field, err.value.as_str()), (field, value));
        let mut config = LeadershipConfig::default();
        spoil(&mut config);
        assert_eq!(err.reason, config.validate().unwrap_err().to_string());
    }
    assert_eq!(LeadershipConfig::default().validate_settings(), Ok(()));
}

#[test]
fn a_bad_endpoint_is_refused_by_start_with_a_typed_error() {
    let config = LeadershipConfig {
        endpoints: vec!["ftp://etcd:2379".into()],
        ..LeadershipConfig::default()
    };
    let error = start(&config, &Pubkey::new_unique(), &Pubkey::new_unique(), None)
        .err()
        .unwrap();
    assert_eq!(error.kind(), "endpoints");
    assert!(
        error.to_string().contains("leadership.endpoints[0]"),
        "{error}"
    );
}

#[tokio::test]
async fn a_lone_keeper_leads_until_its_campaign_stops() {
    let registry = Registry::new();
    let (leadership, campaign) = start(
        &LeadershipConfig::default(),
        &Pubkey::new_unique(),
        &Pubkey::new_unique(),
        Some(&registry),
    )
    .unwrap();
    assert!(matches!(campaign, Campaign::Alone(_)));
    assert!(leadership.is_leader());
    assert_eq!(leadership.state(), LeaderState::Leader { lease: None });
    assert_eq!(gauge(&registry), 1);

    campaign.run(async {}).await;
    assert!(!leadership.is_leader());
    assert_eq!(leadership.state(), LeaderState::Stopped);
    assert_eq!(leadership.last_step_down(), Some(StepDown::Shutdown));
    assert_eq!(gauge(&registry), 0);

    assert!(
        Leadership::always().is_leader(),
        "always() needs no campaign"
    );
}

fn gauge(registry: &Registry) -> i64 {
    let families = registry.gather();
    let family = families
        .iter()
        .find(|f| f.name() == LEADER_METRIC)
        .expect("keeper_leader registered");
    family.get_metric()[0].get_gauge().get_value() as i64
}

#[tokio::test(start_paused = true)]
async fn is_leader_ends_at_the_deadline_even_if_nobody_steps_down() {
    let (publisher, leadership) =
        Publisher::new(LeaderState::Starting, KEY.into(), "a".into(), None).unwrap();
    assert!(!leadership.is_leader());
    publisher.lead(7, Instant::now() + Duration::from_secs(2));
    assert!(leadership.is_leader());
    sleep(Duration::from_millis(1_999)).await;
    assert!(leadership.is_leader());
    sleep(Duration::from_millis(1)).await;
    assert!(
        !leadership.is_leader(),
        "the deadline alone ends leadership"
    );
    assert!(leadership.state().is_leader(), "though nobody published it");

    publisher.lead(8, Instant::now() + Duration::from_secs(2));
    drop(publisher);
    assert!(
        !leadership.is_leader(),
        "a dropped campaign leaves no leader"
    );
    assert_eq!(leadership.state(), LeaderState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn one_of_two_electors_leads_and_the_other_follows_it() {
    let cluster = Arc::default();
    let registry = Registry::new();
    let a = Keeper::spawn(&cluster, "a", Some(&registry));
    let b = Keeper::spawn(&cluster, "b", None);
    until(Duration::from_secs(1), || leaders(&[&a, &b]) == 1).await;
    let (leader_id, leader, follower) = if a.leadership.is_leader() {
        ("a", &a, &b)
    } else {
        ("b", &b, &a)
    };
    until(Duration::from_secs(1), || {
        follower.leadership.state()
            == LeaderState::Follower {
                leader: leader_id.into(),
            }
    })
    .await;
    assert_eq!(gauge(&registry), i64::from(a.leadership.is_leader()));

    // Leadership holds through many renewals, without a change.
    sleep(Duration::from_secs(30)).await;
    assert!(leader.leadership.is_leader());
    assert!(!follower.leadership.is_leader());
    assert_eq!(leader.leadership.last_step_down(), None);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_reports_not_leader_before_revoking_and_hands_over_at_once() {
    let cluster = Arc::default();
    let a = Keeper::spawn(&cluster, "a", None);
    until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let b = Keeper::spawn(&cluster, "b", None);
    until(Duration::from_secs(1), || {
        matches!(b.leadership.state(), LeaderState::Follower { .. })
    })
    .await;

    let a_etcd = a.etcd.clone();
    let a_view = a.leadership.clone();
    let stopped = Instant::now();
    a.shutdown().await;
    assert_eq!(*a_etcd.leader_at_revoke.lock().unwrap(), vec![false]);
    assert_eq!(a_view.state(), LeaderState::Stopped);
    assert_eq!(a_view.last_step_down(), Some(StepDown::Shutdown));

    let took_over = until(Duration::from_secs(3), || b.leadership.is_leader()).await;
    assert!(
        took_over - stopped <= Duration::from_millis(200),
        "within a poll interval, not a TTL: {:?}",
        took_over - stopped
    );
    b.shutdown().await;
}

/// A follower does not read the key over and over: it watches it, and a key freed by a
/// graceful shutdown or by an expired lease is taken at once, however long the poll
/// interval (here a minute, longer than the whole test).
#[tokio::test(start_paused = true)]
async fn a_follower_watches_the_key_and_takes_it_as_soon_as_it_is_free() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let slow_poll = LeadershipConfig {
        poll_interval_ms: 60_000,
        ..config()
    };
    let a = Keeper::spawn_with(&cluster, "a", None, &slow_poll);
    until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let b = Keeper::spawn_with(&cluster, "b", None, &slow_poll);
    until(Duration::from_secs(1), || {
        matches!(b.leadership.state(), LeaderState::Follower { .. })
    })
    .await;
    let watches = b.etcd.watches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(watches >= 1, "the follower watches");
    sleep(Duration::from_secs(20)).await;
    let renewed = b.etcd.watches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (watches + 5..=watches + 8).contains(&renewed),
        "set up again about every TTL (3 s), not every poll: {watches} then {renewed}"
    );

    let stopped = Instant::now();
    a.shutdown().await;
    let took_over = until(Duration::from_secs(3), || b.leadership.is_leader()).await;
    assert!(
        took_over - stopped <= Duration::from_millis(100),
        "at once, not after the poll interval: {:?}",
        took_over - stopped
    );

    // The same when the leader dies: the key goes with its lease, and the watch says so.
    let c = Keeper::spawn_with(&cluster, "c", None, &slow_poll);
    until(Duration::from_secs(1), || {
        matches!(c.leadership.state(), LeaderState::Follower { .. })
    })
    .await;
    let lease = b.lease().unwrap();
    b.task.abort();
    let expired = until(Duration::from_secs(5), || {
        cluster.lock().unwrap().expire();
        cluster
            .lock()
            .unwrap()
            .expired_at
            .iter()
            .any(|(id, _)| *id == lease)
    })
    .await;
    let took_over = until(Duration::from_secs(3), || c.leadership.is_leader()).await;
    assert!(
        took_over - expired <= Duration::from_millis(100),
        "at the lease's expiry: {:?}",
        took_over - expired
    );
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_off_from_etcd_steps_down_before_its_lease_expires() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let a = Keeper::spawn(&cluster, "a", None);
    until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let b = Keeper::spawn(&cluster, "b", None);
    let lease = a.lease().unwrap();
    sleep(Duration::from_millis(1_500)).await;

    a.etcd.set_link(Link::Down);
    let cut = Instant::now();
    let stepped_down = until(Duration::from_secs(3), || !a.leadership.is_leader()).await;
    let took_over = until(Duration::from_secs(5), || b.leadership.is_leader()).await;
    let expired = cluster
        .lock()
        .unwrap()
        .expired_at
        .iter()
        .find(|(id, _)| *id == lease)
        .map(|(_, at)| *at)
        .expect("a's lease expired");
    assert!(
        stepped_down < expired,
        "a stopped before its lease could expire"
    );
    assert!(expired <= took_over, "b only after a's lease expired");
    assert!(
        stepped_down - cut <= Duration::from_secs(2),
        "within the window"
    );
    match a.leadership.last_step_down() {
        Some(StepDown::Stale {
            last_error: Some(error),
            since_confirmed,
        }) => {
            assert_eq!(error.kind(), "unreachable");
            assert!(since_confirmed >= Duration::from_secs(2));
        }
        other => panic!("unexpected step-down: {other:?}"),
    }
    assert!(matches!(
        a.leadership.state(),
        LeaderState::Unavailable { .. } | LeaderState::SteppedDown { .. }
    ));

    // Back on etcd, a follows b.
    a.etcd.set_link(Link::Up);
    until(Duration::from_secs(1), || {
        a.leadership.state() == LeaderState::Follower { leader: "b".into() }
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_renewal_cannot_keep_a_leader_past_its_deadline() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let a = Keeper::spawn(&cluster, "a", None);
    until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let lease = a.lease().unwrap();
    a.etcd.set_link(Link::Hang);
    until(Duration::from_secs(3), || !a.leadership.is_leader()).await;
    assert!(
        cluster.lock().unwrap().holds_key(lease),
        "stepped down while the lease still held the key"
    );
    // The handle said so at the deadline; the elector, woken by the same instant, says
    // why.
    until(Duration::from_millis(10), || {
        a.leadership.last_step_down().is_some()
    })
    .await;
    assert!(matches!(
        a.leadership.last_step_down(),
        Some(StepDown::Stale {
            last_error: None,
            ..
        })
    ));
    a.task.abort();
}

/// A keepalive answered late still counts from when it was *sent*: etcd renewed the
/// lease on arrival, so counting from the answer would outlast the lease.
#[tokio::test(start_paused = true)]
async fn a_late_answer_counts_from_when_the_request_was_sent() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let a = Keeper::spawn(&cluster, "a", None);
    // Led since at most 10 ms before `led`; renews 2/3 s after that, steps down 2 s
    // after, with a 3 s lease.
    let led = until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let lease = a.lease().unwrap();
    a.etcd.set_link(Link::Late);
    // The renewal sent at ~0.67 s is applied then, answered at ~1.9 s (just before the
    // step-down deadline), and nothing gets through afterwards.
    tokio::time::sleep_until(led + Duration::from_millis(1_900)).await;
    a.etcd.set_link(Link::Up);
    tokio::time::sleep_until(led + Duration::from_millis(1_950)).await;
    a.etcd.set_link(Link::Down);
    until(Duration::from_secs(3), || {
        let leading = a.leadership.is_leader();
        assert!(
            !leading || cluster.lock().unwrap().holds_key(lease),
            "still leading after the lease expired"
        );
        !leading
    })
    .await;
    a.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_or_key_makes_the_leader_step_down_and_campaign_again() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let a = Keeper::spawn(&cluster, "a", None);
    until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let first = a.lease().unwrap();

    // Revoked behind its back (as by `etcdctl lease revoke`).
    {
        let mut cluster = cluster.lock().unwrap();
        cluster.leases.remove(&first);
        cluster.drop_key_of(first);
    }
    until(Duration::from_secs(2), || !a.leadership.is_leader()).await;
    assert_eq!(a.leadership.last_step_down(), Some(StepDown::LeaseLost));
    until(Duration::from_secs(2), || a.leadership.is_leader()).await;
    let second = a.lease().unwrap();
    assert_ne!(first, second, "a new lease");

    // The key deleted by hand: the leader notices at its next renewal.
    cluster.lock().unwrap().key = None;
    until(Duration::from_secs(2), || !a.leadership.is_leader()).await;
    assert_eq!(
        a.leadership.last_step_down(),
        Some(StepDown::KeyLost { holder: None })
    );
    until(Duration::from_secs(2), || a.leadership.is_leader()).await;
    assert_eq!(
        a.lease(),
        Some(second),
        "the held lease claims the key again"
    );
    a.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_aborted_campaign_leaves_no_leader_and_the_lease_to_expire() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let a = Keeper::spawn(&cluster, "a", None);
    until(Duration::from_secs(1), || a.leadership.is_leader()).await;
    let b = Keeper::spawn(&cluster, "b", None);
    let lease = a.lease().unwrap();

    a.task.abort();
    let aborted = Instant::now();
    assert!(a.task.await.unwrap_err().is_cancelled());
    assert!(!a.leadership.is_leader());
    assert_eq!(a.leadership.state(), LeaderState::Stopped);

    let took_over = until(Duration::from_secs(5), || b.leadership.is_leader()).await;
    assert!(
        took_over - aborted >= Duration::from_secs(2),
        "b waited for the TTL"
    );
    assert!(
        cluster.lock().unwrap().revoked.is_empty(),
        "nothing revoked"
    );
    assert!(cluster
        .lock()
        .unwrap()
        .expired_at
        .iter()
        .any(|(id, _)| *id == lease));
    b.shutdown().await;
}

/// The safety property, under random faults: whenever a handle says "leader", its lease
/// is live in etcd and holds the key. Seeded, so a failure replays.
#[tokio::test(start_paused = true)]
async fn a_leader_always_holds_the_key_under_a_live_lease_through_random_faults() {
    let cluster: Arc<Mutex<Cluster>> = Arc::default();
    let keepers: Vec<Keeper> = ["a", "b", "c"]
        .iter()
        .map(|id| Keeper::spawn(&cluster, id, None))
        .collect();
    let mut rng = StdRng::seed_from_u64(7);
    let mut led = 0;
    let mut leases_led = std::collections::HashSet::new();
    let end = Instant::now() + Duration::from_secs(600);
    let mut next_fault = Instant::now();
    while Instant::now() < end {
        if Instant::now() >= next_fault {
            let keeper = &keepers[rng.random_range(0..keepers.len())];
            let link = match rng.random_range(0..6) {
                0 => Link::Down,
                1 => Link::Hang,
                2 => Link::Late,
                _ => Link::Up,
            };
            keeper.etcd.set_link(link);
            next_fault = Instant::now() + Duration::from_millis(rng.random_range(100..5_000));
        }
        let mut leading = 0;
        for keeper in &keepers {
            if keeper.leadership.is_leader() {
                leading += 1;
                let lease = keeper.lease().expect("a leader's state names its lease");
                leases_led.insert(lease);
                assert!(
                    cluster.lock().unwrap().holds_key(lease),
                    "a leader without the key at {:?}",
                    end - Instant::now()
                );
            }
        }
        assert!(leading <= 1, "two leaders");
        led += leading;
        sleep(Duration::from_millis(10)).await;
    }
    assert!(led > 1_000, "someone led most of the time: {led} samples");
    assert!(
        leases_led.len() > 5,
        "faults moved leadership: {leases_led:?}"
    );
    for keeper in keepers {
        keeper.task.abort();
    }
}
