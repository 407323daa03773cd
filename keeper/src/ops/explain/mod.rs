//! `keeper explain <thread>`: why a thread did or did not run, and what happens next.
//!
//! Owns: reading a thread and what bears on it ([`facts`]), judging it in one line
//! ([`verdict`], on the program's own due rule), and presenting both ([`report`], as
//! text or JSON). Works with a chain alone (an owner's view) and, given the keeper's
//! store, with the keeper's rows for the thread (an operator's view).
//!
//! Must not: write anything, to the chain or the store (the store is opened read-only by
//! the binary), or sign.

pub mod facts;
pub mod report;
pub mod time;
pub mod verdict;

use solana_sdk::pubkey::Pubkey;

use crate::chain::Chain;
use crate::store::Store;
pub use facts::{ExplainError, Facts};
pub use report::Explanation;
pub use verdict::{Verdict, Waiting};

/// Explains the thread at `address` of `program`; `store`: the keeper's, for its side;
/// `me`: the keeper's key, when the question is whether this keeper will run it.
pub async fn explain(
    chain: &dyn Chain,
    program: &Pubkey,
    address: &Pubkey,
    store: Option<&Store>,
    me: Option<Pubkey>,
) -> Result<(Verdict, Explanation), ExplainError> {
    let facts = Facts::read(chain, program, address, store, me).await?;
    let verdict = Verdict::of(&facts);
    let explanation = Explanation::new(&facts, &verdict);
    Ok((verdict, explanation))
}
