//! What the rest of the keeper sees of leadership: the [`Leadership`] handle, the
//! [`LeaderState`] it watches, the [`StepDown`] reasons, and the [`Publisher`] through
//! which the campaign (and only it) changes them.
//!
//! Owns the validity of leadership (a deadline on the monotonic clock), the state channel,
//! the `keeper_leader` gauge and the log lines of transitions (info on becoming leader,
//! warn on stepping down, with the reason). Must not: talk to etcd or decide anything;
//! the elector decides and publishes here.
//!
//! **[`Leadership::is_leader`] checks the deadline itself.** While leading, the handle
//! holds the instant at which the elector must step down, and answers `false` from that
//! instant on, even if the elector's task is starved or stuck in a request: the safety
//! of stepping down does not depend on a task being scheduled in time. A campaign that
//! ends without reaching its shutdown path (aborted, panicked) leaves no leader behind:
//! dropping the [`Publisher`] ends validity at once.

use parking_lot::{Mutex, MutexGuard};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntGauge, Registry};
use tokio::sync::watch;
use tokio::time::Instant;

use super::store::ElectionStoreError;

/// Name of the leadership gauge: 1 while this keeper leads, else 0.
pub const LEADER_METRIC: &str = "keeper_leader";

/// Where this keeper stands. Only [`LeaderState::Leader`] allows acting, and only while
/// [`Leadership::is_leader`] agrees (it also checks the deadline).
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum LeaderState {
    /// Campaigning, no answer from etcd yet.
    Starting,
    /// This keeper leads: under etcd lease `lease`, or alone (`None`: no fleet).
    Leader { lease: Option<i64> },
    /// Another keeper leads (its id as it wrote it under the key).
    Follower { leader: String },
    /// etcd could not be asked, so nobody is known to lead; campaigning again.
    Unavailable { error: ElectionStoreError },
    /// Just stepped down; campaigning again.
    SteppedDown { reason: StepDown },
    /// The campaign ended (shutdown); never leader again.
    Stopped,
}

impl LeaderState {
    /// Stable label for logs.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    pub fn is_leader(&self) -> bool {
        matches!(self, Self::Leader { .. })
    }
}

/// Why a leader stopped leading.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum StepDown {
    /// No keepalive was confirmed within the step-down window: the last confirmed one was
    /// sent `since_confirmed` ago. `last_error` is the last failed renewal, if any (none
    /// when renewals hung until the deadline).
    Stale {
        since_confirmed: Duration,
        last_error: Option<ElectionStoreError>,
    },
    /// etcd said the lease no longer exists (expired or revoked).
    LeaseLost,
    /// The key was deleted or is held under another lease (`holder`'s id, if any).
    KeyLost { holder: Option<String> },
    /// The campaign was shut down; the lease is being revoked.
    Shutdown,
}

impl StepDown {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for StepDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stale {
                since_confirmed,
                last_error,
            } => {
                write!(
                    f,
                    "no keepalive confirmed for {} ms",
                    since_confirmed.as_millis()
                )?;
                match last_error {
                    Some(error) => write!(f, " (last error: {error})"),
                    None => write!(f, " (renewal hung)"),
                }
            }
            Self::LeaseLost => f.write_str("etcd says the lease is gone"),
            Self::KeyLost { holder: None } => f.write_str("the leader key was deleted"),
            Self::KeyLost {
                holder: Some(holder),
            } => write!(f, "the leader key is held by {holder} under another lease"),
            Self::Shutdown => f.write_str("shutting down"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    Never,
    Until(Instant),
    Always,
}

struct Shared {
    validity: Mutex<Validity>,
    last_step_down: Mutex<Option<StepDown>>,
}

impl Shared {
    fn validity(&self) -> MutexGuard<'_, Validity> {
        // Plain values: a panic elsewhere cannot leave them half-written.
        self.validity.lock()
    }

    fn last_step_down(&self) -> MutexGuard<'_, Option<StepDown>> {
        self.last_step_down.lock()
    }
}

/// The daemon's view of leadership; cheap to clone, one per task that needs it.
#[derive(Clone)]
pub struct Leadership {
    shared: Arc<Shared>,
    state: watch::Receiver<LeaderState>,
}

impl Leadership {
    /// A keeper alone: leads always, with no campaign to run.
    pub fn always() -> Self {
        let (_, state) = watch::channel(LeaderState::Leader { lease: None });
        Self {
            shared: Arc::new(Shared {
                validity: Mutex::new(Validity::Always),
                last_step_down: Mutex::new(None),
            }),
            state,
        }
    }

    /// Whether this keeper may act as leader now. Authoritative: `false` from the
    /// step-down deadline on, whatever the state channel last said.
    pub fn is_leader(&self) -> bool {
        match *self.shared.validity() {
            Validity::Never => false,
            Validity::Until(deadline) => Instant::now() < deadline,
            Validity::Always => true,
        }
    }

    /// The last published state.
    pub fn state(&self) -> LeaderState {
        self.state.borrow().clone()
    }

    /// A receiver of every state change, to await them. Its `changed()` fails once the
    /// campaign is gone.
    pub fn watch(&self) -> watch::Receiver<LeaderState> {
        self.state.clone()
    }

    /// Why this keeper last stepped down, if it ever led and stopped.
    pub fn last_step_down(&self) -> Option<StepDown> {
        self.shared.last_step_down().clone()
    }
}

/// The campaign's side: the only writer of a [`Leadership`]'s state.
pub struct Publisher {
    shared: Arc<Shared>,
    state: watch::Sender<LeaderState>,
    gauge: Option<IntGauge>,
    /// For log lines: the key and this keeper's id (empty when alone).
    key: String,
    id: String,
}

impl Publisher {
    /// A publisher starting in `initial` (`Leader { lease: None }` for a keeper alone,
    /// which then leads until stopped), and the handle it feeds. With a `registry`,
    /// registers `keeper_leader` on it.
    pub fn new(
        initial: LeaderState,
        key: String,
        id: String,
        registry: Option<&Registry>,
    ) -> Result<(Self, Leadership), prometheus::Error> {
        let alone = initial == LeaderState::Leader { lease: None };
        let gauge = match registry {
            Some(registry) => {
                let gauge = IntGauge::new(LEADER_METRIC, "1 while this keeper leads the fleet")?;
                registry.register(Box::new(gauge.clone()))?;
                gauge.set(i64::from(alone));
                Some(gauge)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            validity: Mutex::new(if alone {
                Validity::Always
            } else {
                Validity::Never
            }),
            last_step_down: Mutex::new(None),
        });
        let (sender, receiver) = watch::channel(initial);
        let leadership = Leadership {
            shared: shared.clone(),
            state: receiver,
        };
        Ok((
            Self {
                shared,
                state: sender,
                gauge,
                key,
                id,
            },
            leadership,
        ))
    }

    fn set_gauge(&self, leading: bool) {
        if let Some(gauge) = &self.gauge {
            gauge.set(i64::from(leading));
        }
    }

    /// Leads under `lease` until `deadline` (moved by [`Publisher::extend`]).
    pub fn lead(&self, lease: i64, deadline: Instant) {
        *self.shared.validity() = Validity::Until(deadline);
        self.set_gauge(true);
        self.state
            .send_replace(LeaderState::Leader { lease: Some(lease) });
        tracing::info!(key = %self.key, id = %self.id, lease, "became leader of the keeper fleet");
    }

    /// A renewal was confirmed: leads until `deadline`.
    pub fn extend(&self, deadline: Instant) {
        let mut validity = self.shared.validity();
        if matches!(*validity, Validity::Until(_)) {
            *validity = Validity::Until(deadline);
        }
    }

    /// Stops leading, for `reason`: first the validity, then the gauge, then the state.
    pub fn step_down(&self, reason: StepDown) {
        *self.shared.validity() = Validity::Never;
        self.set_gauge(false);
        *self.shared.last_step_down() = Some(reason.clone());
        if self.key.is_empty() {
            // A keeper alone has no fleet to tell.
            tracing::debug!("keeper alone stops leading: {reason}");
        } else if reason == StepDown::Shutdown {
            tracing::info!(key = %self.key, id = %self.id, "leader stepping down: shutting down");
        } else {
            tracing::warn!(
                key = %self.key,
                id = %self.id,
                reason = reason.kind(),
                "leader stepping down: {reason}"
            );
        }
        self.state.send_replace(LeaderState::SteppedDown { reason });
    }

    /// Another keeper leads.
    pub fn follow(&self, leader: String) {
        self.state.send_if_modified(|state| {
            if matches!(state, LeaderState::Follower { leader: current } if *current == leader) {
                return false;
            }
            tracing::info!(key = %self.key, id = %self.id, %leader, "following the fleet's leader");
            *state = LeaderState::Follower { leader };
            true
        });
    }

    /// etcd could not be asked. Logged when the kind of failure changes (quieter after).
    pub fn unavailable(&self, error: ElectionStoreError) {
        self.state.send_if_modified(|state| {
            let again = matches!(
                state,
                LeaderState::Unavailable { error: current } if current.kind() == error.kind()
            );
            if again {
                tracing::debug!(key = %self.key, kind = error.kind(), "etcd still unavailable: {error}");
            } else {
                tracing::warn!(
                    key = %self.key,
                    kind = error.kind(),
                    "cannot campaign for fleet leadership: {error}"
                );
            }
            let changed = *state != LeaderState::Unavailable { error: error.clone() };
            *state = LeaderState::Unavailable { error };
            changed
        });
    }

    /// The campaign ends: not leader from now on (a leader steps down first).
    pub fn stop(&self) {
        if *self.shared.validity() != Validity::Never {
            self.step_down(StepDown::Shutdown);
        }
        self.state.send_replace(LeaderState::Stopped);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        *self.shared.validity() = Validity::Never;
        self.set_gauge(false);
        self.state.send_if_modified(|state| {
            let changed = *state != LeaderState::Stopped;
            *state = LeaderState::Stopped;
            changed
        });
    }
}
