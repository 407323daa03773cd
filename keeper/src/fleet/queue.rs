//! The fleet's work queue on NATS JetStream: due executions published once, pulled by
//! submitters, acknowledged when settled, delivered again after a delay when not, and
//! dead-lettered with their reason when out of deliveries.
//!
//! Two streams. The work stream (work-queue retention, so an acknowledged execution is
//! gone) holds `<prefix>.work.any.>`, pulled by every submitter through one shared
//! durable consumer, and `<prefix>.work.<pubkey>.>`, pulled only by that keeper (the
//! lease holder of a durable thread); each subject ends in its due time, so what the
//! stream holds is the fleet's in-flight set, which a new leader reads instead of
//! waiting for the old one ([`WorkQueue::routes_in_flight`]). The dead-letter stream
//! (`<prefix>.dead`) keeps what ran out of deliveries, for every keeper to list, retry
//! or purge.
//!
//! Owns: the streams and consumers, publishing with the due time as message id, and the
//! life of a delivery ([`Delivery`]). Must not: execute anything or decide when a thread
//! is due.

use std::sync::Arc;

use async_nats::jetstream::message::{AckKind, Message, StreamMessage};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{
    Config as StreamConfig, LastRawMessageErrorKind, RetentionPolicy, Stream,
};
use async_nats::jetstream::{self, Context};
use async_nats::{ConnectOptions, HeaderMap, ServerAddr};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;

use super::config::FleetConfig;
use super::item::{due_time_filter, route_of, WorkItem};

/// Why the work queue could not do something.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum QueueError {
    #[error("daemon.fleet.nats_urls: {0}")]
    #[strum(serialize = "fleet_url")]
    Url(String),
    #[error("daemon.fleet.password_file {path}: {reason}")]
    #[strum(serialize = "fleet_password")]
    Password { path: String, reason: String },
    #[error("NATS: cannot connect to {urls}: {reason}")]
    #[strum(serialize = "fleet_connect")]
    Connect { urls: String, reason: String },
    #[error("NATS JetStream: {0}")]
    #[strum(serialize = "fleet_jetstream")]
    JetStream(String),
    #[error("a message in the work stream is not an execution: {0}")]
    #[strum(serialize = "fleet_malformed")]
    Malformed(String),
    #[error("the spool in the store: {0}")]
    #[strum(serialize = "fleet_spool")]
    Store(String),
}

impl QueueError {
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

pub(super) fn js_error(e: impl std::fmt::Display) -> QueueError {
    QueueError::JetStream(e.to_string())
}

/// What publishing an execution did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// Stored, at this stream sequence.
    New(u64),
    /// The stream already had this due time within its duplicate window: dropped.
    Duplicate,
}

/// A dead letter in the fleet's dead-letter stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetDeadLetter {
    /// Its sequence in the dead-letter stream: what retry and purge take.
    #[serde(skip)]
    pub id: u64,
    /// `None` for a message that was not an execution at all (its text is in `reason`).
    pub item: Option<WorkItem>,
    /// The failure that used up the last delivery.
    pub reason: String,
    /// Deliveries made.
    pub attempts: u64,
    /// The keeper that gave up on it.
    pub keeper: String,
    /// When (unix seconds).
    pub dead_at: i64,
}

/// A connection to the fleet's streams.
#[derive(Clone)]
pub struct WorkQueue {
    js: Context,
    config: Arc<FleetConfig>,
    /// Both streams, made sure of once at [`WorkQueue::connect`]: no call after that
    /// asks the server for them again.
    streams: Arc<Streams>,
}

struct Streams {
    work: Stream,
    dead: Stream,
}

impl WorkQueue {
    /// Connects to `config.nats_urls` (with its auth and TLS) and makes sure both
    /// streams exist with the settings this keeper expects.
    pub async fn connect(config: &FleetConfig) -> Result<Self, QueueError> {
        let addrs = config
            .nats_urls
            .iter()
            .map(|url| {
                url.parse::<ServerAddr>()
                    .map_err(|e| QueueError::Url(format!("{url:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = ConnectOptions::new()
            .connection_timeout(config.request_timeout())
            .request_timeout(Some(config.request_timeout()))
            .name("thread-keeper");
        if let (Some(user), Some(path)) = (&config.user, &config.password_file) {
            let password = std::fs::read_to_string(path).map_err(|e| QueueError::Password {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            options = options.user_and_password(user.clone(), password.trim().to_string());
        }
        if let Some(ca) = &config.ca_file {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        let urls = config.nats_urls.join(", ");
        let client = options
            .connect(addrs)
            .await
            .map_err(|e| QueueError::Connect {
                urls: urls.clone(),
                reason: e.to_string(),
            })?;
        // JetStream calls have their own bound (5 s unless set): the same as the rest.
        let mut js = jetstream::new(client);
        js.set_timeout(config.request_timeout());
        let prefix = &config.subject_prefix;
        let work = js
            .get_or_create_stream(StreamConfig {
                name: config.work_stream.clone(),
                subjects: vec![format!("{prefix}.work.>")],
                retention: RetentionPolicy::WorkQueue,
                duplicate_window: config.duplicate_window(),
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        let dead = js
            .get_or_create_stream(StreamConfig {
                name: config.dead_letter_stream.clone(),
                subjects: vec![format!("{}.>", dead_subject_root(config))],
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        Ok(Self {
            js,
            config: Arc::new(config.clone()),
            streams: Arc::new(Streams { work, dead }),
        })
    }

    fn dead_subject_root(&self) -> String {
        dead_subject_root(&self.config)
    }

    /// Where a due time's dead letter goes: a subject of its own, so that whether it is
    /// dead-lettered is one lookup ([`WorkQueue::is_dead_lettered`]).
    fn dead_subject(&self, item: Option<&WorkItem>) -> String {
        match item {
            Some(item) => format!(
                "{}.{}.{}",
                self.dead_subject_root(),
                item.thread,
                item.exec_count
            ),
            None => format!("{}.poison", self.dead_subject_root()),
        }
    }

    /// Whether the fleet's dead-letter stream holds this due time: a leader does not
    /// hand it over again until an operator retries it (which takes it out).
    pub async fn is_dead_lettered(&self, item: &WorkItem) -> Result<bool, QueueError> {
        match self
            .streams
            .dead
            .get_last_raw_message_by_subject(&self.dead_subject(Some(item)))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(false),
            Err(e) => Err(js_error(e)),
        }
    }

    /// The routes on which `item`'s due time waits in the work stream, or is in a
    /// submitter's hands: the fleet's in-flight set for one due time, as the stream
    /// holds it whoever published it.
    pub async fn routes_in_flight(
        &self,
        item: &WorkItem,
    ) -> Result<Vec<Option<Pubkey>>, QueueError> {
        let prefix = &self.config.subject_prefix;
        let filter = due_time_filter(prefix, &item.thread, item.exec_count);
        let mut subjects = self
            .streams
            .work
            .info_with_subjects(&filter)
            .await
            .map_err(js_error)?;
        let mut routes = Vec::new();
        while let Some(entry) = subjects.next().await {
            let (subject, count) = entry.map_err(js_error)?;
            if count > 0 {
                routes.extend(route_of(prefix, &subject));
            }
        }
        Ok(routes)
    }

    /// Publishes `item` once: a second publish of the same due time within the
    /// duplicate window (a new leader's, a retry's) is dropped by the stream.
    pub async fn publish(&self, item: &WorkItem) -> Result<Published, QueueError> {
        self.publish_as(item, item.message_id()).await
    }

    async fn publish_as(&self, item: &WorkItem, id: String) -> Result<Published, QueueError> {
        let payload = serde_json::to_vec(item).expect("a work item serializes");
        let subject = item.subject(&self.config.subject_prefix);
        let ack = self.publish_with_id(subject, Some(id), payload).await?;
        Ok(if ack.duplicate {
            Published::Duplicate
        } else {
            Published::New(ack.sequence)
        })
    }

    /// The fleet's settings this queue was connected with.
    pub(super) fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// The work stream.
    pub(super) fn work_stream(&self) -> &Stream {
        &self.streams.work
    }

    /// How many executions the work stream holds (waiting or in a submitter's hands)
    /// and how many dead letters the fleet has.
    pub async fn depths(&self) -> Result<(u64, u64), QueueError> {
        let pending = messages_in(&self.streams.work).await?;
        let letters = messages_in(&self.streams.dead).await?;
        Ok((pending, letters))
    }

    /// Every dead letter of the fleet, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<FleetDeadLetter>, QueueError> {
        let mut stream = self.streams.dead.clone();
        let state = stream.info().await.map_err(js_error)?.state.clone();
        let mut letters = Vec::new();
        if state.messages == 0 {
            return Ok(letters);
        }
        for sequence in state.first_sequence..=state.last_sequence {
            match stream.get_raw_message(sequence).await {
                Ok(message) => letters.push(letter_of(&message)?),
                // Purged ones leave gaps.
                Err(e)
                    if e.kind()
                        == async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(js_error(e)),
            }
        }
        Ok(letters)
    }

    /// Puts dead letter `id` back in the work stream (under a new message id: its due
    /// time's own was seen) and removes it from the dead letters.
    pub async fn retry_dead_letter(&self, id: u64) -> Result<WorkItem, QueueError> {
        let letter = self.dead_letter(id).await?;
        let Some(item) = letter.item else {
            return Err(QueueError::Malformed(format!(
                "dead letter {id} is not an execution, so there is nothing to retry: {}; purge it",
                letter.reason
            )));
        };
        self.publish_as(&item, format!("{}:retry:{id}", item.message_id()))
            .await?;
        self.purge_dead_letter(id).await?;
        Ok(item)
    }

    /// Removes dead letter `id` for good.
    pub async fn purge_dead_letter(&self, id: u64) -> Result<(), QueueError> {
        self.streams
            .dead
            .delete_message(id)
            .await
            .map_err(js_error)?;
        Ok(())
    }

    async fn dead_letter(&self, id: u64) -> Result<FleetDeadLetter, QueueError> {
        let message = self
            .streams
            .dead
            .get_raw_message(id)
            .await
            .map_err(js_error)?;
        letter_of(&message)
    }

    /// Records `message` (`item`, when it is an execution) in the dead-letter stream with
    /// `reason`, then ends it in the work stream. Recorded first, so a crash between the
    /// two leaves a delivery that comes back rather than a lost one; recording it again
    /// then is dropped within the duplicate window.
    pub(super) async fn bury(
        &self,
        message: &Message,
        item: Option<WorkItem>,
        reason: String,
        attempts: u64,
        keeper: &Pubkey,
    ) -> Result<(), QueueError> {
        let letter = FleetDeadLetter {
            id: 0,
            item,
            reason,
            attempts,
            keeper: keeper.to_string(),
            dead_at: chrono::Utc::now().timestamp(),
        };
        let payload = serde_json::to_vec(&letter).expect("a dead letter serializes");
        let id = item.map(|item| format!("{}:dead:{attempts}", item.message_id()));
        let subject = self.dead_subject(item.as_ref());
        self.publish_with_id(subject, id, payload).await?;
        message
            .double_ack_with(AckKind::Term)
            .await
            .map_err(js_error)
    }

    /// Publishes `payload` on `subject` (with `id` as its `Nats-Msg-Id`, so the stream
    /// keeps it once within its duplicate window) and waits for the stream's ack.
    async fn publish_with_id(
        &self,
        subject: String,
        id: Option<String>,
        payload: Vec<u8>,
    ) -> Result<PublishAck, QueueError> {
        let mut headers = HeaderMap::new();
        if let Some(id) = &id {
            headers.insert("Nats-Msg-Id", id.as_str());
        }
        self.js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)
    }
}

/// How many messages `stream` holds now.
async fn messages_in(stream: &Stream) -> Result<u64, QueueError> {
    let mut stream = stream.clone();
    let info = stream.info().await.map_err(js_error)?;
    Ok(info.state.messages)
}

/// The root of the dead-letter stream's subjects.
fn dead_subject_root(config: &FleetConfig) -> String {
    format!("{}.dead", config.subject_prefix)
}

/// The dead letter a message of the dead-letter stream holds, its id its sequence.
fn letter_of(message: &StreamMessage) -> Result<FleetDeadLetter, QueueError> {
    let mut letter: FleetDeadLetter = serde_json::from_slice(&message.payload)
        .map_err(|e| QueueError::Malformed(e.to_string()))?;
    letter.id = message.sequence;
    Ok(letter)
}
