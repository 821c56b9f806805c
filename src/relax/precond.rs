//! Preconditioners for the stiff integrator's stage systems
//! A = ρ + γh(H + g_leak) (ρ = diag(τ_ℓ/τ), H the activity Hessian).
//!
//! The hidden errors' Jacobian S = I − B is block lower-bidiagonal along
//! depth, B_ℓ = ∂μ_ℓ/∂z_{ℓ−1} being layer ℓ's prediction Jacobian, and
//! H = SᵀS + R + C with R the output layer's share (rank ≤ n_out a sample)
//! and C the φ'' diagonal. In μPC residual nets B_ℓ = I + O(1/√L), so SᵀS is
//! a 1-D Laplacian along the skip path: the source of λ_min(H) ∝ 1/L².
//!
//! - [`Precond::Tridiagonal`]: the diagonal of H plus the skips' identity
//!   couplings between neighbouring layers. Each unit of each sample is one
//!   tridiagonal system along depth (Thomas algorithm, O(L·N·B), no
//!   product). It captures the skip Laplacian but not the weights, so CG's
//!   iterations grow with depth.
//! - [`Precond::Sweep`]: P = γh·ŜᵀŜ with Ŝ = D − B, D = 1 + √c_ℓ and
//!   c_ℓ = ρ_ℓ/(γh) + g_leak. Ŝ is bidiagonal: Ŝ⁻ᵀ is one backward sweep
//!   (the transposed products of backprop) and Ŝ⁻¹ one forward sweep, each
//!   sequential along depth. The weights are in it exactly. For a pure skip
//!   chain (B = I) its Fourier symbol (d−1)² + 4d·sin²(θ/2) stays within a
//!   factor 2 of A's, c + 4·sin²(θ/2), for every c and depth. What is left
//!   to CG is R, C and the weights' share of the mismatch; the solver
//!   ([`super::cg`]) applies it with Eisenstat's trick at the cost of one
//!   Hessian–vector product an iteration. (Putting C into D was tried: no
//!   fewer iterations.)

use super::state::{zeros_like, State};
use super::system::System;
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Which preconditioner the conjugate-gradient solves use (circuit key
/// `relax.preconditioner`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precond {
    /// Backward and forward sweeps through the layers' Jacobians (default).
    #[default]
    Sweep,
    /// The depth-tridiagonal part (diagonal + skip couplings); no products.
    Tridiagonal,
}

impl Precond {
    /// The name used in circuit files.
    pub fn name(self) -> &'static str {
        match self {
            Precond::Sweep => "sweep",
            Precond::Tridiagonal => "tridiagonal",
        }
    }
}

/// A preconditioner with its factors and scratch.
pub struct Preconditioner<T: Real> {
    pub kind: Precond,
    /// Tridiagonal: pivots and couplings.
    piv: State<T>,
    couple: Vec<T>,
    /// Sweep: d_ℓ per hidden layer.
    d: Vec<T>,
}

impl<T: Real> Preconditioner<T> {
    pub fn new(kind: Precond, like: &State<T>) -> Self {
        Preconditioner {
            kind,
            piv: zeros_like(like),
            couple: Vec::new(),
            d: vec![T::one(); like.len()],
        }
    }

    /// Factors the preconditioner of ρ + γh(H + g_leak) at the field's
    /// linearised point (`gh` = γh).
    pub fn prepare(&mut self, sys: &System<T>, gh: f64) {
        match self.kind {
            Precond::Tridiagonal => {
                let hd = sys.field.hessian_diagonal();
                for ((d, hk), r) in self.piv.iter_mut().zip(&hd).zip(&sys.tau_rel) {
                    d.zip_apply(hk, |di, hi| *di = T::of(*r) + T::of(gh) * hi);
                }
                self.couple = couplings(sys, gh);
                factor_tridiagonal(&mut self.piv, &self.couple);
            }
            Precond::Sweep => {
                let leak = sys.field.spec.leak.f64();
                for (d, r) in self.d.iter_mut().zip(&sys.tau_rel) {
                    *d = T::of(1.0 + (r / gh + leak).sqrt());
                }
            }
        }
    }

    /// `x ← P⁻¹ r` for the tridiagonal preconditioner. (The sweep one is
    /// never applied whole: the split solve uses [`Self::backward`] and
    /// [`Self::forward`] separately.)
    pub fn apply_tridiagonal(&self, r: &State<T>, x: &mut State<T>) {
        debug_assert_eq!(self.kind, Precond::Tridiagonal);
        solve_tridiagonal(x, r, &self.piv, &self.couple);
    }

    /// d_ℓ of Ŝ = D − B per hidden layer (the sweeps of [`super::split`]).
    pub fn diagonal(&self) -> &[T] {
        &self.d
    }
}

/// c_k: coupling of hidden layers k and k+1 (0-based) in ρ + γhH, −γh·s_{k+2}.
fn couplings<T: Real>(sys: &System<T>, gh: f64) -> Vec<T> {
    (0..sys.n_hidden().saturating_sub(1))
        .map(|k| {
            if sys.field.layer(k + 2).has_skip() {
                T::of(-gh)
            } else {
                T::zero()
            }
        })
        .collect()
}

/// In place: turns the diagonals `d` of the symmetric tridiagonal systems
/// (off-diagonal `c_k` between entries k and k+1, elementwise over units and
/// samples) into the pivots of their LDLᵀ factorisation.
fn factor_tridiagonal<T: Real>(d: &mut [DMatrix<T>], c: &[T]) {
    for k in 1..d.len() {
        let ck = c[k - 1];
        if ck != T::zero() {
            let (prev, cur) = d.split_at_mut(k);
            cur[0].zip_apply(&prev[k - 1], |dk, dp| *dk -= ck * ck / dp);
        }
    }
}

/// Solves the factored tridiagonal systems (pivots `piv`): `x ← P⁻¹ r`.
fn solve_tridiagonal<T: Real>(x: &mut [DMatrix<T>], r: &[DMatrix<T>], piv: &[DMatrix<T>], c: &[T]) {
    let n = x.len();
    for k in 0..n {
        x[k].copy_from(&r[k]);
        if k > 0 && c[k - 1] != T::zero() {
            let ck = c[k - 1];
            let (prev, cur) = x.split_at_mut(k);
            cur[0].zip_zip_apply(&prev[k - 1], &piv[k - 1], |xk, xp, dp| *xk -= ck * xp / dp);
        }
    }
    for k in (0..n).rev() {
        if k + 1 < n && c[k] != T::zero() {
            let ck = c[k];
            let (cur, next) = x.split_at_mut(k + 1);
            cur[k].zip_apply(&next[0], |xk, xn| *xk -= ck * xn);
        }
        x[k].component_div_assign(&piv[k]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Thomas solve inverts the tridiagonal matrix it factored.
    #[test]
    fn tridiagonal_solve_matches_dense() {
        let n = 5;
        let diag: Vec<f64> = (0..n).map(|k| 2.5 + 0.3 * k as f64).collect();
        let c = [-1.0, 0.0, -0.7, -1.2];
        let mut dense = DMatrix::<f64>::zeros(n, n);
        for k in 0..n {
            dense[(k, k)] = diag[k];
            if k + 1 < n {
                dense[(k, k + 1)] = c[k];
                dense[(k + 1, k)] = c[k];
            }
        }
        let r: Vec<DMatrix<f64>> = (0..n)
            .map(|k| DMatrix::from_element(1, 1, k as f64 - 1.5))
            .collect();
        let mut piv: Vec<DMatrix<f64>> = diag
            .iter()
            .map(|&d| DMatrix::from_element(1, 1, d))
            .collect();
        factor_tridiagonal(&mut piv, &c);
        let mut x = zeros_like(&r);
        solve_tridiagonal(&mut x, &r, &piv, &c);
        let xd = dense
            .lu()
            .solve(&nalgebra::DVector::from_fn(n, |k, _| r[k][(0, 0)]))
            .unwrap();
        for k in 0..n {
            assert!((x[k][(0, 0)] - xd[k]).abs() < 1e-14);
        }
    }
}
