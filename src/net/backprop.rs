//! The backprop reference: the loss ℒ of the feedforward network and its
//! gradient by an explicit backward pass (MODEL.md §1).
//!
//! ℒ = mean_b ½‖y − f(x)‖² (MSE) or mean_b CE(y, softmax(f(x))). The output
//! precision λ is not part of ℒ (at λ = 1, F at the feedforward state equals ℒ).

use super::energy::{feedforward, predict, presynaptic, softmax};
use super::network::{Loss, Network};
use crate::real::{gemm, gemm_abt, Real};
use nalgebra::DMatrix;

/// Loss and gradients of one batch.
#[derive(Clone, Debug)]
pub struct Backprop<T: Real> {
    /// ℒ, mean over the batch.
    pub loss: f64,
    /// ∇_{W_ℓ} ℒ at index ℓ − 1 (shapes of W_ℓ).
    pub grads: Vec<DMatrix<T>>,
    /// f(x) = μ_L (logits for cross-entropy), `n_L × B`.
    pub output: DMatrix<T>,
}

/// The loss ℒ(f(x), y), mean over the batch (no precision weight).
pub fn loss_of_output<T: Real>(loss: Loss, out: &DMatrix<T>, y: &DMatrix<T>) -> f64 {
    loss_of_output_grouped(loss, 0, out, y)
}

/// [`loss_of_output`] with the cross-entropy's softmax over each group of
/// `group` rows ([`super::energy::softmax_grouped`]; 0: whole columns), so
/// a sequence's loss is the sum of its tokens' (mean over sequences).
pub fn loss_of_output_grouped<T: Real>(
    loss: Loss,
    group: usize,
    out: &DMatrix<T>,
    y: &DMatrix<T>,
) -> f64 {
    let batch = out.ncols() as f64;
    match loss {
        Loss::Mse => {
            0.5 * out
                .iter()
                .zip(y.iter())
                .map(|(o, t)| (*t - *o).f64().powi(2))
                .sum::<f64>()
                / batch
        }
        Loss::CrossEntropy => {
            let p = super::energy::softmax_grouped(out, group);
            -y.iter()
                .zip(p.iter())
                .map(|(t, q)| t.f64() * q.f64().max(f64::MIN_POSITIVE).ln())
                .sum::<f64>()
                / batch
        }
    }
}

/// Forward pass, then δ_L = ∂ℒ/∂μ_L and, for ℓ = L…1,
/// ∇W_ℓ = a_ℓ δ_ℓ φ(z_{ℓ−1})ᵀ, δ_{ℓ−1} = φ'(z_{ℓ−1}) ⊙ (a_ℓ W_ℓᵀ δ_ℓ) + s_ℓ δ_ℓ.
pub fn backprop<T: Real>(net: &Network<T>, x: &DMatrix<T>, y: &DMatrix<T>) -> Backprop<T> {
    let depth = net.depth();
    let act = net.topology.activation;
    let z = feedforward(net, x, y);
    let out = predict(net, &z, depth);
    let batch = T::of(x.ncols() as f64);
    let mut delta = match net.topology.loss {
        Loss::Mse => (&out - y) / batch,
        Loss::CrossEntropy => (softmax(&out) - y) / batch,
    };
    let mut grads = vec![DMatrix::zeros(0, 0); depth];
    for l in (1..=depth).rev() {
        let pre = presynaptic(net, &z, l);
        let mut g = DMatrix::zeros(net.w(l).nrows(), net.w(l).ncols());
        gemm_abt(net.a(l), &delta, &pre, T::zero(), &mut g);
        grads[l - 1] = g;
        if l > 1 {
            let mut back = DMatrix::zeros(z[l - 1].nrows(), delta.ncols());
            gemm(net.a(l), net.w(l), true, &delta, T::zero(), &mut back);
            back.zip_apply(&z[l - 1], |b, zi| *b *= act.dphi(zi));
            if net.topology.has_skip(l) {
                back += &delta;
            }
            delta = back;
        }
    }
    Backprop {
        loss: loss_of_output(net.topology.loss, &out, y),
        grads,
        output: out,
    }
}
