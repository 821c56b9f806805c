//! The passes over one fixed block of batch columns that the Newton
//! iteration ([`super::chunk`]) is built from: the forward pass from the
//! errors, the gradients, the exact Hessian–vector product in error
//! coordinates, the output Jacobian and its Woodbury preconditioner.
//! Samples do not couple: every quantity is per column, and a column's
//! numbers do not depend on the other columns of its block.

use super::FixedPointSettings;
use crate::layer::Layer;
use crate::net::{Activation, Loss};
use crate::real::{elementwise, Real};
use crate::relax::field::Field;
use nalgebra::{DMatrix, DVector};

/// The block's point: errors, activities and what the passes keep of them.
pub(super) struct Point<T: Real> {
    /// ε_1 … ε_{L−1} (the coordinates).
    pub eps: Vec<DMatrix<T>>,
    /// z_1 … z_{L−1} = μ_ℓ(z_{ℓ−1}) + ε_ℓ.
    pub z: Vec<DMatrix<T>>,
    /// φ(z_ℓ) and φ'(z_ℓ) (empty for a linear φ).
    pre: Vec<DMatrix<T>>,
    dpre: Vec<DMatrix<T>>,
    /// ε̃_L = λ·ε_L (ε_L = y − μ_L, or y − softmax(μ_L)): −∂F/∂μ_L.
    out: DMatrix<T>,
    /// softmax(μ_L) for a cross-entropy output.
    p: Option<DMatrix<T>>,
    /// F_b per column (f64).
    pub energy: Vec<f64>,
    /// The exact Hessian's diagonal in z, C_ℓ = −a_{ℓ+1} φ''(z_ℓ) ⊙
    /// (W_{ℓ+1}ᵀ ε̃_{ℓ+1}) + g_leak, set by [`Block::gradients`].
    curv: Vec<DMatrix<T>>,
}

/// The Jacobian of the output with respect to the errors at a point,
/// U_ℓ = (∂μ_L/∂z_ℓ)ᵀ (n_ℓ × n_out per column, stored n_ℓ × (w·n_out),
/// column b·n_out + i for output unit i of sample b), with the factors of
/// the Woodbury solve.
pub(super) struct Jacobian<T: Real> {
    u: Vec<DMatrix<T>>,
    /// S_b (the output's Gauss–Newton weight) and LU of I + S_b·M_b,
    /// M_b = Σ_ℓ U_ℓ,bᵀ U_ℓ,b, per column.
    s: Vec<DMatrix<f64>>,
    k: Vec<nalgebra::LU<f64, nalgebra::Dyn, nalgebra::Dyn>>,
}

fn pick<T: Real>(m: &[DMatrix<T>], cols: &[usize]) -> Vec<DMatrix<T>> {
    // An empty matrix (no φ kept for a layer) stays empty.
    m.iter()
        .map(|x| {
            if x.is_empty() {
                x.clone()
            } else {
                x.select_columns(cols)
            }
        })
        .collect()
}

impl<T: Real> Point<T> {
    /// The point restricted to columns `cols` (in order).
    pub fn select(&self, cols: &[usize]) -> Self {
        Point {
            eps: pick(&self.eps, cols),
            z: pick(&self.z, cols),
            pre: pick(&self.pre, cols),
            dpre: pick(&self.dpre, cols),
            out: self.out.select_columns(cols),
            p: self.p.as_ref().map(|p| p.select_columns(cols)),
            energy: cols.iter().map(|&c| self.energy[c]).collect(),
            curv: pick(&self.curv, cols),
        }
    }
}

impl<T: Real> Jacobian<T> {
    /// The Jacobian restricted to samples `cols` (in order).
    pub fn select(&self, cols: &[usize]) -> Self {
        let n_out = self.s.first().map_or(0, |s| s.nrows());
        let wide: Vec<usize> = cols
            .iter()
            .flat_map(|&c| (c * n_out)..((c + 1) * n_out))
            .collect();
        Jacobian {
            u: pick(&self.u, &wide),
            s: cols.iter().map(|&c| self.s[c].clone()).collect(),
            k: cols.iter().map(|&c| self.k[c].clone()).collect(),
        }
    }
}

pub(super) struct Block<'a, 'f, T: Real> {
    field: &'a Field<'f, T>,
    pub set: &'a FixedPointSettings,
    x: DMatrix<T>,
    y: DMatrix<T>,
    /// Weight products so far (thin-batch equivalents).
    pub products: usize,
}

fn layer_of<'a, T: Real>(field: &'a Field<'_, T>, l: usize) -> &'a dyn Layer<T> {
    field.layer(l)
}

pub(super) fn col_norm<T: Real>(m: &[DMatrix<T>], b: usize) -> (f64, f64) {
    let (mut sq, mut mx) = (0.0f64, 0.0f64);
    for g in m {
        let c = g.column(b);
        sq += c.norm_squared().f64();
        mx = mx.max(c.amax().f64());
    }
    (sq.sqrt(), mx)
}

impl<'a, 'f, T: Real> Block<'a, 'f, T> {
    pub fn new(field: &'a Field<'f, T>, set: &'a FixedPointSettings, c0: usize, w: usize) -> Self {
        let (x, y) = field.clamped();
        Block {
            field,
            set,
            x: x.columns(c0, w).into_owned(),
            y: y.columns(c0, w).into_owned(),
            products: 0,
        }
    }

    /// Keeps only the columns `cols` (in order) of the block's batch.
    pub fn keep_columns(&mut self, cols: &[usize]) {
        self.x = self.x.select_columns(cols);
        self.y = self.y.select_columns(cols);
    }

    pub fn depth(&self) -> usize {
        self.field.depth()
    }

    /// n_ℓ of hidden layer ℓ.
    pub fn hidden_width(&self, l: usize) -> usize {
        layer_of(self.field, l).n_out()
    }

    pub fn width(&self) -> usize {
        self.x.ncols()
    }

    fn act(&self) -> Activation {
        self.field.spec.activation
    }

    /// Whether layer ℓ's branch is driven by φ(z_{ℓ−1}) (else z_{ℓ−1}).
    fn phi_drive(&self, l: usize) -> bool {
        self.field.spec.phi_drive[l - 1]
    }

    /// The point with errors `eps`: one forward pass (L products).
    pub fn forward(&mut self, eps: Vec<DMatrix<T>>) -> Point<T> {
        let depth = self.depth();
        let act = self.act();
        let spec = &self.field.spec;
        let w = self.width();
        let mut z: Vec<DMatrix<T>> = Vec::with_capacity(depth - 1);
        let mut pre: Vec<DMatrix<T>> = Vec::with_capacity(depth - 1);
        let mut dpre: Vec<DMatrix<T>> = Vec::with_capacity(depth - 1);
        let mut out = DMatrix::zeros(0, 0);
        let mut p = None;
        let mut energy = vec![0.0f64; w];
        for l in 1..=depth {
            let layer = layer_of(self.field, l);
            let (drive, zin) = if l == 1 {
                (&self.x, &self.x)
            } else if !spec.phi_drive[l - 1] {
                (&z[l - 2], &z[l - 2])
            } else {
                (&pre[l - 2], &z[l - 2])
            };
            let mut mu = DMatrix::zeros(layer.n_out(), w);
            layer.predict_into(drive, &mut mu);
            let a = layer.multiplier();
            if layer.has_skip() {
                mu.zip_apply(zin, |m, s| *m = a * *m + s);
            } else {
                mu.scale_mut(a);
            }
            self.products += 1;
            if l < depth {
                let e = &eps[l - 1];
                mu += e;
                for (b, en) in energy.iter_mut().enumerate() {
                    let sq: f64 = e.column(b).iter().map(|v| v.f64().powi(2)).sum();
                    let leak = if spec.leak == T::zero() {
                        0.0
                    } else {
                        spec.leak.f64() * mu.column(b).iter().map(|v| v.f64().powi(2)).sum::<f64>()
                    };
                    *en += 0.5 * (sq + leak);
                }
                if !spec.phi_drive[l] {
                    // Layer ℓ + 1 reads z_ℓ itself: no φ kept for it.
                    pre.push(DMatrix::zeros(0, 0));
                    dpre.push(DMatrix::zeros(0, 0));
                } else {
                    let mut pm = DMatrix::zeros(mu.nrows(), w);
                    let mut dm = DMatrix::zeros(mu.nrows(), w);
                    if act == Activation::Tanh {
                        elementwise::tanh_and_slope(
                            mu.as_slice(),
                            pm.as_mut_slice(),
                            dm.as_mut_slice(),
                        );
                    } else {
                        for ((pv, dv), &v) in pm.iter_mut().zip(dm.iter_mut()).zip(mu.iter()) {
                            (*pv, *dv) = act.phi_dphi(v);
                        }
                    }
                    pre.push(pm);
                    dpre.push(dm);
                }
                z.push(mu);
            } else {
                let lam = spec.lambda.f64();
                if spec.loss == Loss::CrossEntropy {
                    let sm = crate::net::softmax(&mu);
                    for (b, en) in energy.iter_mut().enumerate() {
                        let m = mu.column(b);
                        let max = m.max().f64();
                        let lse = max + m.iter().map(|v| (v.f64() - max).exp()).sum::<f64>().ln();
                        let ce: f64 = self
                            .y
                            .column(b)
                            .iter()
                            .zip(m.iter())
                            .map(|(t, v)| -t.f64() * (v.f64() - lse))
                            .sum();
                        *en += lam * ce;
                    }
                    out = &self.y - &sm;
                    p = Some(sm);
                } else {
                    out = &self.y - &mu;
                    for (b, en) in energy.iter_mut().enumerate() {
                        let sq: f64 = out.column(b).iter().map(|v| v.f64().powi(2)).sum();
                        *en += 0.5 * lam * sq;
                    }
                }
                out.scale_mut(spec.lambda);
            }
        }
        Point {
            eps,
            z,
            pre,
            dpre,
            out,
            p,
            energy,
            curv: Vec::new(),
        }
    }

    /// `out ← B_ℓᵀ u` with B_ℓ = ∂μ_ℓ/∂z_{ℓ−1} at `pt` (2 ≤ ℓ ≤ L), for u of
    /// any number of columns that is a multiple `rep` of the block's width
    /// (column j belongs to sample j / rep). One product.
    fn vjp(&mut self, pt: &Point<T>, l: usize, u: &DMatrix<T>, rep: usize) -> DMatrix<T> {
        let layer = layer_of(self.field, l);
        let mut out = DMatrix::zeros(layer.n_in(), u.ncols());
        layer.feedback_into(u, &mut out);
        self.products += rep;
        let a = layer.multiplier();
        let skip = layer.has_skip();
        let linear = !self.phi_drive(l);
        for j in 0..u.ncols() {
            let b = j / rep;
            let mut oc = out.column_mut(j);
            if linear {
                oc *= a;
            } else {
                let d = pt.dpre[l - 2].column(b);
                oc.zip_apply(&d, |o, dv| *o *= a * dv);
            }
            if skip {
                oc += u.column(j);
            }
        }
        out
    }

    /// `B_ℓ t` at `pt` (2 ≤ ℓ ≤ L) for t of the block's width: one product.
    fn jvp(&mut self, pt: &Point<T>, l: usize, t: &DMatrix<T>) -> DMatrix<T> {
        let layer = layer_of(self.field, l);
        let drive = if !self.phi_drive(l) {
            t.clone()
        } else {
            t.component_mul(&pt.dpre[l - 2])
        };
        let mut out = DMatrix::zeros(layer.n_out(), t.ncols());
        layer.jvp_into(&drive, &mut out);
        self.products += 1;
        let a = layer.multiplier();
        if layer.has_skip() {
            out.zip_apply(t, |o, s| *o = a * *o + s);
        } else {
            out.scale_mut(a);
        }
        out
    }

    /// ∇_z F (per column) and ∇_ε F = E⁻ᵀ ∇_z F at `pt`, and the curvature
    /// diagonal C into `pt`: L − 1 transposed products for ∇_z F and C,
    /// L − 2 for the back substitution.
    pub fn gradients(&mut self, pt: &mut Point<T>) -> (Vec<DMatrix<T>>, Vec<DMatrix<T>>) {
        let depth = self.depth();
        let leak = self.field.spec.leak;
        let act = self.act();
        let mut gz: Vec<DMatrix<T>> = Vec::with_capacity(depth - 1);
        let mut curv: Vec<DMatrix<T>> = Vec::with_capacity(depth - 1);
        for k in 1..depth {
            // Hidden z_k is fed back by layer k + 1's error ε̃_{k+1}.
            let up = if k + 1 == depth { &pt.out } else { &pt.eps[k] };
            let layer = layer_of(self.field, k + 1);
            let linear = !self.phi_drive(k + 1);
            let mut raw = DMatrix::zeros(layer.n_in(), up.ncols());
            layer.feedback_into(up, &mut raw);
            self.products += 1;
            let a = layer.multiplier();
            let zk = &pt.z[k - 1];
            let mut c = DMatrix::from_element(raw.nrows(), raw.ncols(), leak);
            if linear {
            } else if act == Activation::Tanh {
                // φ'' = −2 φ φ' for tanh: no second tanh.
                let (t, d) = (&pt.pre[k - 1], &pt.dpre[k - 1]);
                for ((cv, r), (tv, dv)) in c.iter_mut().zip(raw.iter()).zip(t.iter().zip(d.iter()))
                {
                    *cv += T::of(2.0) * a * *tv * *dv * *r;
                }
            } else {
                c.zip_zip_apply(&raw, zk, |cv, r, zv| *cv -= a * act.d2phi(zv) * r);
            }
            let mut g = pt.eps[k - 1].clone();
            if linear {
                g.zip_apply(&raw, |gv, r| *gv -= a * r);
            } else {
                g.zip_zip_apply(&raw, &pt.dpre[k - 1], |gv, r, d| *gv -= a * d * r);
            }
            if layer.has_skip() {
                g -= up;
            }
            if leak != T::zero() {
                g.zip_apply(zk, |gv, zv| *gv += leak * zv);
            }
            gz.push(g);
            curv.push(c);
        }
        pt.curv = curv;
        let mut ge = gz.clone();
        for k in (1..depth - 1).rev() {
            let back = self.vjp(pt, k + 1, &ge[k], 1);
            ge[k - 1] += back;
        }
        (gz, ge)
    }

    /// `H_ε v` with H_ε = I + E⁻ᵀ (B_Lᵀ S B_L + C) E⁻¹ the exact Hessian in
    /// error coordinates at an equilibrium (S the output's exact second
    /// derivative: λ, or λ(diag p − ppᵀ)): a forward substitution, the
    /// output's two products, a backward substitution; 2L − 2 products.
    pub fn hessian_product(&mut self, pt: &Point<T>, v: &[DMatrix<T>]) -> Vec<DMatrix<T>> {
        let depth = self.depth();
        let mut t: Vec<DMatrix<T>> = Vec::with_capacity(depth - 1);
        t.push(v[0].clone());
        for k in 2..depth {
            let mut tk = self.jvp(pt, k, &t[k - 2]);
            tk += &v[k - 1];
            t.push(tk);
        }
        let mut o = self.jvp(pt, depth, &t[depth - 2]);
        if let Some(p) = &pt.p {
            for (mut oc, pc) in o.column_iter_mut().zip(p.column_iter()) {
                let pd = pc.dot(&oc);
                oc.zip_apply(&pc, |ov, q| *ov = q * (*ov - pd));
            }
        }
        o.scale_mut(self.field.spec.lambda);
        let mut w = self.vjp(pt, depth, &o, 1);
        let mut out: Vec<DMatrix<T>> = vec![DMatrix::zeros(0, 0); depth - 1];
        for k in (1..depth).rev() {
            if k < depth - 1 {
                w = self.vjp(pt, k + 1, &w, 1);
            }
            w.zip_zip_apply(&pt.curv[k - 1], &t[k - 1], |wv, c, tv| *wv += c * tv);
            out[k - 1] = &v[k - 1] + &w;
        }
        out
    }

    /// U_ℓ = (∂μ_L/∂z_ℓ)ᵀ for every hidden ℓ at `pt` and the Woodbury
    /// factors: L − 1 transposed products of n_out·w columns.
    pub fn jacobian(&mut self, pt: &Point<T>) -> Jacobian<T> {
        let depth = self.depth();
        let (w, n_out) = (self.width(), pt.out.nrows());
        let mut seed = DMatrix::zeros(n_out, w * n_out);
        for b in 0..w {
            for i in 0..n_out {
                seed[(i, b * n_out + i)] = T::one();
            }
        }
        let mut u: Vec<DMatrix<T>> = vec![DMatrix::zeros(0, 0); depth - 1];
        u[depth - 2] = self.vjp(pt, depth, &seed, n_out);
        for k in (1..depth - 1).rev() {
            u[k - 1] = self.vjp(pt, k + 1, &u[k], n_out);
        }
        let lam = self.field.spec.lambda.f64();
        let mut s_all = Vec::with_capacity(w);
        let mut k_all = Vec::with_capacity(w);
        for b in 0..w {
            let mut m = DMatrix::<f64>::zeros(n_out, n_out);
            for uk in &u {
                let blk = uk.columns(b * n_out, n_out);
                m += blk.tr_mul(&blk).map(|v| v.f64());
            }
            let s = match &pt.p {
                Some(p) => {
                    let pc: Vec<f64> = p.column(b).iter().map(|v| v.f64()).collect();
                    DMatrix::from_fn(n_out, n_out, |i, j| {
                        lam * (if i == j { pc[i] } else { 0.0 } - pc[i] * pc[j])
                    })
                }
                None => DMatrix::from_diagonal_element(n_out, n_out, lam),
            };
            let kmat = DMatrix::identity(n_out, n_out) + &s * &m;
            s_all.push(s);
            k_all.push(kmat.lu());
        }
        Jacobian {
            u,
            s: s_all,
            k: k_all,
        }
    }

    /// The preconditioner P⁻¹r = (I + JᵀSJ)⁻¹ r by Woodbury,
    /// r − Jᵀ (I + S M)⁻¹ S J r, per column; 0 in inactive columns (no
    /// products).
    pub fn precondition(
        &self,
        jac: &Jacobian<T>,
        g: &[DMatrix<T>],
        active: &[bool],
    ) -> Vec<DMatrix<T>> {
        let n_out = jac.s.first().map_or(0, |s| s.nrows());
        let mut d: Vec<DMatrix<T>> = g.to_vec();
        for (b, &on) in active.iter().enumerate() {
            if !on {
                for m in d.iter_mut() {
                    m.column_mut(b).fill(T::zero());
                }
                continue;
            }
            let mut jg = DVector::<f64>::zeros(n_out);
            for (uk, gk) in jac.u.iter().zip(g) {
                let blk = uk.columns(b * n_out, n_out);
                jg += blk.tr_mul(&gk.column(b)).map(|v| v.f64());
            }
            let rhs = &jac.s[b] * jg;
            let c = jac.k[b]
                .solve(&rhs)
                .unwrap_or_else(|| DVector::zeros(n_out));
            let c: DVector<T> = c.map(|v| T::of(v));
            for (uk, dk) in jac.u.iter().zip(d.iter_mut()) {
                let blk = uk.columns(b * n_out, n_out);
                dk.column_mut(b).gemv(-T::one(), &blk, &c, T::one());
            }
        }
        d
    }
}
