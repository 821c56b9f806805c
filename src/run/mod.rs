//! The commands as library functions. Today: [`relax`] (`pcchip relax`);
//! the other commands still live in their own modules (`train`, `bench`,
//! `grads`, `sweep`) until the step's redesign moves them here.

pub mod relax;

pub use relax::{relax_batch, RelaxSummary};
