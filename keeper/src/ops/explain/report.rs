//! What `keeper explain` prints: the thread's state, its runway, its nonce and lease,
//! the keeper's side when a store was given, and the verdict; as text or JSON.

use std::fmt::Write as _;

use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use thread::cron::CronSchedule;
use thread::schedule::condition_of;
use thread::state::{Due, Durability, Trigger};

use super::facts::{Facts, NonceFacts};
use super::time::{local, relative, sol, span, utc};
use super::verdict::Verdict;
use crate::ops::runway::runway;

/// The explanation of one thread.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub address: String,
    pub owner: String,
    pub id: String,
    pub trigger: String,
    pub next_due: String,
    pub paused: bool,
    pub exec_count: u64,
    pub fee_per_exec: u64,
    pub balance: u64,
    /// Rent exemption plus a held lease's bond.
    pub reserved: u64,
    /// What pays fees.
    pub spare: u64,
    pub runway: Runway,
    pub rate_limit: String,
    pub durable: bool,
    pub nonce: Option<String>,
    pub lease: Option<String>,
    /// Address lookup tables its executions are built with.
    pub lookup_tables: Vec<String>,
    /// The keeper's side, when a store was given.
    pub keeper: Option<KeeperSide>,
    pub verdict: VerdictView,
}

/// How long the balance lasts.
#[derive(Debug, Clone, Serialize)]
pub struct Runway {
    /// Executions the spare balance pays for; `None` when executions are free.
    pub executions: Option<u64>,
    /// Those executions at the trigger's rate, for repeating triggers.
    pub seconds: Option<u64>,
}

/// The keeper's rows for the thread, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct KeeperSide {
    pub executions: Vec<String>,
    pub dead_letter: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerdictView {
    pub kind: &'static str,
    pub text: String,
}

impl Explanation {
    pub fn new(facts: &Facts, verdict: &Verdict) -> Self {
        let thread = &facts.thread;
        let spare = facts.spare();
        let executions = runway(thread, facts.balance, facts.rent_minimum);
        Self {
            address: facts.address.to_string(),
            owner: thread.owner.to_string(),
            id: String::from_utf8(thread.id.clone())
                .unwrap_or_else(|_| format!("0x{}", hex(&thread.id))),
            trigger: trigger_text(&thread.trigger),
            next_due: due_text(&thread.next_due, facts),
            paused: thread.paused,
            exec_count: thread.exec_count,
            fee_per_exec: thread.fee_per_exec,
            balance: facts.balance,
            reserved: facts.reserved(),
            spare,
            runway: Runway {
                executions,
                seconds: executions
                    .zip(period(&thread.trigger, facts.clock.unix_timestamp))
                    .map(|(n, period)| n.saturating_mul(period)),
            },
            rate_limit: format!(
                "{} per {} slots ({} in the window from slot {})",
                thread.rate_limit.max_execs,
                thread.rate_limit.window_slots,
                thread.execs_in_window,
                thread.window_start_slot
            ),
            durable: matches!(thread.durability, Durability::Durable { .. }),
            nonce: nonce_text(facts),
            lease: thread.lease.map(|lease| {
                let state = match lease.revoked_slot {
                    Some(slot) => format!("revoked at slot {slot}"),
                    None if lease.is_live(facts.clock.slot) => "live".into(),
                    None => "expired".into(),
                };
                format!(
                    "{} until slot {} ({state}, bond {} SOL)",
                    lease.holder,
                    lease.expires_slot,
                    sol(lease.bond)
                )
            }),
            lookup_tables: thread.lookup_tables.iter().map(Pubkey::to_string).collect(),
            keeper: facts.keeper.as_ref().map(|keeper| KeeperSide {
                executions: keeper
                    .recent
                    .iter()
                    .map(|row| {
                        let mut line = format!(
                            "run #{} {} (attempt {}, {})",
                            row.exec_count_at_build.saturating_add(1),
                            row.state,
                            row.retry_count.saturating_add(1),
                            row.signature
                        );
                        if let Some(error) = &row.last_error {
                            let _ = write!(line, ": {error}");
                        }
                        line
                    })
                    .collect(),
                dead_letter: keeper.dead_letter.as_ref().map(|letter| {
                    format!(
                        "#{} after {} attempts: {}",
                        letter.id, letter.attempts, letter.reason
                    )
                }),
            }),
            verdict: VerdictView {
                kind: verdict.kind(),
                text: verdict.to_string(),
            },
        }
    }

    /// `name  value` lines, the verdict last.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, value: &str| {
            let _ = writeln!(out, "{name:<14}{value}");
        };
        line("thread", &self.address);
        line("owner", &self.owner);
        line("id", &self.id);
        line("trigger", &self.trigger);
        line("next due", &self.next_due);
        line("paused", if self.paused { "yes" } else { "no" });
        line("executions", &self.exec_count.to_string());
        line(
            "balance",
            &format!(
                "{} SOL ({} reserved, {} spare, fee {} SOL)",
                sol(self.balance),
                sol(self.reserved),
                sol(self.spare),
                sol(self.fee_per_exec)
            ),
        );
        let runway = match (self.runway.executions, self.runway.seconds) {
            (None, _) => "unlimited (executions are free)".to_string(),
            (Some(n), Some(seconds)) => {
                format!("{n} executions, about {} at its rate", span(seconds))
            }
            (Some(n), None) => format!("{n} executions"),
        };
        line("runway", &runway);
        line("rate limit", &self.rate_limit);
        line("durable", if self.durable { "yes" } else { "no" });
        if let Some(nonce) = &self.nonce {
            line("nonce", nonce);
        }
        line("lease", self.lease.as_deref().unwrap_or("none"));
        if !self.lookup_tables.is_empty() {
            line("lookup tables", &self.lookup_tables.join(", "));
        }
        if let Some(keeper) = &self.keeper {
            if keeper.executions.is_empty() {
                line("keeper", "no executions of this thread in the store");
            }
            for (i, execution) in keeper.executions.iter().enumerate() {
                line(if i == 0 { "keeper" } else { "" }, execution);
            }
            if let Some(letter) = &keeper.dead_letter {
                line("dead letter", letter);
            }
        }
        line("verdict", &self.verdict.text);
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Now => "now (once)".into(),
        Trigger::Timestamp { unix_ts } => format!("at {} (once)", utc(*unix_ts)),
        Trigger::Interval { seconds, skippable } => format!(
            "every {}{}",
            span(seconds.unsigned_abs()),
            if *skippable { ", skippable" } else { "" }
        ),
        Trigger::Cron {
            schedule,
            skippable,
            jitter,
        } => format!(
            "cron `{schedule}` (UTC){}{}",
            if *jitter > 0 {
                format!(", jitter up to {jitter} s")
            } else {
                String::new()
            },
            if *skippable { ", skippable" } else { "" }
        ),
        Trigger::Slot { slot } => format!("at slot {slot} (once)"),
        Trigger::Epoch { epoch } => format!("at epoch {epoch} (once)"),
        Trigger::Account {
            address,
            offset,
            size,
        } => format!(
            "when bytes {offset}..{} of {address} change",
            u64::from(*offset) + u64::from(*size)
        ),
        Trigger::Condition { address, .. } => match condition_of(trigger) {
            Some((_, condition)) => format!("when the {condition} (account {address})"),
            None => format!("on a condition of {address}"),
        },
    }
}

fn due_text(due: &Due, facts: &Facts) -> String {
    let clock = &facts.clock;
    match due {
        Due::Immediately => "now".into(),
        Due::At { unix_ts } => format!(
            "{} ({}; local {})",
            utc(*unix_ts),
            relative(unix_ts.saturating_sub(clock.unix_timestamp)),
            local(*unix_ts)
        ),
        Due::AtSlot { slot } => format!("slot {slot} (now {})", clock.slot),
        Due::AtEpoch { epoch } => format!("epoch {epoch} (now {})", clock.epoch),
        Due::OnChange { .. } => "when the watched bytes change".into(),
        Due::OnCondition { armed } => match condition_of(&facts.thread.trigger) {
            Some((_, condition)) => format!("when the value is {}", condition.goal_text(*armed)),
            None => "when its condition is met".into(),
        },
        Due::Never => "never (finished)".into(),
    }
}

/// Seconds between executions of a repeating time trigger.
fn period(trigger: &Trigger, now: i64) -> Option<u64> {
    match trigger {
        Trigger::Interval { seconds, .. } => u64::try_from(*seconds).ok(),
        Trigger::Cron { schedule, .. } => {
            let cron = CronSchedule::parse(schedule).ok()?;
            let first = cron.next_after(now)?;
            let second = cron.next_after(first)?;
            u64::try_from(second - first).ok()
        }
        _ => None,
    }
}

fn nonce_text(facts: &Facts) -> Option<String> {
    let Durability::Durable { nonce_account } = facts.thread.durability else {
        return None;
    };
    Some(match facts.nonce.as_ref()? {
        NonceFacts::Missing => format!("{nonce_account} (missing)"),
        NonceFacts::NotANonce => format!("{nonce_account} (not an initialized nonce)"),
        NonceFacts::Initialized { authority, value } => {
            format!("{nonce_account} (authority {authority}, value {value})")
        }
    })
}
