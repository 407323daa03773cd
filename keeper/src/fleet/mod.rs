//! A fleet that scales out: due executions shared through NATS JetStream.
//!
//! With `[daemon.fleet]` set, the keeper leading the fleet (etcd) publishes each due
//! execution once to a work stream ([`queue`]), and every keeper's submitters pull from
//! it: a durable thread's execution from the subject of the keeper holding its lease,
//! any other from the subject all share. A delivery is acknowledged when settled,
//! delivered again after the priority's delay when not, and dead-lettered, with its
//! reason, in a stream every keeper reads once out of deliveries. Without it the keeper
//! works alone on its SQLite store, as it always has.
//!
//! Owns: the settings ([`config`]), what travels ([`item`]), the queue itself
//! ([`queue`]) and the leader's way into it through the spool ([`publisher`]). Must not: execute (the executor does) or decide who leads (leadership
//! does).

pub mod config;
pub mod item;
pub mod publisher;
pub mod queue;
pub mod report;

pub use config::FleetConfig;
pub use item::WorkItem;
pub use publisher::{Drained, Handed, Publisher};
pub use queue::{Delivery, FleetDeadLetter, Published, QueueError, Submitter, WorkQueue};
