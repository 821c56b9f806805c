//! Layer kinds beyond a chain of dense layers: the residual CNN of the
//! limits paper (issue #23), as a list of PC layers.
//!
//! Every entry is one PC layer with its own activities (images flattened
//! per sample, channel-major c·H·W + i·W + j), applied to the previous
//! activity as it is:
//!
//! ```text
//! stage conv      μ = a·conv(z)                 (no φ: nothing precedes it)
//! residual block  μ = z + a·conv(φ(z))
//! average pool    μ = pool₂ₓ₂(z)                (no weights, no φ)
//! readout         μ = a·W·flatten(z)            (no φ)
//! ```
//!
//! A [`ResNetSpec`] lays them out: `stages` × (stage conv, `blocks_per_stage`
//! blocks, pool), then the readout. Widths (units per sample) are the
//! flattened sizes C·H·W.

use serde::{Deserialize, Serialize};

/// What one PC layer computes (shapes per sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LayerKind {
    /// W·d on the flattened input (in a CNN: the readout, d = z, no φ).
    Dense,
    /// A k×k, stride-1, same-padded convolution of C_in → C_out channels
    /// on H × W images; `residual`: μ = z + a·conv(φ(z)) (C_in = C_out).
    Conv {
        c_in: usize,
        c_out: usize,
        h: usize,
        w: usize,
        k: usize,
        residual: bool,
    },
    /// 2×2 average pooling of `channels` images of H × W pixels (an odd
    /// last row or column is dropped, as PyTorch's `AvgPool2d(2, 2)`).
    Pool { channels: usize, h: usize, w: usize },
    /// The same linear map on each of `seq_len` tokens, `d_in → d_out`
    /// units a token (activities token-major, t·d + i): a transformer's
    /// embedding (on [one-hot token; one-hot position]) and its LM head.
    Tokenwise {
        d_in: usize,
        d_out: usize,
        seq_len: usize,
    },
    /// A transformer block on `seq_len` tokens of `width` units with
    /// `heads` heads (`layer::Block`): μ = z + B(z), B the block's two
    /// branches, scaled by the layer's multiplier (the branch scale c);
    /// scores scaled by 1/d_head when `mu_attention` (μPC), else 1/√d_head;
    /// projections read layer-normalised tokens when `layer_norm`.
    Block {
        width: usize,
        heads: usize,
        seq_len: usize,
        mu_attention: bool,
        layer_norm: bool,
    },
}

impl LayerKind {
    /// Units per sample in and out of the layer, when it is not dense
    /// (a dense layer's widths are the topology's).
    pub fn io(&self) -> Option<(usize, usize)> {
        match *self {
            LayerKind::Dense => None,
            LayerKind::Conv {
                c_in, c_out, h, w, ..
            } => Some((c_in * h * w, c_out * h * w)),
            LayerKind::Pool { channels, h, w } => {
                Some((channels * h * w, channels * (h / 2) * (w / 2)))
            }
            LayerKind::Tokenwise {
                d_in,
                d_out,
                seq_len,
            } => Some((seq_len * d_in, seq_len * d_out)),
            LayerKind::Block { width, seq_len, .. } => Some((seq_len * width, seq_len * width)),
        }
    }

    /// The crossbar's shape (rows = outputs, columns = inputs) for widths
    /// `n_out × n_in`: a conv's unrolled kernel C_out × C_in·k², none (0 × 0)
    /// for a pool, d_out × d_in for a tokenwise map, the packed 12N × N of a
    /// transformer block (`layer::packed`).
    pub fn array_shape(&self, n_out: usize, n_in: usize) -> (usize, usize) {
        match *self {
            LayerKind::Dense => (n_out, n_in),
            LayerKind::Conv { c_in, c_out, k, .. } => (c_out, c_in * k * k),
            LayerKind::Pool { .. } => (0, 0),
            LayerKind::Tokenwise { d_in, d_out, .. } => (d_out, d_in),
            LayerKind::Block { width, .. } => (12 * width, width),
        }
    }

    /// Array reads of one product per sample: one per output pixel for a
    /// conv, none for a pool, one for a dense layer, one per token for a
    /// tokenwise map and one per token per projection (6T) for a block.
    pub fn reads_per_sample(&self) -> usize {
        match *self {
            LayerKind::Dense => 1,
            LayerKind::Conv { h, w, .. } => h * w,
            LayerKind::Pool { .. } => 0,
            LayerKind::Tokenwise { seq_len, .. } => seq_len,
            LayerKind::Block { seq_len, .. } => 6 * seq_len,
        }
    }

    /// Whether this is a residual block (a residual conv or a transformer
    /// block).
    pub fn is_residual(&self) -> bool {
        matches!(
            self,
            LayerKind::Conv { residual: true, .. } | LayerKind::Block { .. }
        )
    }
}

/// Why a residual CNN cannot be laid out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchError {
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The residual CNN of the limits paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResNetSpec {
    /// Input image [C, H, W].
    pub image: [usize; 3],
    /// Channels C of every stage.
    pub channels: usize,
    /// Residual blocks per stage.
    pub blocks_per_stage: usize,
    /// Stages (each ends in a 2×2 pool).
    pub stages: usize,
    /// Kernel size k (odd).
    pub kernel: usize,
    /// Readout outputs.
    pub n_out: usize,
}

impl ResNetSpec {
    /// The PC layers and the widths `[n_0, …, n_L]` (flattened sizes).
    pub fn layout(&self) -> Result<(Vec<LayerKind>, Vec<usize>), ArchError> {
        let bad = |key, message: String| Err(ArchError::Invalid { key, message });
        let [c0, mut h, mut w] = self.image;
        if c0 == 0 || h == 0 || w == 0 {
            return bad("network.image", format!("{:?} has a zero size", self.image));
        }
        if self.channels == 0 {
            return bad("network.channels", "must be ≥ 1".into());
        }
        if self.stages == 0 {
            return bad("network.stages", "must be ≥ 1".into());
        }
        if self.kernel == 0 || self.kernel.is_multiple_of(2) {
            return bad(
                "network.kernel",
                format!("{} must be odd and ≥ 1", self.kernel),
            );
        }
        if (h >> self.stages) == 0 || (w >> self.stages) == 0 {
            return bad(
                "network.stages",
                format!(
                    "{} 2×2 pools leave no pixel of a {h}×{w} image (at most {})",
                    self.stages,
                    h.min(w).ilog2()
                ),
            );
        }
        let mut kinds = Vec::new();
        let mut widths = vec![c0 * h * w];
        let mut c_in = c0;
        let c = self.channels;
        for _ in 0..self.stages {
            let conv = |c_in, residual| LayerKind::Conv {
                c_in,
                c_out: c,
                h,
                w,
                k: self.kernel,
                residual,
            };
            kinds.push(conv(c_in, false));
            kinds.extend(std::iter::repeat_n(conv(c, true), self.blocks_per_stage));
            kinds.push(LayerKind::Pool { channels: c, h, w });
            widths.extend(std::iter::repeat_n(c * h * w, 1 + self.blocks_per_stage));
            (h, w, c_in) = (h / 2, w / 2, c);
            widths.push(c * h * w);
        }
        kinds.push(LayerKind::Dense);
        widths.push(self.n_out);
        Ok((kinds, widths))
    }
}

/// The nanoGPT-style transformer of issue #24 as PC layers: the embedding
/// (tokenwise, [one-hot token; one-hot position] → N), `blocks` transformer
/// blocks of width N and the LM head (tokenwise, N → V). Widths per
/// sequence: T·(V + T), T·N (embedding and every block), T·V.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptSpec {
    /// Vocabulary size V.
    pub vocab: usize,
    /// Tokens per sequence T.
    pub seq_len: usize,
    /// Model width N = heads · d_head.
    pub d_model: usize,
    /// Attention heads H.
    pub heads: usize,
    /// Transformer blocks n.
    pub blocks: usize,
    /// Scores scaled 1/d_head (μPC) rather than 1/√d_head (SP).
    pub mu_attention: bool,
    /// Pre-norm layer norm in every block.
    pub layer_norm: bool,
}

impl GptSpec {
    /// The PC layers and the widths `[n_0, …, n_L]`; errors name the key.
    pub fn layout(&self) -> Result<(Vec<LayerKind>, Vec<usize>), ArchError> {
        let bad = |key, message: String| Err(ArchError::Invalid { key, message });
        let (v, t, n, h) = (self.vocab, self.seq_len, self.d_model, self.heads);
        if v == 0 {
            return bad("data.vocabulary", "the corpus has no symbol".into());
        }
        if t == 0 {
            return bad("data.seq_len", "must be ≥ 1".into());
        }
        if n == 0 {
            return bad("network.width", "must be ≥ 1 (d_model)".into());
        }
        if h == 0 || !n.is_multiple_of(h) {
            return bad(
                "network.n_heads",
                format!("{h} heads must be ≥ 1 and divide d_model = {n}"),
            );
        }
        let tokenwise = |d_in, d_out| LayerKind::Tokenwise {
            d_in,
            d_out,
            seq_len: t,
        };
        let mut kinds = vec![tokenwise(v + t, n)];
        kinds.extend(std::iter::repeat_n(
            LayerKind::Block {
                width: n,
                heads: h,
                seq_len: t,
                mu_attention: self.mu_attention,
                layer_norm: self.layer_norm,
            },
            self.blocks,
        ));
        kinds.push(tokenwise(n, v));
        let mut widths = vec![t * (v + t)];
        widths.extend(std::iter::repeat_n(t * n, 1 + self.blocks));
        widths.push(t * v);
        Ok((kinds, widths))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_layout_matches_the_paper_network() {
        let spec = ResNetSpec {
            image: [1, 28, 28],
            channels: 4,
            blocks_per_stage: 1,
            stages: 3,
            kernel: 3,
            n_out: 10,
        };
        let (kinds, widths) = spec.layout().unwrap();
        // 3 × (conv, block, pool) + readout.
        assert_eq!(kinds.len(), 10);
        assert_eq!(
            widths,
            vec![784, 3136, 3136, 784, 784, 784, 196, 196, 196, 36, 10]
        );
        for (kind, pair) in kinds.iter().zip(widths.windows(2)) {
            if let Some(io) = kind.io() {
                assert_eq!(io, (pair[0], pair[1]), "{kind:?}");
            }
        }
        assert_eq!(kinds[1].array_shape(3136, 3136), (4, 36));
        assert_eq!(kinds[0].array_shape(3136, 784), (4, 9));
        assert_eq!(kinds[2].reads_per_sample(), 0);
        assert_eq!(kinds[3].reads_per_sample(), 14 * 14);
        assert_eq!(kinds.iter().filter(|k| k.is_residual()).count(), 3);
    }

    #[test]
    fn bad_layouts_name_their_key() {
        let ok = ResNetSpec {
            image: [1, 8, 8],
            channels: 2,
            blocks_per_stage: 0,
            stages: 3,
            kernel: 3,
            n_out: 2,
        };
        assert!(ok.layout().is_ok());
        let key = |s: ResNetSpec| match s.layout() {
            Err(ArchError::Invalid { key, .. }) => key,
            Ok(_) => "ok",
        };
        assert_eq!(key(ResNetSpec { stages: 4, ..ok }), "network.stages");
        assert_eq!(key(ResNetSpec { kernel: 2, ..ok }), "network.kernel");
        assert_eq!(key(ResNetSpec { channels: 0, ..ok }), "network.channels");
        assert_eq!(
            key(ResNetSpec {
                image: [0, 8, 8],
                ..ok
            }),
            "network.image"
        );
    }
}
