//! One due execution as it travels through the fleet's work stream, and where it goes.
//!
//! A durable thread's execution must be signed by the keeper holding its lease, so it
//! goes to that keeper's route; any other goes to the route every submitter shares. Its
//! subject names its route and its due time (`<prefix>.work.<route>.<thread>.<exec_count>`),
//! so the stream itself says which due times are in flight, and where
//! ([`due_time_filter`]); its message id is the due time on its route, so the stream
//! drops a second publish of it there within the duplicate window, whoever sends it.

use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;

use crate::execution::builder::priority::ExecutionPriority;

/// A due execution in the work stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    #[serde(with = "pubkey_string")]
    pub thread: Pubkey,
    /// The thread's `exec_count` when found due: with `thread`, the due time.
    pub exec_count: u64,
    /// The keeper that must submit it (the lease holder of a durable thread); `None`:
    /// any submitter.
    #[serde(with = "optional_pubkey_string", default)]
    pub submitter: Option<Pubkey>,
    /// Sets the delay between its deliveries.
    pub priority: ExecutionPriority,
}

impl WorkItem {
    /// Its JetStream message id (`Nats-Msg-Id`): the due time on its route.
    pub fn message_id(&self) -> String {
        format!(
            "{}:{}:{}",
            self.thread,
            self.exec_count,
            route_token(self.submitter.as_ref())
        )
    }

    /// The subject it is published on, under `prefix`.
    pub fn subject(&self, prefix: &str) -> String {
        format!(
            "{prefix}.work.{}.{}.{}",
            route_token(self.submitter.as_ref()),
            self.thread,
            self.exec_count
        )
    }

    /// The same due time on another route.
    pub fn routed_to(self, submitter: Option<Pubkey>) -> Self {
        Self { submitter, ..self }
    }
}

/// The subject token of a route: `any`, or the keeper's address (never `any`: a
/// pubkey's text is 32 characters or more).
fn route_token(submitter: Option<&Pubkey>) -> String {
    submitter.map_or_else(|| ANY.to_string(), Pubkey::to_string)
}

const ANY: &str = "any";

/// The subjects every submitter of the fleet pulls from.
pub fn any_subjects(prefix: &str) -> String {
    format!("{prefix}.work.{ANY}.>")
}

/// The subjects only `keeper` pulls from.
pub fn keeper_subjects(prefix: &str, keeper: &Pubkey) -> String {
    format!("{prefix}.work.{keeper}.>")
}

/// The subjects of one due time, on every route.
pub fn due_time_filter(prefix: &str, thread: &Pubkey, exec_count: u64) -> String {
    format!("{prefix}.work.*.{thread}.{exec_count}")
}

/// The route a work subject under `prefix` names: `Some(None)` for the shared one,
/// `Some(Some(keeper))` for a keeper's; `None` for a subject that is not a work subject.
pub fn route_of(prefix: &str, subject: &str) -> Option<Option<Pubkey>> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix(".work.")?;
    let token = rest.split('.').next()?;
    if token == ANY {
        return Some(None);
    }
    token.parse().ok().map(Some)
}

mod pubkey_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use solana_sdk::pubkey::Pubkey;

    pub fn serialize<S: Serializer>(key: &Pubkey, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(key)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pubkey, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod optional_pubkey_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use solana_sdk::pubkey::Pubkey;

    pub fn serialize<S: Serializer>(key: &Option<Pubkey>, s: S) -> Result<S::Ok, S::Error> {
        match key {
            Some(key) => s.collect_str(key),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Pubkey>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_round_trips_as_json_and_routes_by_its_submitter() {
        let keeper = Pubkey::new_unique();
        let item = WorkItem {
            thread: Pubkey::new_unique(),
            exec_count: 7,
            submitter: Some(keeper),
            priority: ExecutionPriority::High,
        };
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), item);
        let subject = item.subject("thread");
        assert_eq!(subject, format!("thread.work.{keeper}.{}.7", item.thread));
        assert_eq!(route_of("thread", &subject), Some(Some(keeper)));
        assert_eq!(item.message_id(), format!("{}:7:{keeper}", item.thread));
        let anyone = item.routed_to(None);
        let subject = anyone.subject("fleet.a");
        assert_eq!(subject, format!("fleet.a.work.any.{}.7", item.thread));
        assert_eq!(route_of("fleet.a", &subject), Some(None));
        assert_ne!(anyone.message_id(), item.message_id(), "one id per route");
        let json = serde_json::to_string(&anyone).unwrap();
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), anyone);
    }

    #[test]
    fn the_filters_match_their_routes_and_due_times_only() {
        let (keeper, thread) = (Pubkey::new_unique(), Pubkey::new_unique());
        let item = WorkItem {
            thread,
            exec_count: 3,
            submitter: None,
            priority: ExecutionPriority::Low,
        };
        assert_eq!(any_subjects("p"), "p.work.any.>");
        assert_eq!(keeper_subjects("p", &keeper), format!("p.work.{keeper}.>"));
        assert_eq!(
            due_time_filter("p", &thread, 3),
            format!("p.work.*.{thread}.3")
        );
        assert!(item.subject("p").starts_with("p.work.any."));
        assert_eq!(route_of("p", "p.dead.x"), None);
        assert_eq!(route_of("p", "q.work.any.x.1"), None);
        assert_eq!(route_of("p", "p.work.not-a-key.x.1"), None);
    }
}
