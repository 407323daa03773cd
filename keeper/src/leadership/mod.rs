//! Leadership of a fleet of keepers, so that keepers do not pay fees to race each other:
//! several keepers watch the same cluster, only the
//! leader executes, the others stay warm (discovery and scheduling keep running) and one
//! of them takes over within a lease TTL when the leader dies, stops or loses etcd.
//!
//! Owns: deciding whether this keeper leads, through an etcd lease and key
//! ([`elector`]: the protocol and the step-down rule, with why it is safe), and telling
//! the rest of the keeper ([`Leadership`]: `is_leader()` and a watch of
//! [`LeaderState`]). Must not: execute, schedule or hold anything back itself; the
//! daemon asks [`Leadership::is_leader`] before it executes. Nor does it make double
//! execution impossible: the thread program refuses a due time executed twice and
//! durable threads have on-chain leases; leadership is about not wasting fees on keepers
//! racing each other, and about a clean failover.
//!
//! Without etcd endpoints (the default) a keeper is alone and always leads, through the
//! same two types, so the daemon's code is the same either way:
//!
//! ```no_run
//! # async fn example(config: keeper::leadership::LeadershipConfig,
//! #     program: solana_sdk::pubkey::Pubkey, me: solana_sdk::pubkey::Pubkey) {
//! let (leadership, campaign) = keeper::leadership::start(&config, &program, &me, None).unwrap();
//! let campaign = campaign.spawn();
//! if leadership.is_leader() { /* execute */ }
//! // After the executor stopped: the lease is revoked, within a deadline.
//! let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
//! campaign.leave(deadline).await;
//! # }
//! ```
//!
//! Files: [`config`] (the typed configuration), [`access`] (etcd auth and TLS, read
//! from the files the configuration names), [`state`] (the handle, the states and
//! the publisher that logs and gauges transitions), [`elector`] (the campaign loop over
//! an [`ElectionStore`]), [`store`] (that trait, its answers and
//! [`ElectionStoreError`]), [`etcd`] (the store over etcd's JSON gateway), `gateway`
//! (the gateway's JSON) and `error` ([`LeadershipError`]).

pub mod access;
pub mod config;
pub mod elector;
mod error;
pub mod etcd;
mod gateway;
pub mod state;
pub mod store;
#[cfg(test)]
mod tests;

use std::future::Future;

use prometheus::Registry;
use solana_sdk::pubkey::Pubkey;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use access::{AccessFileError, Credentials, EtcdAccess};
pub use config::{LeadershipConfig, LeadershipConfigError};
pub use elector::Elector;
pub use error::LeadershipError;
pub use etcd::EtcdClient;
pub use state::{LeaderState, Leadership, Publisher, StepDown, LEADER_METRIC};
pub use store::{Claim, ElectionStore, ElectionStoreError, Granted, Holder};

/// The task behind a [`Leadership`]: run it (spawned) for as long as the keeper runs.
pub enum Campaign {
    /// A keeper alone: leads until shutdown.
    Alone(Publisher),
    /// A keeper of a fleet: campaigns through etcd.
    Etcd(Box<Elector<EtcdClient>>),
}

impl Campaign {
    /// Runs until `shutdown` resolves; returns once this keeper is no longer leader (and,
    /// in a fleet, its lease is revoked, which waits at most `request_timeout_ms` per
    /// endpoint). Resolve `shutdown` once the executor has stopped: from then on this
    /// keeper is not leader. Dropping the campaign instead (aborting its task) ends
    /// leadership at once but leaves the lease to expire after its TTL.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        match self {
            Self::Alone(publisher) => {
                shutdown.await;
                publisher.stop();
            }
            Self::Etcd(elector) => elector.run(shutdown).await,
        }
    }
}

/// A [`Campaign`] running in its own task. Only [`CampaignTask::leave`] (at the end of
/// shutdown, once nothing of this keeper's is under way) ends it gracefully, revoking
/// the lease. Dropped instead, it aborts the campaign: not leader at once, and the
/// lease, unrevoked, expires after its TTL, as if the process died.
pub struct CampaignTask {
    stop: oneshot::Sender<()>,
    task: JoinSet<()>,
}

impl Campaign {
    /// Runs the campaign in its own task until [`CampaignTask::leave`].
    pub fn spawn(self) -> CampaignTask {
        let (stop, stopped) = oneshot::channel::<()>();
        let mut task = JoinSet::new();
        task.spawn(self.run(async move {
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        CampaignTask { stop, task }
    }
}

impl CampaignTask {
    /// Stops campaigning and leaves the fleet, waiting until `deadline` at most.
    pub async fn leave(mut self, deadline: Instant) {
        let _ = self.stop.send(());
        if tokio::time::timeout_at(deadline, self.task.join_next())
            .await
            .is_err()
        {
            // Dropped, the campaign stops where it stands: its etcd lease, unrevoked,
            // expires after its TTL, as if the process had died.
            tracing::warn!("shutdown deadline reached before leaving the fleet");
        }
    }
}

/// Leadership as `config` says: alone without endpoints, else campaigning for
/// `config.key_for(program_id)` as `config.id_for(keeper)`. With a `registry`,
/// registers `keeper_leader` on it.
pub fn start(
    config: &LeadershipConfig,
    program_id: &Pubkey,
    keeper: &Pubkey,
    registry: Option<&Registry>,
) -> Result<(Leadership, Campaign), LeadershipError> {
    config.validate()?;
    if !config.is_fleet() {
        let (publisher, leadership) = Publisher::new(
            LeaderState::Leader { lease: None },
            String::new(),
            String::new(),
            registry,
        )?;
        return Ok((leadership, Campaign::Alone(publisher)));
    }
    let access = EtcdAccess::from_config(config)?;
    if access.credentials.is_some() && config.endpoints.iter().any(|e| e.starts_with("http://")) {
        tracing::warn!("daemon.leadership: the etcd password goes to http:// endpoints unencrypted; use https://");
    }
    let client = EtcdClient::with_access(&config.endpoints, config.request_timeout(), &access)?;
    let (leadership, elector) = Elector::new(
        client,
        config.key_for(program_id),
        config.id_for(keeper),
        config,
        registry,
    )?;
    Ok((leadership, Campaign::Etcd(Box::new(elector))))
}
