//! The fleet's work queue on NATS JetStream: due executions published once, pulled by
//! submitters, acknowledged when settled, delivered again after a delay when not, and
//! dead-lettered with their reason when out of deliveries.
//!
//! Two streams. The work stream (work-queue retention, so an acknowledged execution is
//! gone) holds `<prefix>.work.any`, pulled by every submitter through one shared durable
//! consumer, and `<prefix>.work.keeper.<pubkey>`, pulled only by that keeper (the lease
//! holder of a durable thread). The dead-letter stream (`<prefix>.dead`) keeps what ran
//! out of deliveries, for every keeper to list, retry or purge.
//!
//! Owns: the streams and consumers, publishing with the due time as message id, and the
//! life of a delivery ([`Delivery`]). Must not: execute anything or decide when a thread
//! is due.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
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
use super::item::{any_subject, keeper_subject, WorkItem};

/// Why the work queue could not do something.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("daemon.fleet.nats_urls: {0}")]
    Url(String),
    #[error("daemon.fleet.password_file {path}: {reason}")]
    Password { path: String, reason: String },
    #[error("NATS: cannot connect to {urls}: {reason}")]
    Connect { urls: String, reason: String },
    #[error("NATS JetStream: {0}")]
    JetStream(String),
    #[error("a message in the work stream is not an execution: {0}")]
    Malformed(String),
    #[error("the spool in the store: {0}")]
    Store(String),
}

impl QueueError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Url(_) => "fleet_url",
            Self::Password { .. } => "fleet_password",
            Self::Connect { .. } => "fleet_connect",
            Self::JetStream(_) => "fleet_jetstream",
            Self::Malformed(_) => "fleet_malformed",
            Self::Store(_) => "fleet_spool",
        }
    }
}

fn js_error(e: impl std::fmt::Display) -> QueueError {
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

    /// The submitter's side for keeper `me`: the shared consumer and its own.
    pub async fn submitter(&self, me: &Pubkey) -> Result<Submitter, QueueError> {
        let stream = &self.streams.work;
        let prefix = &self.config.subject_prefix;
        let consumer = |name: String, subject: String| {
            let stream = stream.clone();
            let config = PullConfig {
                durable_name: Some(name),
                filter_subject: subject,
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.config.ack_wait(),
                max_deliver: i64::from(self.config.max_deliver),
                ..Default::default()
            };
            async move {
                stream
                    .get_or_create_consumer(&config.durable_name.clone().unwrap(), config)
                    .await
                    .map_err(js_error)
            }
        };
        let shared: PullConsumer = consumer("submit-any".into(), any_subject(prefix)).await?;
        let own: PullConsumer =
            consumer(format!("submit-{me}"), keeper_subject(prefix, me)).await?;
        Ok(Submitter {
            queue: self.clone(),
            consumers: [own, shared],
            me: *me,
        })
    }

    /// How many executions the work stream holds (waiting or in a submitter's hands)
    /// and how many dead letters the fleet has.
    pub async fn depths(&self) -> Result<(u64, u64), QueueError> {
        let pending = self
            .streams
            .work
            .clone()
            .info()
            .await
            .map_err(js_error)?
            .state
            .messages;
        let letters = self
            .streams
            .dead
            .clone()
            .info()
            .await
            .map_err(js_error)?
            .state
            .messages;
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
    async fn bury(
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

/// A keeper's pull side: its own subject first, then the shared one.
pub struct Submitter {
    queue: WorkQueue,
    /// `[own, shared]`.
    consumers: [PullConsumer; 2],
    me: Pubkey,
}

impl Submitter {
    /// Up to `max` deliveries, waiting at most `wait` for the first: this keeper's own
    /// first, then the shared subject's.
    pub async fn next(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let mut deliveries = Vec::new();
        for consumer in &self.consumers {
            let room = max.saturating_sub(deliveries.len());
            if room == 0 {
                break;
            }
            let wait = if deliveries.is_empty() {
                wait
            } else {
                Duration::from_millis(1)
            };
            let mut batch = consumer
                .fetch()
                .max_messages(room)
                .expires(wait.max(Duration::from_millis(1)))
                .messages()
                .await
                .map_err(js_error)?;
            while let Some(message) = batch.next().await {
                let message = message.map_err(js_error)?;
                match Delivery::of(message, self) {
                    Received::Work(delivery) => deliveries.push(*delivery),
                    Received::Poison(poison) => poison.bury(&self.queue, &self.me).await?,
                }
            }
        }
        Ok(deliveries)
    }
}

/// One delivery of a due execution to this keeper; settle it with one of its methods,
/// each of which returns once the server has taken the settlement (a lost ack would
/// only bring the delivery back, but a caller reading the stream next must see it).
/// Dropped unsettled (a keeper killed mid-execution), it is delivered again, to any
/// submitter of its subject, after `ack_wait`.
pub struct Delivery {
    pub item: WorkItem,
    /// This is its `attempt`-th delivery (1 for the first).
    pub attempt: u64,
    message: Message,
    queue: WorkQueue,
    keeper: Pubkey,
}

impl Delivery {
    /// The delivery of `message`, or, when it is not an execution at all, the poison to
    /// bury: never runnable, so it is not delivered again but dead-lettered at once.
    fn of(message: Message, submitter: &Submitter) -> Received {
        let attempt = message
            .info()
            .map(|info| u64::try_from(info.delivered).unwrap_or(1))
            .unwrap_or(1);
        match serde_json::from_slice::<WorkItem>(&message.payload) {
            Ok(item) => Received::Work(Box::new(Self {
                item,
                attempt,
                message,
                queue: submitter.queue.clone(),
                keeper: submitter.me,
            })),
            Err(e) => Received::Poison(Box::new(Poison {
                reason: format!(
                    "not an execution ({e}): {:?}",
                    String::from_utf8_lossy(&message.payload)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
                attempt,
                message,
            })),
        }
    }

    /// Whether this is the last delivery `max_deliver` allows.
    pub fn is_last(&self) -> bool {
        self.attempt >= u64::from(self.queue.config.max_deliver)
    }

    /// Still being worked on: its `ack_wait` starts over, so it is not delivered to
    /// another keeper meanwhile.
    pub async fn keep_alive(&self) -> Result<(), QueueError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(js_error)
    }

    /// Settled (confirmed, or the chain shows there is nothing to run): gone for good.
    pub async fn done(self) -> Result<(), QueueError> {
        self.message.double_ack().await.map_err(js_error)
    }

    /// Not settled: delivered again after `delay` (the priority's replay delay), or,
    /// on its last delivery, dead-lettered with `reason`.
    pub async fn retry_in(self, delay: Duration, reason: &str) -> Result<(), QueueError> {
        if self.is_last() {
            return self.dead_letter(reason).await;
        }
        self.message
            .double_ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(js_error)
    }

    /// Out of luck: recorded in the dead-letter stream with `reason`, and ended in the
    /// work stream ([`WorkQueue::bury`]).
    pub async fn dead_letter(self, reason: &str) -> Result<(), QueueError> {
        self.queue
            .bury(
                &self.message,
                Some(self.item),
                reason.to_string(),
                self.attempt,
                &self.keeper,
            )
            .await
    }
}

/// What one message of the work stream turned out to be.
enum Received {
    Work(Box<Delivery>),
    Poison(Box<Poison>),
}

/// A message in the work stream that is not an execution.
struct Poison {
    reason: String,
    attempt: u64,
    message: Message,
}

impl Poison {
    /// Dead-letters it with its reason and ends it in the work stream.
    async fn bury(self, queue: &WorkQueue, keeper: &Pubkey) -> Result<(), QueueError> {
        tracing::warn!(reason = %self.reason, "a message in the work stream is not an execution; dead-lettered");
        queue
            .bury(&self.message, None, self.reason, self.attempt, keeper)
            .await
    }
}
