//! [`AvgPool2x2`]: 2×2 average pooling of C-channel H×W images into
//! C × ⌊H/2⌋ × ⌊W/2⌋ (an odd last row or column dropped, as PyTorch's
//! `AvgPool2d(2, 2)`), channel-major per sample like every activity.
//!
//! It has no weights and reads no crossbar: it is digital (or a passive
//! averaging network), so its multiplier is 1, it has no skip, its weight
//! gradient is an empty 0×0 matrix and it costs 0 reads a sample.

use super::Layer;
use crate::real::Real;
use nalgebra::DMatrix;
use std::marker::PhantomData;

/// 2×2 average pooling, stride 2.
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2x2<T: Real> {
    channels: usize,
    h: usize,
    w: usize,
    _t: PhantomData<T>,
}

impl<T: Real> AvgPool2x2<T> {
    /// Pooling of `channels` images of `h × w` pixels (an odd last row or
    /// column is dropped, as PyTorch's `AvgPool2d(2, 2)`); panics unless
    /// the output has a pixel.
    pub fn new(channels: usize, h: usize, w: usize) -> Self {
        assert!(channels > 0, "pooling needs a channel");
        assert!(h >= 2 && w >= 2, "2×2 pooling needs H, W ≥ 2 (got {h}×{w})");
        AvgPool2x2 {
            channels,
            h,
            w,
            _t: PhantomData,
        }
    }

    /// Output image height and width (⌊H/2⌋, ⌊W/2⌋).
    pub fn out_hw(&self) -> (usize, usize) {
        (self.h / 2, self.w / 2)
    }

    /// For every output value (channel-major), the offset of its block's
    /// top-left input within a sample.
    fn blocks(&self) -> impl Iterator<Item = usize> + '_ {
        let (ho, wo) = self.out_hw();
        let (h, w) = (self.h, self.w);
        (0..self.channels).flat_map(move |c| {
            (0..ho).flat_map(move |i| (0..wo).map(move |j| (c * h + 2 * i) * w + 2 * j))
        })
    }
}

impl<T: Real> Layer<T> for AvgPool2x2<T> {
    fn n_in(&self) -> usize {
        self.channels * self.h * self.w
    }
    fn n_out(&self) -> usize {
        let (ho, wo) = self.out_hw();
        self.channels * ho * wo
    }
    fn multiplier(&self) -> T {
        T::one()
    }
    fn has_skip(&self) -> bool {
        false
    }
    /// Each output is the mean of its 2×2 block.
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (n_in, n_out, w) = (self.n_in(), self.n_out(), self.w);
        assert_eq!(d.nrows(), n_in, "pooling input rows");
        assert_eq!(out.shape(), (n_out, d.ncols()), "pooling output shape");
        let quarter = T::of(0.25);
        for (src, dst) in d
            .as_slice()
            .chunks_exact(n_in)
            .zip(out.as_mut_slice().chunks_exact_mut(n_out))
        {
            for (o, p) in dst.iter_mut().zip(self.blocks()) {
                *o = quarter * ((src[p] + src[p + 1]) + (src[p + w] + src[p + w + 1]));
            }
        }
    }
    /// The transpose: each output value ÷ 4 spread over its 2×2 block
    /// (dropped rows and columns get 0).
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (n_in, n_out, w) = (self.n_in(), self.n_out(), self.w);
        assert_eq!(u.nrows(), n_out, "pooling feedback rows");
        assert_eq!(out.shape(), (n_in, u.ncols()), "pooling feedback shape");
        let quarter = T::of(0.25);
        let odd = self.h % 2 == 1 || self.w % 2 == 1;
        for (src, dst) in u
            .as_slice()
            .chunks_exact(n_out)
            .zip(out.as_mut_slice().chunks_exact_mut(n_in))
        {
            if odd {
                dst.fill(T::zero());
            }
            for (v, p) in src.iter().zip(self.blocks()) {
                let q = quarter * *v;
                dst[p] = q;
                dst[p + 1] = q;
                dst[p + w] = q;
                dst[p + w + 1] = q;
            }
        }
    }
    /// No weights: an empty 0×0 matrix.
    fn weight_grad(&self, _error: &DMatrix<T>, _drive: &DMatrix<T>, _precision: T) -> DMatrix<T> {
        DMatrix::zeros(0, 0)
    }
    /// Digital or passive: no crossbar reads.
    fn reads_per_sample(&self) -> usize {
        0
    }
    /// Every pooled input enters one output with weight ¼ (1/16), a
    /// dropped one none (0).
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        let mut c = vec![T::zero(); self.n_in()];
        let w = self.w;
        for p in self.blocks() {
            for q in [p, p + 1, p + w, p + w + 1] {
                c[q] = T::of(1.0 / 16.0);
            }
        }
        Some(c)
    }
}
