//! [`WeightOperator`]: a weight matrix as the relaxation sees it.
//!
//! A layer's core must do two things over a batch: the forward product
//! `W·V` and the transposed product `Wᵀ·U` (the crossbar driven from the other
//! side). The ideal network (a plain `DMatrix`) and the analog crossbars
//! (`analog`) both implement this trait, so one integrator runs either.
//! This module knows nothing of predictive coding.

use crate::real::{gemm, Real};
use nalgebra::DMatrix;
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// The two batched products of one layer's weights (shape `n_out × n_in`).
///
/// Outputs are written into buffers the caller owns (`out` has the right
/// shape), so the relaxation's hot loop allocates nothing.
pub trait WeightOperator<T: Real>: Send + Sync {
    /// Rows of W (the layer's output width).
    fn n_out(&self) -> usize;
    /// Columns of W (the layer's input width).
    fn n_in(&self) -> usize;
    /// `out ← W·v`; `v` is `n_in × B`, `out` is `n_out × B`.
    fn forward_into(&self, v: &DMatrix<T>, out: &mut DMatrix<T>);
    /// `out ← Wᵀ·u`; `u` is `n_out × B`, `out` is `n_in × B`.
    fn transpose_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>);
    /// `out ← W[rows, :]·v` (`out` is `rows.len() × B`): the forward read of
    /// a sub-array's outputs only (a transformer block's projection, see
    /// `layer::packed`). Default: the full product, then those rows — the
    /// same numbers for any core whose outputs are read independently.
    fn forward_rows_into(&self, rows: Range<usize>, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        let mut full = DMatrix::zeros(self.n_out(), v.ncols());
        self.forward_into(v, &mut full);
        out.copy_from(&full.rows(rows.start, rows.len()));
    }
    /// `out ← W[rows, :]ᵀ·u` (`u` is `rows.len() × B`, `out` `n_in × B`):
    /// the sub-array driven from the row side, the other rows held at zero.
    /// Default: the full transposed product of u padded with zeros.
    fn transpose_rows_into(&self, rows: Range<usize>, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let mut full = DMatrix::zeros(self.n_out(), u.ncols());
        full.rows_mut(rows.start, rows.len()).copy_from(u);
        self.transpose_into(&full, out);
    }
    /// Σ_i W_ij² for each column j, when the core can report it (used to
    /// precondition implicit solves); `None` by default.
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        None
    }
    /// The matrix W itself, when the core's two products are exactly W·v and
    /// Wᵀ·u (used to build a single-precision copy for the stiff solver's
    /// linear solves); `None` by default.
    fn matrix(&self) -> Option<&DMatrix<T>> {
        None
    }
    /// Adds one evaluation's read noise to `out`, the product just computed
    /// from `input` (either direction). Default: none (an exact core).
    fn add_read_noise(&self, _input: &DMatrix<T>, _out: &mut DMatrix<T>, _rng: &mut ChaCha8Rng) {}
    /// Records one batched product done from [`WeightOperator::matrix`]
    /// directly (a layer that computes its reads itself, e.g. a direct
    /// convolution), so [`WeightOperator::reads`] still counts it. Default:
    /// nothing (a core that does not count).
    fn count_read(&self) {}
    /// Batched products this core has done so far (each `forward_into` or
    /// `transpose_into` is one, and each [`WeightOperator::count_read`]),
    /// when the core counts them; `None` by default.
    fn reads(&self) -> Option<u64> {
        None
    }
}

/// A count of a core's batched products (one array read of a batch each),
/// safe to bump from the layer-parallel tasks; its total is the same
/// whatever the thread count.
#[derive(Debug, Default)]
pub struct ReadCounter(std::sync::atomic::AtomicU64);

impl ReadCounter {
    /// Counts one read.
    pub fn bump(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Reads so far.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Clone for ReadCounter {
    fn clone(&self) -> Self {
        ReadCounter(std::sync::atomic::AtomicU64::new(self.get()))
    }
}

/// A plain matrix is the ideal core.
impl<T: Real> WeightOperator<T> for DMatrix<T> {
    fn n_out(&self) -> usize {
        self.nrows()
    }
    fn n_in(&self) -> usize {
        self.ncols()
    }
    fn forward_into(&self, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        gemm(T::one(), self, false, v, T::zero(), out);
    }
    fn transpose_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        gemm(T::one(), self, true, u, T::zero(), out);
    }
    fn forward_rows_into(&self, rows: Range<usize>, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        crate::real::gemm_rows(self, rows, v, out);
    }
    fn transpose_rows_into(&self, rows: Range<usize>, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        crate::real::gemm_rows_tr(self, rows, u, out);
    }
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        Some(self.column_iter().map(|c| c.norm_squared()).collect())
    }
    fn matrix(&self) -> Option<&DMatrix<T>> {
        Some(self)
    }
}

const _: () = {
    const fn assert_send_sync<X: Send + Sync>() {}
    assert_send_sync::<DMatrix<f32>>();
    assert_send_sync::<DMatrix<f64>>();
};
