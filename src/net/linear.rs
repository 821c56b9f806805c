//! Linear theory (MODEL.md §3): for φ = identity the energy is quadratic in
//! the hidden activities, so the equilibrium and the equilibrated energy
//! have closed forms. These are the references the relaxation is checked
//! against.
//!
//! Write M_ℓ = a_ℓ W_ℓ + s_ℓ I (the linear map of layer ℓ). Then
//! - W_eff = M_L ⋯ M_1 and, for each sample, r = y − W_eff x;
//! - S = I/λ + Σ_{j=2}^{L} Q_j Q_jᵀ with Q_j = M_L ⋯ M_j (this is MODEL.md's
//!   S with and without skips in one formula);
//! - F* = ½ · mean_i r_iᵀ S⁻¹ r_i;
//! - the activity Hessian H is block tridiagonal with diagonal blocks
//!   I + Λ_{ℓ+1} M_{ℓ+1}ᵀ M_{ℓ+1} and off-diagonal blocks −M_{ℓ+1} (below),
//!   −Λ_{ℓ+1} M_{ℓ+1}ᵀ (above); H z* = b with b_1 = M_1 x, b_{L−1} += λ M_Lᵀ y,
//!   solved exactly by block Cholesky elimination (block Thomas algorithm).

use super::arch::LayerKind;
use super::energy::Activities;
use super::network::{Loss, Network};
use crate::real::Real;
use nalgebra::{Cholesky, DMatrix, Dyn};

/// Why the linear theory does not apply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinearTheoryError {
    #[error("the linear theory needs activation = \"linear\", got {0:?}")]
    NotLinear(super::Activation),
    #[error("the linear theory needs an MSE output, got cross-entropy")]
    NotMse,
    #[error("the activity Hessian block of layer {0} is not positive definite")]
    NotPositiveDefinite(usize),
    /// A convolution or pooling layer too large to unroll into a matrix.
    #[error("layer {layer} has {units} units: too many to unroll its convolution or pooling into a matrix (at most {MAX_UNROLLED_UNITS})")]
    TooLarge { layer: usize, units: usize },
}

/// The most units a conv or pool layer may have (in or out) for the linear
/// theory to unroll it into an explicit matrix.
pub const MAX_UNROLLED_UNITS: usize = 4096;

fn check<T: Real>(net: &Network<T>) -> Result<(), LinearTheoryError> {
    if !net.topology.activation.is_linear() {
        return Err(LinearTheoryError::NotLinear(net.topology.activation));
    }
    if net.topology.loss != Loss::Mse {
        return Err(LinearTheoryError::NotMse);
    }
    for l in 1..=net.depth() {
        let units = net.topology.widths[l - 1].max(net.topology.widths[l]);
        if net.topology.kind(l) != LayerKind::Dense && units > MAX_UNROLLED_UNITS {
            return Err(LinearTheoryError::TooLarge { layer: l, units });
        }
    }
    Ok(())
}

/// M_ℓ = a_ℓ W_ℓ + s_ℓ I, with a convolution or pooling unrolled into its
/// explicit (n_ℓ × n_{ℓ−1}) matrix (the layer applied to the identity).
pub fn layer_map<T: Real>(net: &Network<T>, l: usize) -> DMatrix<T> {
    let kind = net.topology.kind(l);
    let mut m = if kind == LayerKind::Dense {
        net.w(l) * net.a(l)
    } else {
        let layer = crate::layer::of_kind(kind, net.w(l), net.a(l), false);
        let n_in = net.topology.widths[l - 1];
        let mut m = DMatrix::zeros(net.topology.widths[l], n_in);
        layer.predict_into(&DMatrix::identity(n_in, n_in), &mut m);
        m * net.a(l)
    };
    if net.topology.has_skip(l) {
        for i in 0..m.nrows() {
            m[(i, i)] += T::one();
        }
    }
    m
}

/// W_eff = M_L ⋯ M_1 (`n_L × n_0`).
pub fn effective_weight<T: Real>(net: &Network<T>) -> Result<DMatrix<T>, LinearTheoryError> {
    check(net)?;
    let mut w = layer_map(net, 1);
    for l in 2..=net.depth() {
        w = layer_map(net, l) * w;
    }
    Ok(w)
}

/// S = I/λ + Σ_{j=2}^{L} Q_j Q_jᵀ, Q_j = M_L ⋯ M_j (`n_L × n_L`).
pub fn s_matrix<T: Real>(net: &Network<T>) -> Result<DMatrix<T>, LinearTheoryError> {
    check(net)?;
    let depth = net.depth();
    let n_out = net.topology.widths[depth];
    let mut s = DMatrix::identity(n_out, n_out) / T::of(net.topology.lambda);
    let mut q: Option<DMatrix<T>> = None;
    for j in (2..=depth).rev() {
        let m = layer_map(net, j);
        let qj = match q {
            None => m,
            Some(prev) => prev * m,
        };
        s += &qj * qj.transpose();
        q = Some(qj);
    }
    Ok(s)
}

/// F* = ½ · mean_i r_iᵀ S⁻¹ r_i, the energy at the exact equilibrium.
pub fn equilibrium_energy<T: Real>(
    net: &Network<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
) -> Result<f64, LinearTheoryError> {
    let r = y - effective_weight(net)? * x;
    let chol = Cholesky::new(s_matrix(net)?).ok_or(LinearTheoryError::NotPositiveDefinite(0))?;
    let sr = chol.solve(&r);
    let total: f64 = r.iter().zip(sr.iter()).map(|(a, b)| (*a * *b).f64()).sum();
    Ok(0.5 * total / x.ncols() as f64)
}

/// The exact equilibrium z* = H⁻¹ b (all hidden layers, whole batch), as
/// activities with z_0 = x and z_L = y.
pub fn exact_equilibrium<T: Real>(
    net: &Network<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
) -> Result<Activities<T>, LinearTheoryError> {
    check(net)?;
    let depth = net.depth();
    let k_max = depth - 1; // hidden blocks 1..=k_max
    let maps: Vec<DMatrix<T>> = (1..=depth).map(|l| layer_map(net, l)).collect();
    let m = |l: usize| &maps[l - 1];
    if k_max == 0 {
        return Ok(vec![x.clone(), y.clone()]);
    }
    // Forward elimination: D̃_k = D_k − M_k D̃_{k−1}⁻¹ M_kᵀ, b̃_k = b_k + M_k D̃_{k−1}⁻¹ b̃_{k−1}.
    let mut factors: Vec<Cholesky<T, Dyn>> = Vec::with_capacity(k_max);
    let mut rhs: Vec<DMatrix<T>> = Vec::with_capacity(k_max);
    for k in 1..=k_max {
        let next = m(k + 1);
        let mut d = next.transpose() * next * net.precision(k + 1);
        for i in 0..d.nrows() {
            d[(i, i)] += T::one();
        }
        let mut b = DMatrix::zeros(net.topology.widths[k], x.ncols());
        if k == 1 {
            b += m(1) * x;
        }
        if k == k_max {
            b += next.transpose() * y * T::of(net.topology.lambda);
        }
        if k > 1 {
            let prev: &Cholesky<T, Dyn> = &factors[k - 2];
            let mk = m(k);
            d -= mk * prev.solve(&mk.transpose());
            b += mk * prev.solve(&rhs[k - 2]);
        }
        factors.push(Cholesky::new(d).ok_or(LinearTheoryError::NotPositiveDefinite(k))?);
        rhs.push(b);
    }
    // Back substitution: z_K = D̃_K⁻¹ b̃_K, z_k = D̃_k⁻¹ (b̃_k + M_{k+1}ᵀ z_{k+1}).
    let mut hidden: Vec<DMatrix<T>> = vec![DMatrix::zeros(0, 0); k_max];
    for k in (1..=k_max).rev() {
        let mut b = rhs[k - 1].clone();
        if k < k_max {
            b += m(k + 1).transpose() * &hidden[k];
        }
        hidden[k - 1] = factors[k - 1].solve(&b);
    }
    let mut z = vec![x.clone()];
    z.extend(hidden);
    z.push(y.clone());
    Ok(z)
}
