//! [`Refusal`]: why an owner's input was turned down before anything was signed, in the
//! words the owner needs to fix it: the field, what is wrong with it, and what to write
//! instead.
//!
//! Must not: describe failures of the chain or the program (those happen after sending
//! and are [`crate::commands::CommandError`]s).

use std::fmt;

/// A bad input, refused before signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refusal {
    /// Where the bad value is: a spec path (`instructions[0].accounts[1].is_signer`) or
    /// a flag (`--fee-per-exec`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to write instead.
    pub fix: String,
}

impl Refusal {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.problem, self.fix)
    }
}
