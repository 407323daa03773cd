//! Reading system nonce accounts and recognizing the nonce advance that anchors a durable
//! transaction. Parsed by hand (the layout is fixed and tiny) rather than pulling the
//! nonce crates on-chain; this is the one place nonce data are read, by the program and
//! (through the `client` module) by the keeper and the tests.

use anchor_lang::prelude::*;
use anchor_lang::solana_program::system_program;

use crate::errors::ThreadError;

/// Size of a nonce account: version (4) + state (4) + authority (32) + durable nonce
/// (32) + lamports per signature (8).
pub const NONCE_ACCOUNT_LEN: usize = 80;
/// `SystemInstruction::AdvanceNonceAccount`'s bincode tag.
const ADVANCE_NONCE_TAG: u32 = 4;
/// `nonce::versions::Versions::Legacy`.
const VERSION_LEGACY: u32 = 0;
/// `nonce::versions::Versions::Current`.
const VERSION_CURRENT: u32 = 1;
/// `nonce::state::State::Uninitialized`.
const STATE_UNINITIALIZED: u32 = 0;
/// `nonce::state::State::Initialized`.
const STATE_INITIALIZED: u32 = 1;

/// What the data of a system account of nonce size hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceData {
    /// Allocated as a nonce account, never initialized (or closed back to zeros).
    Uninitialized,
    /// Initialized under the legacy layout version. Same fields, but the runtime anchors
    /// no durable transaction on it until it is upgraded, so the program refuses it.
    Legacy(NonceState),
    /// Initialized under the current layout version: the only one the program accepts.
    Current(NonceState),
}

impl NonceData {
    /// Parses nonce account data; `None` when they are not a nonce account's at all
    /// (wrong size, unknown version or state).
    pub fn parse(data: &[u8]) -> Option<Self> {
        if data.len() != NONCE_ACCOUNT_LEN {
            return None;
        }
        let word = |at: usize| -> Option<u32> {
            let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(u32::from_le_bytes(bytes))
        };
        let version = word(0)?;
        if version != VERSION_LEGACY && version != VERSION_CURRENT {
            return None;
        }
        let state = match word(4)? {
            STATE_UNINITIALIZED => return Some(Self::Uninitialized),
            STATE_INITIALIZED => {
                let authority: [u8; 32] = data.get(8..40)?.try_into().ok()?;
                let durable_nonce: [u8; 32] = data.get(40..72)?.try_into().ok()?;
                NonceState {
                    authority: Pubkey::new_from_array(authority),
                    durable_nonce,
                }
            }
            _ => return None,
        };
        Some(if version == VERSION_CURRENT {
            Self::Current(state)
        } else {
            Self::Legacy(state)
        })
    }

    /// The authority and value of an initialized nonce of either version.
    pub fn initialized(self) -> Option<NonceState> {
        match self {
            Self::Uninitialized => None,
            Self::Legacy(state) | Self::Current(state) => Some(state),
        }
    }
}

/// The parts of an initialized nonce account the program relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceState {
    /// Who may advance, authorize or withdraw the nonce.
    pub authority: Pubkey,
    /// The stored nonce value, used as a durable transaction's blockhash.
    pub durable_nonce: [u8; 32],
}

impl NonceState {
    /// Reads an initialized, current-version nonce account owned by the system program;
    /// anything else (closed, drained, uninitialized, a look-alike owned by another
    /// program) is `None`.
    pub fn read(info: &AccountInfo) -> Option<Self> {
        if info.owner != &system_program::ID {
            return None;
        }
        let data = info.try_borrow_data().ok()?;
        Self::parse(&data)
    }

    /// Parses nonce account data; see `read`.
    pub fn parse(data: &[u8]) -> Option<Self> {
        match NonceData::parse(data)? {
            NonceData::Current(state) => Some(state),
            NonceData::Uninitialized | NonceData::Legacy(_) => None,
        }
    }
}

/// Checks, through the instructions sysvar, that instruction 0 of the running transaction
/// advances `nonce_account`: that is what makes the transaction durable and single-use.
pub fn require_advances_first(
    instructions_sysvar: &AccountInfo,
    nonce_account: &Pubkey,
) -> Result<()> {
    let first = solana_instructions_sysvar::load_instruction_at_checked(0, instructions_sysvar)
        .map_err(|_| error!(ThreadError::MissingNonceAdvance))?;
    let tag = first
        .data
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    require!(
        first.program_id == system_program::ID && tag == Some(ADVANCE_NONCE_TAG),
        ThreadError::MissingNonceAdvance
    );
    let advanced = first.accounts.first().map(|meta| meta.pubkey);
    require!(
        advanced == Some(*nonce_account),
        ThreadError::WrongNonceAdvanced
    );
    Ok(())
}
