//! The commands as library functions; the `pcchip` binary only parses its
//! flags, calls these and prints what they return.
//!
//! - [`train`]: `pcchip run` (fresh or `--resume`d), with [`checkpoint`]s
//!   and [`weights`] files; [`summary`] is what it prints, [`progress`]
//!   its bar.
//! - [`bench`] (its CSV in bench_csv), [`grads`], [`relax`], [`check`]: the commands of those names.
//! - [`sweep`] (the grid, the cells, the files) and [`sweep_cmd`] (from the
//!   flags to the printed tables).
//! - [`plot_cmd`]: `pcchip plot`; [`sample`]: `pcchip sample` (text from a
//!   trained transformer chip).
//! - [`prepare`]: the chip and its data for a command, checked before
//!   anything is written.
//! - [`input`]: the circuit a command runs (a file with `--set`, or the
//!   embedded quickstart).
//! - [`dispatch`]: the one f32/f64 dispatch every command goes through.
//! - [`error`]: [`RunError`] and its exit codes.

pub mod bench;
pub mod bench_csv;
pub mod check;
pub mod checkpoint;
pub mod data_checks;
pub mod dispatch;
pub mod error;
pub mod grads;
pub mod input;
pub mod plot_cmd;
pub mod prepare;
pub mod progress;
pub mod relax;
pub mod sample;
pub mod summary;
pub mod sweep;
pub mod sweep_cmd;
pub mod train;
pub mod weights;

pub use error::RunError;
pub use input::{default_out, load_circuit};
pub use relax::{relax_batch, RelaxSummary};
