use std::cmp::Ordering;

use solana_sha256_hasher::hashv;

use super::pyth::{PriceUpdate, PRICE_UPDATE_V2_DISCRIMINATOR, RECEIVER_PROGRAM_ID};
use super::*;

const FEED: [u8; 32] = [7; 32];

fn integer(offset: u32, width: u8, signed: bool, comparison: Comparison) -> Condition {
    Condition {
        source: ValueSource::Integer {
            offset,
            width,
            signed,
        },
        comparison,
        threshold: 100,
    }
}

fn price(comparison: Comparison, exponent: i32, threshold: i64) -> Condition {
    Condition {
        source: ValueSource::PythPrice {
            feed_id: FEED,
            exponent,
            max_age_secs: 60,
        },
        comparison,
        threshold,
    }
}

fn update(price: i64, exponent: i32, publish_time: i64) -> PriceUpdate {
    PriceUpdate {
        feed_id: FEED,
        price,
        exponent,
        publish_time,
        fully_verified: true,
    }
}

fn value(mantissa: i128) -> Reading {
    Reading {
        mantissa,
        exponent: 0,
        published_at: None,
    }
}

#[test]
fn the_discriminator_is_anchors_for_price_update_v2() {
    let digest = hashv(&[b"account:PriceUpdateV2"]).to_bytes();
    assert_eq!(digest[..8], PRICE_UPDATE_V2_DISCRIMINATOR);
}

#[test]
fn integers_of_every_width_read_little_endian_signed_or_not() {
    let mut data = vec![0xAA; 3];
    data.extend_from_slice(&(-2i64).to_le_bytes());
    for (width, signed, expected) in [
        (1, false, 0xFE),
        (1, true, -2),
        (2, false, 0xFFFE),
        (2, true, -2),
        (4, false, 0xFFFF_FFFE),
        (4, true, -2),
        (8, false, i128::from(u64::MAX - 1)),
        (8, true, -2),
    ] {
        let reading = integer(3, width, signed, Comparison::AtLeast)
            .read(&data, &Pubkey::default())
            .unwrap();
        assert_eq!(reading.mantissa, expected, "width {width} signed {signed}");
        assert_eq!(reading.published_at, None);
    }
}

#[test]
fn an_integer_past_the_end_is_unreadable_and_says_how_much_was_needed() {
    let condition = integer(6, 4, false, Comparison::AtLeast);
    assert_eq!(
        condition.read(&[0; 9], &Pubkey::default()),
        Err(ConditionError::Unreadable { needed: 10, len: 9 })
    );
    let huge = integer(u32::MAX, 8, false, Comparison::AtLeast);
    assert!(matches!(
        huge.read(&[0; 9], &Pubkey::default()),
        Err(ConditionError::Unreadable { .. })
    ));
}

#[test]
fn bad_parameters_are_refused() {
    assert!(integer(0, 3, false, Comparison::AtLeast)
        .validate()
        .is_err());
    assert!(integer(0, 16, false, Comparison::AtLeast)
        .validate()
        .is_err());
    assert!(price(Comparison::AtLeast, 19, 1).validate().is_err());
    assert!(price(Comparison::AtLeast, -19, 1).validate().is_err());
    let mut never_fresh = price(Comparison::AtLeast, -2, 1);
    never_fresh.source = ValueSource::PythPrice {
        feed_id: FEED,
        exponent: -2,
        max_age_secs: 0,
    };
    assert!(never_fresh.validate().is_err());
    assert!(price(Comparison::AtLeast, -18, 1).validate().is_ok());
    assert!(integer(0, 8, true, Comparison::CrossesBelow)
        .validate()
        .is_ok());
}

#[test]
fn compare_is_exact_across_exponents_and_overflow() {
    // 150.00 (exp -2) against 1.5 * 10^2 (exp 0): equal.
    assert_eq!(compare(15_000, -2, 150, 0), Ordering::Equal);
    assert_eq!(compare(15_001, -2, 150, 0), Ordering::Greater);
    assert_eq!(compare(149, 0, 15_000, -2), Ordering::Less);
    // A scale of 10^40 overflows: the sign of the scaled operand decides.
    assert_eq!(compare(1, 40, i128::from(i64::MAX), 0), Ordering::Greater);
    assert_eq!(compare(-1, 40, i128::from(i64::MIN), 0), Ordering::Less);
    assert_eq!(compare(0, 40, 5, 0), Ordering::Less);
    assert_eq!(compare(0, 40, -5, 0), Ordering::Greater);
    assert_eq!(compare(5, 0, 0, 40), Ordering::Greater);
}

#[test]
fn level_comparisons_fire_while_they_hold_and_stay_armed() {
    let at_least = integer(0, 8, false, Comparison::AtLeast);
    let at_most = integer(0, 8, false, Comparison::AtMost);
    for armed in [true, false] {
        assert_eq!(at_least.step(armed, &value(100)), Some(Step::Fire));
        assert_eq!(at_least.step(armed, &value(99)), None);
        assert_eq!(at_most.step(armed, &value(100)), Some(Step::Fire));
        assert_eq!(at_most.step(armed, &value(101)), None);
    }
    for reading in [value(0), value(1_000)] {
        assert!(at_least.armed_after(&reading));
        assert!(at_most.armed_after(&reading));
    }
}

#[test]
fn a_crossing_fires_once_then_needs_an_arming_run_on_the_far_side() {
    let above = integer(0, 8, false, Comparison::CrossesAbove);
    // Seen below: armed; it fires on reaching the threshold, not before.
    assert!(above.armed_after(&value(50)));
    assert_eq!(above.step(true, &value(99)), None);
    assert_eq!(above.step(true, &value(100)), Some(Step::Fire));
    // After firing above it is disarmed: staying above is not due...
    assert!(!above.armed_after(&value(120)));
    assert_eq!(above.step(false, &value(120)), None);
    // ...going back below is due for an arming run, which arms it.
    assert_eq!(above.step(false, &value(80)), Some(Step::Arm));
    assert!(above.armed_after(&value(80)));

    let below = integer(0, 8, false, Comparison::CrossesBelow);
    assert!(below.armed_after(&value(150)));
    assert_eq!(below.step(true, &value(101)), None);
    assert_eq!(below.step(true, &value(100)), Some(Step::Fire));
    assert_eq!(below.step(false, &value(90)), None);
    assert_eq!(below.step(false, &value(101)), Some(Step::Arm));
}

#[test]
fn a_price_is_read_from_a_receiver_owned_fully_verified_update_of_the_feed() {
    let condition = price(Comparison::AtLeast, -2, 15_000);
    let data = update(150_000_000, -6, 1_000).encode(&Pubkey::new_unique(), 9);
    assert_eq!(data.len(), PriceUpdate::ACCOUNT_LEN);
    let reading = condition.read(&data, &RECEIVER_PROGRAM_ID).unwrap();
    assert_eq!(
        reading,
        Reading {
            mantissa: 150_000_000,
            exponent: -6,
            published_at: Some(1_000)
        }
    );
    assert!(condition.holds(&reading), "150.000000 >= 150.00");
    let below = condition
        .read(
            &update(149_999_999, -6, 1_000).encode(&Pubkey::new_unique(), 9),
            &RECEIVER_PROGRAM_ID,
        )
        .unwrap();
    assert!(!condition.holds(&below));
}

#[test]
fn a_price_account_that_is_not_the_triggers_source_is_a_mismatch() {
    let condition = price(Comparison::AtLeast, -2, 1);
    let good = update(1, -2, 1_000);
    let authority = Pubkey::new_unique();
    let mismatch = |data: &[u8], owner: &Pubkey| {
        matches!(
            condition.read(data, owner),
            Err(ConditionError::Mismatch(_))
        )
    };
    assert!(mismatch(&good.encode(&authority, 1), &Pubkey::new_unique()));
    let mut other_account = good.encode(&authority, 1);
    other_account[0] ^= 1;
    assert!(mismatch(&other_account, &RECEIVER_PROGRAM_ID));
    let other_feed = PriceUpdate {
        feed_id: [8; 32],
        ..good
    };
    assert!(mismatch(
        &other_feed.encode(&authority, 1),
        &RECEIVER_PROGRAM_ID
    ));
    let partial = PriceUpdate {
        fully_verified: false,
        ..good
    };
    assert!(mismatch(
        &partial.encode(&authority, 1),
        &RECEIVER_PROGRAM_ID
    ));
    let mut bad_level = good.encode(&authority, 1);
    bad_level[40] = 2;
    assert!(mismatch(&bad_level, &RECEIVER_PROGRAM_ID));
    // A partially verified update is laid out one byte further on: still decoded.
    let decoded = PriceUpdate::decode(&partial.encode(&authority, 1), &RECEIVER_PROGRAM_ID);
    assert_eq!(decoded, Ok(partial));
    // Truncated: unreadable, not a mismatch.
    let truncated = &good.encode(&authority, 1)[..60];
    assert!(matches!(
        condition.read(truncated, &RECEIVER_PROGRAM_ID),
        Err(ConditionError::Unreadable {
            needed: 73,
            len: 60
        })
    ));
}

#[test]
fn a_price_older_than_max_age_is_stale_and_an_integer_never_is() {
    let condition = price(Comparison::AtLeast, -2, 1);
    let reading = condition
        .read(
            &update(5, -2, 1_000).encode(&Pubkey::new_unique(), 1),
            &RECEIVER_PROGRAM_ID,
        )
        .unwrap();
    assert_eq!(condition.check_fresh(&reading, 1_060), Ok(()));
    assert_eq!(
        condition.check_fresh(&reading, 1_061),
        Err(ConditionError::Stale {
            published_at: 1_000,
            max_age_secs: 60,
            now: 1_061
        })
    );
    let counter = integer(0, 8, false, Comparison::AtLeast);
    assert_eq!(counter.check_fresh(&value(5), i64::MAX), Ok(()));
}
