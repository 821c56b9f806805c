//! # pcchip — a simulator of analog predictive-coding chips
//!
//! Data flows one way: circuit → chip → relaxation → controller → report.
//!
//! - [`real`]: the scalar bound and the fast dense products.
//! - [`operator`]: the two products a layer's core computes (ideal or analog).
//! - [`data`]: data sets (embedded MNIST subset, IDX, CSV, synthetic) and batching.
//! - [`net`]: the predictive-coding network as mathematics (MODEL.md §1–3).
//! - [`timing`]: time and energy of a training step, PC chip against backprop (MODEL.md §5).

pub mod data;
pub mod net;
pub mod operator;
pub mod real;
pub mod timing;

pub use data::{epoch_order, Batches, DataError, Dataset, Targets};
pub use operator::{DenseWeights, WeightOperator};
pub use real::{cosine, gemm, Real};
