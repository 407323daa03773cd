//! The `[trigger]` table of a spec: one `kind` and the fields that kind uses, to and from
//! the program's `Trigger`. `show` prints triggers in the same words, so what an owner
//! reads back can be pasted into a spec.

use serde::{Deserialize, Serialize};
use thread::cron::CronSchedule;
use thread::state::{Trigger, MAX_WATCHED_BYTES};

use super::{condition, pubkey};
use crate::refusal::Refusal;

const KINDS: &str = "now, timestamp, interval, cron, slot, epoch, account or condition";

/// A trigger as written: `kind` plus that kind's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    pub kind: String,
    /// `timestamp`: unix seconds (or `at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix_ts: Option<i64>,
    /// `timestamp`: an RFC 3339 time such as `2030-01-01T00:00:00Z` (or `unix_ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// `interval`: the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    /// `cron`: a 5, 6 or 7-field expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// `interval`, `cron`: drop missed periods (default) rather than run each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skippable: Option<bool>,
    /// `cron`: up to this many seconds of delay per fire time (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<u32>,
    /// `slot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    /// `epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// `account`, `condition`: the watched account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `account`: first watched byte; `condition` with an integer source: the integer's
    /// first byte (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// `account`: watched bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// `condition`: where the value comes from, `integer` or `pyth_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `condition`, integer: its width in bytes, 1, 2, 4 or 8 (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u8>,
    /// `condition`, integer: two's complement (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<bool>,
    /// `condition`, pyth_price: the feed id, 64 hex digits (`0x` optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_id: Option<String>,
    /// `condition`, pyth_price: the threshold counts in units of 10^exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponent: Option<i32>,
    /// `condition`, pyth_price: the oldest price accepted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
    /// `condition`: `at_least`, `at_most`, `crosses_above` or `crosses_below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    /// `condition`: what the value is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
}

impl TriggerSpec {
    /// The program's trigger, refusing unknown kinds, missing or stray fields and values
    /// the program would refuse; `field` is where the table sits (`trigger`).
    pub fn to_trigger(&self, field: &str) -> Result<Trigger, Refusal> {
        let used: &[&str] = match self.kind.as_str() {
            "now" => &[],
            "timestamp" => &["unix_ts", "at"],
            "interval" => &["seconds", "skippable"],
            "cron" => &["schedule", "skippable", "jitter"],
            "slot" => &["slot"],
            "epoch" => &["epoch"],
            "account" => &["address", "offset", "size"],
            "condition" => &condition::FIELDS,
            other => {
                return Err(Refusal::new(
                    format!("{field}.kind"),
                    format!("unknown trigger kind {other:?}"),
                    format!("use one of {KINDS}"),
                ))
            }
        };
        if let Some(stray) = self.present().into_iter().find(|name| !used.contains(name)) {
            return Err(Refusal::new(
                format!("{field}.{stray}"),
                format!("not used by a {} trigger", self.kind),
                format!(
                    "remove it (a {} trigger takes: {})",
                    self.kind,
                    or_nothing(used)
                ),
            ));
        }
        let required = |name: &str| {
            Refusal::new(
                format!("{field}.{name}"),
                format!("missing, and a {} trigger needs it", self.kind),
                format!("add `{name} = ...`"),
            )
        };
        Ok(match self.kind.as_str() {
            "now" => Trigger::Now,
            "timestamp" => Trigger::Timestamp {
                unix_ts: match (self.unix_ts, &self.at) {
                    (Some(unix_ts), None) => unix_ts,
                    (None, Some(at)) => rfc3339(&format!("{field}.at"), at)?,
                    (Some(_), Some(_)) => {
                        return Err(Refusal::new(
                            format!("{field}.at"),
                            "given together with unix_ts",
                            "keep one of `at` and `unix_ts`",
                        ))
                    }
                    (None, None) => return Err(required("at")),
                },
            },
            "interval" => {
                let seconds = self.seconds.ok_or_else(|| required("seconds"))?;
                if seconds < 1 {
                    return Err(Refusal::new(
                        format!("{field}.seconds"),
                        format!("{seconds}: an interval is at least 1 second"),
                        "use a positive number of seconds",
                    ));
                }
                Trigger::Interval {
                    seconds,
                    skippable: self.skippable.unwrap_or(true),
                }
            }
            "cron" => {
                let schedule = self.schedule.clone().ok_or_else(|| required("schedule"))?;
                CronSchedule::parse(&schedule).map_err(|e| {
                    Refusal::new(
                        format!("{field}.schedule"),
                        format!("{schedule:?} is not a cron expression the program accepts ({e})"),
                        "write 5 fields (min hour dom month dow), 6 with seconds first, or 7 with a year, e.g. \"0 */15 * * * *\", or a macro such as @hourly",
                    )
                })?;
                Trigger::Cron {
                    schedule,
                    skippable: self.skippable.unwrap_or(true),
                    jitter: self.jitter.unwrap_or(0),
                }
            }
            "slot" => Trigger::Slot {
                slot: self.slot.ok_or_else(|| required("slot"))?,
            },
            "epoch" => Trigger::Epoch {
                epoch: self.epoch.ok_or_else(|| required("epoch"))?,
            },
            "condition" => condition::to_trigger(self, field)?,
            _account => {
                let address = self.address.as_deref().ok_or_else(|| required("address"))?;
                let size = self.size.ok_or_else(|| required("size"))?;
                if size == 0 || size > MAX_WATCHED_BYTES {
                    return Err(Refusal::new(
                        format!("{field}.size"),
                        format!("{size}: the watched range is 1 to {MAX_WATCHED_BYTES} bytes"),
                        format!("watch at most {MAX_WATCHED_BYTES} bytes, at least 1"),
                    ));
                }
                Trigger::Account {
                    address: pubkey(&format!("{field}.address"), address)?,
                    offset: self.offset.unwrap_or(0),
                    size,
                }
            }
        })
    }

    /// A stored trigger in spec words.
    pub fn from_trigger(trigger: &Trigger) -> Self {
        let kind = |kind: &str| Self {
            kind: kind.into(),
            ..Self::default()
        };
        match trigger {
            Trigger::Now => kind("now"),
            Trigger::Timestamp { unix_ts } => Self {
                unix_ts: Some(*unix_ts),
                ..kind("timestamp")
            },
            Trigger::Interval { seconds, skippable } => Self {
                seconds: Some(*seconds),
                skippable: Some(*skippable),
                ..kind("interval")
            },
            Trigger::Cron {
                schedule,
                skippable,
                jitter,
            } => Self {
                schedule: Some(schedule.clone()),
                skippable: Some(*skippable),
                jitter: Some(*jitter),
                ..kind("cron")
            },
            Trigger::Slot { slot } => Self {
                slot: Some(*slot),
                ..kind("slot")
            },
            Trigger::Epoch { epoch } => Self {
                epoch: Some(*epoch),
                ..kind("epoch")
            },
            Trigger::Account {
                address,
                offset,
                size,
            } => Self {
                address: Some(address.to_string()),
                offset: Some(*offset),
                size: Some(*size),
                ..kind("account")
            },
            Trigger::Condition { .. } => condition::from_trigger(trigger),
        }
    }

    /// Names of the fields that are set, besides `kind`.
    pub(super) fn present(&self) -> Vec<&'static str> {
        [
            ("unix_ts", self.unix_ts.is_some()),
            ("at", self.at.is_some()),
            ("seconds", self.seconds.is_some()),
            ("schedule", self.schedule.is_some()),
            ("skippable", self.skippable.is_some()),
            ("jitter", self.jitter.is_some()),
            ("slot", self.slot.is_some()),
            ("epoch", self.epoch.is_some()),
            ("address", self.address.is_some()),
            ("offset", self.offset.is_some()),
            ("size", self.size.is_some()),
            ("source", self.source.is_some()),
            ("width", self.width.is_some()),
            ("signed", self.signed.is_some()),
            ("feed_id", self.feed_id.is_some()),
            ("exponent", self.exponent.is_some()),
            ("max_age_secs", self.max_age_secs.is_some()),
            ("comparison", self.comparison.is_some()),
            ("threshold", self.threshold.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

fn or_nothing(fields: &[&str]) -> String {
    if fields.is_empty() {
        "nothing else".into()
    } else {
        fields.join(", ")
    }
}

fn rfc3339(field: &str, text: &str) -> Result<i64, Refusal> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| time.timestamp())
        .map_err(|e| {
            Refusal::new(
                field,
                format!("{text:?} is not an RFC 3339 time ({e})"),
                "write e.g. \"2030-01-01T00:00:00Z\", or give `unix_ts` in seconds",
            )
        })
}
