//! The commands as library functions: [`train`] (`pcchip run`, with its
//! [`checkpoint`]s), [`bench`], [`grads`], [`relax`] and [`sweep`].

pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod dispatch;
pub mod grads;
pub mod relax;
pub mod sweep;
pub mod train;
pub mod weights;

pub use relax::{relax_batch, RelaxSummary};
