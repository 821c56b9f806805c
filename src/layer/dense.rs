//! [`Dense`]: a fully connected layer, μ_ℓ = a_ℓ W_ℓ d + s_ℓ z_{ℓ−1}, whose
//! weights are a crossbar (or, for the mathematical network and the stiff
//! solver's single-precision copy, a plain matrix). Its feedback is the
//! crossbar driven from the other side, Wᵀ·u; one read a sample each way.

use super::Layer;
use crate::net::layer_weight_grad;
use crate::operator::WeightOperator;
use crate::real::Real;
use nalgebra::DMatrix;

/// Where a dense layer's weights live.
enum Weights<'a, T: Real> {
    /// Borrowed from the chip's crossbar or the network.
    Borrowed(&'a dyn WeightOperator<T>),
    /// Owned (a converted copy).
    Owned(DMatrix<T>),
}

/// A fully connected layer.
pub struct Dense<'a, T: Real> {
    weights: Weights<'a, T>,
    multiplier: T,
    skip: bool,
}

impl<'a, T: Real> Dense<'a, T> {
    /// A layer over the core `w` (a crossbar or a matrix, n_out × n_in), with
    /// branch multiplier `multiplier` and an identity skip when `skip`.
    pub fn new(w: &'a dyn WeightOperator<T>, multiplier: T, skip: bool) -> Self {
        Dense {
            weights: Weights::Borrowed(w),
            multiplier,
            skip,
        }
    }

    /// A layer owning its weight matrix.
    pub fn owned(w: DMatrix<T>, multiplier: T, skip: bool) -> Self {
        Dense {
            weights: Weights::Owned(w),
            multiplier,
            skip,
        }
    }

    fn core(&self) -> &dyn WeightOperator<T> {
        match &self.weights {
            Weights::Borrowed(c) => *c,
            Weights::Owned(w) => w,
        }
    }
}

impl<T: Real> Layer<T> for Dense<'_, T> {
    fn n_in(&self) -> usize {
        self.core().n_in()
    }
    fn n_out(&self) -> usize {
        self.core().n_out()
    }
    fn multiplier(&self) -> T {
        self.multiplier
    }
    fn has_skip(&self) -> bool {
        self.skip
    }
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.core().forward_into(d, out);
    }
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.core().transpose_into(u, out);
    }
    fn weight_grad(&self, error: &DMatrix<T>, drive: &DMatrix<T>, precision: T) -> DMatrix<T> {
        layer_weight_grad(self.multiplier, precision, error, drive)
    }
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        self.core().column_sq_norms()
    }
    fn matrix(&self) -> Option<&DMatrix<T>> {
        self.core().matrix()
    }
}
