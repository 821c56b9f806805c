//! The network's shape ([`Topology`]) and its parameters ([`Network`]).
//!
//! Layers are numbered as in MODEL.md: weight layer ℓ = 1..L maps
//! activity z_{ℓ−1} (width n_{ℓ−1}) to a prediction of z_ℓ (width n_ℓ).
//! Accessors take this 1-based ℓ; storage is 0-based underneath.

use super::activation::Activation;
use super::arch::LayerKind;
use super::param::Parameterisation;
use crate::real::Real;
use nalgebra::DMatrix;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The output energy term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// (λ/2)‖y − μ_L‖².
    Mse,
    /// λ·CE(y, softmax(μ_L)).
    CrossEntropy,
}

/// Why a topology or a set of weights does not make a network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetworkError {
    /// Fewer than two widths (no weight layer).
    #[error("depth must be at least 1 weight layer")]
    NoLayer,
    /// Layer `layer` (0-based index into the widths) has width 0.
    #[error("width of layer {layer} is 0; every width must be ≥ 1")]
    ZeroWidth { layer: usize },
    /// The output precision λ is not finite and > 0.
    #[error("output precision λ = {lambda} must be finite and > 0")]
    Lambda { lambda: f64 },
    /// Identity skips with unequal hidden widths: n_`layer` ≠ n_`layer`+1.
    #[error("skips need equal hidden widths, but n_{layer} = {width} and n_{} = {next_width}", layer + 1)]
    SkipWidths {
        layer: usize,
        width: usize,
        next_width: usize,
    },
    /// Another number of layer kinds than the depth L.
    #[error("expected {depth} layer kinds, got {got}")]
    KindCount { depth: usize, got: usize },
    /// Layer `layer` (1-based) maps `io` units, but its widths are `widths`.
    #[error("layer {layer} maps {} → {} units, but its widths are {} → {}", io.0, io.1, widths.0, widths.1)]
    KindWidths {
        layer: usize,
        widths: (usize, usize),
        io: (usize, usize),
    },
    /// A softmax group that does not divide the output width.
    #[error("softmax groups of {group} rows do not divide the output width {width}")]
    SoftmaxGroup { group: usize, width: usize },
    /// Another number of weight matrices than the depth L.
    #[error("expected {depth} weight matrices, got {got}")]
    WeightCount { depth: usize, got: usize },
    /// W_`layer` (1-based) has shape `got` (n_out, n_in), not `expected`.
    #[error("W{layer}: shape [{}, {}] does not match the network's [{}, {}]", got.0, got.1, expected.0, expected.1)]
    WeightShape {
        layer: usize,
        got: (usize, usize),
        expected: (usize, usize),
    },
}

/// Widths, activation, skips and output of a PC network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// `[n_0 = D, n_1, …, n_L]`: input, hidden and output widths.
    pub widths: Vec<usize>,
    /// φ of the hidden layers.
    pub activation: Activation,
    /// Identity skips into hidden layers 2..L−1 (all hidden widths must agree).
    pub skips: bool,
    /// Output energy term.
    pub loss: Loss,
    /// Output precision λ (dimensionless, > 0).
    pub lambda: f64,
    /// What each PC layer ℓ = 1..L computes (index ℓ − 1); empty for a
    /// chain of dense layers (whose skips the `skips` flag sets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerKind>,
    /// Rows per softmax of a cross-entropy output (a language model's
    /// vocabulary V: one softmax per token of the T·V logits); 0 = the
    /// whole column.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub softmax_group: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Topology {
    /// `depth` weight layers: input `d_in`, every hidden layer `width`, output `d_out`.
    pub fn uniform(d_in: usize, width: usize, d_out: usize, depth: usize) -> Self {
        let mut widths = vec![d_in];
        widths.extend(std::iter::repeat_n(width, depth.saturating_sub(1)));
        widths.push(d_out);
        Topology {
            widths,
            activation: Activation::Linear,
            skips: false,
            loss: Loss::Mse,
            lambda: 1.0,
            layers: vec![],
            softmax_group: 0,
        }
    }

    /// A network of the given layer kinds and widths `[n_0, …, n_L]`
    /// (a residual CNN: [`super::arch::ResNetSpec::layout`]).
    pub fn of_layers(layers: Vec<LayerKind>, widths: Vec<usize>, activation: Activation) -> Self {
        Topology {
            widths,
            activation,
            skips: layers.iter().any(|k| k.is_residual()),
            loss: Loss::Mse,
            lambda: 1.0,
            layers,
            softmax_group: 0,
        }
    }

    /// The transformer of `spec` ([`super::arch::GptSpec::layout`]): no φ
    /// (the blocks are nonlinear themselves), a cross-entropy output with
    /// one softmax per token (V rows).
    pub fn gpt(spec: &super::arch::GptSpec) -> Result<Self, super::arch::ArchError> {
        let (layers, widths) = spec.layout()?;
        Ok(Topology {
            softmax_group: spec.vocab,
            ..Self::of_layers(layers, widths, Activation::Linear).with_loss(Loss::CrossEntropy)
        })
    }

    /// True when every layer's Jacobian is cheap to form, so the
    /// error-coordinate Newton solve ([`crate::relax::fixed_point`]) applies;
    /// false with transformer blocks (a T·N-square Jacobian a sequence), whose
    /// equilibria come from the relaxation.
    pub fn newton_solvable(&self) -> bool {
        !self
            .layers
            .iter()
            .any(|k| matches!(k, LayerKind::Block { .. }))
    }

    /// Sets the activation (builder style).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the widths `[n_0, …, n_L]` (builder style).
    pub fn with_widths(mut self, widths: Vec<usize>) -> Self {
        self.widths = widths;
        self
    }

    /// Turns skips on or off (builder style).
    pub fn with_skips(mut self, skips: bool) -> Self {
        self.skips = skips;
        self
    }

    /// Sets the output loss (builder style).
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the output precision λ (builder style).
    pub fn with_lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }

    /// Number of weight layers L.
    pub fn depth(&self) -> usize {
        self.widths.len() - 1
    }

    /// Whether this is a chain of dense layers (no layer kinds given).
    pub fn is_dense_chain(&self) -> bool {
        self.layers.is_empty()
    }

    /// What layer ℓ (1-based) computes.
    pub fn kind(&self, l: usize) -> LayerKind {
        self.layers.get(l - 1).copied().unwrap_or(LayerKind::Dense)
    }

    /// s_ℓ: whether layer ℓ adds its input z_{ℓ−1} to its prediction.
    pub fn has_skip(&self, l: usize) -> bool {
        if self.is_dense_chain() {
            self.skips && l >= 2 && l < self.depth()
        } else {
            self.kind(l).is_residual()
        }
    }

    /// Whether layer ℓ's branch is driven by φ(z_{ℓ−1}) (else by z_{ℓ−1}
    /// itself): every dense layer after the first; in a CNN only the
    /// residual blocks. Always false for a linear φ (φ = identity).
    pub fn phi_drive(&self, l: usize) -> bool {
        !self.activation.is_linear()
            && if self.is_dense_chain() {
                l >= 2
            } else {
                self.kind(l).is_residual()
            }
    }

    /// Shape (rows, columns) of layer ℓ's weight matrix: n_ℓ × n_{ℓ−1} for
    /// a dense layer, the unrolled kernel C_out × C_in·k² for a conv, 0 × 0
    /// for a pool (no weights).
    pub fn weight_shape(&self, l: usize) -> (usize, usize) {
        self.kind(l).array_shape(self.widths[l], self.widths[l - 1])
    }

    /// Number of residual blocks (a CNN's "depth" in the paper's sense).
    pub fn n_residual_blocks(&self) -> usize {
        self.layers.iter().filter(|k| k.is_residual()).count()
    }

    /// Total number of hidden units Σ_{ℓ=1}^{L−1} n_ℓ.
    pub fn n_hidden_units(&self) -> usize {
        self.widths[1..self.depth()].iter().sum()
    }

    /// Number of weights (Σ n_ℓ n_{ℓ−1} for dense layers).
    pub fn n_params(&self) -> usize {
        (1..=self.depth())
            .map(|l| {
                let (r, c) = self.weight_shape(l);
                r * c
            })
            .sum()
    }

    /// Checks the shape: at least one layer, no zero width, λ > 0, equal
    /// hidden widths when skips are on.
    pub fn validate(&self) -> Result<(), NetworkError> {
        if self.widths.len() < 2 {
            return Err(NetworkError::NoLayer);
        }
        if let Some(layer) = self.widths.iter().position(|&w| w == 0) {
            return Err(NetworkError::ZeroWidth { layer });
        }
        if !(self.lambda.is_finite() && self.lambda > 0.0) {
            return Err(NetworkError::Lambda {
                lambda: self.lambda,
            });
        }
        let out = self.widths[self.depth()];
        if self.softmax_group > 0 && !out.is_multiple_of(self.softmax_group) {
            return Err(NetworkError::SoftmaxGroup {
                group: self.softmax_group,
                width: out,
            });
        }
        if !self.is_dense_chain() {
            return self.validate_layers();
        }
        if self.skips {
            let hidden = &self.widths[1..self.depth()];
            if let Some(i) = hidden.windows(2).position(|w| w[0] != w[1]) {
                return Err(NetworkError::SkipWidths {
                    layer: i + 1,
                    width: hidden[i],
                    next_width: hidden[i + 1],
                });
            }
        }
        Ok(())
    }
}

impl Topology {
    /// A layered (CNN) topology: one kind a layer, each kind's sizes the
    /// widths around it.
    fn validate_layers(&self) -> Result<(), NetworkError> {
        if self.layers.len() != self.depth() {
            return Err(NetworkError::KindCount {
                depth: self.depth(),
                got: self.layers.len(),
            });
        }
        for (i, kind) in self.layers.iter().enumerate() {
            let widths = (self.widths[i], self.widths[i + 1]);
            if let Some(io) = kind.io().filter(|&io| io != widths) {
                return Err(NetworkError::KindWidths {
                    layer: i + 1,
                    widths,
                    io,
                });
            }
        }
        Ok(())
    }
}

/// A PC network: topology, parameterisation, raw weights W_ℓ and multipliers a_ℓ.
#[derive(Clone, Debug)]
pub struct Network<T: Real> {
    pub topology: Topology,
    pub param: Parameterisation,
    /// W_1 … W_L (index ℓ − 1), raw parameters before the multipliers.
    pub weights: Vec<DMatrix<T>>,
    /// a_1 … a_L (index ℓ − 1).
    pub multipliers: Vec<T>,
}

impl<T: Real> Network<T> {
    /// Draws the weights with the parameterisation's initialisation.
    ///
    /// Panics when the topology is invalid (validate it first).
    pub fn init(topology: Topology, param: Parameterisation, rng: &mut ChaCha8Rng) -> Self {
        topology.validate().expect("valid topology");
        let param = param.for_topology(topology.skips);
        let weights = (1..=topology.depth())
            .map(|l| param.init_weight_of(&topology, l, rng))
            .collect();
        Self::from_weights(topology, param, weights).expect("shapes from the topology")
    }

    /// Wraps given raw weights; errors name the first tensor whose shape differs.
    pub fn from_weights(
        topology: Topology,
        param: Parameterisation,
        weights: Vec<DMatrix<T>>,
    ) -> Result<Self, NetworkError> {
        topology.validate()?;
        if weights.len() != topology.depth() {
            return Err(NetworkError::WeightCount {
                depth: topology.depth(),
                got: weights.len(),
            });
        }
        for (i, w) in weights.iter().enumerate() {
            let want = topology.weight_shape(i + 1);
            if w.shape() != want {
                return Err(NetworkError::WeightShape {
                    layer: i + 1,
                    got: w.shape(),
                    expected: want,
                });
            }
        }
        let param = param.for_topology(topology.skips);
        let multipliers = param
            .multipliers_of(&topology)
            .into_iter()
            .map(T::of)
            .collect();
        Ok(Network {
            topology,
            param,
            weights,
            multipliers,
        })
    }

    /// Number of weight layers L.
    pub fn depth(&self) -> usize {
        self.topology.depth()
    }

    /// W_ℓ (1-based ℓ).
    pub fn w(&self, l: usize) -> &DMatrix<T> {
        &self.weights[l - 1]
    }

    /// a_ℓ (1-based ℓ).
    pub fn a(&self, l: usize) -> T {
        self.multipliers[l - 1]
    }

    /// s_ℓ as a scalar (1 with a skip into layer ℓ, else 0).
    pub fn s(&self, l: usize) -> T {
        if self.topology.has_skip(l) {
            T::one()
        } else {
            T::zero()
        }
    }

    /// Λ_ℓ: the precision of layer ℓ's error (λ for the output, 1 otherwise).
    pub fn precision(&self, l: usize) -> T {
        if l == self.depth() {
            T::of(self.topology.lambda)
        } else {
            T::one()
        }
    }

    /// The same network in another precision.
    pub fn cast<U: Real>(&self) -> Network<U> {
        let weights = self
            .weights
            .iter()
            .map(|w| w.map(|v| U::of(v.f64())))
            .collect();
        Network::from_weights(self.topology.clone(), self.param, weights).expect("same shapes")
    }
}

/// The messages are those of the `String` errors they replaced, word for
/// word (users match on them).
#[cfg(test)]
mod tests {
    use super::*;

    fn topology(widths: &[usize]) -> Topology {
        Topology {
            widths: widths.to_vec(),
            activation: Activation::Tanh,
            skips: false,
            loss: Loss::Mse,
            lambda: 1.0,
            layers: vec![],
            softmax_group: 0,
        }
    }

    #[test]
    fn messages_are_unchanged() {
        let message = |t: Topology| t.validate().unwrap_err().to_string();
        assert_eq!(
            message(topology(&[3])),
            "depth must be at least 1 weight layer"
        );
        assert_eq!(
            message(topology(&[3, 0, 2])),
            "width of layer 1 is 0; every width must be ≥ 1"
        );
        assert_eq!(
            message(Topology {
                lambda: 0.0,
                ..topology(&[3, 2])
            }),
            "output precision λ = 0 must be finite and > 0"
        );
        assert_eq!(
            message(Topology {
                skips: true,
                ..topology(&[3, 4, 4, 5, 2])
            }),
            "skips need equal hidden widths, but n_2 = 4 and n_3 = 5"
        );
        let weights = |t: Topology, w: Vec<DMatrix<f64>>| {
            Network::from_weights(t, Parameterisation::default(), w)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            weights(topology(&[4, 3, 2]), vec![DMatrix::zeros(3, 4)]),
            "expected 2 weight matrices, got 1"
        );
        assert_eq!(
            weights(
                topology(&[4, 3, 2]),
                vec![DMatrix::zeros(3, 4), DMatrix::zeros(3, 4)]
            ),
            "W2: shape [3, 4] does not match the network's [2, 3]"
        );
    }
}
