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
    /// Sweep: d per hidden layer, unit and sample; 1/(γh); scratch.
    d: State<T>,
    /// e = d − 1.
    e: State<T>,
    inv_gh: T,
    tmp: DMatrix<T>,
    prod: DMatrix<T>,
}

impl<T: Real> Preconditioner<T> {
    pub fn new(kind: Precond, like: &State<T>) -> Self {
        let first = &like[0];
        Preconditioner {
            kind,
            piv: zeros_like(like),
            couple: Vec::new(),
            d: zeros_like(like),
            e: zeros_like(like),
            inv_gh: T::one(),
            tmp: DMatrix::zeros(first.nrows(), first.ncols()),
            prod: DMatrix::zeros(first.nrows(), first.ncols()),
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
                for k in 0..self.d.len() {
                    let e = T::of((sys.tau_rel[k] / gh + leak).sqrt());
                    self.e[k].fill(e);
                    self.d[k].fill(T::one() + e);
                }
                self.inv_gh = T::of(1.0 / gh);
            }
        }
    }

    /// `x ← P⁻¹ r`.
    pub fn apply(&mut self, sys: &mut System<T>, r: &State<T>, x: &mut State<T>) {
        match self.kind {
            Precond::Tridiagonal => solve_tridiagonal(x, r, &self.piv, &self.couple),
            Precond::Sweep => self.sweep(sys, r, x),
        }
    }

    /// Ŝᵀu = r backwards, then Ŝx = u forwards, then x ← x/(γh).
    fn sweep(&mut self, sys: &mut System<T>, r: &State<T>, x: &mut State<T>) {
        self.backward(sys, r, x);
        let u = std::mem::take(x);
        let mut out = zeros_like(&u);
        self.forward(sys, &u, &mut out);
        *x = out;
        let s = self.inv_gh;
        for xk in x.iter_mut() {
            *xk *= s;
        }
    }

    /// E = D − 1 of hidden index `k` (Ŝ = S + E).
    pub fn shift(&self, k: usize) -> &DMatrix<T> {
        &self.e[k]
    }

    /// `u ← Ŝ⁻ᵀ t`: u_k = (t_k + B_{k+2}ᵀ u_{k+1})/d_k from the last hidden
    /// layer down (the transposed products of backprop).
    pub fn backward(&mut self, sys: &mut System<T>, t: &State<T>, u: &mut State<T>) {
        let n = u.len();
        for k in (0..n).rev() {
            if k + 1 < n {
                let (cur, next) = u.split_at_mut(k + 1);
                fit(&mut self.prod, &t[k]);
                sys.field.prediction_vjp(k + 2, &next[0], &mut self.prod);
                self.prod += &t[k];
                cur[k].zip_zip_apply(&self.prod, &self.d[k], |ui, pi, di| *ui = pi / di);
            } else {
                u[k].zip_zip_apply(&t[k], &self.d[k], |ui, ti, di| *ui = ti / di);
            }
        }
    }

    /// `q ← Ŝ⁻¹ y`: q_k = (y_k + B_{k+1} q_{k−1})/d_k from the first hidden
    /// layer up (the forward products of a forward pass).
    pub fn forward(&mut self, sys: &mut System<T>, y: &State<T>, q: &mut State<T>) {
        for k in 0..q.len() {
            if k > 0 {
                let (done, rest) = q.split_at_mut(k);
                fit(&mut self.prod, &y[k]);
                fit(&mut self.tmp, &done[k - 1]);
                sys.field
                    .prediction_jvp(k + 1, &done[k - 1], &mut self.tmp, &mut self.prod);
                self.prod += &y[k];
                rest[0].zip_zip_apply(&self.prod, &self.d[k], |qi, pi, di| *qi = pi / di);
            } else {
                q[0].zip_zip_apply(&y[0], &self.d[0], |qi, yi, di| *qi = yi / di);
            }
        }
    }

    /// `out ← Ŝᵀ u`: out_k = d_k u_k − B_{k+2}ᵀ u_{k+1} (products only, no
    /// recursion).
    pub fn transpose_apply(&mut self, sys: &mut System<T>, u: &State<T>, out: &mut State<T>) {
        let n = u.len();
        for k in 0..n {
            if k + 1 < n {
                sys.field.prediction_vjp(k + 2, &u[k + 1], &mut out[k]);
                out[k].zip_zip_apply(&u[k], &self.d[k], |o, ui, di| *o = di * ui - *o);
            } else {
                out[k].zip_zip_apply(&u[k], &self.d[k], |o, ui, di| *o = di * ui);
            }
        }
    }
}

/// Reshapes scratch `m` to `like`'s shape if needed.
fn fit<T: Real>(m: &mut DMatrix<T>, like: &DMatrix<T>) {
    if m.shape() != like.shape() {
        *m = DMatrix::zeros(like.nrows(), like.ncols());
    }
}

/// c_k: coupling of hidden layers k and k+1 (0-based) in ρ + γhH, −γh·s_{k+2}.
fn couplings<T: Real>(sys: &System<T>, gh: f64) -> Vec<T> {
    (0..sys.n_hidden().saturating_sub(1))
        .map(|k| {
            if sys.field.spec.skips[k + 1] {
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
