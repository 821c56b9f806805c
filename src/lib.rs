//! # pcchip — a simulator of analog predictive-coding chips
//!
//! Data flows one way: circuit → chip → relaxation → controller → report.
//!
//! - [`real`]: the scalar bound and the fast dense products.
//! - [`operator`]: the two products a layer's core computes (ideal or analog).
//! - [`analog`]: crossbar arrays and their periphery (devices, mapping, tiling, DAC/ADC).
//! - [`net`]: the predictive-coding network as mathematics (MODEL.md §1–3).

pub mod analog;
pub mod net;
pub mod operator;
pub mod real;

pub use operator::{DenseWeights, WeightOperator};
pub use real::{cosine, gemm, Real};
