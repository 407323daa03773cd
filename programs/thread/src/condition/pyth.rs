//! The Pyth pull-oracle price account a `ValueSource::PythPrice` reads: `PriceUpdateV2`
//! of the Pyth Solana receiver program, an Anchor account laid out (Borsh) as
//!
//! ```text
//! discriminator      [u8; 8]   sha256("account:PriceUpdateV2")[..8]
//! write_authority    Pubkey
//! verification_level enum      0 = Partial { num_signatures: u8 }, 1 = Full
//! price_message      feed_id [u8; 32], price i64, conf u64, exponent i32,
//!                    publish_time i64, prev_publish_time i64, ema_price i64, ema_conf u64
//! posted_slot        u64
//! ```
//!
//! (pyth-crosschain, `target_chains/solana/pyth_solana_receiver_sdk/src/price_update.rs`).
//! Read by offset rather than through Pyth's SDK crate, whose Anchor version conflicts
//! with ours; only the fields a condition needs are decoded.

use anchor_lang::prelude::{pubkey, Pubkey};

use super::ConditionError;

/// The Pyth Solana receiver program, which owns every `PriceUpdateV2` account (the
/// sponsored feeds of the push oracle included).
pub const RECEIVER_PROGRAM_ID: Pubkey = pubkey!("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ");
/// Anchor's discriminator of `PriceUpdateV2`.
pub const PRICE_UPDATE_V2_DISCRIMINATOR: [u8; 8] = [34, 241, 35, 99, 157, 126, 244, 205];
/// Where the verification level starts: after the discriminator and write authority.
const VERIFICATION_LEVEL_AT: usize = 8 + 32;
const PARTIAL: u8 = 0;
const FULL: u8 = 1;

/// The fields of a `PriceUpdateV2` a condition reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceUpdate {
    pub feed_id: [u8; 32],
    pub price: i64,
    pub exponent: i32,
    pub publish_time: i64,
    pub fully_verified: bool,
}

impl PriceUpdate {
    /// Decodes the account with `data` owned by `owner`, refusing anything that is not a
    /// receiver-owned `PriceUpdateV2`.
    pub fn decode(data: &[u8], owner: &Pubkey) -> Result<Self, ConditionError> {
        if *owner != RECEIVER_PROGRAM_ID {
            return Err(ConditionError::Mismatch(
                "the account is not owned by the Pyth receiver program",
            ));
        }
        let mut reader = Reader { data, at: 0 };
        if reader.take::<8>()? != PRICE_UPDATE_V2_DISCRIMINATOR {
            return Err(ConditionError::Mismatch(
                "the account is not a Pyth PriceUpdateV2",
            ));
        }
        reader.at = VERIFICATION_LEVEL_AT;
        let fully_verified = match reader.take::<1>()? {
            [PARTIAL] => {
                reader.take::<1>()?;
                false
            }
            [FULL] => true,
            _ => {
                return Err(ConditionError::Mismatch(
                    "the price update's verification level is neither Partial nor Full",
                ))
            }
        };
        let feed_id = reader.take::<32>()?;
        let price = i64::from_le_bytes(reader.take()?);
        let _conf = reader.take::<8>()?;
        let exponent = i32::from_le_bytes(reader.take()?);
        let publish_time = i64::from_le_bytes(reader.take()?);
        Ok(Self {
            feed_id,
            price,
            exponent,
            publish_time,
            fully_verified,
        })
    }
}

/// Writes `PriceUpdateV2` accounts for fixtures: tests, and owners trying a condition on
/// a local bank. Every field this module does not read is written with a plain value
/// (confidence 0, the EMA equal to the price, the previous publish time equal to this
/// one); a partially verified update claims 5 signatures.
#[cfg(any(test, feature = "client"))]
impl PriceUpdate {
    /// Account size the receiver allocates (room for `Partial`'s extra byte).
    pub const ACCOUNT_LEN: usize = 8 + 32 + 2 + 32 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 8;

    /// The account data, zero-padded to [`PriceUpdate::ACCOUNT_LEN`].
    pub fn encode(&self, write_authority: &Pubkey, posted_slot: u64) -> Vec<u8> {
        let mut data = Vec::with_capacity(Self::ACCOUNT_LEN);
        data.extend_from_slice(&PRICE_UPDATE_V2_DISCRIMINATOR);
        data.extend_from_slice(write_authority.as_ref());
        if self.fully_verified {
            data.push(FULL);
        } else {
            data.extend_from_slice(&[PARTIAL, 5]);
        }
        data.extend_from_slice(&self.feed_id);
        data.extend_from_slice(&self.price.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        data.extend_from_slice(&self.exponent.to_le_bytes());
        data.extend_from_slice(&self.publish_time.to_le_bytes());
        data.extend_from_slice(&self.publish_time.to_le_bytes());
        data.extend_from_slice(&self.price.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        data.extend_from_slice(&posted_slot.to_le_bytes());
        data.resize(Self::ACCOUNT_LEN, 0);
        data
    }
}

/// Reads fixed-size fields in order, naming how much data was needed when it ends.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ConditionError> {
        let end = self.at.saturating_add(N);
        let bytes = self
            .data
            .get(self.at..end)
            .ok_or(ConditionError::Unreadable {
                needed: end,
                len: self.data.len(),
            })?;
        self.at = end;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}
