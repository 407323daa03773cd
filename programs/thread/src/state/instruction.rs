//! Instructions a thread stores and later runs by CPI, signed by the thread PDA.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;

/// Most instructions one thread may store.
pub const MAX_INSTRUCTIONS: usize = 8;
/// Most accounts one stored instruction may name: each must also fit in the execution
/// transaction, so more would never land.
pub const MAX_ACCOUNTS_PER_INSTRUCTION: usize = 32;
/// Largest data of one stored instruction, in bytes.
pub const MAX_INSTRUCTION_DATA: usize = 1024;
/// Largest total serialized size of all stored instructions, in bytes. Keeps a thread
/// account small enough to grow by `realloc` in one update (10 KiB per instruction).
pub const MAX_INSTRUCTIONS_SPACE: usize = 4096;

/// One account of a stored instruction, as `AccountMeta` but serializable.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct ThreadAccountMeta {
    /// The account's address.
    pub pubkey: Pubkey,
    /// The instruction requires this account's signature. Only the thread PDA's
    /// signature is supplied by the program; any other signer must sign the transaction.
    pub is_signer: bool,
    /// The instruction writes to this account.
    pub is_writable: bool,
}

/// An instruction stored in a thread, run by CPI on every execution.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct ThreadInstruction {
    /// Program to invoke.
    pub program_id: Pubkey,
    /// Accounts in the order the program expects them.
    #[max_len(MAX_ACCOUNTS_PER_INSTRUCTION)]
    pub accounts: Vec<ThreadAccountMeta>,
    /// Instruction data passed as is.
    #[max_len(MAX_INSTRUCTION_DATA)]
    pub data: Vec<u8>,
}

impl ThreadInstruction {
    /// Borsh-serialized size: program id, length-prefixed accounts, length-prefixed data.
    /// Saturates rather than wraps, so an absurd list fails the caps instead of passing them.
    pub fn space(&self) -> usize {
        (32 + 4 + 4_usize)
            .saturating_add(
                self.accounts
                    .len()
                    .saturating_mul(ThreadAccountMeta::INIT_SPACE),
            )
            .saturating_add(self.data.len())
    }

    /// Checks a full instruction list of the thread at `thread` against the caps above.
    /// The thread program itself may not be a target: a thread re-entering its own program
    /// could rewrite the very account that is executing. No account but the thread may be
    /// a signer: any other signature would have to come from the executor's transaction,
    /// and an owner could then spend the executor's or fee payer's lamports.
    pub fn validate_list(instructions: &[ThreadInstruction], thread: &Pubkey) -> Result<()> {
        require!(!instructions.is_empty(), ThreadError::NoInstructions);
        require!(
            instructions.len() <= MAX_INSTRUCTIONS,
            ThreadError::TooManyInstructions
        );
        for ix in instructions {
            require!(
                ix.accounts.len() <= MAX_ACCOUNTS_PER_INSTRUCTION,
                ThreadError::TooManyAccounts
            );
            require!(
                ix.data.len() <= MAX_INSTRUCTION_DATA,
                ThreadError::InstructionDataTooLarge
            );
            require_keys_neq!(
                ix.program_id,
                crate::ID,
                ThreadError::SelfInvocationNotAllowed
            );
            require!(
                ix.accounts
                    .iter()
                    .all(|meta| !meta.is_signer || meta.pubkey == *thread),
                ThreadError::ForeignSigner
            );
        }
        require!(
            Self::list_space(instructions) <= MAX_INSTRUCTIONS_SPACE,
            ThreadError::InstructionsTooLarge
        );
        Ok(())
    }

    /// Serialized size of a list without its 4-byte length prefix.
    pub fn list_space(instructions: &[ThreadInstruction]) -> usize {
        instructions
            .iter()
            .map(ThreadInstruction::space)
            .fold(0, usize::saturating_add)
    }
}

impl From<&ThreadInstruction> for anchor_lang::solana_program::instruction::Instruction {
    fn from(ix: &ThreadInstruction) -> Self {
        Self {
            program_id: ix.program_id,
            accounts: ix
                .accounts
                .iter()
                .map(|m| anchor_lang::solana_program::instruction::AccountMeta {
                    pubkey: m.pubkey,
                    is_signer: m.is_signer,
                    is_writable: m.is_writable,
                })
                .collect(),
            data: ix.data.clone(),
        }
    }
}

impl From<anchor_lang::solana_program::instruction::Instruction> for ThreadInstruction {
    fn from(ix: anchor_lang::solana_program::instruction::Instruction) -> Self {
        Self {
            program_id: ix.program_id,
            accounts: ix
                .accounts
                .into_iter()
                .map(|m| ThreadAccountMeta {
                    pubkey: m.pubkey,
                    is_signer: m.is_signer,
                    is_writable: m.is_writable,
                })
                .collect(),
            data: ix.data,
        }
    }
}
