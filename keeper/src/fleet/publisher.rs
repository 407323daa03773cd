//! The leader's side of the work queue: each due execution published once, or, while
//! NATS is out of reach, spooled in the keeper's SQLite store and published when it is
//! back ([`Publisher::drain`]).
//!
//! A publish that fails may still reach the stream (the client sends what it buffered
//! once it reconnects): "failed" means "unknown". Both outcomes are safe to follow with
//! a publish of the same due time, which the stream keeps once (its message id is the
//! due time on its route), so nothing is lost and nothing doubled. Before publishing,
//! the stream is asked whether the fleet already has the due time in flight or
//! dead-lettered. Owns: choosing between publish and
//! spool, and draining. Must not: schedule or execute.

use serde_json::from_str;

use super::item::WorkItem;
use super::queue::{Published, QueueError, WorkQueue};
use crate::store::Store;

/// What became of one due execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handed {
    /// In the work stream (or already there).
    Published(Published),
    /// The fleet has the due time in flight already (whoever published it): nothing
    /// was published.
    InFlight,
    /// Kept in the spool until NATS answers again.
    Spooled,
    /// The fleet gave up on this due time (it is in the dead-letter stream): not handed
    /// over again until an operator retries it.
    DeadLettered,
}

impl Handed {
    /// Its label in `keeper_fleet_handovers_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Published(Published::New(_)) => "published",
            Self::Published(Published::Duplicate) => "duplicate",
            Self::InFlight => "in_flight",
            Self::Spooled => "spooled",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// What one [`Publisher::drain`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    pub published: usize,
    /// Still spooled (NATS did not answer, or more than one pass takes).
    pub left: usize,
}

/// Spooled messages published per drain pass.
const DRAIN_BATCH: usize = 256;

/// Publishes to the fleet's work stream through the spool.
#[derive(Clone)]
pub struct Publisher {
    queue: WorkQueue,
    store: Store,
}

impl Publisher {
    pub fn new(queue: WorkQueue, store: Store) -> Self {
        Self { queue, store }
    }

    /// Publishes `item`, unless the fleet already has its due time in flight or
    /// dead-lettered, or spools it when NATS does not answer. Only a store that cannot
    /// spool is an error: then nothing holds the due time but the chain, and the
    /// scheduler offers it again.
    pub async fn hand_over(&self, item: &WorkItem) -> Result<Handed, QueueError> {
        // A NATS that does not answer a lookup would not take the publish either:
        // spooled at once, after one timeout rather than several. The spool checks
        // nothing (the drain publishes; a dead letter's copy dies the same way again).
        let published = match self.standing(item).await {
            Ok(Some(handed)) => return Ok(handed),
            Ok(None) => self.queue.publish(item).await,
            Err(e) => Err(e),
        };
        match published {
            Ok(published) => Ok(Handed::Published(published)),
            Err(e) => {
                tracing::warn!(thread = %item.thread, exec_count = item.exec_count, error = %e, "the fleet queue did not take an execution; spooled until it answers");
                let payload = serde_json::to_string(item).expect("a work item serializes");
                self.store
                    .spool_put(&item.message_id(), &payload)
                    .map_err(|e| QueueError::Store(e.to_string()))?;
                Ok(Handed::Spooled)
            }
        }
    }

    /// What the fleet already does with `item`'s due time, if anything: dead-lettered,
    /// or in flight on the shared route or on the route `item` takes. A copy waiting
    /// only on another keeper's route (one whose lease has lapsed or moved since) does
    /// not count: that keeper may be gone, so the due time is published on its route now.
    async fn standing(&self, item: &WorkItem) -> Result<Option<Handed>, QueueError> {
        if self.queue.is_dead_lettered(item).await? {
            return Ok(Some(Handed::DeadLettered));
        }
        let routes = self.queue.routes_in_flight(item).await?;
        let in_flight = routes
            .iter()
            .any(|route| route.is_none() || *route == item.submitter);
        Ok(in_flight.then_some(Handed::InFlight))
    }

    /// The queue it publishes to.
    pub fn queue(&self) -> &WorkQueue {
        &self.queue
    }

    /// Publishes what the spool holds, oldest first, until the spool is empty or NATS
    /// stops answering.
    pub async fn drain(&self) -> Result<Drained, QueueError> {
        let store_error = |e: crate::store::StoreError| QueueError::Store(e.to_string());
        let mut drained = Drained::default();
        let spooled = self.store.spool_oldest(DRAIN_BATCH).map_err(store_error)?;
        for entry in &spooled {
            let item: WorkItem = match from_str(&entry.payload) {
                Ok(item) => item,
                Err(e) => {
                    // Written by this keeper, so only a damaged file does this: say so
                    // and drop it rather than stall every later one behind it.
                    tracing::error!(message_id = %entry.message_id, error = %e, "a spooled execution does not parse; dropped");
                    self.store
                        .spool_remove(&entry.message_id)
                        .map_err(store_error)?;
                    continue;
                }
            };
            if self.queue.publish(&item).await.is_err() {
                break;
            }
            self.store
                .spool_remove(&entry.message_id)
                .map_err(store_error)?;
            drained.published += 1;
        }
        drained.left = self.store.spool_len().map_err(store_error)?;
        if drained.published > 0 {
            tracing::info!(
                published = drained.published,
                left = drained.left,
                "spooled executions published to the fleet queue"
            );
        }
        Ok(drained)
    }
}
