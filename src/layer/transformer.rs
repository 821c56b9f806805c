//! The transformer's PC layers (issue #24): [`Tokenwise`] (the embedding
//! and the LM head) and [`Block`] (one transformer block over a packed
//! crossbar, `super::packed`). Activities are token-major per sequence
//! (t·d + i), one column a sequence.
//!
//! - **Embedding**: a per-token crossbar read with a one-hot input,
//!   [one-hot token (V); one-hot position (T)] → N, so the array of
//!   N × (V + T) conductances holds both tables and a read returns
//!   W_tok[:, x_t] + W_pos[:, t]. It is a crossbar (not a digital lookup)
//!   so that its weights live, drift and are programmed like every other
//!   array, and the layer stays linear in its input (`LinearBranch`, JVP =
//!   prediction); a lookup would be the same numbers on an ideal device.
//! - **Block**: μ = z + B(z) with B(z) = block(z) − z, the block's two
//!   branches with branch scale c (the layer's multiplier in the
//!   parameterisation, applied inside the block, so [`Layer::multiplier`]
//!   is 1). Its branch is nonlinear in z: the feedback and the JVP are taken
//!   at the point of the layer's last [`Layer::predict_into`] (the field
//!   predicts before it feeds back or linearises), and it declares
//!   [`SecondOrder::GaussNewton`].
//! - **LM head**: a per-token N → V crossbar read; the output term is the
//!   cross-entropy of a softmax per token (`Topology::softmax_group` = V).

use super::attention::{BlockCache, TransformerBlock};
use super::packed::PackedBlock;
use super::{Layer, SecondOrder};
use crate::operator::WeightOperator;
use crate::real::{gemm_abt, Real};
use nalgebra::DMatrix;
use std::sync::Mutex;

/// Reinterprets a (T·d) × B batch as the d × (T·B) token matrix (same storage).
fn tokens<T: Real>(m: &DMatrix<T>, d: usize) -> DMatrix<T> {
    DMatrix::from_column_slice(d, m.len() / d.max(1), m.as_slice())
}

/// Copies a token matrix's storage into `out` (any shape of the same size).
fn store<T: Real>(m: &DMatrix<T>, out: &mut DMatrix<T>) {
    out.as_mut_slice().copy_from_slice(m.as_slice());
}

/// The same linear map on every token: W (d_out × d_in) read once per token.
pub struct Tokenwise<'a, T: Real> {
    core: &'a dyn WeightOperator<T>,
    seq_len: usize,
    multiplier: T,
}

impl<'a, T: Real> Tokenwise<'a, T> {
    /// A map of `seq_len` tokens over the core `w` (d_out × d_in).
    pub fn new(w: &'a dyn WeightOperator<T>, seq_len: usize, multiplier: T) -> Self {
        Tokenwise {
            core: w,
            seq_len,
            multiplier,
        }
    }
}

impl<T: Real> Layer<T> for Tokenwise<'_, T> {
    fn n_in(&self) -> usize {
        self.seq_len * self.core.n_in()
    }
    fn n_out(&self) -> usize {
        self.seq_len * self.core.n_out()
    }
    fn multiplier(&self) -> T {
        self.multiplier
    }
    fn has_skip(&self) -> bool {
        false
    }
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>) {
        let x = tokens(d, self.core.n_in());
        let mut y = DMatrix::zeros(self.core.n_out(), x.ncols());
        self.core.forward_into(&x, &mut y);
        store(&y, out);
    }
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let e = tokens(u, self.core.n_out());
        let mut y = DMatrix::zeros(self.core.n_in(), e.ncols());
        self.core.transpose_into(&e, &mut y);
        store(&y, out);
    }
    /// −a Λ mean_b Σ_t ε_t d_tᵀ (d_out × d_in).
    fn weight_grad(&self, error: &DMatrix<T>, drive: &DMatrix<T>, precision: T) -> DMatrix<T> {
        let (e, d) = (
            tokens(error, self.core.n_out()),
            tokens(drive, self.core.n_in()),
        );
        let scale = -self.multiplier * precision * T::of(1.0 / error.ncols().max(1) as f64);
        let mut g = DMatrix::zeros(self.core.n_out(), self.core.n_in());
        gemm_abt(scale, &e, &d, T::zero(), &mut g);
        g
    }
    fn reads_per_sample(&self) -> usize {
        self.seq_len
    }
    /// Each token's input unit j sees W's column j.
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        let c = self.core.column_sq_norms()?;
        Some(c.repeat(self.seq_len))
    }
}

/// A transformer block as a PC layer over its packed 12N × N core.
pub struct Block<'a, T: Real> {
    core: &'a dyn WeightOperator<T>,
    maths: TransformerBlock<T>,
    /// The forward pass of the last prediction (the linearisation point).
    cache: Mutex<Option<BlockCache<T>>>,
}

impl<'a, T: Real> Block<'a, T> {
    /// A block of width N = `w.n_in()` on `seq_len` tokens with `heads`
    /// heads, attention scale `attn_scale` and branch scale `branch_scale`.
    /// Panics on a core that is not 12N × N or heads not dividing N
    /// (shapes come from a validated topology).
    pub fn new(
        w: &'a dyn WeightOperator<T>,
        heads: usize,
        seq_len: usize,
        attn_scale: T,
        branch_scale: T,
    ) -> Self {
        let n = w.n_in();
        let maths = TransformerBlock::unweighted(n, heads, seq_len, attn_scale, branch_scale)
            .expect("a block shape from a validated topology");
        PackedBlock::new(w, n);
        Block {
            core: w,
            maths,
            cache: Mutex::new(None),
        }
    }

    /// The same layer with the block's pre-norm layer norm on or off.
    pub fn with_layer_norm(self, on: bool) -> Self {
        Block {
            maths: self.maths.with_layer_norm(on),
            ..self
        }
    }

    fn packed(&self) -> PackedBlock<'_, T> {
        PackedBlock::new(self.core, self.maths.width())
    }

    /// Runs `f` on the cache of the last prediction; panics when there was
    /// none or its batch differs (a programming error of the caller).
    fn with_cache<R>(&self, cols: usize, f: impl FnOnce(&BlockCache<T>) -> R) -> R {
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let cache = guard
            .as_ref()
            .filter(|c| c.n_sequences() == cols)
            .expect("a block feeds back or linearises after a prediction of the same batch");
        f(cache)
    }
}

impl<T: Real> Layer<T> for Block<'_, T> {
    fn n_in(&self) -> usize {
        self.maths.n_units()
    }
    fn n_out(&self) -> usize {
        self.maths.n_units()
    }
    fn multiplier(&self) -> T {
        T::one()
    }
    fn has_skip(&self) -> bool {
        true
    }
    /// B(d) = block(d) − d; caches the pass (the linearisation point).
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (y, cache) = self.maths.forward_on(&self.packed(), d);
        out.zip_zip_apply(&y, d, |o, y, d| *o = y - d);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(cache);
    }
    /// (∂block/∂d)ᵀ·u − u at the last prediction.
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (dx, _) = self.with_cache(u.ncols(), |c| self.maths.vjp_on(&self.packed(), c, u));
        out.zip_zip_apply(&dx, u, |o, g, u| *o = g - u);
    }
    /// (∂block/∂d)·v − v at the last prediction.
    fn jvp_into(&self, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (dy, _) = self.with_cache(v.ncols(), |c| self.maths.jvp_on(&self.packed(), c, v));
        out.zip_zip_apply(&dy, v, |o, g, v| *o = g - v);
    }
    fn second_order(&self) -> SecondOrder {
        SecondOrder::GaussNewton
    }
    /// −Λ mean_b ∂⟨ε, block(d)⟩/∂W, packed 12N × N; a forward pass of its
    /// own at `drive` (the cache is left as it is).
    fn weight_grad(&self, error: &DMatrix<T>, drive: &DMatrix<T>, precision: T) -> DMatrix<T> {
        let packed = self.packed();
        let (_, cache) = self.maths.forward_on(&packed, drive);
        let grads = self.maths.backward_on(&packed, &cache, error).grads;
        let mut g = super::packed::pack_block(&grads);
        g *= -precision * T::of(1.0 / error.ncols().max(1) as f64);
        g
    }
    /// One read per token per projection (6T), either direction.
    fn reads_per_sample(&self) -> usize {
        6 * self.maths.seq_len()
    }
}
