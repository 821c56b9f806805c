//! The sweep-preconditioned stage solve ([`super::cg`]'s split CG with
//! Eisenstat's trick), run on two fixed halves of the batch at once.
//!
//! H does not couple the samples, so each half of the batch is a system of
//! its own. Each half runs its whole CG — the sweeps, the output layer's
//! products, the vector updates and the stopping test — on its own thread,
//! and the halves meet once a solve: where the previous version joined
//! twice an iteration and did the vector work on one thread.
//!
//! A half stops when its own residual passes the test of [`super::cg`]
//! (weighted rms ≤ η and ‖r‖ ≤ rtol·‖ρb‖ over its columns); both halves
//! passing implies the whole batch passes. The halves are fixed by the batch
//! size alone, so the results do not depend on the thread count. A solve's
//! iterations and products are those of its slower half (the critical path).

use super::cg::{col_axpy, col_dots, col_xpby, epsilon, passes, CgFailure, CgSettings, Columns};
use super::field::Field;
use super::state::State;
use crate::real::Real;
use nalgebra::DMatrix;

/// What the halves share, read-only.
pub(super) struct Ctx<'a, 'f, T: Real> {
    pub field: &'a Field<'f, T>,
    /// d_ℓ of Ŝ = D − B per hidden layer.
    pub d: &'a [T],
    /// ρ_ℓ per hidden layer.
    pub rho: &'a [f64],
    pub gh: f64,
    pub set: &'a CgSettings,
}

/// How one half's solve went.
pub(super) struct Outcome {
    pub iters: usize,
    pub products: usize,
    /// CG met negative curvature (the caller re-checks the residual).
    pub indefinite: bool,
    /// ‖ρb‖ over the half's columns.
    pub norm0: f64,
    pub result: Result<(), CgFailure>,
}

/// One fixed block of batch columns with its CG vectors.
pub(super) struct Half<T: Real> {
    /// First batch column.
    pub c0: usize,
    r: State<T>,
    p: State<T>,
    q: State<T>,
    s: State<T>,
    t: State<T>,
    /// The solution's columns.
    pub x: State<T>,
    /// The stopping weights' columns.
    w: State<T>,
    /// Per-layer scratch of the layers' shapes (CNN layers differ).
    tmp: State<T>,
    prod: State<T>,
    he: DMatrix<T>,
}

/// The halves of a batch like `like` (one half for a single sample).
pub(super) fn halves<T: Real>(like: &State<T>) -> Vec<Half<T>> {
    let batch = like[0].ncols();
    let half = batch.div_ceil(2);
    if batch >= 2 {
        vec![
            Half::new(like, 0, half),
            Half::new(like, half, batch - half),
        ]
    } else {
        vec![Half::new(like, 0, batch)]
    }
}

impl<T: Real> Half<T> {
    fn new(like: &State<T>, c0: usize, width: usize) -> Self {
        let z = || -> State<T> {
            like.iter()
                .map(|m| DMatrix::zeros(m.nrows(), width))
                .collect()
        };
        Half {
            c0,
            r: z(),
            p: z(),
            q: z(),
            s: z(),
            t: z(),
            x: z(),
            w: z(),
            tmp: z(),
            prod: z(),
            he: DMatrix::zeros(0, width),
        }
    }

    fn width(&self) -> usize {
        self.x[0].ncols()
    }

    /// Solves the half's columns of A x = ρ b from x = 0 into `self.x`
    /// (`w`: the full batch's stopping weights).
    pub fn solve(&mut self, cx: &Ctx<T>, b: &State<T>, w: &State<T>) -> Outcome {
        let (c0, width) = (self.c0, self.width());
        for (k, (t, wk)) in self.t.iter_mut().zip(self.w.iter_mut()).enumerate() {
            t.copy_from(&b[k].columns(c0, width));
            *t *= T::of(cx.rho[k]);
            wk.copy_from(&w[k].columns(c0, width));
        }
        let mut out = Outcome {
            iters: 0,
            products: 0,
            indefinite: false,
            norm0: super::state::dot(&self.t, &self.t).sqrt(),
            result: Ok(()),
        };
        out.result = self.iterate(cx, &mut out);
        out
    }

    /// The CG loop of [`Half::solve`].
    fn iterate(&mut self, cx: &Ctx<T>, out: &mut Outcome) -> Result<(), CgFailure> {
        let set = cx.set;
        out.products += backward(cx, self.c0, &self.t, &mut self.r, &mut self.prod);
        self.x.iter_mut().for_each(|xi| xi.fill(T::zero()));
        super::state::assign(&mut self.p, &self.r);
        let mut cols = Columns::new(col_dots(&self.r, &self.r), epsilon::<T>());
        let mut check_below = set.rtol * cols.norm();
        for iter in 0..=set.max_iter {
            let split = cols.norm();
            out.indefinite = cols.indefinite;
            if cols.done() {
                return Ok(());
            }
            if split <= check_below {
                // The true residual r = Ŝᵀ(split residual): products only.
                out.products += transpose_apply(cx, self.c0, &self.r, &mut self.t);
                if passes(&self.t, &self.w, out.norm0, set, 1.0) {
                    return Ok(());
                }
                check_below = 0.5 * split;
            }
            if iter == set.max_iter {
                break;
            }
            out.iters += 1;
            out.products += self.split_product(cx);
            let alpha = cols.alpha(&col_dots(&self.p, &self.s))?;
            col_axpy(&alpha, &self.q, &mut self.x, 1.0);
            col_axpy(&alpha, &self.s, &mut self.r, -1.0);
            let beta = cols.beta(col_dots(&self.r, &self.r));
            col_xpby(&self.r, &beta, &mut self.p);
        }
        Err(CgFailure::MaxIterations)
    }

    /// `q ← Ŝ⁻¹p`, `s ← Ŝ⁻ᵀAŜ⁻¹p` ([`super::cg`]'s docs), with `t` as
    /// scratch; returns the products.
    fn split_product(&mut self, cx: &Ctx<T>) -> usize {
        let c0 = self.c0;
        let width = self.width();
        let mut products = forward(cx, c0, &self.p, &mut self.q, &mut self.tmp, &mut self.prod);
        let n = self.q.len();
        let g = T::of(cx.gh);
        let field = cx.field;
        let leak = field.spec.leak;
        let curv = if cx.set.exact {
            field.curvature_diagonal()
        } else {
            None
        };
        // t = (ρ + γh(g + C))q − γhE(p − Eq), then += γhRq on the last layer.
        for k in 0..n {
            let e = cx.d[k] - T::one();
            let rho = T::of(cx.rho[k]);
            let (t, q, p) = (&mut self.t[k], &self.q[k], &self.p[k]);
            t.zip_zip_apply(q, p, |ti, qi, pi| {
                *ti = (rho + g * leak) * qi - g * e * (pi - e * qi);
            });
            if let Some(c) = curv {
                t.zip_zip_apply(&c[k].columns(c0, width), q, |ti, ci, qi| *ti += g * ci * qi);
            }
        }
        field.output_gn_cols(
            c0,
            &self.q[n - 1],
            &mut self.tmp[n - 1],
            &mut self.he,
            &mut self.prod[n - 1],
        );
        products += 2;
        self.t[n - 1].zip_apply(&self.prod[n - 1], |ti, ri| *ti += g * ri);
        products += backward(cx, c0, &self.t, &mut self.s, &mut self.prod);
        // s += γh(p − Eq).
        for k in 0..n {
            let e = cx.d[k] - T::one();
            self.s[k].zip_zip_apply(&self.p[k], &self.q[k], |si, pi, qi| {
                *si += g * (pi - e * qi);
            });
        }
        products
    }
}

/// `u ← Ŝ⁻ᵀ t` on the columns from `c0`: u_k = (t_k + B_{k+2}ᵀ u_{k+1})/d_k
/// from the last hidden layer down (the transposed products of backprop).
/// Returns the products.
fn backward<T: Real>(
    cx: &Ctx<T>,
    c0: usize,
    t: &State<T>,
    u: &mut State<T>,
    prod: &mut State<T>,
) -> usize {
    let n = u.len();
    for k in (0..n).rev() {
        let inv_d = T::one() / cx.d[k];
        if k + 1 < n {
            let (cur, next) = u.split_at_mut(k + 1);
            cx.field.prediction_vjp(k + 2, c0, &next[0], &mut prod[k]);
            cur[k].zip_zip_apply(&t[k], &prod[k], |ui, ti, pi| *ui = (ti + pi) * inv_d);
        } else {
            u[k].zip_apply(&t[k], |ui, ti| *ui = ti * inv_d);
        }
    }
    n - 1
}

/// `q ← Ŝ⁻¹ y` on the columns from `c0`: q_k = (y_k + B_{k+1} q_{k−1})/d_k
/// from the first hidden layer up (the forward products of a forward pass).
/// Returns the products.
fn forward<T: Real>(
    cx: &Ctx<T>,
    c0: usize,
    y: &State<T>,
    q: &mut State<T>,
    tmp: &mut State<T>,
    prod: &mut State<T>,
) -> usize {
    let n = q.len();
    for k in 0..n {
        let inv_d = T::one() / cx.d[k];
        if k > 0 {
            let (done, rest) = q.split_at_mut(k);
            cx.field
                .prediction_jvp(k + 1, c0, &done[k - 1], &mut tmp[k - 1], &mut prod[k]);
            rest[0].zip_zip_apply(&y[k], &prod[k], |qi, yi, pi| *qi = (yi + pi) * inv_d);
        } else {
            q[0].zip_apply(&y[0], |qi, yi| *qi = yi * inv_d);
        }
    }
    n - 1
}

/// `out ← Ŝᵀ u` on the columns from `c0`: out_k = d_k u_k − B_{k+2}ᵀ u_{k+1}
/// (products only). Returns the products.
fn transpose_apply<T: Real>(cx: &Ctx<T>, c0: usize, u: &State<T>, out: &mut State<T>) -> usize {
    let n = u.len();
    for (k, o) in out.iter_mut().enumerate() {
        let dk = cx.d[k];
        if k + 1 < n {
            cx.field.prediction_vjp(k + 2, c0, &u[k + 1], o);
            o.zip_apply(&u[k], |oi, ui| *oi = dk * ui - *oi);
        } else {
            o.zip_apply(&u[k], |oi, ui| *oi = dk * ui);
        }
    }
    n - 1
}

/// Runs `f` on every half, two at once (rayon), in a fixed assignment.
pub(super) fn on_halves<T: Real, R: Send, F>(halves: &mut [Half<T>], f: F) -> Vec<R>
where
    F: Fn(&mut Half<T>) -> R + Sync,
{
    match halves {
        [a, b] => {
            let (ra, rb) = rayon::join(|| f(a), || f(b));
            vec![ra, rb]
        }
        [a] => vec![f(a)],
        _ => unreachable!("one or two halves"),
    }
}
