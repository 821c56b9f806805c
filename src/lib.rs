//! # pcchip — a simulator of analog predictive-coding chips
//!
//! Data flows one way: circuit → chip → relaxation → controller → report.
//!
//! - [`real`]: the scalar bound and the fast dense products.
//! - [`operator`]: the two products a layer's core computes (ideal or analog).
//! - [`net`]: the predictive-coding network as mathematics (MODEL.md §1–3).
//! - [`analog`]: crossbar arrays and their periphery (devices, mapping, tiling, DAC/ADC).
//! - [`relax`]: the continuous-time relaxation of all layers at once.
//! - [`timing`]: time and energy of a training step, PC chip against backprop (MODEL.md §5).
//! - [`data`]: data sets (embedded MNIST subset, IDX, CSV, synthetic) and batching.
//! - [`plot`]: figures of run, bench and sweep folders (PNG or SVG).
//! - [`interrupt`]: a request from outside (the Python package's Ctrl-C)
//!   to stop the computation in progress.
//! - [`run`]: the commands as library functions: training runs and their
//!   checkpoints, bench, grads, relax, the sweep, check.

pub mod analog;
pub mod chip;
pub mod circuit;
pub mod controller;
pub mod data;
pub mod interrupt;
pub mod layer;
pub mod net;
pub mod operator;
pub mod plot;
pub mod real;
pub mod relax;
pub mod report;
pub mod run;
pub mod timing;

/// The crate's version (the Python package's follows it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use data::{epoch_order, Batches, DataError, Dataset, Targets};
pub use operator::WeightOperator;
pub use real::{cosine, gemm, Real};
