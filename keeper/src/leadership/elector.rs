//! The campaign: an [`Elector`] competes for the leader key through an
//! [`ElectionStore`] (etcd in production, a fake in unit tests), keeps its lease alive
//! while it leads, steps down when it cannot, campaigns again, and revokes its lease on
//! shutdown.
//!
//! Owns the lease this keeper holds (at most one), the election protocol and the
//! step-down rule. Must not: execute anything or know what leading is for; it publishes
//! through its [`Publisher`] and the daemon consults the [`super::Leadership`] handle.
//! Time is `tokio::time` (monotonic).
//!
//! **Election.** Each round reads the key. Absent: take a lease (a fresh grant, or the
//! lease already held, renewed) and claim the key in one transaction, `create_revision
//! (key) == 0` -> `put key = id with lease`, else read it. Held by another lease: follow
//! that holder (and revoke the lease held, unused). Held under this keeper's own lease
//! (after stepping down while etcd was away, or when a claim's answer was lost): renew
//! that lease and lead again. Followers watch the key and start the next round as soon
//! as it is deleted (revoked, or its lease expired) or taken by another lease; a watch is
//! set up again every lease TTL, and after an error the next round waits
//! `poll_interval`.
//!
//! **Step-down rule, and why it is safe.** Every confirmation of the lease (the grant or
//! keepalive before a won claim, then each renewal) is timed from the moment its request
//! was *sent*. etcd extends a lease to `TTL` after it processes a grant or keepalive,
//! which is after the request was sent, so the lease, and the key attached to it, outlive
//! `sent + TTL`. The leader acts only until `sent + fraction x TTL` (default 2/3) of its
//! last confirmed renewal, and [`super::Leadership::is_leader`] checks that deadline
//! itself. Another keeper can only claim the key once it is gone, that is after the lease
//! expired or was revoked, so the old leader has stopped acting `(1 - fraction) x TTL`
//! before anyone else can start: the margin covers the two monotonic clocks' rates and
//! the daemon noticing. A renewal (keepalive, then a read confirming that the key is
//! still under this lease) is tried every third of the window, retried after half of
//! that on failure, and raced against the deadline, so a hung request cannot keep a
//! leader past it. Without etcd nobody can confirm anything, so nobody leads. The one
//! thing this cannot protect against is someone deleting the key by hand: the leader
//! notices at its next renewal (a third of the window later), and another keeper may
//! already have claimed it by then.
//!
//! **Shutdown** publishes "not leader" *before* revoking the lease (so no one can be
//! elected while this keeper still acts), revokes it so a follower, watching the key,
//! takes over at once instead of after a TTL, then returns. A campaign that is aborted instead
//! revokes nothing: the lease expires after its TTL.

use std::future::Future;
use std::time::Duration;

use prometheus::Registry;
use tokio::time::{sleep, sleep_until, Instant};

use super::config::LeadershipConfig;
use super::error::LeadershipError;
use super::state::{LeaderState, Leadership, Publisher, StepDown};
use super::store::{Claim, ElectionStore, ElectionStoreError, Holder};

/// The lease this keeper holds, with the TTL it counts on (the smaller of the
/// configured and the granted one).
#[derive(Debug, Clone, Copy)]
struct HeldLease {
    id: i64,
    ttl: Duration,
}

/// How a campaign round ended.
enum Round {
    /// The key is under the held lease, confirmed by a request sent at `confirmed`.
    Won {
        confirmed: Instant,
    },
    Following(Holder),
    /// The held lease turned out to be gone; campaign again.
    Again,
}

/// How a renewal ended.
enum Renewal {
    /// The lease is alive (its TTL) and still holds the key.
    Confirmed(Duration),
    LeaseLost,
    KeyLost(Option<Holder>),
}

/// Competes for the leader key; see the module docs.
pub struct Elector<S> {
    store: S,
    key: String,
    id: String,
    ttl: Duration,
    fraction: f64,
    poll_interval: Duration,
    publisher: Publisher,
}

impl<S: ElectionStore> Elector<S> {
    /// An elector for `key` as `id`, timed by `config` (its `endpoints`, `key` and `id`
    /// are not read here), and the handle it feeds, starting in
    /// [`LeaderState::Starting`]. With a `registry`, registers `keeper_leader` on it.
    pub fn new(
        store: S,
        key: String,
        id: String,
        config: &LeadershipConfig,
        registry: Option<&Registry>,
    ) -> Result<(Leadership, Self), LeadershipError> {
        config.validate()?;
        let (publisher, leadership) =
            Publisher::new(LeaderState::Starting, key.clone(), id.clone(), registry)?;
        let elector = Self {
            store,
            key,
            id,
            ttl: config.lease_ttl(),
            fraction: config.step_down_fraction,
            poll_interval: config.poll_interval(),
            publisher,
        };
        Ok((leadership, elector))
    }

    /// How long after its confirming request was sent a lease of `ttl` may be acted on.
    fn window(&self, ttl: Duration) -> Duration {
        ttl.min(self.ttl).mul_f64(self.fraction)
    }

    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }

    fn held(&self, id: i64, ttl_secs: i64) -> HeldLease {
        let granted = Duration::from_secs(u64::try_from(ttl_secs).unwrap_or(0));
        HeldLease {
            id,
            ttl: granted.min(self.ttl),
        }
    }

    /// Campaigns until `shutdown` resolves; then stops leading, revokes the lease it
    /// holds (if any) and returns, having published [`LeaderState::Stopped`].
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut held: Option<HeldLease> = None;
        loop {
            let round = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                round = self.round(&mut held) => round,
            };
            match round {
                Ok(Round::Won { confirmed }) => {
                    let Some(lease) = held else {
                        continue;
                    };
                    let deadline = confirmed + self.window(lease.ttl);
                    if Instant::now() >= deadline {
                        // Confirmed too long ago to act on; the next round renews first.
                        tracing::debug!(key = %self.key, "claim confirmed too late to lead");
                    } else {
                        self.publisher.lead(lease.id, deadline);
                        let reason = tokio::select! {
                            biased;
                            _ = &mut shutdown => break,
                            reason = self.lead(lease, confirmed) => reason,
                        };
                        if reason == StepDown::LeaseLost {
                            held = None;
                        }
                        self.publisher.step_down(reason);
                    }
                }
                Ok(Round::Following(holder)) => {
                    self.publisher.follow(holder.id.clone());
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        _ = self.follow(&holder) => {}
                    }
                    continue;
                }
                Ok(Round::Again) => continue,
                Err(error) => self.publisher.unavailable(error),
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = sleep(self.poll_interval) => {}
            }
        }
        // Not leader from here on, and only then is the lease given up.
        self.publisher.stop();
        if let Some(lease) = held {
            match self.store.revoke(lease.id).await {
                Ok(()) => tracing::info!(key = %self.key, lease = lease.id, "lease revoked"),
                Err(error) => tracing::warn!(
                    key = %self.key,
                    lease = lease.id,
                    kind = error.kind(),
                    "revoking the lease failed, it expires by itself: {error}"
                ),
            }
        }
    }

    /// One election round (see the module docs). `held` is updated as soon as a lease is
    /// taken, so that a round abandoned at shutdown still leaves it to revoke.
    async fn round(&self, held: &mut Option<HeldLease>) -> Result<Round, ElectionStoreError> {
        match self.store.holder(&self.key).await? {
            Some(holder) if held.is_some_and(|lease| lease.id == holder.lease) => {
                let sent = Instant::now();
                match self.store.keep_alive(holder.lease).await? {
                    Some(ttl) => {
                        *held = Some(self.held(holder.lease, ttl));
                        Ok(Round::Won { confirmed: sent })
                    }
                    None => {
                        *held = None;
                        Ok(Round::Again)
                    }
                }
            }
            Some(holder) => {
                self.release(held).await;
                Ok(Round::Following(holder))
            }
            None => {
                let sent = Instant::now();
                let lease = self.take_lease(held).await?;
                match self.store.claim(&self.key, &self.id, lease.id).await? {
                    Claim::Won => Ok(Round::Won { confirmed: sent }),
                    // A claim applied twice (its first answer lost) finds its own put.
                    Claim::Held(holder) if holder.lease == lease.id => {
                        Ok(Round::Won { confirmed: sent })
                    }
                    Claim::Held(holder) => {
                        self.release(held).await;
                        Ok(Round::Following(holder))
                    }
                }
            }
        }
    }

    /// Waits while `holder` leads: on a watch of the key, so the next round starts as
    /// soon as the key is free; the watch is set up again every lease TTL in case one
    /// was lost without a word. A store that cannot watch is read every poll interval.
    async fn follow(&self, holder: &Holder) {
        if let Err(error) = self
            .store
            .wait_while_held(&self.key, holder, self.ttl)
            .await
        {
            tracing::debug!(key = %self.key, kind = error.kind(), %error, "watching the leader key failed; reading it again after the poll interval");
            sleep(self.poll_interval).await;
        }
    }

    /// The held lease renewed, or a new one; recorded in `held` before returning.
    async fn take_lease(
        &self,
        held: &mut Option<HeldLease>,
    ) -> Result<HeldLease, ElectionStoreError> {
        if let Some(lease) = *held {
            match self.store.keep_alive(lease.id).await? {
                Some(ttl) => {
                    let lease = self.held(lease.id, ttl);
                    *held = Some(lease);
                    return Ok(lease);
                }
                None => *held = None,
            }
        }
        let granted = self.store.grant(self.ttl_secs()).await?;
        let lease = self.held(granted.id, granted.ttl_secs);
        *held = Some(lease);
        Ok(lease)
    }

    /// Revokes the held lease, unused, if any. Best effort: it expires anyway.
    async fn release(&self, held: &mut Option<HeldLease>) {
        if let Some(lease) = held.take() {
            if let Err(error) = self.store.revoke(lease.id).await {
                tracing::debug!(lease = lease.id, %error, "revoking an unused lease failed");
            }
        }
    }

    /// Leads under `lease`, last confirmed by a request sent at `confirmed`, until it
    /// must step down; returns why.
    async fn lead(&self, lease: HeldLease, mut confirmed: Instant) -> StepDown {
        let mut deadline = confirmed + self.window(lease.ttl);
        let interval = self.window(lease.ttl) / 3;
        let mut next = confirmed + interval;
        let mut last_error: Option<ElectionStoreError> = None;
        loop {
            tokio::select! {
                biased;
                _ = sleep_until(deadline) => return stale(confirmed, last_error),
                _ = sleep_until(next) => {}
            }
            let sent = Instant::now();
            let outcome = tokio::select! {
                biased;
                _ = sleep_until(deadline) => return stale(confirmed, last_error),
                outcome = self.renew(lease.id) => outcome,
            };
            match outcome {
                Ok(Renewal::Confirmed(ttl)) => {
                    confirmed = sent;
                    deadline = sent + self.window(ttl);
                    next = sent + interval;
                    last_error = None;
                    self.publisher.extend(deadline);
                }
                Ok(Renewal::LeaseLost) => return StepDown::LeaseLost,
                Ok(Renewal::KeyLost(holder)) => {
                    return StepDown::KeyLost {
                        holder: holder.map(|h| h.id),
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        key = %self.key,
                        kind = error.kind(),
                        left_ms = deadline.saturating_duration_since(Instant::now()).as_millis(),
                        "renewing the leader lease failed: {error}"
                    );
                    last_error = Some(error);
                    next = Instant::now() + interval / 2;
                }
            }
        }
    }

    /// Keepalive, then a read confirming that the key is still under the lease.
    async fn renew(&self, lease: i64) -> Result<Renewal, ElectionStoreError> {
        let Some(ttl) = self.store.keep_alive(lease).await? else {
            return Ok(Renewal::LeaseLost);
        };
        match self.store.holder(&self.key).await? {
            Some(holder) if holder.lease == lease => Ok(Renewal::Confirmed(Duration::from_secs(
                u64::try_from(ttl).unwrap_or(0),
            ))),
            other => Ok(Renewal::KeyLost(other)),
        }
    }
}

fn stale(confirmed: Instant, last_error: Option<ElectionStoreError>) -> StepDown {
    StepDown::Stale {
        since_confirmed: confirmed.elapsed(),
        last_error,
    }
}
