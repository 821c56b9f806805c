//! The equilibrium z* of the PC energy computed directly, without the
//! circuit's path to it: for `grads`, `sweep` and the references, which
//! need only the fixed point (circuit section `[equilibrium]`; the chip's
//! own runs keep the physical ODE of [`crate::relax`]).
//!
//! **Coordinates.** As in error-based PC (Goemaere et al. 2025), the
//! unknowns are the hidden errors ε_ℓ, with z_ℓ = μ_ℓ(z_{ℓ−1}) + ε_ℓ, so
//!
//! ```text
//! F(ε) = ½ Σ_{ℓ<L} ‖ε_ℓ‖² + ℓ_out(μ_L(z_{L−1}(ε)))  [+ (g_leak/2) Σ ‖z_ℓ‖²]
//! ∇_ε F = E⁻ᵀ ∇_z F,   E = ∂ε/∂z = I − B  (B_ℓ = ∂μ_ℓ/∂z_{ℓ−1})
//! ```
//!
//! (E⁻ᵀ is one backward substitution through the layers' transposed
//! Jacobians). Every layer feels the output error at once: there is no
//! diffusion through depth to wait for.
//!
//! **Newton step.** In these coordinates the exact Hessian at an
//! equilibrium is H_ε = I + JᵀSJ + E⁻ᵀCE⁻¹, with J = ∂μ_L/∂ε (n_out rows a
//! sample), S the output's second derivative (λI for MSE, λ(diag p − ppᵀ)
//! for cross-entropy) and C the φ'' diagonal of the activity Hessian.
//! A product H_ε·v is one forward and one backward substitution (2L − 2
//! weight products). The step solves H_ε δ = −∇_ε F by conjugate gradients
//! (inexact Newton, forcing η = min(0.5, √(relative residual))),
//! preconditioned by the Gauss–Newton part's exact inverse by Woodbury,
//!
//! ```text
//! (I + JᵀSJ)⁻¹ r = r − Jᵀ (I + S M)⁻¹ S J r,   M = J Jᵀ  (n_out × n_out a sample)
//! ```
//!
//! which needs J once (one backward pass of n_out·B columns, at the
//! feedforward state). For linear networks C = 0 and one step is exact; in
//! deep nets E⁻¹ grows with depth, so C's share is not small and the exact
//! Hessian (not Gauss–Newton alone, which was tried and stalls at a rate
//! near 0.7 at depth 32) is what makes the convergence superlinear.
//!
//! **First step.** Gauss–Newton: the preconditioner alone, at the cost of
//! one gradient (at the feedforward state C is small and J is exact); it
//! cut the iterations to 1e-4 of the gradient from 15 to 9 at depth 64.
//!
//! **Globalisation.** A backtracking (Armijo) line search on each sample's
//! energy along δ, in the error coordinates: from the feedforward state,
//! where all of the energy sits at the output, the first step moves every
//! layer's error together.
//!
//! **Stopping.** A sample is done when max |∂F_b/∂z| (the per-sample force,
//! activity units) ≤ `max_abs_grad` or ‖∇_z F_b‖ ≤ `rel_residual`·(its value
//! at the feedforward state). Kinked activations (relu, hard-tanh) are not
//! yet checked against the explicit methods; a sample that stops
//! descending (no Armijo step) is reported as not converged.
//!
//! **Determinism.** Samples do not couple, so the batch is cut into fixed
//! blocks of columns (the cut depends on the shapes only) solved in
//! parallel, each sample stopping on its own test: the numbers do not
//! depend on the thread count.

mod chunk;
mod passes;

use crate::real::Real;
use crate::relax::field::Field;
use nalgebra::DMatrix;
use passes::Block;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How `grads`, `sweep` and the references find the equilibrium (circuit
/// key `equilibrium.solver`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    /// `error-newton`, unless every stopping rule of `[relax]` is off
    /// (`residual_tol`, `energy_tol`, `update_tol` all 0): such a circuit
    /// asks for the state after `t_max_tau`, and gets the relaxation. The
    /// default.
    #[default]
    Auto,
    /// Newton in error coordinates (this module).
    ErrorNewton,
    /// The circuit's own relaxation (`[relax]`), run until its stopping rule.
    Relaxation,
}

impl Solver {
    /// The name used in circuit files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Auto => "auto",
            Solver::ErrorNewton => "error-newton",
            Solver::Relaxation => "relaxation",
        }
    }

    /// The solver `auto` stands for with these relaxation settings on a
    /// network whose Newton solve is (`newton_ok`) or is not available
    /// ([`crate::net::Topology::newton_solvable`]; the others stand for
    /// themselves).
    pub fn resolve(self, relax: &crate::relax::RelaxConfig, newton_ok: bool) -> Solver {
        let rules_off =
            relax.residual_tol == 0.0 && relax.energy_tol == 0.0 && relax.update_tol == 0.0;
        match self {
            Solver::Auto if rules_off || !newton_ok => Solver::Relaxation,
            Solver::Auto => Solver::ErrorNewton,
            other => other,
        }
    }
}

/// `[equilibrium]`: the fixed-point solve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixedPointSettings {
    /// Which solver. Default `auto`.
    pub solver: Solver,
    /// A sample is done when max |∂F_b/∂z| (per-sample force, activity
    /// units) falls to this, ≥ 0. Default 1e-12.
    pub max_abs_grad: f64,
    /// … or when ‖∇_z F_b‖ falls to this fraction of its feedforward value,
    /// ≥ 0 (floored at 64 ulps of the dtype). Default 1e-10.
    pub rel_residual: f64,
    /// Most Newton iterations, 1 … 100000. Default 100.
    pub max_iterations: usize,
}

impl Default for FixedPointSettings {
    fn default() -> Self {
        FixedPointSettings {
            solver: Solver::Auto,
            max_abs_grad: 1e-12,
            rel_residual: 1e-10,
            max_iterations: 100,
        }
    }
}

/// Why `[equilibrium]` is invalid (the key is named).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FixedPointConfigError {
    #[error("expected a finite value ≥ 0, got {value}")]
    Negative { key: &'static str, value: f64 },
    #[error("expected 1 … 100000")]
    NoIterations,
}

impl FixedPointConfigError {
    /// The key within `[equilibrium]`.
    pub fn key(&self) -> &'static str {
        match self {
            FixedPointConfigError::Negative { key, .. } => key,
            FixedPointConfigError::NoIterations => "max_iterations",
        }
    }
}

impl FixedPointSettings {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), FixedPointConfigError> {
        for (key, value) in [
            ("max_abs_grad", self.max_abs_grad),
            ("rel_residual", self.rel_residual),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(FixedPointConfigError::Negative { key, value });
            }
        }
        if !(1..=100_000).contains(&self.max_iterations) {
            return Err(FixedPointConfigError::NoIterations);
        }
        Ok(())
    }

    /// The smallest relative residual the dtype resolves: 64 ulps.
    pub fn rounding_floor<T: Real>(&self) -> f64 {
        64.0 * crate::relax::cg::epsilon::<T>()
    }
}

/// The outcome of a fixed-point solve.
#[derive(Clone, Debug)]
pub struct FixedPoint<T: Real> {
    /// z_1 … z_{L−1}, n_ℓ × B.
    pub activities: Vec<DMatrix<T>>,
    /// Samples that met the stopping test, of `batch`.
    pub n_converged: usize,
    /// Batch size B.
    pub batch: usize,
    /// Newton iterations and their conjugate-gradient iterations, of the
    /// slowest block.
    pub iterations: usize,
    pub cg_iterations: usize,
    /// Weight products over all blocks, in thin-batch equivalents of one
    /// block (a Jacobian pass of n_out·w columns counts n_out).
    pub n_products: usize,
    /// Worst sample's max |∂F_b/∂z| and relative residual at the stop.
    pub max_abs_grad: f64,
    pub residual: f64,
    /// Worst sample's max |∂F_b/∂z| at the start and after each iteration.
    pub history: Vec<f64>,
}

impl<T: Real> FixedPoint<T> {
    /// Whether every sample met the stopping test.
    pub fn converged(&self) -> bool {
        self.n_converged == self.batch
    }
}

/// Columns a block holds: 8, fewer when its Jacobian (Σ_ℓ n_ℓ·n_out values
/// a column) would exceed 64 MiB.
fn block_width<T: Real>(field: &Field<'_, T>) -> usize {
    let depth = field.depth();
    let n_out = field.layer(depth).n_out();
    let per_col: usize = (1..depth)
        .map(|l| field.layer(l).n_out() * n_out)
        .sum::<usize>()
        * std::mem::size_of::<T>();
    let cap = (64usize << 20) / per_col.max(1);
    cap.clamp(1, 8)
}

/// Solves F's equilibrium for the field's clamped batch from the
/// feedforward state. A network without hidden layers returns at once.
pub fn solve<T: Real>(field: &Field<'_, T>, set: &FixedPointSettings) -> FixedPoint<T> {
    let (batch, depth) = (field.batch(), field.depth());
    if depth < 2 {
        return FixedPoint {
            activities: Vec::new(),
            n_converged: batch,
            batch,
            iterations: 0,
            cg_iterations: 0,
            n_products: 0,
            max_abs_grad: 0.0,
            residual: 0.0,
            history: vec![0.0],
        };
    }
    let w = block_width(field);
    let starts: Vec<usize> = (0..batch).step_by(w).collect();
    let blocks: Vec<_> = starts
        .par_iter()
        .map(|&c0| Block::new(field, set, c0, w.min(batch - c0)).solve())
        .collect();
    let mut activities: Vec<DMatrix<T>> = (1..depth)
        .map(|l| DMatrix::zeros(field.layer(l).n_out(), batch))
        .collect();
    for (&c0, b) in starts.iter().zip(&blocks) {
        for (a, z) in activities.iter_mut().zip(&b.z) {
            a.columns_mut(c0, z.ncols()).copy_from(z);
        }
    }
    let longest = blocks.iter().map(|b| b.history.len()).max().unwrap_or(1);
    let history = (0..longest)
        .map(|i| {
            blocks
                .iter()
                .map(|b| b.history[i.min(b.history.len() - 1)])
                .fold(0.0, f64::max)
        })
        .collect();
    let all = |f: fn(&chunk::BlockOutcome<T>) -> &Vec<f64>| {
        blocks.iter().flat_map(f).fold(0.0f64, |m, &v| m.max(v))
    };
    FixedPoint {
        n_converged: blocks
            .iter()
            .map(|b| b.converged.iter().filter(|&&c| c).count())
            .sum(),
        batch,
        iterations: blocks.iter().map(|b| b.iterations).max().unwrap_or(0),
        cg_iterations: blocks.iter().map(|b| b.cg_iterations).max().unwrap_or(0),
        n_products: blocks.iter().map(|b| b.products).sum(),
        max_abs_grad: all(|b| &b.max_abs_grad),
        residual: all(|b| &b.residual),
        history,
        activities,
    }
}
