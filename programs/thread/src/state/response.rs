//! What a stored instruction's program may tell its thread through return data: change
//! the trigger, replace the instructions, pause, chain another execution, or close.
//!
//! Wire format (at most 1,024 bytes, the runtime's return-data cap): the 8-byte
//! [`ThreadResponse::TAG`], one version byte ([`ThreadResponse::VERSION`]), then the
//! Borsh encoding of a [`ThreadAction`]. Return data without the tag is some other
//! program's answer and is ignored; data with the tag that does not decode is refused,
//! so a typo in a response cannot pass for silence.
//!
//! A program answers with `set_return_data(&ThreadResponse::new(action).encode())` as
//! the last thing it does. Only return data its own program id reports counts: what a
//! program it calls leaves behind is not the stored program's answer.

use anchor_lang::prelude::*;

use super::{ThreadInstruction, Trigger};
use crate::errors::ThreadError;

/// One answer of a stored instruction's program to the thread that ran it.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub enum ThreadAction {
    /// A new trigger, its schedule starting from this execution (as `update_thread`).
    /// An `Account` trigger must watch an account this execution was given.
    Trigger(Trigger),
    /// A new instruction list, run from the next execution on: the same rules as stored
    /// ones (the thread PDA the only signer, never the thread program, the size caps).
    /// The thread pays the rent of a larger account from its own balance.
    Instructions(Vec<ThreadInstruction>),
    /// The thread pauses after this execution; its owner resumes it.
    Pause,
    /// Another execution is due at once, outside the schedule: the one after it resumes
    /// the schedule where it was. The rate limit bounds a chain.
    Chain,
    /// The thread closes after this execution: its lamports go to the owner, a lease's
    /// bond back to the holder (the executor), and a durable thread's nonce authority to
    /// the owner, who can then withdraw or reuse the nonce account.
    Close,
}

/// A versioned [`ThreadAction`], as a program returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadResponse {
    pub action: ThreadAction,
}

impl ThreadResponse {
    /// Marks return data meant for the thread program.
    pub const TAG: [u8; 8] = *b"thrdresp";
    /// The wire format this program reads.
    pub const VERSION: u8 = 1;

    pub fn new(action: ThreadAction) -> Self {
        Self { action }
    }

    /// Tag, version, Borsh body: what a program passes to `set_return_data`.
    pub fn encode(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&Self::TAG);
        data.push(Self::VERSION);
        // Writing into a Vec cannot fail.
        let _ = self.action.serialize(&mut data);
        data
    }

    /// `None` for return data that is not a response (no tag); an error for tagged data
    /// of another version or that does not decode to exactly one action.
    pub fn decode(data: &[u8]) -> Result<Option<Self>> {
        let Some(rest) = data.strip_prefix(&Self::TAG) else {
            return Ok(None);
        };
        let (&version, mut body) = rest
            .split_first()
            .ok_or(ThreadError::InvalidThreadResponse)?;
        require!(
            version == Self::VERSION,
            ThreadError::UnsupportedResponseVersion
        );
        let action = ThreadAction::deserialize(&mut body)
            .map_err(|_| error!(ThreadError::InvalidThreadResponse))?;
        require!(body.is_empty(), ThreadError::InvalidThreadResponse);
        Ok(Some(Self { action }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips() {
        let actions = [
            ThreadAction::Trigger(Trigger::Interval {
                seconds: 60,
                skippable: true,
            }),
            ThreadAction::Instructions(vec![]),
            ThreadAction::Pause,
            ThreadAction::Chain,
            ThreadAction::Close,
        ];
        for action in actions {
            let encoded = ThreadResponse::new(action.clone()).encode();
            assert_eq!(
                ThreadResponse::decode(&encoded).unwrap(),
                Some(ThreadResponse::new(action))
            );
        }
    }

    #[test]
    fn untagged_data_is_not_a_response_and_tagged_garbage_is_refused() {
        assert_eq!(ThreadResponse::decode(&[]).unwrap(), None);
        assert_eq!(ThreadResponse::decode(&7u64.to_le_bytes()).unwrap(), None);

        let code = |data: &[u8]| match ThreadResponse::decode(data) {
            Err(Error::AnchorError(e)) => e.error_code_number,
            other => panic!("expected an error, got {other:?}"),
        };
        let tag = ThreadResponse::TAG.to_vec();
        let invalid = u32::from(ThreadError::InvalidThreadResponse);
        assert_eq!(code(&tag), invalid);
        assert_eq!(code(&[tag.clone(), vec![1, 99]].concat()), invalid);
        let mut trailing = ThreadResponse::new(ThreadAction::Pause).encode();
        trailing.push(0);
        assert_eq!(code(&trailing), invalid);
        assert_eq!(
            code(&[tag, vec![2, 2]].concat()),
            u32::from(ThreadError::UnsupportedResponseVersion)
        );
    }
}
