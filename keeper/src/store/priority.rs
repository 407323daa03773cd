//! [`ExecutionPriority`]: how urgent an execution is. The store owns it because every
//! persisted execution carries one (the replay queue orders by it); the builder prices
//! compute by it and the executor delays replays by it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How urgent an execution is: it sets the replay delay after a failed submission and
/// scales the priority fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ExecutionPriority {
    Low,
    Medium,
    High,
    Critical,
}

impl From<thread::state::ThreadPriority> for ExecutionPriority {
    /// An owner's priority as the keeper's own (the same four levels).
    fn from(priority: thread::state::ThreadPriority) -> Self {
        use thread::state::ThreadPriority as Owner;
        match priority {
            Owner::Low => Self::Low,
            Owner::Medium => Self::Medium,
            Owner::High => Self::High,
            Owner::Critical => Self::Critical,
        }
    }
}

impl ExecutionPriority {
    pub const ALL: [ExecutionPriority; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// Wait before replaying a failed submission: 60/30/10/5 s, long enough for a
    /// congested cluster to clear, short enough for what the owner called urgent.
    pub fn replay_delay(self) -> Duration {
        Duration::from_secs(match self {
            Self::Low => 60,
            Self::Medium => 30,
            Self::High => 10,
            Self::Critical => 5,
        })
    }

    /// Percent applied to the market compute-unit price.
    pub fn price_percent(self) -> u64 {
        match self {
            Self::Low => 50,
            Self::Medium => 100,
            Self::High => 150,
            Self::Critical => 200,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
