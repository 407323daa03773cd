//! The thread program's errors by code, so a failed transaction reads as the error's name
//! and message rather than `custom program error: 0x1775`. The table is the committed IDL
//! (`idl/thread.json`, which CI checks against the program), compiled in.

use serde::Deserialize;
use solana_sdk::instruction::InstructionError;
use solana_sdk::transaction::TransactionError;

const IDL: &str = include_str!("../../idl/thread.json");

/// One error of the program.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProgramError {
    pub code: u32,
    pub name: String,
    #[serde(default)]
    pub msg: String,
}

#[derive(Deserialize)]
struct Errors {
    errors: Vec<ProgramError>,
}

/// The program's error with `code`, if it is one.
pub fn by_code(code: u32) -> Option<ProgramError> {
    let table: Errors = serde_json::from_str(IDL).expect("the compiled-in IDL parses");
    table.errors.into_iter().find(|error| error.code == code)
}

/// `error` as an owner reads it: the program's error name, number, message and the
/// instruction that raised it when it is one of the program's; otherwise as it is.
pub fn explain(error: &TransactionError) -> String {
    match error {
        TransactionError::InstructionError(index, InstructionError::Custom(code)) => {
            match by_code(*code) {
                Some(known) => format!(
                    "{} (error {}) in instruction {index}: {}",
                    known.name, known.code, known.msg
                ),
                None => error.to_string(),
            }
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thread::errors::ThreadError;

    #[test]
    fn the_compiled_in_table_is_the_programs() {
        for error in [
            ThreadError::InvalidId,
            ThreadError::WithdrawExceedsAvailable,
            ThreadError::NotOwner,
        ] {
            let known = by_code(u32::from(error)).expect("in the IDL");
            assert_eq!(known.name, error.name());
            assert_eq!(known.msg, error.to_string());
        }
    }

    #[test]
    fn a_program_error_is_named_and_anything_else_is_left_as_it_is() {
        let code = u32::from(ThreadError::WithdrawExceedsAvailable);
        let failed = TransactionError::InstructionError(1, InstructionError::Custom(code));
        let explained = explain(&failed);
        assert!(
            explained.starts_with(&format!(
                "WithdrawExceedsAvailable (error {code}) in instruction 1: "
            )),
            "{explained}"
        );
        for other in [
            TransactionError::InstructionError(0, InstructionError::Custom(1)),
            TransactionError::InstructionError(0, InstructionError::InvalidAccountData),
            TransactionError::BlockhashNotFound,
        ] {
            assert_eq!(explain(&other), other.to_string());
        }
    }
}
