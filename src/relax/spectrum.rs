//! Extreme eigenvalues of the activity Hessian (Gauss–Newton part, plus the
//! leak) by the Lanczos iteration, matrix-free: each iteration is one
//! Hessian–vector product of the field, i.e. two products a layer.
//!
//! Uses: the stability limit of explicit methods (h < c/λ_max), the
//! relaxation time of first-order flow (∝ 1/λ_min) and critical damping for
//! inertial dynamics (γ = 2√(m·λ_min)). The Hessian is block-diagonal over
//! the batch, so one sample's block is enough per estimate; this runs on the
//! batch the field was built with (build it with the sample(s) of interest).

use super::field::Field;
use super::state::{axpy, dot, zeros_like, State};
use crate::real::Real;
use nalgebra::{DMatrix, SymmetricEigen};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Estimated extreme eigenvalues of the activity Hessian (units of 1/τ).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    pub lambda_min: f64,
    pub lambda_max: f64,
    /// Lanczos iterations used.
    pub n_iter: usize,
}

impl Spectrum {
    /// λ_max / λ_min.
    pub fn condition(&self) -> f64 {
        self.lambda_max / self.lambda_min
    }
}

/// Lanczos on H at hidden activities `z` (no reorthogonalisation: the
/// extreme Ritz values converge regardless). Stops after `max_iter`
/// iterations or when both extremes change by less than `tol` (relative).
pub fn hessian_extremes<T: Real>(
    field: &mut Field<T>,
    z: &[DMatrix<T>],
    max_iter: usize,
    tol: f64,
    seed: u64,
) -> Spectrum {
    extremes(field, z, None, max_iter, tol, seed)
}

/// Extreme eigenvalues of R⁻¹H, R = diag(ρ_ℓ) (one ρ a hidden layer): the
/// rates of the linearised dynamics with per-layer time constants (Lanczos
/// on the similar symmetric R^(−½) H R^(−½)). Equals [`hessian_extremes`]
/// when every ρ_ℓ = 1.
pub fn rate_extremes<T: Real>(
    field: &mut Field<T>,
    z: &[DMatrix<T>],
    tau_rel: &[f64],
    max_iter: usize,
    tol: f64,
    seed: u64,
) -> Spectrum {
    let scale: Vec<T> = tau_rel.iter().map(|r| T::of(1.0 / r.sqrt())).collect();
    extremes(field, z, Some(&scale), max_iter, tol, seed)
}

fn extremes<T: Real>(
    field: &mut Field<T>,
    z: &[DMatrix<T>],
    scale: Option<&[T]>,
    max_iter: usize,
    tol: f64,
    seed: u64,
) -> Spectrum {
    let mut probe = field.hidden_zeros();
    field.force(z, &mut probe);
    field.linearise();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: State<T> = zeros_like(&probe);
    for m in v.iter_mut() {
        m.apply(|x| *x = T::of(rng.sample::<f64, _>(StandardNormal)));
    }
    let n0 = dot(&v, &v).sqrt();
    v.iter_mut().for_each(|m| *m /= T::of(n0));
    let mut v_prev = zeros_like(&v);
    let mut w = zeros_like(&v);
    let mut sv = zeros_like(&v);
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let mut beta = 0.0;
    let mut last = (f64::NAN, f64::NAN);
    let mut spectrum = Spectrum {
        lambda_min: f64::NAN,
        lambda_max: f64::NAN,
        n_iter: 0,
    };
    for it in 0..max_iter.max(1) {
        match scale {
            None => field.hvp(&v, &mut w),
            Some(c) => {
                for ((s, vi), ci) in sv.iter_mut().zip(&v).zip(c) {
                    s.copy_from(vi);
                    *s *= *ci;
                }
                field.hvp(&sv, &mut w);
                w.iter_mut().zip(c).for_each(|(wi, ci)| *wi *= *ci);
            }
        }
        axpy(T::of(-beta), &v_prev, &mut w);
        let alpha = dot(&w, &v);
        axpy(T::of(-alpha), &v, &mut w);
        alphas.push(alpha);
        beta = dot(&w, &w).sqrt();
        let exhausted = beta <= 1e-12 * alpha.abs().max(1e-300);
        // The small eigenproblem costs O(k³): solve it every 8 iterations.
        if it % 8 == 7 || exhausted || it + 1 == max_iter.max(1) {
            let (lo, hi) = tridiagonal_extremes(&alphas, &betas);
            spectrum = Spectrum {
                lambda_min: lo,
                lambda_max: hi,
                n_iter: it + 1,
            };
            let settled = ((lo - last.0) / lo).abs() < tol && ((hi - last.1) / hi).abs() < tol;
            if settled || exhausted {
                break;
            }
            last = (lo, hi);
        }
        betas.push(beta);
        std::mem::swap(&mut v_prev, &mut v);
        for (vi, wi) in v.iter_mut().zip(&w) {
            vi.copy_from(wi);
            *vi /= T::of(beta);
        }
    }
    spectrum
}

fn tridiagonal_extremes(alphas: &[f64], betas: &[f64]) -> (f64, f64) {
    let n = alphas.len();
    let t = DMatrix::from_fn(n, n, |i, j| {
        if i == j {
            alphas[i]
        } else if i + 1 == j || j + 1 == i {
            betas[i.min(j)]
        } else {
            0.0
        }
    });
    let ev = SymmetricEigen::new(t).eigenvalues;
    (ev.min(), ev.max())
}
