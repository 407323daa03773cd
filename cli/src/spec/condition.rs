//! A `condition` trigger in spec words: the value source (`source` and its fields), the
//! comparison and the threshold, to and from the program's `Trigger::Condition`, refused
//! by field with the program's own limits before anything is signed.

use thread::condition::{Condition, INTEGER_WIDTHS, MAX_EXPONENT};
use thread::schedule::condition_of;
use thread::state::{Comparison, Trigger, ValueSource};

use super::pubkey;
use super::trigger::TriggerSpec;
use crate::refusal::Refusal;

/// Every field a `condition` trigger may use; which apply depends on `source`.
pub const FIELDS: [&str; 10] = [
    "address",
    "source",
    "offset",
    "width",
    "signed",
    "feed_id",
    "exponent",
    "max_age_secs",
    "comparison",
    "threshold",
];
const INTEGER_FIELDS: [&str; 3] = ["offset", "width", "signed"];
const PRICE_FIELDS: [&str; 3] = ["feed_id", "exponent", "max_age_secs"];
const COMPARISONS: [(&str, Comparison); 4] = [
    ("at_least", Comparison::AtLeast),
    ("at_most", Comparison::AtMost),
    ("crosses_above", Comparison::CrossesAbove),
    ("crosses_below", Comparison::CrossesBelow),
];
/// Oldest price a spec accepts when it names none: a minute.
const DEFAULT_MAX_AGE_SECS: u32 = 60;

/// The program's `Trigger::Condition` of `spec` (whose kind is `condition`).
pub fn to_trigger(spec: &TriggerSpec, field: &str) -> Result<Trigger, Refusal> {
    let required = |name: &str, example: &str| {
        Refusal::new(
            format!("{field}.{name}"),
            "missing, and a condition trigger needs it",
            format!("add `{name} = {example}`"),
        )
    };
    let address = spec
        .address
        .as_deref()
        .ok_or_else(|| required("address", "\"<the account holding the value>\""))?;
    let address = pubkey(&format!("{field}.address"), address)?;
    let source = match spec.source.as_deref() {
        Some("integer") => {
            refuse_stray(spec, field, "integer", &PRICE_FIELDS)?;
            ValueSource::Integer {
                offset: spec.offset.unwrap_or(0),
                width: spec.width.unwrap_or(8),
                signed: spec.signed.unwrap_or(false),
            }
        }
        Some("pyth_price") => {
            refuse_stray(spec, field, "pyth_price", &INTEGER_FIELDS)?;
            let feed_id = spec
                .feed_id
                .as_deref()
                .ok_or_else(|| required("feed_id", "\"0x<64 hex digits>\""))?;
            ValueSource::PythPrice {
                feed_id: feed(&format!("{field}.feed_id"), feed_id)?,
                exponent: spec.exponent.ok_or_else(|| required("exponent", "-2"))?,
                max_age_secs: spec.max_age_secs.unwrap_or(DEFAULT_MAX_AGE_SECS),
            }
        }
        Some(other) => {
            return Err(Refusal::new(
                format!("{field}.source"),
                format!("unknown value source {other:?}"),
                "use `integer` (a little-endian integer at `offset`) or `pyth_price` (a Pyth PriceUpdateV2 account)",
            ))
        }
        None => return Err(required("source", "\"integer\"")),
    };
    let comparison = spec
        .comparison
        .as_deref()
        .ok_or_else(|| required("comparison", "\"at_least\""))?;
    let comparison = COMPARISONS
        .iter()
        .find(|(name, _)| *name == comparison)
        .map(|(_, comparison)| *comparison)
        .ok_or_else(|| {
            Refusal::new(
                format!("{field}.comparison"),
                format!("unknown comparison {comparison:?}"),
                "use at_least, at_most, crosses_above or crosses_below",
            )
        })?;
    let condition = Condition {
        source,
        comparison,
        threshold: spec.threshold.ok_or_else(|| required("threshold", "100"))?,
    };
    check_limits(&condition, field)?;
    Ok(Trigger::Condition {
        address,
        source: condition.source,
        comparison: condition.comparison,
        threshold: condition.threshold,
    })
}

/// A stored condition trigger in spec words.
pub fn from_trigger(trigger: &Trigger) -> TriggerSpec {
    let Some((address, condition)) = condition_of(trigger) else {
        return TriggerSpec::default();
    };
    let comparison = COMPARISONS
        .iter()
        .find(|(_, c)| *c == condition.comparison)
        .map(|(name, _)| (*name).to_string());
    let spec = TriggerSpec {
        kind: "condition".into(),
        address: Some(address.to_string()),
        comparison,
        threshold: Some(condition.threshold),
        ..TriggerSpec::default()
    };
    match condition.source {
        ValueSource::Integer {
            offset,
            width,
            signed,
        } => TriggerSpec {
            source: Some("integer".into()),
            offset: Some(offset),
            width: Some(width),
            signed: Some(signed),
            ..spec
        },
        ValueSource::PythPrice {
            feed_id,
            exponent,
            max_age_secs,
        } => TriggerSpec {
            source: Some("pyth_price".into()),
            feed_id: Some(format!("0x{}", hex(&feed_id))),
            exponent: Some(exponent),
            max_age_secs: Some(max_age_secs),
            ..spec
        },
    }
}

fn refuse_stray(
    spec: &TriggerSpec,
    field: &str,
    source: &str,
    not_used: &[&str],
) -> Result<(), Refusal> {
    match spec
        .present()
        .into_iter()
        .find(|name| not_used.contains(name))
    {
        Some(stray) => Err(Refusal::new(
            format!("{field}.{stray}"),
            format!("not used by a {source} source"),
            format!(
                "remove it, or use the source it belongs to (a {source} source takes {})",
                takes(source)
            ),
        )),
        None => Ok(()),
    }
}

/// The fields a source takes besides the comparison and threshold.
fn takes(source: &str) -> String {
    let fields: &[&str] = if source == "integer" {
        &INTEGER_FIELDS
    } else {
        &PRICE_FIELDS
    };
    fields.join(", ")
}

/// The program's limits, named by the field that breaks them.
fn check_limits(condition: &Condition, field: &str) -> Result<(), Refusal> {
    match condition.source {
        ValueSource::Integer { width, .. } if !INTEGER_WIDTHS.contains(&width) => {
            Err(Refusal::new(
                format!("{field}.width"),
                format!("{width} bytes: an integer is 1, 2, 4 or 8 bytes wide"),
                "use 8 for a u64/i64 (a token amount), 4 for a u32/i32",
            ))
        }
        ValueSource::PythPrice { exponent, .. } if exponent.abs() > MAX_EXPONENT => {
            Err(Refusal::new(
                format!("{field}.exponent"),
                format!("{exponent}: the threshold's exponent is within -{MAX_EXPONENT}..={MAX_EXPONENT}"),
                "use the feed's own exponent (e.g. -8) or the precision you compare at (-2 for cents)",
            ))
        }
        ValueSource::PythPrice { max_age_secs: 0, .. } => Err(Refusal::new(
            format!("{field}.max_age_secs"),
            "0: no price would ever be fresh enough",
            format!("use at least 1 (default {DEFAULT_MAX_AGE_SECS})"),
        )),
        _ => condition
            .validate()
            .map_err(|why| Refusal::new(field, why, "fix the condition's fields")),
    }
}

fn feed(field: &str, text: &str) -> Result<[u8; 32], Refusal> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let refusal = || {
        Refusal::new(
            field,
            format!("{text:?} is not a feed id"),
            "write the feed's 32-byte id as 64 hex digits, as Pyth lists it (e.g. 0xef0d8b6f…)",
        )
    };
    if digits.len() != 64 || !digits.is_ascii() {
        return Err(refusal());
    }
    let mut id = [0u8; 32];
    for (byte, pair) in id.iter_mut().zip(digits.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| refusal())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| refusal())?;
    }
    Ok(id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> TriggerSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_condition_spec_round_trips_through_the_program_trigger() {
        for text in [
            "kind = \"condition\"\naddress = \"11111111111111111111111111111111\"\nsource = \"integer\"\noffset = 8\nwidth = 4\nsigned = true\ncomparison = \"crosses_below\"\nthreshold = -5\n",
            "kind = \"condition\"\naddress = \"11111111111111111111111111111111\"\nsource = \"pyth_price\"\nfeed_id = \"0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d\"\nexponent = -2\nmax_age_secs = 30\ncomparison = \"at_least\"\nthreshold = 15000\n",
        ] {
            let written = spec(text);
            let trigger = written.to_trigger("trigger").unwrap();
            let read_back = TriggerSpec::from_trigger(&trigger);
            assert_eq!(read_back.to_trigger("trigger").unwrap(), trigger);
            assert_eq!(read_back, written, "show prints what the owner wrote");
        }
    }

    #[test]
    fn bad_conditions_are_refused_by_field() {
        let base = "kind = \"condition\"\naddress = \"11111111111111111111111111111111\"\n";
        for (extra, field) in [
            ("source = \"integer\"\ncomparison = \"at_least\"\n", "trigger.threshold"),
            ("source = \"integer\"\nthreshold = 1\n", "trigger.comparison"),
            ("source = \"integer\"\ncomparison = \"above\"\nthreshold = 1\n", "trigger.comparison"),
            ("source = \"oracle\"\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.source"),
            ("source = \"integer\"\nwidth = 3\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.width"),
            ("source = \"integer\"\nexponent = 2\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.exponent"),
            ("source = \"pyth_price\"\nexponent = -2\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.feed_id"),
            ("source = \"pyth_price\"\nfeed_id = \"0x12\"\nexponent = -2\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.feed_id"),
            ("source = \"pyth_price\"\nfeed_id = \"0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d\"\nexponent = -30\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.exponent"),
            ("source = \"pyth_price\"\nfeed_id = \"0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d\"\nexponent = -2\nmax_age_secs = 0\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.max_age_secs"),
            ("source = \"pyth_price\"\nfeed_id = \"0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d\"\nexponent = -2\noffset = 3\ncomparison = \"at_least\"\nthreshold = 1\n", "trigger.offset"),
        ] {
            let refusal = spec(&format!("{base}{extra}"))
                .to_trigger("trigger")
                .unwrap_err();
            assert_eq!(refusal.field, field, "{extra}");
        }
        let no_address = spec("kind = \"condition\"\nsource = \"integer\"\ncomparison = \"at_least\"\nthreshold = 1\n");
        assert_eq!(
            no_address.to_trigger("trigger").unwrap_err().field,
            "trigger.address"
        );
    }
}
