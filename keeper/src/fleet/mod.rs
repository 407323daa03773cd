//! A fleet that scales out: due executions shared through NATS JetStream.
//!
//! With `[daemon.fleet]` set, a keeper that leads (every keeper, without etcd
//! leadership: the stream keeps one copy of each due time whoever publishes it) hands
//! each due execution to the work stream instead of executing it ([`publisher`]; spooled
//! in its store while NATS is out of reach), unless the stream shows the fleet already
//! has it in flight; every keeper's submitter pulls from it and executes through its
//! own executor ([`submit`], [`delivery`]): a delivery is acknowledged when its
//! execution is settled, delivered again after the priority's delay when not, rerouted
//! to the lease holder when only that keeper can sign it, and dead-lettered, with its
//! reason, in a stream every keeper reads once out of deliveries. Each keeper has a
//! route of its own ([`item`]) for the durable threads whose lease it holds. Without
//! `[daemon.fleet]` the keeper works alone on its SQLite store, as it always has.
//!
//! Owns: the settings ([`config`]), what travels and where ([`item`]), the streams
//! ([`queue`]), the pull side ([`delivery`]), the leader's way in through the spool
//! ([`publisher`]), the submitters' loop ([`submit`]) and the fleet's dead letters as
//! `keeper dlq --fleet` prints them ([`report`]). Must not: execute (the executor does)
//! or decide who leads (leadership does).

pub mod config;
pub mod delivery;
pub mod item;
pub mod publisher;
pub mod queue;
pub mod report;
pub mod submit;

pub use config::FleetConfig;
pub use delivery::{Delivery, Submitter};
pub use item::WorkItem;
pub use publisher::{Drained, Handed, Publisher};
pub use queue::{FleetDeadLetter, Published, QueueError, WorkQueue};
