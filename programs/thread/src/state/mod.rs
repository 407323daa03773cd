//! Account types and the value types stored inside them.

pub mod instruction;
pub mod lease;
pub mod priority;
pub mod response;
pub mod thread;
pub mod trigger;

pub use instruction::*;
pub use lease::*;
pub use priority::*;
pub use response::*;
pub use thread::*;
pub use trigger::*;
