//! Instruction order of a built transaction, and its checks.
//!
//! A durable transaction is valid only when instruction 0 advances its nonce, so the
//! order is fixed: the nonce advance, then the compute-unit limit, then the compute-unit
//! price (when non-zero), then the payload. `sanity_check` decodes instruction 0 rather
//! than comparing bytes, and runs in debug builds and tests (or when configured).

use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_system_interface::instruction::{self as system_instruction, SystemInstruction};

/// The durable nonce a transaction is anchored on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceUse {
    pub nonce: Pubkey,
    pub authority: Pubkey,
}

/// Compute-budget settings of one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComputeBudget {
    pub unit_limit: u32,
    /// Micro-lamports per compute unit; 0 adds no price instruction.
    pub unit_price: u64,
}

/// The full instruction list, in the one valid order.
pub fn ordered_instructions(
    nonce: Option<NonceUse>,
    budget: ComputeBudget,
    payload: &[Instruction],
) -> Vec<Instruction> {
    let mut ixs = Vec::with_capacity(payload.len() + 3);
    if let Some(n) = nonce {
        ixs.push(system_instruction::advance_nonce_account(
            &n.nonce,
            &n.authority,
        ));
    }
    ixs.push(ComputeBudgetInstruction::set_compute_unit_limit(
        budget.unit_limit,
    ));
    if budget.unit_price > 0 {
        ixs.push(ComputeBudgetInstruction::set_compute_unit_price(
            budget.unit_price,
        ));
    }
    ixs.extend_from_slice(payload);
    ixs
}

/// The simulation path: the same instructions with the nonce advance skipped, so
/// a simulation can never touch the nonce. (Simulation does not commit in any case; see
/// `SimulationMode` for when the advance is kept.)
pub fn without_nonce_advance(ixs: &[Instruction], durable: bool) -> Vec<Instruction> {
    if durable {
        ixs.iter().skip(1).cloned().collect()
    } else {
        ixs.to_vec()
    }
}

/// Why an instruction list is out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("durable transaction has no instructions")]
    Empty,
    #[error("instruction 0 is not a system instruction (program {0})")]
    FirstNotSystem(Pubkey),
    #[error("instruction 0 is not AdvanceNonceAccount")]
    FirstNotAdvance,
    #[error("instruction 0 advances {found}, expected {expected}")]
    WrongNonce { expected: Pubkey, found: Pubkey },
    #[error("a nonce advance appears at position {0}, after instruction 0")]
    LateAdvance(usize),
    #[error("compute-budget instruction at position {0} comes after the payload")]
    LateComputeBudget(usize),
}

/// Checks the order: for a durable transaction instruction 0 must decode as
/// `AdvanceNonceAccount` of `nonce`; no other instruction may advance a nonce; compute
/// budget instructions precede the payload.
pub fn sanity_check(ixs: &[Instruction], nonce: Option<&Pubkey>) -> Result<(), OrderError> {
    if let Some(expected) = nonce {
        let first = ixs.first().ok_or(OrderError::Empty)?;
        if first.program_id != solana_sdk_ids::system_program::ID {
            return Err(OrderError::FirstNotSystem(first.program_id));
        }
        if !is_advance(first) {
            return Err(OrderError::FirstNotAdvance);
        }
        let found = first.accounts.first().map(|m| m.pubkey).unwrap_or_default();
        if found != *expected {
            return Err(OrderError::WrongNonce {
                expected: *expected,
                found,
            });
        }
    }
    let start = usize::from(nonce.is_some());
    if let Some(late) = ixs.iter().skip(start).position(is_advance) {
        return Err(OrderError::LateAdvance(late + start));
    }
    let budget_program = solana_sdk_ids::compute_budget::ID;
    let first_payload = ixs
        .iter()
        .skip(start)
        .position(|ix| ix.program_id != budget_program)
        .map(|p| p + start);
    if let Some(payload_at) = first_payload {
        if let Some(late) = ixs[payload_at..]
            .iter()
            .position(|ix| ix.program_id == budget_program)
        {
            return Err(OrderError::LateComputeBudget(late + payload_at));
        }
    }
    Ok(())
}

fn is_advance(ix: &Instruction) -> bool {
    ix.program_id == solana_sdk_ids::system_program::ID
        && matches!(
            bincode::deserialize::<SystemInstruction>(&ix.data),
            Ok(SystemInstruction::AdvanceNonceAccount)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::instruction::AccountMeta;

    fn payload() -> Instruction {
        Instruction::new_with_bytes(
            Pubkey::new_unique(),
            &[1, 2, 3],
            vec![AccountMeta::new(Pubkey::new_unique(), false)],
        )
    }

    fn nonce_use() -> NonceUse {
        NonceUse {
            nonce: Pubkey::new_unique(),
            authority: Pubkey::new_unique(),
        }
    }

    const BUDGET: ComputeBudget = ComputeBudget {
        unit_limit: 200_000,
        unit_price: 1_000,
    };

    #[test]
    fn durable_order_is_advance_limit_price_payload() {
        let n = nonce_use();
        let p = payload();
        let ixs = ordered_instructions(Some(n), BUDGET, std::slice::from_ref(&p));
        assert_eq!(ixs.len(), 4);
        assert!(is_advance(&ixs[0]));
        assert_eq!(ixs[0].accounts[0].pubkey, n.nonce);
        assert_eq!(
            ixs[1],
            ComputeBudgetInstruction::set_compute_unit_limit(200_000)
        );
        assert_eq!(
            ixs[2],
            ComputeBudgetInstruction::set_compute_unit_price(1_000)
        );
        assert_eq!(ixs[3], p);
        sanity_check(&ixs, Some(&n.nonce)).unwrap();
    }

    #[test]
    fn zero_price_adds_no_price_instruction() {
        let budget = ComputeBudget {
            unit_limit: 1,
            unit_price: 0,
        };
        let ixs = ordered_instructions(None, budget, &[payload()]);
        assert_eq!(ixs.len(), 2);
        sanity_check(&ixs, None).unwrap();
    }

    #[test]
    fn sanity_check_trips_on_a_missing_advance() {
        let n = nonce_use();
        let ixs = ordered_instructions(None, BUDGET, &[payload()]);
        assert_eq!(
            sanity_check(&ixs, Some(&n.nonce)),
            Err(OrderError::FirstNotSystem(
                solana_sdk_ids::compute_budget::ID
            ))
        );
    }

    #[test]
    fn sanity_check_trips_on_an_advance_moved_after_the_budget() {
        let n = nonce_use();
        let mut ixs = ordered_instructions(Some(n), BUDGET, &[payload()]);
        ixs.swap(0, 1);
        assert!(matches!(
            sanity_check(&ixs, Some(&n.nonce)),
            Err(OrderError::FirstNotSystem(_))
        ));
        assert_eq!(sanity_check(&ixs, None), Err(OrderError::LateAdvance(1)));
    }

    #[test]
    fn sanity_check_trips_on_a_system_instruction_that_is_not_an_advance() {
        let n = nonce_use();
        let mut ixs = ordered_instructions(Some(n), BUDGET, &[payload()]);
        ixs[0] = system_instruction::transfer(&n.authority, &n.nonce, 1);
        assert_eq!(
            sanity_check(&ixs, Some(&n.nonce)),
            Err(OrderError::FirstNotAdvance)
        );
    }

    #[test]
    fn sanity_check_trips_on_another_nonce() {
        let n = nonce_use();
        let ixs = ordered_instructions(Some(n), BUDGET, &[payload()]);
        let other = Pubkey::new_unique();
        assert_eq!(
            sanity_check(&ixs, Some(&other)),
            Err(OrderError::WrongNonce {
                expected: other,
                found: n.nonce
            })
        );
    }

    #[test]
    fn sanity_check_trips_on_a_compute_budget_after_the_payload() {
        let mut ixs = ordered_instructions(None, BUDGET, &[payload()]);
        let price = ixs.remove(1);
        ixs.push(price);
        assert_eq!(
            sanity_check(&ixs, None),
            Err(OrderError::LateComputeBudget(2))
        );
    }

    #[test]
    fn simulation_path_skips_only_the_advance() {
        let n = nonce_use();
        let p = payload();
        let ixs = ordered_instructions(Some(n), BUDGET, std::slice::from_ref(&p));
        let sim = without_nonce_advance(&ixs, true);
        assert_eq!(sim, ixs[1..].to_vec());
        assert_eq!(without_nonce_advance(&sim, false), sim);
    }
}
