//! # pcchip — a simulator of analog predictive-coding chips
//!
//! Data flows one way: circuit → chip → relaxation → controller → report.
//!
//! - [`real`]: the scalar bound and the fast dense products.
//! - [`operator`]: the two products a layer's core computes (ideal or analog).
<<<<<<< HEAD
//! - [`data`]: data sets (embedded MNIST subset, IDX, CSV, synthetic) and batching.
//! - [`net`]: the predictive-coding network as mathematics (MODEL.md §1–3).

pub mod data;
=======
//! - [`analog`]: crossbar arrays and their periphery (devices, mapping, tiling, DAC/ADC).
//! - [`net`]: the predictive-coding network as mathematics (MODEL.md §1–3).

pub mod analog;
>>>>>>> analog
pub mod net;
pub mod operator;
pub mod real;
pub mod relax;

pub use data::{epoch_order, Batches, DataError, Dataset, Targets};
pub use operator::WeightOperator;
pub use real::{cosine, gemm, Real};
