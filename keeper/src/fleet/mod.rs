//! A fleet that scales out: due executions shared through NATS JetStream.
//!
//! With `[daemon.fleet]` set, a keeper that leads (every keeper, without etcd
//! leadership: the stream keeps one copy of each due time whoever publishes it) hands
//! each due execution to the work stream instead of executing it ([`publisher`]; spooled
//! in its store while NATS is out of reach), and every keeper's submitter pulls from it
//! and executes through its own executor ([`submit`]): a delivery is acknowledged when
//! its execution is settled, delivered again after the priority's delay when not, and
//! dead-lettered, with its reason, in a stream every keeper reads once out of
//! deliveries. Each keeper also has a subject of its own ([`item`]), for executions only
//! it can sign; nothing is routed there yet. Without `[daemon.fleet]` the keeper works
//! alone on its SQLite store, as it always has.
//!
//! Owns: the settings ([`config`]), what travels ([`item`]), the queue itself
//! ([`queue`]), the leader's way into it through the spool ([`publisher`]) and the
//! submitters' loop ([`submit`]). Must not: execute (the executor does) or decide who leads (leadership
//! does).

pub mod config;
pub mod item;
pub mod publisher;
pub mod queue;
pub mod report;
pub mod submit;

pub use config::FleetConfig;
pub use item::WorkItem;
pub use publisher::{Drained, Handed, Publisher};
pub use queue::{Delivery, FleetDeadLetter, Published, QueueError, Submitter, WorkQueue};
