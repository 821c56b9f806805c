//! A transformer block's six projections as one crossbar (issue #24).
//!
//! The network keeps one weight matrix per PC layer, so a block's matrices
//! are packed as rows of one 12N × N array, every sub-array N columns wide
//! (the block's input or residual width):
//!
//! ```text
//! rows  0N..1N  Wq          rows 4N..8N   W1   (4N × N)
//! rows  1N..2N  Wk          rows 8N..12N  W2ᵀ  (W2 is N × 4N)
//! rows  2N..3N  Wv
//! rows  3N..4N  Wo
//! ```
//!
//! W2 is stored transposed so that every sub-array shares the N input
//! lines: W2·g is the W2ᵀ rows read backwards (driven from the row side),
//! W2ᵀ·u the same rows read forwards. A product with one projection is a
//! product with a row range of the core ([`WeightOperator::forward_rows_into`],
//! [`WeightOperator::transpose_rows_into`]), exact for the ideal matrix;
//! an analog core reads only those rows' outputs, or drives only those rows.

use super::attention::BlockWeights;
use crate::operator::WeightOperator;
use crate::real::{gemm, Real};
use nalgebra::DMatrix;
use std::ops::Range;

/// One of a block's six projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proj {
    /// Wq, N × N.
    Q,
    /// Wk, N × N.
    K,
    /// Wv, N × N.
    V,
    /// Wo, N × N.
    O,
    /// W1, 4N × N.
    Mlp1,
    /// W2, N × 4N.
    Mlp2,
}

impl Proj {
    /// The rows of the packed 12N × N array holding this projection (W2 as
    /// W2ᵀ).
    pub fn rows(self, n: usize) -> Range<usize> {
        match self {
            Proj::Q => 0..n,
            Proj::K => n..2 * n,
            Proj::V => 2 * n..3 * n,
            Proj::O => 3 * n..4 * n,
            Proj::Mlp1 => 4 * n..8 * n,
            Proj::Mlp2 => 8 * n..12 * n,
        }
    }
}

/// Where a block's projections come from: `op(W_p)·x` for projection `p`
/// (`op` the transpose when `transpose`), x with W_p's columns (rows when
/// transposed) as rows, any number of columns.
pub trait Projections<T: Real>: Sync {
    /// `op(W_p)·x` as a new matrix.
    fn product(&self, p: Proj, transpose: bool, x: &DMatrix<T>) -> DMatrix<T>;
}

impl<T: Real> Projections<T> for BlockWeights<T> {
    fn product(&self, p: Proj, transpose: bool, x: &DMatrix<T>) -> DMatrix<T> {
        let w = match p {
            Proj::Q => &self.wq,
            Proj::K => &self.wk,
            Proj::V => &self.wv,
            Proj::O => &self.wo,
            Proj::Mlp1 => &self.w1,
            Proj::Mlp2 => &self.w2,
        };
        let rows = if transpose { w.ncols() } else { w.nrows() };
        let mut out = DMatrix::zeros(rows, x.ncols());
        gemm(T::one(), w, transpose, x, T::zero(), &mut out);
        out
    }
}

/// A block's projections read from a packed 12N × N core (module doc).
pub struct PackedBlock<'a, T: Real> {
    core: &'a dyn WeightOperator<T>,
    n: usize,
}

impl<'a, T: Real> PackedBlock<'a, T> {
    /// The projections of width `n` in `core`. Panics when the core is not
    /// 12N × N (a programming error: shapes come from the topology).
    pub fn new(core: &'a dyn WeightOperator<T>, n: usize) -> Self {
        assert_eq!(
            (core.n_out(), core.n_in()),
            (12 * n, n),
            "a block's core must be 12N × N"
        );
        PackedBlock { core, n }
    }
}

impl<T: Real> Projections<T> for PackedBlock<'_, T> {
    fn product(&self, p: Proj, transpose: bool, x: &DMatrix<T>) -> DMatrix<T> {
        let rows = p.rows(self.n);
        // W2 is stored transposed: its forward product is a transposed read.
        let backwards = transpose != (p == Proj::Mlp2);
        let len = if backwards { self.n } else { rows.len() };
        let mut out = DMatrix::zeros(len, x.ncols());
        if backwards {
            self.core.transpose_rows_into(rows, x, &mut out);
        } else {
            self.core.forward_rows_into(rows, x, &mut out);
        }
        out
    }
}

/// The 12N × N packing of a block's weights (module doc).
pub fn pack_block<T: Real>(w: &BlockWeights<T>) -> DMatrix<T> {
    let n = w.wq.nrows();
    let mut m = DMatrix::zeros(12 * n, n);
    let parts = [
        (Proj::Q, w.wq.clone()),
        (Proj::K, w.wk.clone()),
        (Proj::V, w.wv.clone()),
        (Proj::O, w.wo.clone()),
        (Proj::Mlp1, w.w1.clone()),
        (Proj::Mlp2, w.w2.transpose()),
    ];
    for (p, part) in parts {
        let r = p.rows(n);
        m.rows_mut(r.start, r.len()).copy_from(&part);
    }
    m
}

/// The six matrices of a packed 12N × N array. Panics on another shape.
pub fn unpack_block<T: Real>(m: &DMatrix<T>) -> BlockWeights<T> {
    let n = m.ncols();
    assert_eq!(m.nrows(), 12 * n, "a packed block is 12N × N");
    let part = |p: Proj| {
        let r = p.rows(n);
        m.rows(r.start, r.len()).into_owned()
    };
    BlockWeights {
        wq: part(Proj::Q),
        wk: part(Proj::K),
        wv: part(Proj::V),
        wo: part(Proj::O),
        w1: part(Proj::Mlp1),
        w2: part(Proj::Mlp2).transpose(),
    }
}
