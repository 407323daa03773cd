//! The daemon in a fleet sharing work through NATS (`[daemon.fleet]`): connected at
//! start-up like any other check, then a submitter pulling the fleet's work and a loop
//! draining the spool.
//!
//! Owns: those start-up and task lifetimes. Must not: decide anything (the fleet module
//! and the executor do).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::signature::Signer;
use tokio::task::JoinSet;

use super::{Daemon, DaemonError, StopSignal};
use crate::execution::executor::Executor;
use crate::fleet::submit::run_submitter;
use crate::fleet::{Publisher, Submitter, WorkQueue};
use crate::ops::metrics::Metrics;
use crate::periodic::Every;
use crate::store::Store;

/// How often the spool is offered to NATS again, and a submitter's pull waits.
const FLEET_POLL: Duration = Duration::from_secs(1);

/// What a keeper of a fleet holds: its way in (the publisher, through the spool) and out
/// (its submitter).
pub(super) struct FleetParts {
    pub publisher: Publisher,
    submitter: Submitter,
}

impl Daemon {
    /// Connects to the fleet's NATS and makes sure its streams and this keeper's
    /// consumers exist; `None` without `[daemon.fleet]`. A start-up check: nothing has
    /// been sent when it fails.
    pub(super) async fn connect_fleet(&self) -> Result<Option<FleetParts>, DaemonError> {
        let config = &self.config.fleet;
        if !config.enabled() {
            return Ok(None);
        }
        let queue = WorkQueue::connect(config)
            .await
            .map_err(DaemonError::Fleet)?;
        let submitter = queue
            .submitter(&self.keypair.pubkey())
            .await
            .map_err(DaemonError::Fleet)?;
        tracing::info!(urls = %config.nats_urls.join(", "), stream = %config.work_stream, "sharing work with the fleet through NATS JetStream");
        Ok(Some(FleetParts {
            publisher: Publisher::new(queue, self.store.clone()),
            submitter,
        }))
    }
}

impl FleetParts {
    /// Starts this keeper's submitter and the spool's drain.
    pub(super) fn spawn(
        self,
        tasks: &mut JoinSet<()>,
        executor: &Arc<Executor>,
        daemon: &Daemon,
        stop: &StopSignal,
    ) {
        tasks.spawn(run_submitter(
            self.submitter,
            executor.clone(),
            daemon.store.clone(),
            FLEET_POLL,
            stop.stopped(),
        ));
        tasks.spawn(drain_spool(
            self.publisher,
            daemon.store.clone(),
            daemon.metrics.clone(),
            stop.stopped(),
        ));
    }
}

/// Offers what the spool holds to NATS every [`FLEET_POLL`] until `stop`, and keeps the
/// fleet's gauges (spooled here; the streams' depths while NATS answers).
async fn drain_spool(
    publisher: Publisher,
    store: Store,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    let mut every = Every::new(FLEET_POLL, stop);
    while every.tick().await {
        if let Err(e) = publisher.drain().await {
            tracing::warn!(kind = e.kind(), error = %e, "could not drain the fleet spool; trying again");
        }
        if let Ok(spooled) = store.spool_len() {
            metrics
                .fleet_spooled
                .set(i64::try_from(spooled).unwrap_or(i64::MAX));
        }
        if let Ok((pending, dead)) = publisher.queue().depths().await {
            metrics
                .fleet_work_pending
                .set(i64::try_from(pending).unwrap_or(i64::MAX));
            metrics
                .fleet_dead_letters
                .set(i64::try_from(dead).unwrap_or(i64::MAX));
        }
    }
}
