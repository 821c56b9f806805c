//! Conjugate-gradient solves of ROS2's stage systems
//!
//! ```text
//! A x = ρ b,   A = ρ + γh(H + g_leak),   H = SᵀS + R + C
//! ```
//!
//! (S the depth-bidiagonal error Jacobian, R the output layer's share, C the
//! φ'' diagonal; see [`super::precond`]). A is symmetric; positive definite
//! near an equilibrium, possibly indefinite away from one.
//!
//! - With the tridiagonal preconditioner: plain preconditioned CG, one
//!   Hessian–vector product an iteration.
//! - With the sweep preconditioner P = γh·ŜᵀŜ: CG on the split system
//!   Ŝ⁻ᵀAŜ⁻¹ (Ŝx) = Ŝ⁻ᵀρb, the same iterates as preconditioned CG, but
//!   with Eisenstat's trick (1981): since S = Ŝ − E (E = diag(d − 1)),
//!
//!   ```text
//!   Ŝ⁻ᵀAŜ⁻¹y = Ŝ⁻ᵀ[(ρ + γh(g + C))q + γhRq − γhE(y − Eq)] + γh(y − Eq),  q = Ŝ⁻¹y
//!   ```
//!
//!   one forward sweep, one backward sweep and R's two products: the cost of
//!   one Hessian–vector product, where preconditioner plus product would
//!   cost two. x is accumulated from the q's, so no sweep maps it back.
//!
//! Stopping (both): the true residual r = ρb − Ax must satisfy
//! h·‖r/(ρ·sc)‖_rms ≤ `eta` and ‖r‖ ≤ `rtol`·‖ρb‖ (ROS2's docs). The split
//! solve recurs Ŝ⁻ᵀr and computes r = Ŝᵀ(Ŝ⁻ᵀr) (products only) when the
//! recurred norm has fallen by `rtol`. CG goes on through negative
//! curvature (H indefinite); a solve that met it is accepted only if the
//! residual recomputed from x (one more product A·x) passes the test.

use super::precond::{Precond, Preconditioner};
use super::split::{halves, on_halves, Ctx, Half};
use super::state::{axpy, dot, mat_axpy, zeros_like, State};
use super::system::System;
use crate::real::Real;
use nalgebra::DMatrix;

/// Why a linear solve gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgFailure {
    /// pᵀAp = 0 (or not finite): the Lanczos process broke down.
    Breakdown,
    MaxIterations,
    /// After meeting negative curvature, the true residual missed the test.
    Inaccurate,
}

/// How tightly to solve.
#[derive(Clone, Copy, Debug)]
pub struct CgSettings {
    pub eta: f64,
    pub rtol: f64,
    pub max_iter: usize,
    /// Use the exact Hessian (else the Gauss–Newton part).
    pub exact: bool,
}

/// Work vectors, the preconditioner and statistics.
pub struct Cg<T: Real> {
    r: State<T>,
    p: State<T>,
    q: State<T>,
    s: State<T>,
    t: State<T>,
    pub precond: Preconditioner<T>,
    /// The halves of the batch the split solve runs on.
    halves: Vec<Half<T>>,
    /// Per-entry weights h/(ρ·sc) of the stopping test.
    pub w: State<T>,
    /// Total iterations so far.
    pub n_iter: usize,
    /// Solves so far.
    pub n_solves: usize,
    /// Solves that met negative curvature and went on through it.
    pub n_indefinite: usize,
}

impl<T: Real> Cg<T> {
    pub fn new(like: &State<T>) -> Self {
        let z = || zeros_like(like);
        Cg {
            r: z(),
            p: z(),
            q: z(),
            s: z(),
            t: z(),
            precond: Preconditioner::new(Precond::Sweep, like),
            halves: halves(like),
            w: z(),
            n_iter: 0,
            n_solves: 0,
            n_indefinite: 0,
        }
    }

    /// Solves A x = ρ b from x = 0 (the preconditioner must be prepared for
    /// this γh = `gh`).
    pub fn solve(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &mut State<T>,
        set: &CgSettings,
    ) -> Result<(), CgFailure> {
        self.n_solves += 1;
        match self.precond.kind {
            Precond::Tridiagonal => self.solve_preconditioned(sys, gh, b, x, set),
            Precond::Sweep => self.solve_split(sys, gh, b, x, set),
        }
    }

    /// Plain preconditioned CG.
    fn solve_preconditioned(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &mut State<T>,
        set: &CgSettings,
    ) -> Result<(), CgFailure> {
        rho_times(&mut self.r, b, &sys.tau_rel);
        x.iter_mut().for_each(|xi| xi.fill(T::zero()));
        let norm0 = dot(&self.r, &self.r).sqrt();
        self.precond.apply_tridiagonal(&self.r, &mut self.s);
        super::state::assign(&mut self.p, &self.s);
        let mut cols = Columns::new(col_dots(&self.r, &self.s), epsilon::<T>());
        for iter in 0..=set.max_iter {
            if cols.done() || passes(&self.r, &self.w, norm0, set, 1.0) {
                return self.finish(sys, gh, b, x, set, cols.indefinite, norm0);
            }
            if iter == set.max_iter {
                break;
            }
            self.n_iter += 1;
            apply_a(sys, gh, set.exact, &self.p, &mut self.q);
            let alpha = cols.alpha(&col_dots(&self.p, &self.q))?;
            col_axpy(&alpha, &self.p, x, 1.0);
            col_axpy(&alpha, &self.q, &mut self.r, -1.0);
            self.precond.apply_tridiagonal(&self.r, &mut self.s);
            let beta = cols.beta(col_dots(&self.r, &self.s));
            col_xpby(&self.s, &beta, &mut self.p);
        }
        Err(CgFailure::MaxIterations)
    }

    /// CG on Ŝ⁻ᵀAŜ⁻¹ with Eisenstat's trick (module docs), on the two
    /// halves of the batch at once ([`super::split`]).
    fn solve_split(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &mut State<T>,
        set: &CgSettings,
    ) -> Result<(), CgFailure> {
        let outs = {
            let cx = Ctx {
                field: &*sys.field,
                d: self.precond.diagonal(),
                rho: &sys.tau_rel,
                gh,
                set,
            };
            let w = &self.w;
            on_halves(&mut self.halves, |h| h.solve(&cx, b, w))
        };
        sys.field.n_products += outs.iter().map(|o| o.products).max().unwrap_or(0);
        self.n_iter += outs.iter().map(|o| o.iters).max().unwrap_or(0);
        for h in &self.halves {
            let width = h.x[0].ncols();
            for (xk, hk) in x.iter_mut().zip(&h.x) {
                xk.columns_mut(h.c0, width).copy_from(hk);
            }
        }
        for o in &outs {
            o.result?;
        }
        if !outs.iter().any(|o| o.indefinite) {
            return Ok(());
        }
        // Through negative curvature: the residual recomputed from x.
        self.n_indefinite += 1;
        apply_a(sys, gh, set.exact, x, &mut self.q);
        rho_times(&mut self.t, b, &sys.tau_rel);
        axpy(-T::one(), &self.q, &mut self.t);
        for (h, o) in self.halves.iter().zip(&outs) {
            let cols = h.c0..h.c0 + h.x[0].ncols();
            if o.indefinite && !passes_cols(&self.t, &self.w, cols, o.norm0, set, 2.0) {
                return Err(CgFailure::Inaccurate);
            }
        }
        Ok(())
    }

    /// Accepts the solve, after a check of the residual recomputed from x
    /// when CG went through negative curvature.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &State<T>,
        set: &CgSettings,
        indefinite: bool,
        norm0: f64,
    ) -> Result<(), CgFailure> {
        if !indefinite {
            return Ok(());
        }
        self.n_indefinite += 1;
        apply_a(sys, gh, set.exact, x, &mut self.q);
        rho_times(&mut self.t, b, &sys.tau_rel);
        axpy(-T::one(), &self.q, &mut self.t);
        if passes(&self.t, &self.w, norm0, set, 2.0) {
            Ok(())
        } else {
            Err(CgFailure::Inaccurate)
        }
    }
}

/// The per-sample scalars of CG. H does not couple the samples of a batch,
/// so each column is its own system and gets its own step lengths: each
/// sample's few outlying eigenvalues (the output term, rank n_out) then cost
/// a few iterations, not a few per sample.
pub(super) struct Columns {
    /// rᵀP⁻¹r per column.
    rs: Vec<f64>,
    /// Below this a column has converged to rounding and is frozen.
    floor: Vec<f64>,
    pub(super) indefinite: bool,
}

impl Columns {
    /// `unit` is the precision's unit roundoff.
    pub(super) fn new(rs: Vec<f64>, unit: f64) -> Self {
        let eps = 10.0 * unit;
        let floor = rs.iter().map(|r| r * eps * eps).collect();
        Columns {
            rs,
            floor,
            indefinite: false,
        }
    }

    pub(super) fn norm(&self) -> f64 {
        self.rs.iter().sum::<f64>().sqrt()
    }

    /// Every column at rounding level.
    pub(super) fn done(&self) -> bool {
        self.rs.iter().zip(&self.floor).all(|(r, f)| r <= f)
    }

    fn active(&self, b: usize) -> bool {
        self.rs[b] > self.floor[b]
    }

    /// α_b = r_bᵀP⁻¹r_b / p_bᵀAp_b (0 for frozen columns).
    pub(super) fn alpha(&mut self, pq: &[f64]) -> Result<Vec<f64>, CgFailure> {
        let mut alpha = vec![0.0; pq.len()];
        for (b, a) in alpha.iter_mut().enumerate() {
            if !self.active(b) {
                continue;
            }
            if pq[b] == 0.0 || !pq[b].is_finite() {
                return Err(CgFailure::Breakdown);
            }
            self.indefinite |= pq[b] < 0.0;
            *a = self.rs[b] / pq[b];
        }
        Ok(alpha)
    }

    /// β_b from the new rᵀP⁻¹r (0 for frozen columns).
    pub(super) fn beta(&mut self, rs_new: Vec<f64>) -> Vec<f64> {
        let beta = (0..rs_new.len())
            .map(|b| {
                if self.active(b) {
                    rs_new[b] / self.rs[b]
                } else {
                    0.0
                }
            })
            .collect();
        self.rs = rs_new;
        beta
    }
}

/// Per-column inner products Σ over layers and units of x·y (in f64, in a
/// fixed order: eight interleaved partial sums a column and layer).
pub(super) fn col_dots<T: Real>(x: &[DMatrix<T>], y: &[DMatrix<T>]) -> Vec<f64> {
    let mut out = vec![0.0; x.first().map_or(0, |m| m.ncols())];
    for (a, b) in x.iter().zip(y) {
        let rows = a.nrows().max(1);
        let cols = a
            .as_slice()
            .chunks_exact(rows)
            .zip(b.as_slice().chunks_exact(rows));
        for (o, (ca, cb)) in out.iter_mut().zip(cols) {
            *o += dot_f64(ca, cb);
        }
    }
    out
}

/// Σ a_i·b_i in f64, eight interleaved partial sums then the remainder.
fn dot_f64<T: Real>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l].f64() * y[l].f64();
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        sum += x.f64() * y.f64();
    }
    sum
}

/// `y[:, b] += sign·α_b·x[:, b]`.
pub(super) fn col_axpy<T: Real>(alpha: &[f64], x: &[DMatrix<T>], y: &mut [DMatrix<T>], sign: f64) {
    for (yk, xk) in y.iter_mut().zip(x) {
        for ((mut cy, cx), a) in yk.column_iter_mut().zip(xk.column_iter()).zip(alpha) {
            let a = T::of(sign * a);
            cy.zip_apply(&cx, |v, w| *v += a * w);
        }
    }
}

/// `p[:, b] = s[:, b] + β_b·p[:, b]`.
pub(super) fn col_xpby<T: Real>(s: &[DMatrix<T>], beta: &[f64], p: &mut [DMatrix<T>]) {
    for (pk, sk) in p.iter_mut().zip(s) {
        for ((mut cp, cs), bt) in pk.column_iter_mut().zip(sk.column_iter()).zip(beta) {
            let bt = T::of(*bt);
            cp.zip_apply(&cs, |v, w| *v = w + bt * *v);
        }
    }
}

/// `out ← A v` = (ρ + γh(H + g_leak))·v.
fn apply_a<T: Real>(sys: &mut System<T>, gh: f64, exact: bool, v: &State<T>, out: &mut State<T>) {
    if exact {
        sys.field.hvp_exact(v, out);
    } else {
        sys.field.hvp(v, out);
    }
    for ((o, vi), r) in out.iter_mut().zip(v).zip(&sys.tau_rel) {
        *o *= T::of(gh);
        mat_axpy(o, T::of(*r), vi);
    }
}

/// `out ← ρ b`.
fn rho_times<T: Real>(out: &mut State<T>, b: &State<T>, rho: &[f64]) {
    for ((o, bi), r) in out.iter_mut().zip(b).zip(rho) {
        o.copy_from(bi);
        *o *= T::of(*r);
    }
}

/// The stopping test on a true residual `r`, loosened by `slack`.
pub(super) fn passes<T: Real>(
    r: &State<T>,
    w: &State<T>,
    norm0: f64,
    set: &CgSettings,
    slack: f64,
) -> bool {
    let cols = 0..r.first().map_or(0, |m| m.ncols());
    passes_cols(r, w, cols, norm0, set, slack)
}

/// [`passes`] over the batch columns `cols` of `r` and `w`.
fn passes_cols<T: Real>(
    r: &State<T>,
    w: &State<T>,
    cols: std::ops::Range<usize>,
    norm0: f64,
    set: &CgSettings,
    slack: f64,
) -> bool {
    let (mut weighted, mut plain, mut n) = (0.0, 0.0, 0usize);
    for (rk, wk) in r.iter().zip(w) {
        let rows = rk.nrows();
        let span = cols.start * rows..cols.end * rows;
        let (rs, ws) = (&rk.as_slice()[span.clone()], &wk.as_slice()[span]);
        for (a, b) in rs.iter().zip(ws) {
            let a = a.f64();
            weighted += (a * b.f64()).powi(2);
            plain += a * a;
        }
        n += rs.len();
    }
    let weighted = (weighted / n.max(1) as f64).sqrt();
    weighted <= slack * set.eta && plain.sqrt() <= slack * set.rtol * norm0
}

/// Unit roundoff of `T`.
pub fn epsilon<T: Real>() -> f64 {
    let one = T::one();
    let mut e = 1.0f64;
    while (one + T::of(e / 2.0)).f64() != 1.0 {
        e /= 2.0;
    }
    e
}
