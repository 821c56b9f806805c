//! A stiff-capable integrator for first-order relaxation: the two-stage,
//! second-order Rosenbrock method ROS2 (Verwer, Spee, Blom & Hundsdorfer
//! 1999, SIAM J. Sci. Comput. 20:1456), L-stable with γ = 1 + 1/√2:
//!
//! ```text
//! (I − γhJ) k₁ = f(yₙ)
//! (I − γhJ) k₂ = f(yₙ + h k₁) − 2k₁
//! yₙ₊₁ = yₙ + (3/2) h k₁ + (1/2) h k₂,   error estimate (h/2)(k₁ + k₂)
//! ```
//!
//! J = −ρ⁻¹(H + g_leak I) is applied matrix-free: each product is one
//! Gauss–Newton Hessian–vector product of the field (two products a layer).
//! Multiplying by ρ = diag(τ_ℓ/τ) makes the system symmetric positive
//! definite, (ρ + γh(H + g_leak)) k = ρ·rhs, solved by conjugate gradients.
//!
//! The preconditioner is the depth-tridiagonal part of that matrix: the
//! diagonal of H plus the identity couplings of the skips between layers ℓ
//! and ℓ + 1 (each unit i of each sample is one tridiagonal system along
//! depth, solved by the Thomas algorithm in O(L·N·B)). In μPC residual nets
//! the slow modes of H are smooth in depth — a 1-D Laplacian along the skip
//! path with λ_min ∝ 1/L² — and this preconditioner captures that skip
//! part exactly. It does not capture the weight terms: at L = 64 the CG
//! iterations per step were measured to grow with the step size (16 at
//! h = 1 τ, 134 at h = 1000 τ; docs/performance.md). The step is limited by
//! accuracy, not stability.

use super::state::{axpy, combine, dot, error_norm, mat_axpy, zeros_like, State};
use super::system::{Dynamics, System};
use super::Integrator;
use crate::real::Real;
use nalgebra::DMatrix;

const GAMMA: f64 = 1.0 + std::f64::consts::FRAC_1_SQRT_2;

/// ROS2 with its buffers and conjugate-gradient statistics.
pub struct Ros2<T: Real> {
    k1: State<T>,
    k2: State<T>,
    f: State<T>,
    tmp: State<T>,
    out: State<T>,
    cg: Cg<T>,
    /// Relative residual at which CG stops.
    pub cg_tol: f64,
    /// CG iteration cap per solve.
    pub cg_max_iter: usize,
    /// Total CG iterations so far.
    pub n_cg_iter: usize,
}

struct Cg<T: Real> {
    r: State<T>,
    p: State<T>,
    q: State<T>,
    s: State<T>,
    diag: State<T>,
}

impl<T: Real> Ros2<T> {
    pub fn new(like: &State<T>) -> Self {
        let z = || zeros_like(like);
        Ros2 {
            k1: z(),
            k2: z(),
            f: z(),
            tmp: z(),
            out: z(),
            cg: Cg {
                r: z(),
                p: z(),
                q: z(),
                s: z(),
                diag: z(),
            },
            cg_tol: 1e-8,
            cg_max_iter: 1000,
            n_cg_iter: 0,
        }
    }

    /// Solves (ρ + γh(H + g_leak)) x = ρ·b by preconditioned CG, starting from x = b.
    fn solve(&mut self, sys: &mut System<T>, gh: f64, b: &State<T>, x: &mut State<T>) {
        let rho = sys.tau_rel.clone();
        let apply = |sys: &mut System<T>, v: &State<T>, out: &mut State<T>| {
            sys.field.hvp(v, out);
            for ((o, vi), r) in out.iter_mut().zip(v).zip(&rho) {
                *o *= T::of(gh);
                mat_axpy(o, T::of(*r), vi);
            }
        };
        let cg = &mut self.cg;
        let hd = sys.field.hessian_diagonal();
        for ((d, h), r) in cg.diag.iter_mut().zip(&hd).zip(&rho) {
            d.zip_apply(h, |di, hi| *di = T::of(*r) + T::of(gh) * hi);
        }
        // c_k: coupling of hidden layers k and k+1 (0-based), −γh·s_{k+2}.
        let couple: Vec<T> = (0..x.len().saturating_sub(1))
            .map(|k| {
                if sys.field.spec.skips[k + 1] {
                    T::of(-gh)
                } else {
                    T::zero()
                }
            })
            .collect();
        factor_tridiagonal(&mut cg.diag, &couple);
        // r = ρb − A x, with x₀ = b.
        for ((xi, bi), (ri, r)) in x.iter_mut().zip(b).zip(cg.r.iter_mut().zip(&rho)) {
            xi.copy_from(bi);
            ri.copy_from(bi);
            *ri *= T::of(*r);
        }
        apply(sys, x, &mut cg.q);
        axpy(-T::one(), &cg.q, &mut cg.r);
        let norm_b = dot(&cg.r, &cg.r).sqrt().max(dot(b, b).sqrt() * 1e-300);
        let precondition = |s: &mut State<T>, r: &State<T>, d: &State<T>| {
            solve_tridiagonal(s, r, d, &couple);
        };
        precondition(&mut cg.s, &cg.r, &cg.diag);
        super::state::assign(&mut cg.p, &cg.s);
        let mut rs = dot(&cg.r, &cg.s);
        for _ in 0..self.cg_max_iter {
            if dot(&cg.r, &cg.r).sqrt() <= self.cg_tol * norm_b || rs == 0.0 {
                break;
            }
            self.n_cg_iter += 1;
            apply(sys, &cg.p, &mut cg.q);
            let alpha = rs / dot(&cg.p, &cg.q);
            axpy(T::of(alpha), &cg.p, x);
            axpy(T::of(-alpha), &cg.q, &mut cg.r);
            precondition(&mut cg.s, &cg.r, &cg.diag);
            let rs_new = dot(&cg.r, &cg.s);
            let beta = rs_new / rs;
            rs = rs_new;
            for (pi, si) in cg.p.iter_mut().zip(&cg.s) {
                *pi *= T::of(beta);
                *pi += si;
            }
        }
    }
}

impl<T: Real> Integrator<T> for Ros2<T> {
    fn order(&self) -> usize {
        2
    }

    fn adaptive(&self) -> bool {
        true
    }

    fn attempt(&mut self, sys: &mut System<T>, y: &State<T>, h: f64, atol: f64, rtol: f64) -> f64 {
        assert_eq!(
            sys.dynamics,
            Dynamics::FirstOrder,
            "ROS2 integrates first-order dynamics"
        );
        let gh = GAMMA * h;
        sys.rhs(y, &mut self.f);
        sys.field.linearise();
        let (mut k1, mut k2) = (std::mem::take(&mut self.k1), std::mem::take(&mut self.k2));
        let f0 = std::mem::take(&mut self.f);
        self.solve(sys, gh, &f0, &mut k1);
        combine(&mut self.tmp, Some(y), &[(h, &k1)]);
        let mut f1 = f0;
        sys.rhs(&self.tmp, &mut f1);
        axpy(T::of(-2.0), &k1, &mut f1);
        self.solve(sys, gh, &f1, &mut k2);
        combine(&mut self.out, Some(y), &[(1.5 * h, &k1), (0.5 * h, &k2)]);
        combine(&mut self.tmp, None, &[(0.5 * h, &k1), (0.5 * h, &k2)]);
        let err = error_norm(&self.tmp, y, &self.out, atol, rtol);
        (self.k1, self.k2, self.f) = (k1, k2, f1);
        err
    }

    fn proposal(&mut self) -> &mut State<T> {
        &mut self.out
    }
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
