//! The field's linearisation beyond the Gauss–Newton product: the exact
//! Hessian's φ'' diagonal, and the per-layer Jacobian blocks that the sweep
//! preconditioner and the split CG solve use ([`crate::relax::precond`],
//! [`crate::relax::cg`]): H = SᵀS + R + C with S = I − B.

use super::{softmax_jvp_in_place, Field};
use crate::net::Activation;
use crate::real::Real;
use nalgebra::DMatrix;
use rayon::prelude::*;

impl<T: Real> Field<'_, T> {
    /// Freezes the last evaluated state `z` (the one `force` was last called
    /// at) as the point of [`Field::hvp_exact`]: the Gauss–Newton part as in
    /// [`Field::linearise`], plus the curvature of the activation,
    ///
    /// ```text
    /// C_ℓ = −a_{ℓ+1} Λ_{ℓ+1} φ''(z_ℓ) ⊙ (W_{ℓ+1}ᵀ ε_{ℓ+1})
    /// ```
    ///
    /// the diagonal that ∂²F/∂z_ℓ² gains from ε_{ℓ+1}'s second derivative
    /// (ε_{L} = y − softmax(μ_L) for a cross-entropy output: same form). It
    /// costs one transposed product a layer; zero for piecewise-linear φ.
    pub fn linearise_exact(&mut self, z: &[DMatrix<T>]) {
        self.linearise();
        self.n_linearisations += 1;
        let depth = self.depth();
        if self.lin.curv.len() != depth - 1 {
            self.lin.curv = self.hidden_zeros();
        }
        let (spec, layers, eps) = (&self.spec, &self.layers, &self.eps);
        let act = spec.activation;
        let flat = matches!(
            act,
            Activation::Linear | Activation::Relu | Activation::HardTanh
        );
        self.lin.curv.par_iter_mut().enumerate().for_each(|(k, c)| {
            let l = k + 1;
            if flat || !spec.phi_drive[l] {
                c.fill(T::zero());
                return;
            }
            layers[l].feedback_into(&eps[l], c);
            let s = -layers[l].multiplier() * spec.precision(l + 1);
            c.zip_apply(&z[k], |ci, zi| *ci *= s * act.d2phi(zi));
        });
        self.lin.exact = true;
        if !flat {
            self.n_products += self.spec.phi_drive[1..].iter().filter(|&&d| d).count();
        }
    }

    /// `out ← (H + g_leak I)·v` with H the exact activity Hessian ∂²F/∂z² at
    /// the point frozen by [`Field::linearise_exact`]: the Gauss–Newton
    /// product of [`Field::hvp`] plus the diagonal C_ℓ ⊙ v_ℓ. H need not be
    /// positive definite away from an equilibrium.
    pub fn hvp_exact(&mut self, v: &[DMatrix<T>], out: &mut [DMatrix<T>]) {
        assert!(self.lin.exact, "hvp_exact needs linearise_exact first");
        self.hvp(v, out);
        for ((o, c), vi) in out.iter_mut().zip(&self.lin.curv).zip(v) {
            o.zip_zip_apply(c, vi, |oi, ci, x| *oi += ci * x);
        }
    }

    /// `out ← B_ℓ v` with B_ℓ = ∂μ_ℓ/∂z_{ℓ−1} = a_ℓ W_ℓ diag φ'(z_{ℓ−1}) + s_ℓ I,
    /// the Jacobian of layer ℓ's prediction (2 ≤ ℓ ≤ L) at the linearised
    /// point, for the batch columns `c0 .. c0 + v.ncols()`: one forward
    /// product (not counted in `n_products`: the caller counts). `tmp` is
    /// scratch of `v`'s shape.
    pub fn prediction_jvp(
        &self,
        l: usize,
        c0: usize,
        v: &DMatrix<T>,
        tmp: &mut DMatrix<T>,
        out: &mut DMatrix<T>,
    ) {
        let i = l - 1;
        let drive = if !self.spec.phi_drive[i] {
            v
        } else {
            let dp = self.lin.dpre[i].columns(c0, v.ncols());
            tmp.zip_zip_apply(v, &dp, |t, a, d| *t = a * d);
            tmp
        };
        let layer = &self.layers[i];
        layer.jvp_into(drive, out);
        let a = layer.multiplier();
        if layer.has_skip() {
            out.zip_apply(v, |o, s| *o = a * *o + s);
        } else {
            out.scale_mut(a);
        }
    }

    /// `out ← B_ℓᵀ u` (see [`Field::prediction_jvp`]): one transposed
    /// product, for the batch columns `c0 .. c0 + u.ncols()`, not counted.
    pub fn prediction_vjp(&self, l: usize, c0: usize, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let i = l - 1;
        let layer = &self.layers[i];
        layer.feedback_into(u, out);
        let a = layer.multiplier();
        let skip = layer.has_skip();
        if !self.spec.phi_drive[i] {
            if skip {
                out.zip_apply(u, |o, s| *o = a * *o + s);
            } else {
                out.scale_mut(a);
            }
        } else {
            let dp = self.lin.dpre[i].columns(c0, u.ncols());
            if skip {
                out.zip_zip_apply(u, &dp, |o, s, d| *o = a * *o * d + s);
            } else {
                out.zip_apply(&dp, |o, d| *o *= a * d);
            }
        }
    }

    /// `out ← B_Lᵀ Λ_L B_L v` for the last hidden layer's `v`: the output
    /// layer's share of the Gauss–Newton Hessian (Λ_L = λ, or λ times the
    /// softmax Jacobian for a cross-entropy output), at the linearised
    /// point; two products. [`Field::hvp`] = Sᵀ S v + this (see
    /// [`crate::relax::precond`]).
    pub fn output_gn(&mut self, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.n_products += 2;
        let i = self.depth() - 1;
        let mut hin = std::mem::take(&mut self.h_in[i]);
        let mut he = std::mem::take(&mut self.h_eps[i]);
        self.output_gn_cols(0, v, &mut hin, &mut he, out);
        self.h_in[i] = hin;
        self.h_eps[i] = he;
    }

    /// [`Field::output_gn`] for the batch columns `c0 .. c0 + v.ncols()`,
    /// with scratch `tmp` (v's shape) and `he` (resized to n_out × v.ncols()); the two
    /// products are not counted (the caller counts).
    pub fn output_gn_cols(
        &self,
        c0: usize,
        v: &DMatrix<T>,
        tmp: &mut DMatrix<T>,
        he: &mut DMatrix<T>,
        out: &mut DMatrix<T>,
    ) {
        let i = self.depth() - 1;
        let w = v.ncols();
        if he.shape() != (self.y.nrows(), w) {
            *he = DMatrix::zeros(self.y.nrows(), w);
        }
        let linear = !self.spec.phi_drive[i];
        let dp = self.lin.dpre[i].columns(c0, w);
        let drive = if linear {
            v
        } else {
            tmp.zip_zip_apply(v, &dp, |t, a, d| *t = a * d);
            &*tmp
        };
        let layer = &self.layers[i];
        layer.jvp_into(drive, he);
        let a = layer.multiplier();
        he.scale_mut(a);
        if let Some(p) = &self.lin.p {
            softmax_jvp_in_place(he, &p.columns(c0, w), self.spec.softmax_group);
        }
        he.scale_mut(self.spec.lambda * a);
        layer.feedback_into(he, out);
        if !linear {
            out.zip_apply(&dp, |o, d| *o *= d);
        }
    }

    /// The curvature diagonal C_ℓ of the last exact linearisation (hidden
    /// layer ℓ at index ℓ − 1), or `None` when the last linearisation was
    /// Gauss–Newton only.
    pub fn curvature_diagonal(&self) -> Option<&[DMatrix<T>]> {
        self.lin.exact.then_some(&self.lin.curv[..])
    }
}
