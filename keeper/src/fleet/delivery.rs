//! A keeper's pull side of the work queue: deliveries from its own route first, then the
//! shared one, and the life of each ([`Delivery`]: done, held alive, delivered again,
//! rerouted to a lease holder, or dead-lettered). A message that is not an execution is
//! dead-lettered at once, never delivered again.
//!
//! Owns: pulling and settling deliveries. Must not: execute anything (the submitter
//! loop in [`super::submit`] has the executor do it) or publish new work.

use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
use async_nats::jetstream::message::{AckKind, Message};
use futures_util::StreamExt;
use solana_sdk::pubkey::Pubkey;

use super::item::{any_subjects, keeper_subjects, WorkItem};
use super::queue::{js_error, QueueError, WorkQueue};

impl WorkQueue {
    /// The submitter's side for keeper `me`: the shared consumer and its own.
    pub async fn submitter(&self, me: &Pubkey) -> Result<Submitter, QueueError> {
        let stream = self.work_stream();
        let prefix = &self.config().subject_prefix;
        // The subjects of the scheme before due times were part of them.
        let legacy_subjects = [
            format!("{prefix}.work.any"),
            format!("{prefix}.work.keeper.>"),
        ];
        let legacy_subjects = &legacy_subjects;
        let consumer = |name: String, subject: String| {
            let stream = stream.clone();
            let config = PullConfig {
                durable_name: Some(name),
                filter_subject: subject,
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.config().ack_wait(),
                max_deliver: i64::from(self.config().max_deliver),
                ..Default::default()
            };
            async move {
                let name = config.durable_name.clone().unwrap();
                let found: PullConsumer = stream
                    .get_or_create_consumer(&name, config.clone())
                    .await
                    .map_err(js_error)?;
                if found.cached_info().config.filter_subject == config.filter_subject {
                    return Ok(found);
                }
                // Made by a keeper of another subject scheme: it would pull nothing this
                // keeper's leaders publish. Made again; what waits on the old subjects is
                // dropped, since leaders hand every due time over again from the chain.
                tracing::warn!(consumer = %name, was = %found.cached_info().config.filter_subject, now = %config.filter_subject, "a fleet consumer of another subject scheme is replaced");
                stream.delete_consumer(&name).await.map_err(js_error)?;
                for legacy in legacy_subjects {
                    stream.purge().filter(legacy).await.map_err(js_error)?;
                }
                stream.create_consumer(config).await.map_err(js_error)
            }
        };
        let shared: PullConsumer = consumer("submit-any".into(), any_subjects(prefix)).await?;
        let own: PullConsumer =
            consumer(format!("submit-{me}"), keeper_subjects(prefix, me)).await?;
        Ok(Submitter {
            queue: self.clone(),
            consumers: [own, shared],
            me: *me,
        })
    }
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
    /// first, then the shared subject's. Only the shared pull waits (when this keeper's
    /// own route had nothing): a wait on an empty own route would hold up a shared one
    /// full of work. A delivery of its own that arrives meanwhile is taken at the next
    /// pull, at most `wait` later.
    pub async fn next(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let mut deliveries = Vec::new();
        for (index, consumer) in self.consumers.iter().enumerate() {
            let room = max.saturating_sub(deliveries.len());
            if room == 0 {
                break;
            }
            let own = index == 0;
            let wait = if own || !deliveries.is_empty() {
                Duration::from_millis(1)
            } else {
                wait
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
    /// When it was received or last kept alive.
    alive_since: std::time::Instant,
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
                alive_since: std::time::Instant::now(),
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
        self.attempt >= u64::from(self.queue.config().max_deliver)
    }

    /// Still being worked on: its `ack_wait` starts over, so it is not delivered to
    /// another keeper meanwhile.
    pub async fn keep_alive(&mut self) -> Result<(), QueueError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(js_error)?;
        self.alive_since = std::time::Instant::now();
        Ok(())
    }

    /// [`Delivery::keep_alive`], once a third of `ack_wait` has passed since it was
    /// received or last kept alive (often enough, without a message per look at it).
    pub async fn keep_alive_when_due(&mut self) -> Result<(), QueueError> {
        if self.alive_since.elapsed() >= self.queue.config().ack_wait() / 3 {
            self.keep_alive().await?;
        }
        Ok(())
    }

    /// Settled (confirmed, or the chain shows there is nothing to run): gone for good.
    pub async fn done(self) -> Result<(), QueueError> {
        self.message.double_ack().await.map_err(js_error)
    }

    /// Only `holder` can sign it (it holds the thread's lease): published on the
    /// holder's route, then ended here. A failed publish leaves this delivery unsettled,
    /// so it comes back after `ack_wait`; a holder's copy published twice is kept once.
    pub async fn reroute(self, holder: Pubkey) -> Result<(), QueueError> {
        self.queue
            .publish(&self.item.routed_to(Some(holder)))
            .await?;
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
