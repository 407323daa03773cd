//! Tracking: from the program's accounts to "this thread is due now".
//!
//! Owns the view of the chain the keeper schedules from: [`discovery`] keeps the
//! [`index`] of every thread (scans plus pushed changes, never an older view over a
//! newer one), [`view`] is the fixed-size snapshot each entry keeps, and [`scheduler`]
//! turns due times on the chain's clock into work for the executor.
//!
//! Must not: send anything, or decide whether a due time already ran (the executor reads
//! the chain for that).

pub mod discovery;
pub mod index;
pub mod scheduler;
pub mod view;
