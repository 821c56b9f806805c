//! Parameterisations: how width N and depth L enter the forward multipliers
//! a_ℓ, the initialisation of W, and the per-layer learning rates
//! (MODEL.md §2). All scalings live here and nowhere else.
//!
//! Widths are `widths = [n_0 = D, n_1, …, n_L]`. For per-layer widths the
//! "N" of a layer is its fan-in n_{ℓ−1} (the hidden width feeding it), and
//! for the first layer its fan-out n_1. A one-layer network (L = 1) uses the
//! input rule for its only layer.

use super::arch::LayerKind;
use super::network::Topology;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};
use serde::{Deserialize, Serialize};

/// The family of scalings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Standard parameterisation: a_ℓ = 1, W ~ U(±1/√fan_in).
    Sp,
    /// μP (depth exponent α = 0): a_1 = 1/√D, a_ℓ = 1/√N, a_L = 1/(γ₀N), W ~ N(0, 1).
    MuP,
    /// μPC / depth-μP: as μP but hidden a_ℓ = 1/(√N·L^α); by default α = ½
    /// with skips (residual branches scaled by 1/√L) and α = 0 without, as
    /// jpc's `param_type = "mupc"` (with and without a skip model).
    MuPC,
}

/// The optimiser family, for the learning-rate rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimiserKind {
    Sgd,
    Adam,
}

/// A parameterisation: scheme, depth exponent α and feature-learning scale γ₀.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Parameterisation {
    /// "sp", "mup" or "mupc". Default "mupc".
    pub scheme: Scheme,
    /// Depth exponent α (used by `MuPC`; μP has α = 0 by definition),
    /// dimensionless, ≥ 0. Default: by topology ([`Self::for_topology`]):
    /// ½ with skips, 0 without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Feature-learning scale γ₀ (μP and μPC), dimensionless, > 0. Default 1.
    pub gamma0: f64,
}

impl Default for Parameterisation {
    /// μPC with α by topology, γ₀ = 1.
    fn default() -> Self {
        Parameterisation {
            scheme: Scheme::MuPC,
            alpha: None,
            gamma0: 1.0,
        }
    }
}

impl Parameterisation {
    /// Standard parameterisation.
    pub fn sp() -> Self {
        Parameterisation {
            scheme: Scheme::Sp,
            ..Default::default()
        }
    }

    /// μP (α = 0) with feature-learning scale γ₀.
    pub fn mup(gamma0: f64) -> Self {
        Parameterisation {
            scheme: Scheme::MuP,
            alpha: Some(0.0),
            gamma0,
        }
    }

    /// μPC / depth-μP with depth exponent α and scale γ₀.
    pub fn mupc(alpha: f64, gamma0: f64) -> Self {
        Parameterisation {
            scheme: Scheme::MuPC,
            alpha: Some(alpha),
            gamma0,
        }
    }

    /// The α default of a topology: ½ with identity skips (residual
    /// branches scaled by 1/√L), 0 without (jpc's μPC rule).
    pub fn default_alpha(skips: bool) -> f64 {
        if skips {
            0.5
        } else {
            0.0
        }
    }

    /// This parameterisation with α fixed for a topology with or without
    /// skips: an explicit α is kept, an absent one takes
    /// [`Self::default_alpha`]. Networks and chips resolve α this way.
    pub fn for_topology(mut self, skips: bool) -> Self {
        self.alpha.get_or_insert(Self::default_alpha(skips));
        self
    }

    /// The depth exponent in force (0 for SP and μP; α for μPC, ½ when
    /// not yet resolved by [`Self::for_topology`]).
    pub fn depth_exponent(&self) -> f64 {
        match self.scheme {
            Scheme::MuPC => self.alpha.unwrap_or(Self::default_alpha(true)),
            _ => 0.0,
        }
    }

    /// The width N that the rules of layer `l` (1-based) use.
    fn layer_width(widths: &[usize], l: usize) -> f64 {
        if l == 1 {
            widths[1] as f64
        } else {
            widths[l - 1] as f64
        }
    }

    /// Forward multipliers a_1 … a_L (returned at index ℓ − 1).
    pub fn multipliers(&self, widths: &[usize]) -> Vec<f64> {
        let depth = widths.len() - 1;
        (1..=depth)
            .map(|l| {
                if self.scheme == Scheme::Sp {
                    1.0
                } else if l == 1 {
                    1.0 / (widths[0] as f64).sqrt()
                } else if l == depth {
                    1.0 / (self.gamma0 * widths[l - 1] as f64)
                } else {
                    let n = widths[l - 1] as f64;
                    1.0 / (n.sqrt() * (depth as f64).powf(self.depth_exponent()))
                }
            })
            .collect()
    }

    /// Forward multipliers a_1 … a_L of a topology (index ℓ − 1): those of
    /// [`Self::multipliers`] for a dense chain; for a residual CNN, as the
    /// paper's CNN code (μP and μPC; SP: all 1):
    ///
    /// - stage conv: 1/√(C_in·k²) (no gain: no activation precedes it);
    /// - residual block: gain(φ)/√(C·k²) · 1/B^α over the B blocks of the
    ///   network (α = ½ by default under μPC, 0 under μP);
    /// - pool: 1 (it has no weights);
    /// - readout: 1/(γ₀·fan_in).
    pub fn multipliers_of(&self, topology: &Topology) -> Vec<f64> {
        if topology.is_dense_chain() {
            return self.multipliers(&topology.widths);
        }
        let blocks = topology.n_residual_blocks().max(1) as f64;
        let gain = topology.activation.init_gain();
        (1..=topology.depth())
            .map(|l| match topology.kind(l) {
                _ if self.scheme == Scheme::Sp => 1.0,
                LayerKind::Conv {
                    c_in, k, residual, ..
                } => {
                    let fan_in = ((c_in * k * k) as f64).sqrt();
                    if residual {
                        gain / (fan_in * blocks.powf(self.depth_exponent()))
                    } else {
                        1.0 / fan_in
                    }
                }
                LayerKind::Pool { .. } => 1.0,
                LayerKind::Dense => 1.0 / (self.gamma0 * topology.widths[l - 1] as f64),
                // A transformer (issue #24): branch scale 1/n of n blocks,
                // the LM head 1/N, the embedding (one-hot inputs) 1.
                LayerKind::Block { .. } => 1.0 / blocks,
                LayerKind::Tokenwise { d_in, .. } if l == topology.depth() => {
                    1.0 / (self.gamma0 * d_in as f64)
                }
                LayerKind::Tokenwise { .. } => 1.0,
            })
            .collect()
    }

    /// Draws the raw weight W_ℓ of layer `l` of a topology, in its
    /// [`Topology::weight_shape`] (empty for a pool).
    pub fn init_weight_of<T: crate::Real>(
        &self,
        topology: &Topology,
        l: usize,
        rng: &mut ChaCha8Rng,
    ) -> nalgebra::DMatrix<T> {
        let (rows, cols) = topology.weight_shape(l);
        match topology.kind(l) {
            LayerKind::Block { width, .. } => self.init_block(width, rng),
            LayerKind::Tokenwise { .. } => {
                // SP: the paper's std 0.02; μPC: unit raw weights, the
                // multiplier carries the width (1/N for the LM head).
                let sd = if self.scheme == Scheme::Sp { 0.02 } else { 1.0 };
                nalgebra::DMatrix::from_fn(rows, cols, |_, _| {
                    T::of(sd * rng.sample::<f64, _>(StandardNormal))
                })
            }
            _ => self.init_matrix(rows, cols, rng),
        }
    }

    /// A transformer block's packed 12N × N weights (`layer::packed`):
    /// Gaussian, std 0.02 under SP (the paper's code), 1/√fan-in under the
    /// width-aware schemes (N for Wq, Wk, Wv, Wo, W1; 4N for W2, stored as
    /// W2ᵀ in the last 4N rows), the block's multiplier being its branch
    /// scale rather than a fan-in factor.
    fn init_block<T: crate::Real>(&self, n: usize, rng: &mut ChaCha8Rng) -> nalgebra::DMatrix<T> {
        let sp = self.scheme == Scheme::Sp;
        let sd = |row: usize| match (sp, row >= 8 * n) {
            (true, _) => 0.02,
            (false, false) => 1.0 / (n as f64).sqrt(),
            (false, true) => 1.0 / (4.0 * n as f64).sqrt(),
        };
        let mut m = nalgebra::DMatrix::zeros(12 * n, n);
        // Row-major draws, so the numbers do not depend on the packing's storage order.
        for i in 0..12 * n {
            for j in 0..n {
                m[(i, j)] = T::of(sd(i) * rng.sample::<f64, _>(StandardNormal));
            }
        }
        m
    }

    /// Draws the raw weight W_ℓ (`n_ℓ × n_{ℓ−1}`) of layer `l`.
    pub fn init_weight<T: crate::Real>(
        &self,
        widths: &[usize],
        l: usize,
        rng: &mut ChaCha8Rng,
    ) -> nalgebra::DMatrix<T> {
        self.init_matrix(widths[l], widths[l - 1], rng)
    }

    /// A `rows × cols` raw weight (fan-in = `cols`): U(±1/√cols) under SP,
    /// N(0, 1) otherwise.
    fn init_matrix<T: crate::Real>(
        &self,
        rows: usize,
        cols: usize,
        rng: &mut ChaCha8Rng,
    ) -> nalgebra::DMatrix<T> {
        if rows * cols == 0 {
            return nalgebra::DMatrix::zeros(rows, cols);
        }
        match self.scheme {
            Scheme::Sp => {
                let bound = 1.0 / (cols as f64).sqrt();
                let u = Uniform::new(-bound, bound).expect("finite bound");
                nalgebra::DMatrix::from_fn(rows, cols, |_, _| T::of(u.sample(rng)))
            }
            _ => nalgebra::DMatrix::from_fn(rows, cols, |_, _| {
                T::of(rng.sample::<f64, _>(StandardNormal))
            }),
        }
    }

    /// The learning-rate factor of layer `l` of a topology: that of
    /// [`Self::lr_factor`] for a dense chain; for a CNN the rule of the
    /// limits paper's CNN code (after Everett et al. 2023), with C the
    /// channel count and B the number of residual blocks: SGD γ₀²·C for
    /// every layer; Adam 1 for the first stage conv, 1/(√C·B^α) for a
    /// residual block's conv, 1/√C for the other stage convs and the
    /// readout. SP: 1. Pools have no weights (factor 1).
    pub fn lr_factor_of(&self, opt: OptimiserKind, topology: &Topology, l: usize) -> f64 {
        if topology.is_dense_chain() {
            return self.lr_factor(opt, &topology.widths, l);
        }
        if self.scheme == Scheme::Sp {
            return 1.0;
        }
        let channels = (1..=topology.depth())
            .find_map(|m| match topology.kind(m) {
                LayerKind::Conv { c_out, .. } => Some(c_out as f64),
                _ => None,
            })
            .unwrap_or(1.0);
        let blocks = topology.n_residual_blocks().max(1) as f64;
        match (opt, topology.kind(l)) {
            (_, LayerKind::Pool { .. }) => 1.0,
            // Block projections carry no width multiplier: Adam's step
            // scales as 1/fan-in; the tokenwise maps' multipliers do theirs.
            (OptimiserKind::Adam, LayerKind::Block { width, .. }) => 1.0 / width as f64,
            (OptimiserKind::Adam, LayerKind::Tokenwise { .. }) => 1.0,
            (OptimiserKind::Sgd, _) => self.gamma0 * self.gamma0 * channels,
            (OptimiserKind::Adam, _) if l == 1 => 1.0,
            (OptimiserKind::Adam, kind) if kind.is_residual() => {
                1.0 / (channels.sqrt() * blocks.powf(self.depth_exponent()))
            }
            (OptimiserKind::Adam, _) => 1.0 / channels.sqrt(),
        }
    }

    /// Per-layer learning-rate factor: the layer's rate is η × this.
    ///
    /// SGD: γ₀²·N for μP/μPC, 1 for SP. Adam: 1/(√N·L^α) for μP/μPC
    /// (1/√N without skips, 1/√(N·L) with α = ½), 1 for SP.
    pub fn lr_factor(&self, opt: OptimiserKind, widths: &[usize], l: usize) -> f64 {
        if self.scheme == Scheme::Sp {
            return 1.0;
        }
        let n = Self::layer_width(widths, l);
        let depth = (widths.len() - 1) as f64;
        match opt {
            OptimiserKind::Sgd => self.gamma0 * self.gamma0 * n,
            OptimiserKind::Adam => 1.0 / (n.sqrt() * depth.powf(self.depth_exponent())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn multipliers_follow_the_table() {
        let w = [16, 64, 64, 64, 1];
        let sp = Parameterisation::sp().multipliers(&w);
        assert_eq!(sp, vec![1.0; 4]);
        let mup = Parameterisation::mup(2.0).multipliers(&w);
        assert_eq!(mup, vec![0.25, 0.125, 0.125, 1.0 / 128.0]);
        let mupc = Parameterisation::mupc(0.5, 1.0).multipliers(&w);
        assert!((mupc[1] - 1.0 / (8.0 * 2.0)).abs() < 1e-15);
        assert_eq!(mupc[3], 1.0 / 64.0);
    }

    #[test]
    fn learning_rate_rules() {
        let w = [16, 64, 64, 64, 1];
        let p = Parameterisation::mupc(0.5, 2.0);
        assert_eq!(p.lr_factor(OptimiserKind::Sgd, &w, 2), 4.0 * 64.0);
        assert!((p.lr_factor(OptimiserKind::Adam, &w, 3) - 1.0 / (8.0 * 2.0)).abs() < 1e-15);
        let m = Parameterisation::mup(1.0);
        assert_eq!(m.lr_factor(OptimiserKind::Adam, &w, 3), 1.0 / 8.0);
        assert_eq!(
            Parameterisation::sp().lr_factor(OptimiserKind::Adam, &w, 3),
            1.0
        );
    }

    #[test]
    fn alpha_follows_the_topology_unless_set() {
        let w = [16, 64, 64, 64, 1];
        let by_topo = Parameterisation::default();
        let skip = by_topo.for_topology(true).multipliers(&w);
        let plain = by_topo.for_topology(false).multipliers(&w);
        assert!(
            (skip[1] - 1.0 / (8.0 * 2.0)).abs() < 1e-15,
            "α = ½: 1/√(N·L)"
        );
        assert_eq!(plain[1], 1.0 / 8.0, "α = 0: 1/√N");
        let set = Parameterisation::mupc(0.5, 1.0).for_topology(false);
        assert_eq!(set.alpha, Some(0.5), "an explicit α is kept");
        assert_eq!(set.multipliers(&w), skip);
    }

    #[test]
    fn init_statistics() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let w = [100, 400];
        let g: nalgebra::DMatrix<f64> = Parameterisation::mup(1.0).init_weight(&w, 1, &mut rng);
        let var = g.iter().map(|v| v * v).sum::<f64>() / g.len() as f64;
        assert!((var - 1.0).abs() < 0.02, "N(0,1) variance {var}");
        let u: nalgebra::DMatrix<f64> = Parameterisation::sp().init_weight(&w, 1, &mut rng);
        assert!(u.amax() <= 0.1);
        let var = u.iter().map(|v| v * v).sum::<f64>() / u.len() as f64;
        assert!((var - 0.01 / 3.0).abs() < 1e-4, "U(±1/√100) variance {var}");
    }
}
