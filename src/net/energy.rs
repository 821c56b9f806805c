//! The energy F, the prediction errors ε_ℓ, and the closed-form gradients
//! ∂F/∂z and ∂F/∂W (MODEL.md §1). No autodiff: every formula is written out
//! and checked against finite differences of [`energy`] in the tests.
//!
//! Activities are a vector `z[0..=L]` of `n_ℓ × B` matrices (one column a
//! sample): `z[0] = x` (clamped input), `z[L] = y` (clamped target). Errors
//! and activity gradients use the same 0..=L indexing; unused entries are
//! empty `0 × 0` matrices. Energies are batch means, gradients with respect
//! to z are per sample (the dynamics are written per sample), gradients with
//! respect to W are batch means.

use super::network::{Loss, Network};
use crate::real::{gemm, gemm_abt, Real};
use nalgebra::DMatrix;

/// Activities z_0 … z_L, each `n_ℓ × B`.
pub type Activities<T> = Vec<DMatrix<T>>;

/// Layer ℓ's input as its crossbar sees it: x for ℓ = 1, φ(z_{ℓ−1}) otherwise.
pub fn presynaptic<T: Real>(net: &Network<T>, z: &[DMatrix<T>], l: usize) -> DMatrix<T> {
    if l == 1 {
        z[0].clone()
    } else {
        let act = net.topology.activation;
        act.of_matrix(&z[l - 1])
    }
}

/// μ_ℓ = a_ℓ W_ℓ φ(z_{ℓ−1}) + s_ℓ z_{ℓ−1}  (`n_ℓ × B`).
pub fn predict<T: Real>(net: &Network<T>, z: &[DMatrix<T>], l: usize) -> DMatrix<T> {
    let pre = presynaptic(net, z, l);
    let mut mu = DMatrix::zeros(net.topology.widths[l], pre.ncols());
    gemm(net.a(l), net.w(l), false, &pre, T::zero(), &mut mu);
    if net.topology.has_skip(l) {
        mu += &z[l - 1];
    }
    mu
}

/// Column-wise softmax, stabilised by the column maximum.
pub fn softmax<T: Real>(m: &DMatrix<T>) -> DMatrix<T> {
    softmax_grouped(m, 0)
}

/// Softmax over each group of `group` consecutive rows of every column
/// (0: the whole column), stabilised by the group's maximum. A language
/// model's T·V logits per sequence take one softmax per token (`group` = V).
/// Panics when `group` does not divide the rows.
pub fn softmax_grouped<T: Real>(m: &DMatrix<T>, group: usize) -> DMatrix<T> {
    let mut out = m.clone();
    let g = if group == 0 { m.nrows().max(1) } else { group };
    assert!(
        m.nrows().is_multiple_of(g),
        "softmax group must divide the rows"
    );
    for chunk in out.as_mut_slice().chunks_mut(g) {
        let max = chunk.iter().copied().fold(chunk[0], |a, b| a.max(b));
        chunk.iter_mut().for_each(|v| *v = (*v - max).exp());
        let sum = chunk.iter().fold(T::zero(), |a, &b| a + b);
        chunk.iter_mut().for_each(|v| *v /= sum);
    }
    out
}

/// Feedforward initialisation: z_0 = x, z_ℓ = μ_ℓ for 0 < ℓ < L, z_L = y.
/// Every hidden error is then 0.
pub fn feedforward<T: Real>(net: &Network<T>, x: &DMatrix<T>, y: &DMatrix<T>) -> Activities<T> {
    let depth = net.depth();
    let mut z = vec![x.clone()];
    for l in 1..depth {
        let mu = predict(net, &z, l);
        z.push(mu);
    }
    z.push(y.clone());
    z
}

/// The network's output f(x) = μ_L at the feedforward state (logits for CE).
pub fn output<T: Real>(net: &Network<T>, x: &DMatrix<T>) -> DMatrix<T> {
    let depth = net.depth();
    let mut z = vec![x.clone()];
    for l in 1..=depth {
        let mu = predict(net, &z, l);
        z.push(mu);
    }
    z.pop().expect("depth ≥ 1")
}

/// Errors ε_1 … ε_L at index ℓ: ε_ℓ = z_ℓ − μ_ℓ, and for a cross-entropy
/// output ε_L = y − softmax(μ_L).
pub fn errors<T: Real>(net: &Network<T>, z: &[DMatrix<T>]) -> Vec<DMatrix<T>> {
    let depth = net.depth();
    let mut eps = vec![DMatrix::zeros(0, 0)];
    for l in 1..=depth {
        let mu = predict(net, z, l);
        let e = if l == depth && net.topology.loss == Loss::CrossEntropy {
            &z[l] - softmax(&mu)
        } else {
            &z[l] - mu
        };
        eps.push(e);
    }
    eps
}

/// Per-sample cross-entropy −Σ_i y_i log softmax(μ)_i, summed over the batch.
fn cross_entropy_sum<T: Real>(y: &DMatrix<T>, mu: &DMatrix<T>) -> f64 {
    let mut total = 0.0;
    for (yc, mc) in y.column_iter().zip(mu.column_iter()) {
        let max = mc.max().f64();
        let lse = max + mc.iter().map(|v| (v.f64() - max).exp()).sum::<f64>().ln();
        total -= yc
            .iter()
            .zip(mc.iter())
            .map(|(yi, mi)| yi.f64() * (mi.f64() - lse))
            .sum::<f64>();
    }
    total
}

/// Per-layer energies (batch means), index ℓ − 1: ½‖ε_ℓ‖² for hidden layers,
/// (λ/2)‖ε_L‖² or λ·CE for the output.
pub fn layer_energies<T: Real>(net: &Network<T>, z: &[DMatrix<T>]) -> Vec<f64> {
    let depth = net.depth();
    let batch = z[0].ncols() as f64;
    let lambda = net.topology.lambda;
    (1..=depth)
        .map(|l| {
            let mu = predict(net, z, l);
            if l == depth && net.topology.loss == Loss::CrossEntropy {
                lambda * cross_entropy_sum(&z[l], &mu) / batch
            } else {
                let sq: f64 = z[l]
                    .iter()
                    .zip(mu.iter())
                    .map(|(a, b)| (*a - *b).f64().powi(2))
                    .sum();
                let w = if l == depth { lambda } else { 1.0 };
                0.5 * w * sq / batch
            }
        })
        .collect()
}

/// F = ½ Σ_{ℓ<L} ‖ε_ℓ‖² + (λ/2)‖ε_L‖² (or + λ·CE), mean over the batch.
pub fn energy<T: Real>(net: &Network<T>, z: &[DMatrix<T>]) -> f64 {
    layer_energies(net, z).iter().sum()
}

/// ∂F/∂z_ℓ per sample for hidden ℓ (index ℓ; entries 0 and L empty):
/// ε_ℓ − φ'(z_ℓ) ⊙ (a_{ℓ+1} W_{ℓ+1}ᵀ ε̃_{ℓ+1}) − s_{ℓ+1} ε̃_{ℓ+1},
/// with ε̃_L = λ ε_L and ε̃_ℓ = ε_ℓ otherwise.
pub fn activity_grads<T: Real>(
    net: &Network<T>,
    z: &[DMatrix<T>],
    eps: &[DMatrix<T>],
) -> Vec<DMatrix<T>> {
    let depth = net.depth();
    let act = net.topology.activation;
    let mut grads = vec![DMatrix::zeros(0, 0)];
    for l in 1..depth {
        let scaled = &eps[l + 1] * net.precision(l + 1);
        let mut back = DMatrix::zeros(z[l].nrows(), z[l].ncols());
        gemm(
            net.a(l + 1),
            net.w(l + 1),
            true,
            &scaled,
            T::zero(),
            &mut back,
        );
        let mut g = eps[l].clone();
        g.zip_zip_apply(&z[l], &back, |gi, zi, bi| *gi -= act.dphi(zi) * bi);
        if net.topology.has_skip(l + 1) {
            g -= &scaled;
        }
        grads.push(g);
    }
    grads.push(DMatrix::zeros(0, 0));
    grads
}

/// ∂F/∂W_ℓ = −a_ℓ · mean_b ε̃_ℓ φ(z_{ℓ−1})ᵀ (index ℓ − 1, shape of W_ℓ).
pub fn weight_grads<T: Real>(
    net: &Network<T>,
    z: &[DMatrix<T>],
    eps: &[DMatrix<T>],
) -> Vec<DMatrix<T>> {
    (1..=net.depth())
        .map(|l| layer_weight_grad(net.a(l), net.precision(l), &eps[l], &presynaptic(net, z, l)))
        .collect()
}

/// One layer's weight gradient from its local signals, the one formula of
/// ∂F/∂W_ℓ that the controller, the field and the reference maths share:
/// ∂F/∂W_ℓ = −a_ℓ Λ_ℓ · mean_b ε_ℓ drive_ℓᵀ, with `eps` ε_ℓ (n_out × B),
/// `drive` the layer's input φ(z_{ℓ−1}) (or x) (n_in × B), `a` the branch
/// multiplier a_ℓ and `precision` Λ_ℓ (λ for the output, 1 otherwise).
pub fn layer_weight_grad<T: Real>(
    a: T,
    precision: T,
    eps: &DMatrix<T>,
    drive: &DMatrix<T>,
) -> DMatrix<T> {
    let inv_batch = T::of(1.0 / eps.ncols().max(1) as f64);
    let mut g = DMatrix::zeros(eps.nrows(), drive.nrows());
    gemm_abt(-a * precision * inv_batch, eps, drive, T::zero(), &mut g);
    g
}

/// Per-sample residual ‖∂F/∂z‖ summary: the root mean square over all
/// hidden units and samples (0 for a network without hidden layers).
pub fn residual_rms<T: Real>(grads: &[DMatrix<T>]) -> f64 {
    let (sq, n) = grads.iter().fold((0.0, 0usize), |(s, n), g| {
        (
            s + g.iter().map(|v| v.f64().powi(2)).sum::<f64>(),
            n + g.len(),
        )
    });
    if n == 0 {
        0.0
    } else {
        (sq / n as f64).sqrt()
    }
}
