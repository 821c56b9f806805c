//! One block's Newton iteration: preconditioned conjugate gradients on the
//! exact Hessian in error coordinates (inexact Newton, Eisenstat–Walker
//! forcing), then a backtracking line search on each sample's energy.

use super::passes::{col_norm, Block, Jacobian, Point};
use crate::real::Real;
use nalgebra::DMatrix;

/// How one block's solve ended.
pub(super) struct BlockOutcome<T: Real> {
    /// z_1 … z_{L−1} of the block's columns.
    pub z: Vec<DMatrix<T>>,
    /// Per column: converged, max |∂F_b/∂z|, ‖∇F_b‖ / ‖∇F_b(feedforward)‖.
    pub converged: Vec<bool>,
    pub max_abs_grad: Vec<f64>,
    pub residual: Vec<f64>,
    /// Newton iterations, their conjugate-gradient iterations, and weight
    /// products (thin-batch equivalents: a Jacobian pass of n_out·w
    /// columns counts n_out).
    pub iterations: usize,
    pub cg_iterations: usize,
    pub products: usize,
    /// max over the block of max |∂F_b/∂z| at the start and after each iteration.
    pub history: Vec<f64>,
}

/// Most conjugate-gradient iterations of one Newton step.
const MAX_CG: usize = 100;

fn dots<T: Real>(a: &[DMatrix<T>], b: &[DMatrix<T>], w: usize) -> Vec<f64> {
    (0..w)
        .map(|c| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.column(c).dot(&y.column(c)).f64())
                .sum()
        })
        .collect()
}

/// `x[:, c] += a[c] · y[:, c]` for every column.
fn axpy<T: Real>(x: &mut [DMatrix<T>], a: &[f64], y: &[DMatrix<T>]) {
    for (xm, ym) in x.iter_mut().zip(y) {
        for (c, &ac) in a.iter().enumerate() {
            if ac != 0.0 {
                xm.column_mut(c).axpy(T::of(ac), &ym.column(c), T::one());
            }
        }
    }
}

impl<T: Real> Block<'_, '_, T> {
    /// δ ≈ −H⁻¹g by preconditioned CG, per column, to ‖r_b‖ ≤ η_b‖g_b‖; a
    /// column that meets negative curvature keeps its iterate (the
    /// preconditioned gradient if it is the first). Returns δ and the
    /// iterations of the slowest column.
    fn newton_direction(
        &mut self,
        pt: &Point<T>,
        jac: &Jacobian<T>,
        g: &[DMatrix<T>],
        eta: &[f64],
        active: &[bool],
    ) -> (Vec<DMatrix<T>>, usize) {
        let w = self.width();
        let mut r: Vec<DMatrix<T>> = g.iter().map(|m| -m).collect();
        let mut z = self.precondition(jac, &r, active);
        let mut p = z.clone();
        let mut d: Vec<DMatrix<T>> = g
            .iter()
            .map(|m| DMatrix::zeros(m.nrows(), m.ncols()))
            .collect();
        let mut rz = dots(&r, &z, w);
        let g2 = dots(g, g, w);
        let mut on: Vec<bool> = active.to_vec();
        let mut iters = 0;
        while iters < MAX_CG && on.iter().any(|&o| o) {
            let q = self.hessian_product(pt, &p);
            let pq = dots(&p, &q, w);
            let mut alpha = vec![0.0; w];
            for c in 0..w {
                if !on[c] {
                    continue;
                }
                if pq[c].is_nan() || pq[c] <= 0.0 || !pq[c].is_finite() {
                    // Negative curvature: stop this column here.
                    on[c] = false;
                    if iters == 0 {
                        alpha[c] = 1.0;
                    }
                    continue;
                }
                alpha[c] = rz[c] / pq[c];
            }
            axpy(&mut d, &alpha, &p);
            let minus: Vec<f64> = (0..w)
                .map(|c| if on[c] { -alpha[c] } else { 0.0 })
                .collect();
            axpy(&mut r, &minus, &q);
            iters += 1;
            let r2 = dots(&r, &r, w);
            for c in 0..w {
                if on[c] && r2[c] <= eta[c] * eta[c] * g2[c] {
                    on[c] = false;
                }
            }
            if !on.iter().any(|&o| o) {
                break;
            }
            z = self.precondition(jac, &r, &on);
            let rz1 = dots(&r, &z, w);
            let beta: Vec<f64> = (0..w)
                .map(|c| {
                    if on[c] && rz[c] > 0.0 {
                        rz1[c] / rz[c]
                    } else {
                        0.0
                    }
                })
                .collect();
            for (pm, zm) in p.iter_mut().zip(&z) {
                for (c, &bc) in beta.iter().enumerate() {
                    pm.column_mut(c).axpy(T::one(), &zm.column(c), T::of(bc));
                }
            }
            rz = rz1;
        }
        (d, iters)
    }

    /// Backtracking (Armijo) along `dir` per column; returns the new point
    /// and marks columns with no descent as stalled.
    fn line_search(
        &mut self,
        pt: &Point<T>,
        dir: &[DMatrix<T>],
        g: &[DMatrix<T>],
        active: &[bool],
        stalled: &mut [bool],
    ) -> Point<T> {
        let w = self.width();
        let slope = dots(g, dir, w);
        let eps_t = crate::relax::cg::epsilon::<T>();
        let mut alpha: Vec<f64> = active.iter().map(|&a| if a { 1.0 } else { 0.0 }).collect();
        let mut accepted: Vec<bool> = active.iter().map(|&a| !a).collect();
        loop {
            let mut eps = pt.eps.clone();
            axpy(&mut eps, &alpha, dir);
            let trial = self.forward(eps);
            let mut all = true;
            for c in 0..w {
                if accepted[c] {
                    continue;
                }
                let (f0, f1) = (pt.energy[c], trial.energy[c]);
                let armijo = f1 <= f0 + 1e-4 * alpha[c] * slope[c];
                let at_rounding = alpha[c] == 1.0 && f1 - f0 <= 64.0 * eps_t * f0.abs();
                if (armijo || at_rounding) && f1.is_finite() && slope[c] < 0.0 {
                    accepted[c] = true;
                } else if alpha[c] < 1e-6 || slope[c] >= 0.0 {
                    // No descent along δ: back to the old point (α = 0),
                    // which the next pass holds.
                    alpha[c] = 0.0;
                    accepted[c] = true;
                    stalled[c] = true;
                    all = false;
                } else {
                    alpha[c] *= 0.5;
                    all = false;
                }
            }
            if all {
                return trial;
            }
        }
    }

    /// Solves the block from the feedforward state. Samples that are done
    /// (converged or stalled) leave the block: the passes then run on the
    /// remaining columns only (each column's numbers do not depend on the
    /// others, so this changes the cost, not the result).
    pub fn solve(mut self) -> BlockOutcome<T> {
        let depth = self.depth();
        let w0 = self.width();
        let zeros: Vec<DMatrix<T>> = (1..depth)
            .map(|l| DMatrix::zeros(self.hidden_width(l), w0))
            .collect();
        let mut pt = self.forward(zeros);
        let (gz, mut ge) = self.gradients(&mut pt);
        let stats = |gz: &[DMatrix<T>]| -> Vec<(f64, f64)> {
            (0..gz[0].ncols()).map(|b| col_norm(gz, b)).collect()
        };
        let mut now = stats(&gz);
        let mut norm0: Vec<f64> = now.iter().map(|s| s.0).collect();
        let mut out = BlockOutcome {
            z: pt.z.clone(),
            converged: vec![false; w0],
            max_abs_grad: now.iter().map(|s| s.1).collect(),
            residual: vec![1.0; w0],
            iterations: 0,
            cg_iterations: 0,
            products: 0,
            history: vec![now.iter().map(|s| s.1).fold(0.0, f64::max)],
        };
        let set = self.set;
        let rtol = set.rel_residual.max(set.rounding_floor::<T>());
        let done = |s: &(f64, f64), n0: f64| s.1 <= set.max_abs_grad || s.0 <= rtol * n0;
        // Column c of the shrinking block is sample `orig[c]` of the block.
        let mut orig: Vec<usize> = (0..w0).collect();
        let mut converged: Vec<bool> = now.iter().zip(&norm0).map(|(s, &n0)| done(s, n0)).collect();
        let mut stalled = vec![false; w0];
        let mut jac: Option<Jacobian<T>> = None;
        loop {
            // Record every column's state; drop the finished ones.
            for (c, &o) in orig.iter().enumerate() {
                for (full, part) in out.z.iter_mut().zip(&pt.z) {
                    full.column_mut(o).copy_from(&part.column(c));
                }
                out.converged[o] = converged[c];
                out.max_abs_grad[o] = now[c].1;
                out.residual[o] = if norm0[c] > 0.0 {
                    now[c].0 / norm0[c]
                } else {
                    0.0
                };
            }
            let keep: Vec<usize> = (0..orig.len())
                .filter(|&c| !converged[c] && !stalled[c])
                .collect();
            let interrupted = crate::interrupt::requested();
            if keep.is_empty() || out.iterations >= set.max_iterations || interrupted {
                break;
            }
            if keep.len() < orig.len() {
                let pick = |v: &[f64]| keep.iter().map(|&c| v[c]).collect::<Vec<f64>>();
                self.keep_columns(&keep);
                pt = pt.select(&keep);
                ge = ge.iter().map(|m| m.select_columns(&keep)).collect();
                jac = jac.map(|j| j.select(&keep));
                norm0 = pick(&norm0);
                now = keep.iter().map(|&c| now[c]).collect();
                orig = keep.iter().map(|&c| orig[c]).collect();
                converged = vec![false; keep.len()];
                stalled = vec![false; keep.len()];
            }
            let w = orig.len();
            let active = vec![true; w];
            // The output Jacobian, built once: the preconditioner need
            // not follow the point (CG solves with the exact Hessian).
            if jac.is_none() {
                jac = Some(self.jacobian(&pt));
            }
            // Eisenstat–Walker: η_b = min(0.5, √(‖g_b‖/‖g_b⁰‖)).
            let eta: Vec<f64> = (0..w)
                .map(|b| (now[b].0 / norm0[b].max(f64::MIN_POSITIVE)).sqrt().min(0.5))
                .collect();
            // The first step is Gauss–Newton (the preconditioner alone: from
            // the feedforward state, where all the energy sits at the output
            // and C is small, it moves every layer's error together at the
            // cost of one gradient); then Newton–CG on the exact Hessian.
            let jac_now = jac.as_ref().expect("built");
            let (dir, its) = if out.iterations == 0 {
                let minus: Vec<DMatrix<T>> = ge.iter().map(|m| -m).collect();
                (self.precondition(jac_now, &minus, &active), 0)
            } else {
                self.newton_direction(&pt, jac_now, &ge, &eta, &active)
            };
            out.cg_iterations += its;
            pt = self.line_search(&pt, &dir, &ge, &active, &mut stalled);
            let (gz, ge_new) = self.gradients(&mut pt);
            ge = ge_new;
            now = stats(&gz);
            for b in 0..w {
                converged[b] = done(&now[b], norm0[b]);
            }
            out.iterations += 1;
            let worst_now = now.iter().map(|s| s.1).fold(0.0, f64::max);
            let worst_done = (0..w0)
                .filter(|o| !orig.contains(o))
                .map(|o| out.max_abs_grad[o])
                .fold(0.0, f64::max);
            out.history.push(worst_now.max(worst_done));
        }
        out.products = self.products;
        out
    }
}
