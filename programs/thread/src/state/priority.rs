//! How urgently an owner wants its thread's executions handled by keepers.

use anchor_lang::prelude::*;

/// An owner's priority for its thread's executions. Keepers replay a higher priority
/// sooner after a failed submission (Critical 5 s, High 10 s, Medium 30 s, Low 60 s),
/// keep it running while degraded, and pay more for compute; each keeper honours it
/// within the bounds its operator configured. A thread without one runs at the keeper's
/// default for its durability.
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    InitSpace,
)]
pub enum ThreadPriority {
    Low,
    Medium,
    High,
    Critical,
}
