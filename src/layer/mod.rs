//! [`Layer`]: one layer of the network as the relaxation circuit and the
//! controller use it. The field ([`crate::relax::Field`]) runs over layers
//! through this trait only, so a new kind of layer is one implementation,
//! not a thread through chip, field and controller.
//!
//! Layer ℓ predicts the next activity from the one before,
//!
//! ```text
//! μ_ℓ = a_ℓ · B_ℓ(d_ℓ) + s_ℓ · z_{ℓ−1},   d_ℓ = φ(z_{ℓ−1})  (x for ℓ = 1)
//! ```
//!
//! with a branch B_ℓ (for a dense layer the crossbar product W_ℓ·d), the
//! branch multiplier a_ℓ of the parameterisation and an optional identity
//! skip s_ℓ. The field does the rest (φ and φ′ of the input, the errors
//! ε_ℓ = z_ℓ − μ_ℓ, the force, the stopping rule) in fused passes around the
//! layer's products. A layer gives:
//!
//! - its **prediction**, the branch product B_ℓ(d) over a batch
//!   ([`Layer::predict_into`]);
//! - its **transposed feedback**, the vector–Jacobian product (∂B_ℓ/∂d)ᵀ·u
//!   ([`Layer::feedback_into`]): the crossbar driven from the other side;
//! - the **Jacobian–vector product** (∂B_ℓ/∂d)·v at the linearised point
//!   ([`Layer::jvp_into`]; equal to the prediction for branches linear in d);
//! - the **second-order term** the stiff solver needs: for a branch linear
//!   in d the exact activity Hessian is the field's Gauss–Newton product plus
//!   its φ″ diagonal ([`SecondOrder::LinearBranch`]); a layer whose branch is
//!   itself nonlinear in d declares [`SecondOrder::GaussNewton`] and the
//!   stiff solver uses the Gauss–Newton product alone (positive
//!   semi-definite, exact at a zero-error equilibrium);
//! - its **weight gradient** from local signals ([`Layer::weight_grad`]);
//! - the **crossbar reads** one product costs per sample
//!   ([`Layer::reads_per_sample`]), for the timing model (which does not
//!   read it yet: today it prices dense layers, one read a sample).
//!
//! [`Dense`] (with and without skips), [`Conv2d`] and [`AvgPool2x2`] are
//! the implementations today:
//!
//! - **Convolution** (issue #23, [`Conv2d`]): activities are images
//!   flattened per sample, channel-major (c·H·W + i·W + j). The k×k kernel
//!   (stride 1, same zero padding, no bias) is one crossbar of
//!   C_out × (C_in·k²) conductances, read once per output pixel (im2col: the
//!   batch of patches as columns, one batched product, so
//!   `reads_per_sample` = H·W); the feedback is the transposed read per
//!   pixel scattered back (col2im), the JVP equals the prediction,
//!   `LinearBranch` holds, and the weight gradient sums ε·patchᵀ over
//!   pixels. A residual block is a `Conv2d` with the skip (C_in = C_out).
//!   [`ConvShape`] holds the geometry and the layouts.
//! - **Average pooling** ([`AvgPool2x2`]): 2×2 blocks averaged, no weights,
//!   no reads (digital or passive); its feedback is its transpose.
//!
//! - **Transformer** (issue #24, [`Block`], [`Tokenwise`]): the embedding
//!   and the LM head are [`Tokenwise`] layers (one crossbar read per token;
//!   the embedding's input is [one-hot token; one-hot position], so its
//!   array holds both tables and the layer is linear). A [`Block`] is one
//!   transformer block: the analog projections (Q, K, V, O and the MLP's two
//!   matrices) are one packed 12N × N crossbar ([`packed`]), attention's
//!   softmax and products are digital ([`TransformerBlock`]); B_ℓ is the
//!   whole block minus its input (s_ℓ = 1, the branch scale c = 1/n of μPC
//!   inside it, a_ℓ = 1), the feedback is the block's backward pass
//!   (transposed reads of the same arrays plus digital attention
//!   gradients), the JVP its forward-mode derivative, both at the point of
//!   the last prediction, and the block declares `GaussNewton` (its branch
//!   is nonlinear in d). `reads_per_sample` counts the projections' reads
//!   (one per token per projection, 6T).

mod attention;
mod conv;
mod dense;
mod direct;
mod im2col;
pub mod layer_norm;
pub mod packed;
mod pool;
mod transformer;

pub use attention::{
    Backward, BlockCache, BlockError, BlockWeights, ProjectionReads, TransformerBlock,
};
pub use conv::Conv2d;
pub use dense::Dense;
pub use im2col::ConvShape;
pub use pool::AvgPool2x2;
pub use transformer::{Block, Tokenwise};

use crate::net::LayerKind;
use crate::operator::WeightOperator;
use crate::real::Real;
use nalgebra::DMatrix;

/// The layer of kind `kind` over the core `w` (unused by a pool), with
/// branch multiplier `a` and an identity skip when `skip` (a transformer
/// block: `a` is its branch scale c, the skip is always on).
pub fn of_kind<'a, T: Real>(
    kind: LayerKind,
    w: &'a dyn WeightOperator<T>,
    a: T,
    skip: bool,
) -> Box<dyn Layer<T> + 'a> {
    match kind {
        LayerKind::Dense => Box::new(Dense::new(w, a, skip)),
        LayerKind::Conv {
            c_in,
            c_out,
            h,
            w: width,
            k,
            ..
        } => Box::new(Conv2d::new(
            w,
            ConvShape::new(c_in, c_out, h, width, k),
            a,
            skip,
        )),
        LayerKind::Pool { channels, h, w } => Box::new(AvgPool2x2::new(channels, h, w)),
        LayerKind::Tokenwise { seq_len, .. } => Box::new(Tokenwise::new(w, seq_len, a)),
        LayerKind::Block {
            width,
            heads,
            seq_len,
            mu_attention,
            layer_norm,
        } => {
            let d = (width / heads.max(1)) as f64;
            let sigma = if mu_attention {
                1.0 / d
            } else {
                1.0 / d.sqrt()
            };
            Box::new(Block::new(w, heads, seq_len, T::of(sigma), a).with_layer_norm(layer_norm))
        }
    }
}

/// How the stiff solver gets the layer's second-order term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondOrder {
    /// B_ℓ is linear in its drive: the field's Gauss–Newton product plus
    /// the φ″ diagonal is the exact activity Hessian.
    LinearBranch,
    /// B_ℓ is nonlinear in its drive: the Gauss–Newton product is used alone.
    GaussNewton,
}

/// One layer of the network (shapes per sample; batches are columns).
pub trait Layer<T: Real>: Send + Sync {
    /// Input width n_in (units of z_{ℓ−1} per sample).
    fn n_in(&self) -> usize;
    /// Output width n_out (units of z_ℓ per sample).
    fn n_out(&self) -> usize;
    /// The branch multiplier a_ℓ.
    fn multiplier(&self) -> T;
    /// Whether μ_ℓ adds the identity skip z_{ℓ−1}.
    fn has_skip(&self) -> bool;
    /// `out ← B_ℓ(d)`, `d` n_in × B, `out` n_out × B (no multiplier, no skip).
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>);
    /// `out ← (∂B_ℓ/∂d)ᵀ·u`, `u` n_out × B, `out` n_in × B.
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>);
    /// `out ← (∂B_ℓ/∂d)·v` at the linearised point; the prediction of `v`
    /// for branches linear in d (the default).
    fn jvp_into(&self, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.predict_into(v, out);
    }
    /// How the stiff solver gets this layer's second-order term.
    fn second_order(&self) -> SecondOrder {
        SecondOrder::LinearBranch
    }
    /// ∂F/∂W_ℓ from the layer's local signals: its error ε_ℓ (n_out × B), its
    /// drive d_ℓ (n_in × B) and the precision Λ_ℓ of its error.
    fn weight_grad(&self, error: &DMatrix<T>, drive: &DMatrix<T>, precision: T) -> DMatrix<T>;
    /// Crossbar reads one product (either direction) costs per sample.
    fn reads_per_sample(&self) -> usize {
        1
    }
    /// Σ_i W_ij² per input j, when the layer can report it (Jacobi
    /// preconditioning of implicit solves).
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        None
    }
    /// The weight matrix, when the branch is exactly W·d (for the stiff
    /// solver's single-precision copy).
    fn matrix(&self) -> Option<&DMatrix<T>> {
        None
    }
}
