//! The PC vector field as the chip computes it: every layer's core does its
//! forward product (prediction) and its transposed product (feedback), all
//! layers at once (rayon, one task a layer), MODEL.md §1 and §4.
//!
//! `force(z)` = −∂F/∂z_ℓ − g_leak·z_ℓ for every hidden layer ℓ, per sample:
//!
//! ```text
//! ε_ℓ   = z_ℓ − (a_ℓ W_ℓ φ(z_{ℓ−1}) + s_ℓ z_{ℓ−1})      (ε_L = y − μ_L, or y − softmax(μ_L))
//! force = −ε_ℓ + φ'(z_ℓ) ⊙ (a_{ℓ+1} Λ_{ℓ+1} W_{ℓ+1}ᵀ ε_{ℓ+1}) + s_{ℓ+1} Λ_{ℓ+1} ε_{ℓ+1} − g_leak z_ℓ
//! ```
//!
//! g_leak = 1/A models an integrator built on an op-amp of finite DC gain A.
//! The field also gives the Gauss–Newton Hessian–vector product used by the
//! stiff integrator and the spectrum estimate (two products a layer again).
//! Each task writes only its own layer's buffers, so results are bitwise
//! identical whatever the number of threads.
//!
//! Indexing: hidden state `z[k]` is z_{k+1} (k = 0..L−2); per-layer buffers
//! are indexed ℓ − 1 (ℓ = 1..L).

use crate::layer::{Dense, Layer};
use crate::net::{Activation, Loss, Network, Parameterisation, Topology};
use crate::operator::WeightOperator;
use crate::real::{elementwise, Real};
use nalgebra::{DMatrix, DMatrixView};
use rayon::prelude::*;

mod backprop;
mod jacobian;
mod signals;
mod single;

pub use signals::{LayerSignals, Signals};

/// What the field needs to know of the network besides its cores.
#[derive(Clone, Debug)]
pub struct FieldSpec<T: Real> {
    /// a_ℓ at index ℓ − 1.
    pub multipliers: Vec<T>,
    /// s_ℓ (identity skip into layer ℓ) at index ℓ − 1.
    pub skips: Vec<bool>,
    /// Whether layer ℓ's branch is driven by φ(z_{ℓ−1}) (else z_{ℓ−1}
    /// itself), at index ℓ − 1 ([`Topology::phi_drive`]).
    pub phi_drive: Vec<bool>,
    pub activation: Activation,
    pub loss: Loss,
    /// Rows per softmax of a cross-entropy output (0: whole columns;
    /// [`Topology::softmax_group`]).
    pub softmax_group: usize,
    /// Output precision λ.
    pub lambda: T,
    /// Integrator leak g_leak = 1/A (per τ; 0 for an ideal integrator).
    pub leak: T,
}

impl<T: Real> FieldSpec<T> {
    /// The spec of a network of this topology and parameterisation, with
    /// integrator leak `leak` (1/A per τ).
    pub fn new(topology: &Topology, param: &Parameterisation, leak: T) -> Self {
        FieldSpec {
            multipliers: param
                .for_topology(topology.skips)
                .multipliers_of(topology)
                .into_iter()
                .map(T::of)
                .collect(),
            skips: (1..=topology.depth())
                .map(|l| topology.has_skip(l))
                .collect(),
            phi_drive: (1..=topology.depth())
                .map(|l| topology.phi_drive(l))
                .collect(),
            activation: topology.activation,
            loss: topology.loss,
            softmax_group: topology.softmax_group,
            lambda: T::of(topology.lambda),
            leak,
        }
    }

    /// The spec of a mathematical network (no leak).
    pub fn of_network(net: &Network<T>) -> Self {
        Self::new(&net.topology, &net.param, T::zero())
    }

    fn precision(&self, l: usize) -> T {
        if l == self.multipliers.len() {
            self.lambda
        } else {
            T::one()
        }
    }
}

/// The frozen point of a linearisation (for Hessian–vector products).
#[derive(Default)]
struct Linearisation<T: Real> {
    /// φ'(z_{ℓ−1}) at index ℓ − 1.
    dpre: Vec<DMatrix<T>>,
    /// softmax(μ_L) for a cross-entropy output.
    p: Option<DMatrix<T>>,
    /// The φ'' diagonal of the exact Hessian per hidden layer (see
    /// [`Field::linearise_exact`]); valid only while `exact` is set.
    curv: Vec<DMatrix<T>>,
    exact: bool,
}

/// The vector field over a batch, with its working memory.
pub struct Field<'a, T: Real> {
    layers: Vec<Box<dyn Layer<T> + 'a>>,
    pub spec: FieldSpec<T>,
    x: DMatrix<T>,
    y: DMatrix<T>,
    pre: Vec<DMatrix<T>>,
    dpre: Vec<DMatrix<T>>,
    eps: Vec<DMatrix<T>>,
    back: Vec<DMatrix<T>>,
    softmax: Option<DMatrix<T>>,
    layer_energy: Vec<f64>,
    lin: Linearisation<T>,
    h_in: Vec<DMatrix<T>>,
    h_eps: Vec<DMatrix<T>>,
    /// Number of force evaluations so far.
    pub n_evals: usize,
    /// Number of Hessian–vector products so far.
    pub n_hvps: usize,
    /// Number of exact linearisations so far (each: one transposed product a layer).
    pub n_linearisations: usize,
    /// Weight-matrix products (W·v or Wᵀ·u, one layer's batch each) so far,
    /// over all of the above and the Jacobian-block products.
    pub n_products: usize,
}

/// Layer ℓ's input activity z_{ℓ−1} (x for ℓ = 1).
fn input<'b, T: Real>(x: &'b DMatrix<T>, z: &'b [DMatrix<T>], l: usize) -> &'b DMatrix<T> {
    if l == 1 {
        x
    } else {
        &z[l - 2]
    }
}

impl<'a, T: Real> Field<'a, T> {
    /// A field over dense layers on the given cores (W_1 … W_L), with the
    /// spec's multipliers and skips, for a clamped batch `x`, `y`.
    pub fn new(
        cores: Vec<&'a dyn WeightOperator<T>>,
        spec: FieldSpec<T>,
        x: DMatrix<T>,
        y: DMatrix<T>,
    ) -> Self {
        assert_eq!(
            spec.multipliers.len(),
            cores.len(),
            "one multiplier per core"
        );
        let layers = cores
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                Box::new(Dense::new(c, spec.multipliers[i], spec.skips[i]))
                    as Box<dyn Layer<T> + 'a>
            })
            .collect();
        Self::with_layers(layers, spec, x, y)
    }

    /// A field over the given layers (ℓ = 1..L) for a clamped batch `x`,
    /// `y`; the spec's activation, loss, λ and leak apply, its multipliers
    /// and skips must be the layers'.
    pub fn with_layers(
        layers: Vec<Box<dyn Layer<T> + 'a>>,
        spec: FieldSpec<T>,
        x: DMatrix<T>,
        y: DMatrix<T>,
    ) -> Self {
        let depth = layers.len();
        assert_eq!(spec.multipliers.len(), depth, "one multiplier per layer");
        let cores = &layers;
        let batch = x.ncols();
        let m = |r: usize| DMatrix::zeros(r, batch);
        let pre_like: Vec<DMatrix<T>> = (0..depth)
            .map(|i| {
                if !spec.phi_drive[i] {
                    m(0)
                } else {
                    m(cores[i].n_in())
                }
            })
            .collect();
        Field {
            pre: pre_like.clone(),
            dpre: pre_like.clone(),
            eps: cores.iter().map(|c| m(c.n_out())).collect(),
            back: cores[..depth - 1].iter().map(|c| m(c.n_out())).collect(),
            softmax: (spec.loss == Loss::CrossEntropy).then(|| m(cores[depth - 1].n_out())),
            layer_energy: vec![0.0; depth],
            lin: Linearisation::default(),
            h_in: pre_like,
            h_eps: cores.iter().map(|c| m(c.n_out())).collect(),
            layers,
            spec,
            x,
            y,
            n_evals: 0,
            n_hvps: 0,
            n_linearisations: 0,
            n_products: 0,
        }
    }

    /// The ideal field of a mathematical network.
    pub fn of_network(net: &'a Network<T>, x: DMatrix<T>, y: DMatrix<T>) -> Self {
        Self::of_network_with_leak(net, T::zero(), x, y)
    }

    /// The field of a mathematical network (of any layer kinds) with
    /// integrator leak `leak` (1/A per τ).
    pub fn of_network_with_leak(
        net: &'a Network<T>,
        leak: T,
        x: DMatrix<T>,
        y: DMatrix<T>,
    ) -> Self {
        let spec = FieldSpec::new(&net.topology, &net.param, leak);
        let layers = (1..=net.depth())
            .map(|l| {
                let (a, skip) = (spec.multipliers[l - 1], spec.skips[l - 1]);
                let core = &net.weights[l - 1] as &dyn WeightOperator<T>;
                crate::layer::of_kind(net.topology.kind(l), core, a, skip)
            })
            .collect();
        Self::with_layers(layers, spec, x, y)
    }

    /// Number of weight layers L.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// True when every layer's products act on each sample alone, so a
    /// solve may run on part of the batch (the stiff solver's split halves):
    /// false with a transformer block, whose feedback and JVP are taken at
    /// the last prediction of the whole batch.
    pub fn column_separable(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.second_order() == crate::layer::SecondOrder::LinearBranch)
    }

    /// Layer ℓ (1..=L).
    pub fn layer(&self, l: usize) -> &dyn Layer<T> {
        self.layers[l - 1].as_ref()
    }

    /// The clamped batch (x, y): n_0 × B and n_L × B.
    pub fn clamped(&self) -> (&DMatrix<T>, &DMatrix<T>) {
        (&self.x, &self.y)
    }

    /// Batch size B.
    pub fn batch(&self) -> usize {
        self.x.ncols()
    }

    /// Zero hidden activities with the right shapes.
    pub fn hidden_zeros(&self) -> Vec<DMatrix<T>> {
        self.back
            .iter()
            .map(|b| DMatrix::zeros(b.nrows(), b.ncols()))
            .collect()
    }

    /// Feedforward hidden activities z_ℓ = μ_ℓ, through the cores.
    pub fn feedforward(&self) -> Vec<DMatrix<T>> {
        self.feedforward_through(self.depth() - 1)
    }

    /// The feedforward pass through every layer: the hidden activities
    /// z_ℓ = μ_ℓ and the output's prediction μ_L (before any softmax),
    /// L products in all (not counted in [`Field::n_products`], which counts
    /// the relaxation's).
    pub fn feedforward_with_output(&self) -> (Vec<DMatrix<T>>, DMatrix<T>) {
        let mut z = self.feedforward_through(self.depth());
        let out = z.pop().expect("the output layer");
        (z, out)
    }

    /// μ_1 … μ_k through the first k cores, each fed the one before.
    fn feedforward_through(&self, k: usize) -> Vec<DMatrix<T>> {
        let act = self.spec.activation;
        let mut z: Vec<DMatrix<T>> = Vec::with_capacity(k);
        for l in 1..=k {
            let inp = input(&self.x, &z, l);
            let pre = if self.spec.phi_drive[l - 1] {
                act.of_matrix(inp)
            } else {
                inp.clone()
            };
            let layer = &self.layers[l - 1];
            let mut mu = DMatrix::zeros(layer.n_out(), self.batch());
            layer.predict_into(&pre, &mut mu);
            mu *= layer.multiplier();
            if layer.has_skip() {
                mu += inp;
            }
            z.push(mu);
        }
        z
    }

    /// Evaluates every layer at `z` and writes `out[k]` = force on z_{k+1}.
    ///
    /// Two parallel phases, one task a layer, each task writing only its own
    /// layer's buffers (no allocation, no reduction across tasks):
    /// 1. φ and φ' of the layer's input (one pass, shared tanh), the forward
    ///    product, then ε and the layer's energy in one pass (the multiplier
    ///    a_ℓ is applied there, not in a pass of its own);
    /// 2. the transposed product written straight into `out[k]`, then the
    ///    whole force in one pass.
    pub fn force(&mut self, z: &[DMatrix<T>], out: &mut [DMatrix<T>]) {
        self.n_evals += 1;
        let depth = self.depth();
        self.n_products += 2 * depth - 1;
        let spec = &self.spec;
        let (x, y, layers) = (&self.x, &self.y, &self.layers);
        let act = spec.activation;
        let cross_entropy = spec.loss == Loss::CrossEntropy;
        let inv_batch = 1.0 / self.x.ncols() as f64;
        // Phase 1: predictions and errors, every layer at once.
        self.pre
            .par_iter_mut()
            .zip(self.dpre.par_iter_mut())
            .zip(self.eps.par_iter_mut())
            .zip(self.layer_energy.par_iter_mut())
            .enumerate()
            .for_each(|(i, (((pre, dpre), eps), energy))| {
                let l = i + 1;
                let zin = input(x, z, l);
                let drive: &DMatrix<T> = if !spec.phi_drive[i] {
                    zin
                } else {
                    let (p, d) = (pre.as_mut_slice(), dpre.as_mut_slice());
                    if act == Activation::Tanh {
                        elementwise::tanh_and_slope(zin.as_slice(), p, d);
                    } else {
                        let pairs = p.iter_mut().zip(d.iter_mut()).zip(zin.as_slice());
                        for ((p, d), &v) in pairs {
                            (*p, *d) = act.phi_dphi(v);
                        }
                    }
                    pre
                };
                layers[i].predict_into(drive, eps);
                let a = layers[i].multiplier();
                if l == depth && cross_entropy {
                    // ε_L = y − softmax(a_L·W_L φ): softmax here, y − p after the phase.
                    eps.scale_mut(a);
                    let ce = cross_entropy_in_place(eps, y, spec.softmax_group);
                    *energy = spec.lambda.f64() * ce * inv_batch;
                    return;
                }
                let target = if l == depth { y } else { &z[l - 1] };
                let e = eps.as_mut_slice();
                let skip = layers[i].has_skip().then(|| zin.as_slice());
                let sq = elementwise::errors_and_square_sum(target.as_slice(), e, skip, a);
                *energy = 0.5 * spec.precision(l).f64() * sq * inv_batch;
            });
        if cross_entropy {
            let (p, e) = (&mut self.softmax, &mut self.eps[depth - 1]);
            match p {
                Some(p) => p.copy_from(e),
                None => *p = Some(e.clone()),
            }
            e.zip_apply(y, |e, t| *e = t - *e);
        }
        // Phase 2: transposed feedback and the force, every hidden layer at once.
        let (eps, dpre) = (&self.eps, &self.dpre);
        out.par_iter_mut().enumerate().for_each(|(k, f)| {
            let l = k + 1; // hidden layer ℓ, fed back by layer ℓ + 1
            let lam = spec.precision(l + 1);
            let c = layers[l].multiplier() * lam;
            let (skip, leak) = (layers[l].has_skip(), spec.leak);
            layers[l].feedback_into(&eps[l], f);
            let f = f.as_mut_slice();
            let n = f.len();
            let (e_own, e_up, zk) = (
                &eps[k].as_slice()[..n],
                if skip {
                    &eps[l].as_slice()[..n]
                } else {
                    &[][..]
                },
                z[k].as_slice(),
            );
            let d = spec.phi_drive[l].then(|| &dpre[l].as_slice()[..n]);
            // f = (c·Wᵀε_{ℓ+1})⊙φ'(z_ℓ) − ε_ℓ [+ Λ s ε_{ℓ+1}] [− g_leak z_ℓ]
            let up = skip.then_some(e_up);
            elementwise::force_of_layer(f, c, d, e_own, up, lam, leak, zk);
        });
    }

    /// Energy F (batch mean) at the last evaluated state.
    pub fn energy(&self) -> f64 {
        self.layer_energy.iter().sum()
    }

    /// Per-layer energies (batch means) at the last evaluated state, index ℓ − 1.
    pub fn layer_energies(&self) -> &[f64] {
        &self.layer_energy
    }

    /// Per-layer error norms sqrt(mean_b ‖ε_ℓ‖²) at the last evaluated state.
    pub fn error_norms(&self) -> Vec<f64> {
        let inv_batch = 1.0 / self.batch() as f64;
        self.eps
            .iter()
            .map(|e| (e.norm_squared().f64() * inv_batch).sqrt())
            .collect()
    }

    /// The local weight gradients ∂F/∂W_ℓ = −a_ℓ Λ_ℓ mean_b ε_ℓ φ(z_{ℓ−1})ᵀ at
    /// the last evaluated state `z` (index ℓ − 1).
    pub fn weight_grads(&self, z: &[DMatrix<T>]) -> Vec<DMatrix<T>> {
        (1..=self.depth())
            .into_par_iter()
            .map(|l| {
                let drive = self.drive(z, l);
                let lam = self.spec.precision(l);
                self.layers[l - 1].weight_grad(&self.eps[l - 1], drive, lam)
            })
            .collect()
    }

    /// Freezes the last evaluated state as the point of the Hessian–vector products.
    pub fn linearise(&mut self) {
        self.lin.dpre.clone_from(&self.dpre);
        self.lin.p.clone_from(&self.softmax);
        self.lin.exact = false;
    }

    /// `out ← (H_GN + g_leak I)·v` at the linearised point, where H_GN is the
    /// Gauss–Newton part of the activity Hessian (exact for linear networks,
    /// positive semi-definite always).
    pub fn hvp(&mut self, v: &[DMatrix<T>], out: &mut [DMatrix<T>]) {
        self.n_hvps += 1;
        let depth = self.depth();
        self.n_products += 2 * (depth - 1);
        let (spec, layers, lin) = (&self.spec, &self.layers, &self.lin);
        self.h_in
            .par_iter_mut()
            .zip(self.h_eps.par_iter_mut())
            .enumerate()
            .for_each(|(i, (hin, he))| {
                let l = i + 1;
                if l == 1 {
                    he.copy_from(&v[0]);
                    return;
                }
                let vin = &v[l - 2];
                let drive: &DMatrix<T> = if !spec.phi_drive[i] {
                    vin
                } else {
                    hin.zip_zip_apply(vin, &lin.dpre[i], |h, a, d| *h = a * d);
                    hin
                };
                layers[i].jvp_into(drive, he);
                let a = layers[i].multiplier();
                if l == depth {
                    // δε̃_L = −λ·∂(output)/∂μ · δμ.
                    he.scale_mut(a);
                    if let Some(p) = &lin.p {
                        softmax_jvp_in_place(he, &p.as_view(), spec.softmax_group);
                    }
                    he.scale_mut(-spec.lambda);
                } else if layers[i].has_skip() {
                    he.zip_zip_apply(&v[l - 1], vin, |e, t, s| *e = t - (a * *e + s));
                } else {
                    he.zip_apply(&v[l - 1], |e, t| *e = t - a * *e);
                }
            });
        let h_eps = &self.h_eps;
        out.par_iter_mut().enumerate().for_each(|(k, o)| {
            let l = k + 1;
            let a = layers[l].multiplier();
            let (skip, leak) = (layers[l].has_skip(), spec.leak);
            layers[l].feedback_into(&h_eps[l], o);
            let o = o.as_mut_slice();
            let n = o.len();
            let (e_own, e_up, vk) = (
                &h_eps[k].as_slice()[..n],
                if skip {
                    &h_eps[l].as_slice()[..n]
                } else {
                    &[][..]
                },
                v[k].as_slice(),
            );
            let linear = !spec.phi_drive[l];
            let d = if linear {
                &[][..]
            } else {
                &lin.dpre[l].as_slice()[..n]
            };
            // o = δε̃_ℓ − (a·Wᵀδε̃_{ℓ+1})⊙φ'(z_ℓ) [− s δε̃_{ℓ+1}] [+ g_leak v_ℓ]
            for j in 0..n {
                let back = if linear { a * o[j] } else { a * o[j] * d[j] };
                let mut w = e_own[j] - back;
                if skip {
                    w -= e_up[j];
                }
                if leak != T::zero() {
                    w += leak * vk[j];
                }
                o[j] = w;
            }
        });
    }

    /// Diagonal of (H_GN + g_leak I) at the linearised point, approximated
    /// from the cores' column norms (skip cross terms dropped); 1 where the
    /// cores cannot report their norms. Used as a Jacobi preconditioner.
    pub fn hessian_diagonal(&self) -> Vec<DMatrix<T>> {
        (0..self.depth() - 1)
            .map(|k| {
                let l = k + 1;
                let linear = !self.spec.phi_drive[l];
                let lam = self.spec.precision(l + 1);
                let a = self.layers[l].multiplier();
                let s = if self.layers[l].has_skip() {
                    T::one()
                } else {
                    T::zero()
                };
                let base = T::one() + self.spec.leak + lam * s;
                let mut d = DMatrix::from_element(self.back[k].nrows(), self.batch(), base);
                if let Some(c) = self.layers[l].column_sq_norms() {
                    for (j, mut col) in d.column_iter_mut().enumerate() {
                        for (i, v) in col.iter_mut().enumerate() {
                            let dp = if linear {
                                T::one()
                            } else {
                                self.lin.dpre[l][(i, j)]
                            };
                            *v += lam * a * a * dp * dp * c[i];
                        }
                    }
                }
                d
            })
            .collect()
    }
}

/// Rows per softmax group of an `rows`-row output (`group` 0: all).
fn group_len(group: usize, rows: usize) -> usize {
    if group == 0 {
        rows.max(1)
    } else {
        group
    }
}

/// Replaces logits `m` (already multiplied by a_L) by their softmax over
/// each group of `group` rows of a column (0: the whole column) and returns
/// Σ_b Σ_groups CE(y, softmax(m)).
fn cross_entropy_in_place<T: Real>(m: &mut DMatrix<T>, y: &DMatrix<T>, group: usize) -> f64 {
    let g = group_len(group, m.nrows());
    let mut total = 0.0;
    for (col, ycol) in m.as_mut_slice().chunks_mut(g).zip(y.as_slice().chunks(g)) {
        let max = col.iter().copied().fold(col[0], |a, b| a.max(b));
        col.iter_mut().for_each(|v| *v = (*v - max).exp());
        let sum = col.iter().fold(T::zero(), |a, &b| a + b);
        let lse = max.f64() + sum.f64().ln();
        col.iter_mut().for_each(|v| *v /= sum);
        // −Σ y_i log p_i with log p_i = μ_i − lse; recover μ_i − max = ln(p_i·sum).
        total += ycol
            .iter()
            .zip(col.iter())
            .filter(|(t, _)| **t != T::zero())
            .map(|(t, p)| -t.f64() * ((p.f64() * sum.f64()).ln() + max.f64() - lse))
            .sum::<f64>();
    }
    total
}

/// `d ← (diag(p) − p pᵀ)·d` per softmax group of every column (the softmax
/// Jacobian; `group` as in [`cross_entropy_in_place`]).
fn softmax_jvp_in_place<T: Real>(d: &mut DMatrix<T>, p: &DMatrixView<'_, T>, group: usize) {
    let rows = d.nrows();
    let g = group_len(group, rows);
    for (c, dg) in d.as_mut_slice().chunks_mut(g).enumerate() {
        let (r0, j) = ((c * g) % rows, (c * g) / rows);
        let q = |i: usize| p[(r0 + i, j)];
        let pd = dg
            .iter()
            .enumerate()
            .fold(T::zero(), |a, (i, &x)| a + x * q(i));
        dg.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = q(i) * (*v - pd));
    }
}
