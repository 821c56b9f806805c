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
//! J = −ρ⁻¹(H + g_leak I) is applied matrix-free, one Hessian–vector product
//! of the field (two products a layer) each: by default the exact activity
//! Hessian ([`Jacobian::Exact`], the Gauss–Newton part plus the φ'' diagonal,
//! [`Field::hvp_exact`](super::Field::hvp_exact)), optionally the
//! Gauss–Newton part alone (a W-method: second order for small h, but as
//! h → ∞ its step tends to a Gauss–Newton step, which converges only linearly
//! to the equilibrium; measured to stall near a relative residual of 1e-6 at
//! depth 64). With the exact J, the step at large h tends to a Newton step
//! on ∇F = 0, and the step-size control lets h grow as the trajectory
//! settles: the method stays a faithful integrator at the tolerance asked,
//! and its last steps are Newton steps.
//!
//! Multiplying by ρ = diag(τ_ℓ/τ) makes each stage system symmetric,
//! (ρ + γh(H + g_leak)) k = ρ·rhs, solved by preconditioned conjugate
//! gradients from k = 0. The solve is inexact on purpose and tied to the
//! step's tolerance (in the spirit of Eisenstat–Walker): CG stops once
//! h·‖r/(ρ·sc)‖_rms ≤ `cg_eta`, sc = atol + rtol·|yₙ|, so its error in the
//! new state is a small fraction of the local error allowed (and once the
//! residual has fallen by `cg_rtol` at least). Tolerances therefore matter
//! even when the step is imposed: loose ones give loose stages. A solve that
//! meets negative curvature (H indefinite and h too large for it) or does
//! not converge within `cg_max_iter` rejects the step (the driver retries
//! it 5× shorter), and later steps are kept below that length for a while.
//!
//! The preconditioner is the depth-tridiagonal part of the Gauss–Newton
//! matrix: the diagonal of H plus the identity couplings of the skips
//! between layers ℓ and ℓ + 1 (each unit i of each sample is one tridiagonal
//! system along depth, solved by the Thomas algorithm in O(L·N·B)). In μPC
//! residual nets the slow modes of H are smooth in depth — a 1-D Laplacian
//! along the skip path with λ_min ∝ 1/L² — and this preconditioner captures
//! that skip part exactly, but not the weight terms: the CG iterations a
//! solve grow with depth (≈ 11, 18, 23, 30 at L = 16, 32, 64, 128 for
//! width-128 tanh nets; docs/performance.md).

use super::state::{axpy, combine, dot, error_norm, mat_axpy, zeros_like, State};
use super::system::{Dynamics, System};
use super::Integrator;
use crate::real::Real;
use nalgebra::DMatrix;

const GAMMA: f64 = 1.0 + std::f64::consts::FRAC_1_SQRT_2;

/// Which Jacobian the stages use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jacobian {
    /// The exact activity Hessian (Gauss–Newton part + φ'' diagonal).
    Exact,
    /// The Gauss–Newton part only (positive semi-definite; a W-method).
    GaussNewton,
}

/// Why a linear solve gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CgFailure {
    NegativeCurvature,
    MaxIterations,
}

/// ROS2 with its buffers and conjugate-gradient statistics.
pub struct Ros2<T: Real> {
    k1: State<T>,
    k2: State<T>,
    f: State<T>,
    tmp: State<T>,
    out: State<T>,
    cg: Cg<T>,
    /// The Jacobian of the stages. Default [`Jacobian::Exact`].
    pub jacobian: Jacobian,
    /// CG stops when h·‖r/(ρ·sc)‖_rms ≤ `cg_eta` (the solve's share of the
    /// step's error tolerance). Default 0.05.
    pub cg_eta: f64,
    /// CG also reduces the residual at least by this factor (never accepts
    /// the zero guess). Default 0.1.
    pub cg_rtol: f64,
    /// CG iteration cap per solve; a solve that reaches it rejects the step.
    /// Default 300.
    pub cg_max_iter: usize,
    /// Total CG iterations so far.
    pub n_cg_iter: usize,
    /// Linear solves so far (two a step attempt).
    pub n_solves: usize,
    /// Step attempts rejected by a failed solve (negative curvature or the
    /// iteration cap).
    pub n_cg_failures: usize,
    /// Steps above this length (τ) are refused without work after a failed
    /// solve; the cap is lifted by ×2 after each accepted step below it.
    h_cap: f64,
}

struct Cg<T: Real> {
    r: State<T>,
    p: State<T>,
    q: State<T>,
    s: State<T>,
    diag: State<T>,
    /// Per-entry weights h/(ρ·sc) of the stopping test.
    w: State<T>,
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
                w: z(),
            },
            jacobian: Jacobian::Exact,
            cg_eta: 0.05,
            cg_rtol: 0.1,
            cg_max_iter: 300,
            n_cg_iter: 0,
            n_solves: 0,
            n_cg_failures: 0,
            h_cap: f64::INFINITY,
        }
    }

    /// Factors the preconditioner of (ρ + γh(H + g_leak)) and sets the
    /// stopping weights for a step `h` from `y`.
    fn prepare(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        y: &State<T>,
        h: f64,
        atol: f64,
        rtol: f64,
    ) {
        let cg = &mut self.cg;
        let hd = sys.field.hessian_diagonal();
        for ((d, hk), r) in cg.diag.iter_mut().zip(&hd).zip(&sys.tau_rel) {
            d.zip_apply(hk, |di, hi| *di = T::of(*r) + T::of(gh) * hi);
        }
        factor_tridiagonal(&mut cg.diag, &couplings(sys, gh));
        for ((w, yk), r) in cg.w.iter_mut().zip(y).zip(&sys.tau_rel) {
            w.zip_apply(yk, |wi, yi| {
                *wi = T::of(h / (r * (atol + rtol * yi.f64().abs())))
            });
        }
    }

    /// Solves (ρ + γh(H + g_leak)) x = ρ·b by preconditioned CG from x = 0.
    fn solve(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &mut State<T>,
    ) -> Result<(), CgFailure> {
        self.n_solves += 1;
        let rho = sys.tau_rel.clone();
        let exact = self.jacobian == Jacobian::Exact;
        let apply = |sys: &mut System<T>, v: &State<T>, out: &mut State<T>| {
            if exact {
                sys.field.hvp_exact(v, out);
            } else {
                sys.field.hvp(v, out);
            }
            for ((o, vi), r) in out.iter_mut().zip(v).zip(&rho) {
                *o *= T::of(gh);
                mat_axpy(o, T::of(*r), vi);
            }
        };
        let couple = couplings(sys, gh);
        let cg = &mut self.cg;
        for ((xi, bi), (ri, r)) in x.iter_mut().zip(b).zip(cg.r.iter_mut().zip(&rho)) {
            xi.fill(T::zero());
            ri.copy_from(bi);
            *ri *= T::of(*r);
        }
        let weighted = |r: &State<T>, w: &State<T>| -> f64 {
            let (mut sum, mut n) = (0.0, 0usize);
            for (rk, wk) in r.iter().zip(w) {
                for (a, b) in rk.iter().zip(wk.iter()) {
                    sum += (a.f64() * b.f64()).powi(2);
                }
                n += rk.len();
            }
            (sum / n.max(1) as f64).sqrt()
        };
        let norm0 = dot(&cg.r, &cg.r).sqrt();
        // Below this the residual is rounding noise of the products.
        let floor = 10.0 * epsilon::<T>() * norm0;
        solve_tridiagonal(&mut cg.s, &cg.r, &cg.diag, &couple);
        super::state::assign(&mut cg.p, &cg.s);
        let mut rs = dot(&cg.r, &cg.s);
        let mut iter = 0;
        loop {
            let norm = dot(&cg.r, &cg.r).sqrt();
            if (weighted(&cg.r, &cg.w) <= self.cg_eta && norm <= self.cg_rtol * norm0)
                || norm <= floor
                || rs == 0.0
            {
                return Ok(());
            }
            if iter == self.cg_max_iter {
                return Err(CgFailure::MaxIterations);
            }
            iter += 1;
            self.n_cg_iter += 1;
            apply(sys, &cg.p, &mut cg.q);
            let pq = dot(&cg.p, &cg.q);
            if pq <= 0.0 {
                return Err(CgFailure::NegativeCurvature);
            }
            let alpha = rs / pq;
            axpy(T::of(alpha), &cg.p, x);
            axpy(T::of(-alpha), &cg.q, &mut cg.r);
            solve_tridiagonal(&mut cg.s, &cg.r, &cg.diag, &couple);
            let rs_new = dot(&cg.r, &cg.s);
            let beta = rs_new / rs;
            rs = rs_new;
            for (pi, si) in cg.p.iter_mut().zip(&cg.s) {
                *pi *= T::of(beta);
                *pi += si;
            }
        }
    }

    fn stages(&mut self, sys: &mut System<T>, y: &State<T>, h: f64) -> Result<(), CgFailure> {
        let gh = GAMMA * h;
        let (mut k1, mut k2) = (std::mem::take(&mut self.k1), std::mem::take(&mut self.k2));
        let mut f = std::mem::take(&mut self.f);
        let mut go = || -> Result<(), CgFailure> {
            self.solve(sys, gh, &f, &mut k1)?;
            combine(&mut self.tmp, Some(y), &[(h, &k1)]);
            sys.rhs(&self.tmp, &mut f);
            axpy(T::of(-2.0), &k1, &mut f);
            self.solve(sys, gh, &f, &mut k2)
        };
        let res = go();
        (self.k1, self.k2, self.f) = (k1, k2, f);
        res
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

/// Unit roundoff of `T`.
fn epsilon<T: Real>() -> f64 {
    let one = T::one();
    let mut e = 1.0f64;
    while (one + T::of(e / 2.0)).f64() != 1.0 {
        e /= 2.0;
    }
    e
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
        if h > self.h_cap {
            // Refused without work: err = (2h/h_cap)² makes the driver retry
            // at ≈ 0.45 h_cap.
            return (2.0 * h / self.h_cap).powi(2);
        }
        sys.rhs(y, &mut self.f);
        match self.jacobian {
            Jacobian::Exact => sys.field.linearise_exact(y),
            Jacobian::GaussNewton => sys.field.linearise(),
        }
        self.prepare(sys, GAMMA * h, y, h, atol, rtol);
        if self.stages(sys, y, h).is_err() {
            self.n_cg_failures += 1;
            self.h_cap = 0.5 * h;
            return f64::INFINITY;
        }
        combine(
            &mut self.out,
            Some(y),
            &[(1.5 * h, &self.k1), (0.5 * h, &self.k2)],
        );
        combine(
            &mut self.tmp,
            None,
            &[(0.5 * h, &self.k1), (0.5 * h, &self.k2)],
        );
        let err = error_norm(&self.tmp, y, &self.out, atol, rtol);
        if err <= 1.0 && self.h_cap.is_finite() {
            self.h_cap *= 2.0;
        }
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
