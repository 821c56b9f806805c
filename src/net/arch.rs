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
        }
    }

    /// The crossbar's shape (rows = outputs, columns = inputs) for widths
    /// `n_out × n_in`: a conv's unrolled kernel C_out × C_in·k², none (0 × 0)
    /// for a pool.
    pub fn array_shape(&self, n_out: usize, n_in: usize) -> (usize, usize) {
        match *self {
            LayerKind::Dense => (n_out, n_in),
            LayerKind::Conv { c_in, c_out, k, .. } => (c_out, c_in * k * k),
            LayerKind::Pool { .. } => (0, 0),
        }
    }

    /// Array reads of one product per sample: one per output pixel for a
    /// conv, none for a pool, one for a dense layer.
    pub fn reads_per_sample(&self) -> usize {
        match *self {
            LayerKind::Dense => 1,
            LayerKind::Conv { h, w, .. } => h * w,
            LayerKind::Pool { .. } => 0,
        }
    }

    /// Whether this is a residual block.
    pub fn is_residual(&self) -> bool {
        matches!(self, LayerKind::Conv { residual: true, .. })
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
