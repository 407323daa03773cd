//! What `show` and `list` print: a thread's decoded state in an owner's terms (when it is
//! next due in UTC and local time, what its balance still pays for, who holds its nonce
//! authority), as JSON or as text.
//!
//! Owns: [`ThreadView`] and its text forms. Must not: fetch (the commands hand it the
//! account, the clock and the rent) or decide anything.

use std::fmt::Write as _;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use solana_sdk::clock::Clock;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use thread::state::{Due, Durability, Thread};

use crate::spec::{priority_name, InstructionSpec, RateLimitSpec, TriggerSpec};

/// A thread as an owner reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadView {
    pub address: String,
    pub owner: String,
    /// The id as text, or `hex:` and its bytes when it is not UTF-8.
    pub id: String,
    pub trigger: TriggerSpec,
    pub next_due: DueView,
    pub paused: bool,
    pub exec_count: u64,
    pub last_exec_at: Option<TimeView>,
    pub created_at: Option<TimeView>,
    pub fee_per_exec: u64,
    pub rate_limit: RateLimitSpec,
    pub priority: Option<&'static str>,
    pub durable: bool,
    pub nonce_account: Option<String>,
    pub max_lease_slots: u64,
    pub lease: Option<LeaseView>,
    /// Lamports in the account.
    pub balance: u64,
    /// Lamports the thread must keep: rent exemption plus a held lease's bond.
    pub reserved: u64,
    /// `balance - reserved`: what pays executions.
    pub spare: u64,
    /// What `withdraw` may take: `spare` less one execution's fee while the thread is
    /// active (the program's own rule, `Thread::withdrawable`).
    pub withdrawable: u64,
    /// Executions `spare` still pays for; none when executions cost nothing.
    pub runway: Option<u64>,
    pub instructions: Vec<InstructionSpec>,
    /// Address lookup tables keepers build its executions with.
    pub lookup_tables: Vec<String>,
}

/// When a thread is next due, in its trigger's unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueView {
    /// immediately, at, at_slot, at_epoch, on_change or never.
    pub kind: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// A unix time, and the same instant in UTC and local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeView {
    pub unix_ts: i64,
    pub utc: String,
    pub local: String,
}

/// The lease of a durable thread's nonce authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    pub holder: String,
    pub claimed_slot: u64,
    pub expires_slot: u64,
    pub bond: u64,
    pub revoked_slot: Option<u64>,
    /// Whether the holder may still execute at the slot the view was read at.
    pub live: bool,
}

impl ThreadView {
    /// The view of `thread` at `address` holding `balance` lamports in `data_len` bytes,
    /// as of `clock`.
    pub fn new(
        address: &Pubkey,
        thread: &Thread,
        balance: u64,
        data_len: usize,
        clock: &Clock,
        rent: &Rent,
    ) -> Self {
        let rent_minimum = rent.minimum_balance(data_len);
        let reserved = thread.reserve_at(rent_minimum);
        let spare = balance.saturating_sub(reserved);
        let nonce_account = match thread.durability {
            Durability::Durable { nonce_account } => Some(nonce_account.to_string()),
            Durability::NonDurable => None,
        };
        Self {
            address: address.to_string(),
            owner: thread.owner.to_string(),
            id: id_text(&thread.id),
            trigger: TriggerSpec::from_trigger(&thread.trigger),
            next_due: DueView::new(&thread.next_due),
            paused: thread.paused,
            exec_count: thread.exec_count,
            last_exec_at: (thread.last_exec_at != 0).then(|| TimeView::new(thread.last_exec_at)),
            created_at: Some(TimeView::new(thread.created_at)),
            fee_per_exec: thread.fee_per_exec,
            rate_limit: RateLimitSpec {
                max_execs: thread.rate_limit.max_execs,
                window_slots: thread.rate_limit.window_slots,
            },
            priority: thread.priority.map(priority_name),
            durable: nonce_account.is_some(),
            nonce_account,
            max_lease_slots: thread.max_lease_slots,
            lease: thread.lease.map(|lease| LeaseView {
                holder: lease.holder.to_string(),
                claimed_slot: lease.claimed_slot,
                expires_slot: lease.expires_slot,
                bond: lease.bond,
                revoked_slot: lease.revoked_slot,
                live: lease.is_live(clock.slot),
            }),
            balance,
            reserved,
            spare,
            withdrawable: thread.withdrawable(balance, rent_minimum),
            runway: keeper::ops::runway::runway(thread, balance, rent_minimum),
            instructions: thread
                .instructions
                .iter()
                .map(InstructionSpec::from_instruction)
                .collect(),
            lookup_tables: thread
                .lookup_tables
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// `show`'s text: one `name: value` line per field.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, value: String| {
            let _ = writeln!(out, "{name:<16}{value}");
        };
        line("address", self.address.clone());
        line("owner", self.owner.clone());
        line("id", self.id.clone());
        line("trigger", trigger_text(&self.trigger));
        line("next due", self.next_due.to_text());
        line("paused", self.paused.to_string());
        line("executions", self.exec_count.to_string());
        if let Some(last) = &self.last_exec_at {
            line("last execution", last.to_text());
        }
        line("fee per exec", format!("{} lamports", self.fee_per_exec));
        line(
            "rate limit",
            format!(
                "{} per {} slots",
                self.rate_limit.max_execs, self.rate_limit.window_slots
            ),
        );
        line("priority", self.priority.unwrap_or("keeper default").into());
        line(
            "balance",
            format!(
                "{} lamports ({} reserved, {} spare, {} withdrawable)",
                self.balance, self.reserved, self.spare, self.withdrawable
            ),
        );
        line(
            "runway",
            match self.runway {
                Some(n) => format!("{n} executions"),
                None => "unlimited (executions are free)".into(),
            },
        );
        match &self.nonce_account {
            Some(nonce) => line(
                "durability",
                format!(
                    "durable on nonce {nonce} (leases up to {} slots)",
                    self.max_lease_slots
                ),
            ),
            None => line("durability", "non-durable (recent blockhash)".into()),
        }
        line(
            "lease",
            match &self.lease {
                None => "none".into(),
                Some(lease) => format!(
                    "held by {} since slot {}, {} at slot {}, bond {}{}",
                    lease.holder,
                    lease.claimed_slot,
                    if lease.live { "expires" } else { "expired" },
                    lease.expires_slot,
                    lease.bond,
                    lease
                        .revoked_slot
                        .map(|slot| format!(", revoked at slot {slot}"))
                        .unwrap_or_default()
                ),
            },
        );
        if !self.lookup_tables.is_empty() {
            line("lookup tables", self.lookup_tables.join(", "));
        }
        for (i, ix) in self.instructions.iter().enumerate() {
            line(
                &format!("instruction {i}"),
                format!(
                    "{} with {} accounts, data {}",
                    ix.program,
                    ix.accounts.len(),
                    ix.data.as_deref().unwrap_or("none")
                ),
            );
        }
        out
    }

    /// `list`'s row, under [`LIST_HEADER`].
    pub fn to_row(&self) -> String {
        format!(
            "{:<44}  {:<20}  {:<10}  {:<26}  {:<6}  {:>8}  {:>10}",
            self.address,
            self.id,
            self.trigger.kind,
            self.next_due.to_text_utc(),
            if self.paused { "yes" } else { "no" },
            self.exec_count,
            self.runway.map_or("unlimited".into(), |n| n.to_string()),
        )
    }
}

/// The header of `list`'s table.
pub fn list_header() -> String {
    format!(
        "{:<44}  {:<20}  {:<10}  {:<26}  {:<6}  {:>8}  {:>10}",
        "ADDRESS", "ID", "TRIGGER", "NEXT DUE", "PAUSED", "EXECS", "RUNWAY"
    )
}

impl DueView {
    fn new(due: &Due) -> Self {
        let plain = |kind| Self {
            kind,
            time: None,
            slot: None,
            epoch: None,
        };
        match *due {
            Due::Immediately => plain("immediately"),
            Due::At { unix_ts } => Self {
                time: Some(TimeView::new(unix_ts)),
                ..plain("at")
            },
            Due::AtSlot { slot } => Self {
                slot: Some(slot),
                ..plain("at_slot")
            },
            Due::AtEpoch { epoch } => Self {
                epoch: Some(epoch),
                ..plain("at_epoch")
            },
            Due::OnChange { .. } => plain("on_change"),
            Due::OnCondition { armed: true } => plain("on_condition"),
            Due::OnCondition { armed: false } => plain("on_condition_to_arm"),
            Due::Never => plain("never"),
        }
    }

    fn to_text(&self) -> String {
        match (&self.time, self.slot, self.epoch) {
            (Some(time), _, _) => time.to_text(),
            (_, Some(slot), _) => format!("at slot {slot}"),
            (_, _, Some(epoch)) => format!("at epoch {epoch}"),
            _ => match self.kind {
                "immediately" => "immediately".into(),
                "on_change" => "when the watched account changes".into(),
                "on_condition" => "when its condition is met".into(),
                "on_condition_to_arm" => {
                    "when its value is back on the far side of the threshold (an arming run), then when it crosses".into()
                }
                _ => "never (update the trigger to schedule it again)".into(),
            },
        }
    }

    fn to_text_utc(&self) -> String {
        match &self.time {
            Some(time) => time.utc.clone(),
            None => self.to_text(),
        }
    }
}

impl TimeView {
    pub fn new(unix_ts: i64) -> Self {
        let utc = DateTime::<Utc>::from_timestamp(unix_ts, 0);
        Self {
            unix_ts,
            utc: utc.map_or_else(|| format!("unix {unix_ts}"), |t| t.to_rfc3339()),
            local: utc.map_or_else(
                || format!("unix {unix_ts}"),
                |t| t.with_timezone(&Local).to_rfc3339(),
            ),
        }
    }

    fn to_text(&self) -> String {
        format!("{} UTC ({} local)", self.utc, self.local)
    }
}

fn id_text(id: &[u8]) -> String {
    match std::str::from_utf8(id) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_string(),
        _ => format!(
            "hex:{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

fn trigger_text(trigger: &TriggerSpec) -> String {
    let mut fields = serde_json::to_value(trigger)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    fields.remove("kind");
    let details: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if details.is_empty() {
        trigger.kind.clone()
    } else {
        format!("{} ({})", trigger.kind, details.join(", "))
    }
}
