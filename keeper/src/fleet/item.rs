//! One due execution as it travels through the fleet's work stream, and where it goes.
//!
//! A durable thread's execution must be signed by the keeper holding its lease, so it
//! goes to that keeper's subject; any other goes to the subject every submitter shares.
//! Its message id is the due time itself, `(thread, exec_count)`: the stream drops a
//! second publish of it within the duplicate window, whoever sends it.

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
    /// Its JetStream message id (`Nats-Msg-Id`): the due time.
    pub fn message_id(&self) -> String {
        format!("{}:{}", self.thread, self.exec_count)
    }

    /// The subject it is published on, under `prefix`.
    pub fn subject(&self, prefix: &str) -> String {
        match self.submitter {
            Some(keeper) => keeper_subject(prefix, &keeper),
            None => any_subject(prefix),
        }
    }
}

/// The subject every submitter of the fleet pulls from.
pub fn any_subject(prefix: &str) -> String {
    format!("{prefix}.work.any")
}

/// The subject only `keeper` pulls from.
pub fn keeper_subject(prefix: &str, keeper: &Pubkey) -> String {
    format!("{prefix}.work.keeper.{keeper}")
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
        assert_eq!(
            item.subject("thread"),
            format!("thread.work.keeper.{keeper}")
        );
        assert_eq!(item.message_id(), format!("{}:7", item.thread));
        let anyone = WorkItem {
            submitter: None,
            ..item
        };
        assert_eq!(anyone.subject("fleet.a"), "fleet.a.work.any");
        let json = serde_json::to_string(&anyone).unwrap();
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), anyone);
    }
}
